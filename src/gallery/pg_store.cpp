// PostgreSQL gallery store (libpq): one connection for the calls, serialised by a mutex, and one
// listener connection for the change notifications. Every write transaction first locks the one
// row of facelens_meta (SELECT ... FOR UPDATE): writers of every replica are serialised, so the
// change sequence numbers they take are consecutive and commit in sequence order; a reader that
// sees change n has seen every change before it.
#include <endian.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>

#include "gallery/store.h"

namespace facelens::gallery {
namespace {

// Version 1: facelens_meta (schema version, last change sequence), identities, faces, changes.
constexpr int kSchemaVersion = 1;

// The migrations, in order: kMigrations[v - 1] brings a database from version v - 1 to v.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE facelens_meta (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  schema_version INTEGER NOT NULL,
  last_seq       BIGINT NOT NULL
);
INSERT INTO facelens_meta (id, schema_version, last_seq) VALUES (1, 0, 0);
CREATE TABLE facelens_identities (
  id         BIGSERIAL PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  metadata   JSON NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE facelens_faces (
  id           BIGSERIAL PRIMARY KEY,
  identity_id  BIGINT NOT NULL REFERENCES facelens_identities(id) ON DELETE CASCADE,
  embedding    BYTEA NOT NULL,
  dim          INTEGER NOT NULL,
  model_id     TEXT NOT NULL,
  quality      DOUBLE PRECISION NOT NULL DEFAULT 0,
  box_x1 DOUBLE PRECISION NOT NULL, box_y1 DOUBLE PRECISION NOT NULL,
  box_x2 DOUBLE PRECISION NOT NULL, box_y2 DOUBLE PRECISION NOT NULL,
  image_sha256 TEXT UNIQUE,
  crop         BYTEA,
  crop_width   INTEGER NOT NULL DEFAULT 0,
  crop_height  INTEGER NOT NULL DEFAULT 0,
  created_at   TEXT NOT NULL
);
CREATE INDEX facelens_faces_identity ON facelens_faces(identity_id);
CREATE TABLE facelens_changes (
  seq         BIGINT PRIMARY KEY,
  kind        TEXT NOT NULL,
  identity_id BIGINT NOT NULL DEFAULT 0,
  face_id     BIGINT NOT NULL DEFAULT 0,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

// pg_advisory_xact_lock key of the schema migration ("fl" "schm" in ASCII): replicas starting at
// once migrate one after the other.
constexpr int64_t kMigrationLockKey = 0x666c7363686d;
// The channel writers notify (payload: the last sequence number of the write).
constexpr const char* kChannel = "facelens_gallery";

constexpr const char* kNow = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Statement parameters: text (numbers written exactly) or binary (bytea).
class Params {
 public:
  Params& add(const std::string& s) {
    store_.push_back(s);
    values_.push_back(nullptr);
    lengths_.push_back(0);
    formats_.push_back(0);
    return *this;
  }
  Params& add(int64_t v) { return add(std::to_string(v)); }
  Params& add(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);  // round-trips every double (and float)
    return add(std::string(buf));
  }
  Params& add_null() {
    store_.emplace_back();
    values_.push_back(nullptr);
    lengths_.push_back(-1);
    formats_.push_back(0);
    return *this;
  }
  // The bytes must outlive the call.
  Params& add_bytes(const void* p, size_t n) {
    store_.emplace_back();
    values_.push_back(static_cast<const char*>(p));
    lengths_.push_back(static_cast<int>(n));
    formats_.push_back(1);
    return *this;
  }
  int size() const { return static_cast<int>(values_.size()); }
  // Pointers for PQexecParams (valid while this object is unchanged).
  const char* const* values() {
    for (size_t i = 0; i < values_.size(); ++i)
      if (formats_[i] == 0 && lengths_[i] == 0) values_[i] = store_[i].c_str();
    return values_.data();
  }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  std::deque<std::string> store_;  // stable addresses
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// A result in binary format, cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r = nullptr) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  PGresult* get() const { return r_; }
  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int c) const { return PQgetisnull(r_, row, c); }
  int64_t int64(int row, int c) const {
    if (is_null(row, c)) return 0;
    const char* p = PQgetvalue(r_, row, c);
    switch (PQgetlength(r_, row, c)) {
      case 8: {
        uint64_t v;
        std::memcpy(&v, p, 8);
        return static_cast<int64_t>(be64toh(v));
      }
      case 4: {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return static_cast<int32_t>(be32toh(v));
      }
      case 2: {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return static_cast<int16_t>(be16toh(v));
      }
      case 1: return static_cast<unsigned char>(p[0]);  // bool
    }
    return 0;
  }
  double real(int row, int c) const {
    if (is_null(row, c)) return 0;
    const char* p = PQgetvalue(r_, row, c);
    if (PQgetlength(r_, row, c) == 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      v = be64toh(v);
      double d;
      std::memcpy(&d, &v, 8);
      return d;
    }
    uint32_t v;
    std::memcpy(&v, p, 4);
    v = be32toh(v);
    float f;
    std::memcpy(&f, &v, 4);
    return f;
  }
  std::string text(int row, int c) const {
    return std::string(PQgetvalue(r_, row, c), static_cast<size_t>(PQgetlength(r_, row, c)));
  }
  std::span<const uint8_t> bytes(int row, int c) const {
    return {reinterpret_cast<const uint8_t*>(PQgetvalue(r_, row, c)), static_cast<size_t>(PQgetlength(r_, row, c))};
  }

 private:
  PGresult* r_;
};

// The connection parameters of a URL, for PQconnectdbParams (the URL, expanded, plus ours).
struct ConnParams {
  std::vector<std::string> keys, values;
  std::vector<const char*> k, v;
  ConnParams(const PgStoreOptions& o) {
    keys = {"dbname",          "connect_timeout",     "options",          "application_name", "keepalives",
            "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"};
    values = {o.url, std::to_string(o.connect_timeout_s),
              "-c statement_timeout=" + std::to_string(o.statement_timeout_ms), "facelens", "1", "5", "2", "3",
              // Data unacknowledged this long (a partition during a write) fails the call instead of
              // blocking for the kernel's retransmission limit (about 15 minutes).
              "10000"};
    for (size_t i = 0; i < keys.size(); ++i) {
      k.push_back(keys[i].c_str());
      v.push_back(values[i].c_str());
    }
    k.push_back(nullptr);
    v.push_back(nullptr);
  }
};

class PgStore final : public Store {
 public:
  template <class Tx, class Body>
  friend Status gallery::write_transaction(std::mutex& mu, Tx& tx, Body&& body);
  explicit PgStore(const PgStoreOptions& o) : o_(o), where_(describe_pg_url(o.url)) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~PgStore() override {
    if (conn_) PQfinish(conn_);
    if (listen_) PQfinish(listen_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // Connects and brings the schema to this binary's version.
  Status init() {
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_RETURN_IF_ERROR(connected());
    FACELENS_RETURN_IF_ERROR(exec("migrate: begin", "BEGIN").status());
    Status s = migrate_locked();
    if (!s.ok()) {
      rollback();
      return s;
    }
    return exec("migrate: commit", "COMMIT").status();
  }

  StatusOr<std::vector<AddedFace>> add(std::span<const NewIdentityFaces> items) override {
    for (const auto& item : items) FACELENS_RETURN_IF_ERROR(validate_identity_name(item.name));
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_RETURN_IF_ERROR(begin_write());
    std::string duplicate;
    auto ids = add_locked(items, &duplicate);
    if (!ids.ok()) {
      rollback();
      if (!duplicate.empty()) {
        auto owner = find_image_locked(duplicate);
        if (!owner.ok()) return owner.status();
        std::string name = *owner ? (*owner)->name : std::string();
        if (name.empty())
          for (const auto& item : items)
            for (const auto& f : item.faces)
              if (name.empty() && f.image_sha256 == duplicate) name = item.name;
        return invalid_argument("duplicate image: already enrolled as '" + name + "' (sha256 " +
                                duplicate.substr(0, 16) + "...)");
      }
      return ids.status();
    }
    FACELENS_RETURN_IF_ERROR(commit());
    return ids;
  }

  StatusOr<std::vector<int64_t>> remove_identity(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_RETURN_IF_ERROR(begin_write());
    auto ids = remove_locked(name);
    if (!ids.ok()) {
      rollback();
      return ids.status();
    }
    FACELENS_RETURN_IF_ERROR(commit());
    return ids;
  }

  Status update_identity(int64_t identity_id, const IdentityUpdate& update) override {
    if (!update.name && !update.metadata_json)
      return invalid_argument("an update of identity " + std::to_string(identity_id) + " sets nothing");
    if (update.name) FACELENS_RETURN_IF_ERROR(validate_identity_name(*update.name));
    return write_transaction(mu_, *this, [&]() -> Status {
      // One statement: a field not set (NULL) keeps its value.
      Params p;
      if (update.name) p.add(*update.name);
      else p.add_null();
      if (update.metadata_json) p.add(*update.metadata_json);
      else p.add_null();
      p.add(identity_id);
      Result r(run(std::string("UPDATE facelens_identities SET name = coalesce($1, name), "
                               "metadata = coalesce($2::json, metadata), updated_at = ") +
                       kNow + " WHERE id = $3",
                   p));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        if (sqlstate(r) == "23505")
          return failed_precondition("cannot rename identity " + std::to_string(identity_id) + " to '" +
                                     update.name.value_or("") + "': the name is taken");
        if (sqlstate(r) == "22P02")
          return invalid_argument("metadata is not valid JSON: " + update.metadata_json.value_or(""));
        return error("update identity", r);
      }
      if (std::strcmp(PQcmdTuples(r.get()), "1") != 0)
        return not_found("no identity " + std::to_string(identity_id) + " in " + where_);
      return record(update.name ? ChangeKind::kRenameIdentity : ChangeKind::kUpdateIdentity, identity_id, 0);
    });
  }

  Status remove_face(int64_t identity_id, int64_t face_id) override {
    return write_transaction(mu_, *this, [&]() -> Status {
      Params p;
      p.add(face_id).add(identity_id);
      FACELENS_ASSIGN_OR_RETURN(
          auto r, command("remove face", "DELETE FROM facelens_faces WHERE id = $1 AND identity_id = $2", p));
      if (std::strcmp(PQcmdTuples(r.get()), "1") != 0)
        return not_found("identity " + std::to_string(identity_id) + " has no face " + std::to_string(face_id));
      Params q;
      q.add(identity_id);
      FACELENS_RETURN_IF_ERROR(
          command("update identity",
                  std::string("UPDATE facelens_identities SET updated_at = ") + kNow + " WHERE id = $1", q)
              .status());
      return record(ChangeKind::kRemoveFace, identity_id, face_id);
    });
  }

  StatusOr<std::optional<StoredFace>> find_face(int64_t face_id, bool with_crop) const override {
    std::lock_guard<std::mutex> lock(mu_);
    Params p;
    p.add(face_id);
    FACELENS_ASSIGN_OR_RETURN(auto r, query("find face", face_sql(with_crop) + " WHERE id = $1", p));
    if (r.rows() == 0) return std::optional<StoredFace>();
    FACELENS_ASSIGN_OR_RETURN(auto f, read_face(r, 0, with_crop));
    return std::optional<StoredFace>(std::move(f));
  }

  StatusOr<std::vector<StoredFace>> identity_faces(int64_t identity_id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    Params p;
    p.add(identity_id);
    FACELENS_ASSIGN_OR_RETURN(auto r, query("list faces", face_sql(false) + " WHERE identity_id = $1 ORDER BY id", p));
    std::vector<StoredFace> out;
    for (int row = 0; row < r.rows(); ++row) {
      FACELENS_ASSIGN_OR_RETURN(auto f, read_face(r, row, false));
      out.push_back(std::move(f));
    }
    return out;
  }

  StatusOr<int64_t> last_change() const override {
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_ASSIGN_OR_RETURN(auto r, query("read the change log", "SELECT last_seq FROM facelens_meta WHERE id = 1"));
    return r.rows() == 1 ? r.int64(0, 0) : int64_t{0};
  }

  StatusOr<ChangeLog> changes_since(int64_t after, size_t limit) const override {
    std::lock_guard<std::mutex> lock(mu_);
    // One snapshot: the changes and the rows they point at.
    FACELENS_RETURN_IF_ERROR(exec("read the change log", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
    auto log = changes_locked(after, limit);
    if (!log.ok()) {
      rollback();
      return log;
    }
    FACELENS_RETURN_IF_ERROR(exec("read the change log", "COMMIT").status());
    return log;
  }

  // The last committed change: it changes with every write (ours too; a sync then finds nothing).
  StatusOr<int64_t> external_version() const override { return last_change(); }

  SeqRange last_write() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return last_write_;
  }

  StatusOr<std::vector<StoredIdentity>> identities() const override {
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_ASSIGN_OR_RETURN(auto r, query("list identities", identity_sql("") + " ORDER BY i.name COLLATE \"C\""));
    std::vector<StoredIdentity> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_identity(r, i));
    return out;
  }

  StatusOr<std::optional<StoredIdentity>> find_identity(const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    Params p;
    p.add(name);
    FACELENS_ASSIGN_OR_RETURN(auto r, query("find identity", identity_sql("WHERE i.name = $1"), p));
    if (r.rows() == 0) return std::optional<StoredIdentity>();
    return std::optional<StoredIdentity>(read_identity(r, 0));
  }

  StatusOr<std::optional<ImageOwner>> find_image(const std::string& sha) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return find_image_locked(sha);
  }

  Status for_each_face(bool with_crops, const std::function<Status(StoredFace&&)>& fn) const override {
    std::lock_guard<std::mutex> lock(mu_);
    // One snapshot, read through a cursor a batch at a time.
    FACELENS_RETURN_IF_ERROR(exec("read faces", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
    Status s = for_each_locked(with_crops, fn);
    if (!s.ok()) {
      rollback();
      return s;
    }
    return exec("read faces", "COMMIT").status();
  }

  StatusOr<std::vector<std::string>> model_ids() const override {
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_ASSIGN_OR_RETURN(
        auto r, query("list model ids",
                      "SELECT model_id FROM facelens_faces GROUP BY model_id ORDER BY model_id COLLATE \"C\""));
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
  }

  Status update_embeddings(std::span<const EmbeddingUpdate> updates) override {
    return write_transaction(mu_, *this, [&]() -> Status {
      for (const auto& u : updates) {
        Params p;
        p.add_bytes(u.embedding.data(), u.embedding.size() * sizeof(float))
            .add(static_cast<int64_t>(u.embedding.size()))
            .add(u.model_id)
            .add(u.face_id);
        FACELENS_ASSIGN_OR_RETURN(
            auto r, command("update embedding",
                            "UPDATE facelens_faces SET embedding = $1, dim = $2, model_id = $3 WHERE id = $4", p));
        if (std::strcmp(PQcmdTuples(r.get()), "1") != 0)
          return not_found("no face " + std::to_string(u.face_id) + " in " + where_);
      }
      return updates.empty() ? Status::Ok() : record(ChangeKind::kReload, 0, 0);
    });
  }

  StatusOr<std::string> integrity_check() const override {
    std::lock_guard<std::mutex> lock(mu_);
    // What the schema cannot enforce: embedding and crop sizes, and a log no further than the
    // sequence it claims.
    FACELENS_ASSIGN_OR_RETURN(
        auto r, query("integrity check",
                      "SELECT (SELECT count(*) FROM facelens_faces WHERE length(embedding) <> 4 * dim OR dim < 1), "
                      "(SELECT count(*) FROM facelens_faces WHERE crop IS NOT NULL AND "
                      "length(crop) <> 3 * crop_width * crop_height), "
                      "(SELECT coalesce(max(seq), 0) FROM facelens_changes) - (SELECT last_seq FROM facelens_meta)"));
    std::string out;
    auto note = [&](const std::string& s) { out += (out.empty() ? "" : "\n") + s; };
    if (r.int64(0, 0) > 0) note(std::to_string(r.int64(0, 0)) + " face(s) with an embedding of the wrong size");
    if (r.int64(0, 1) > 0) note(std::to_string(r.int64(0, 1)) + " face(s) with a crop of the wrong size");
    if (r.int64(0, 2) > 0) note("the change log runs past facelens_meta.last_seq");
    return out.empty() ? std::string("ok") : out;
  }

  std::string describe() const override { return where_; }

  bool notifies() const override { return true; }

  StatusOr<bool> wait_for_change(int timeout_ms) override {
    std::lock_guard<std::mutex> lock(listen_mu_);
    if (!listen_) {
      const int64_t now = steady_ms();
      if (now < next_listen_ms_) return unavailable(listen_error_);
      next_listen_ms_ = now + o_.reconnect_interval_ms;
      ConnParams cp(o_);
      PGconn* c = PQconnectdbParams(cp.k.data(), cp.v.data(), /*expand_dbname=*/1);
      if (PQstatus(c) != CONNECTION_OK) {
        listen_error_ = unreachable(PQerrorMessage(c));
        PQfinish(c);
        return unavailable(listen_error_);
      }
      Result r(PQexec(c, (std::string("LISTEN ") + kChannel).c_str()));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        listen_error_ = unreachable(PQerrorMessage(c));
        PQfinish(c);
        return unavailable(listen_error_);
      }
      listen_ = c;
      return true;  // (re)connected: changes may have been missed
    }
    pollfd fds[2] = {{PQsocket(listen_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, timeout_ms);
    if (n < 0) return false;  // EINTR: the caller calls again
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t got = read(wake_fd_, &v, sizeof v);
    }
    bool changed = false;
    if (fds[0].revents) {
      if (!PQconsumeInput(listen_) || PQstatus(listen_) != CONNECTION_OK) {
        listen_error_ = unreachable(PQerrorMessage(listen_));
        PQfinish(listen_);
        listen_ = nullptr;
        next_listen_ms_ = steady_ms() + o_.reconnect_interval_ms;
        return unavailable(listen_error_);
      }
      while (PGnotify* note = PQnotifies(listen_)) {
        changed = true;
        PQfreemem(note);
      }
    }
    return changed;
  }

  void cancel_wait() override {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t put = write(wake_fd_, &one, sizeof one);
  }

 private:
  std::string unreachable(const std::string& why) const {
    return "the gallery database at " + where_ + " is unreachable: " + trim(why) +
           " (is PostgreSQL running there, and the URL right?)";
  }

  // Connects when not connected (at most every reconnect_interval_ms while the database is down).
  Status connected() const {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
    if (conn_) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
    const int64_t now = steady_ms();
    if (now < next_connect_ms_) return unavailable(conn_error_);
    ConnParams cp(o_);
    PGconn* c = PQconnectdbParams(cp.k.data(), cp.v.data(), /*expand_dbname=*/1);
    if (PQstatus(c) != CONNECTION_OK) {
      conn_error_ = unreachable(PQerrorMessage(c));
      PQfinish(c);
      next_connect_ms_ = now + o_.reconnect_interval_ms;
      return unavailable(conn_error_);
    }
    conn_ = c;
    return Status::Ok();
  }

  // Runs one statement (results in binary); the caller checks the result.
  PGresult* run(const std::string& sql, Params& p) const {
    return PQexecParams(conn_, sql.c_str(), p.size(), nullptr, p.values(), p.lengths(), p.formats(),
                        /*resultFormat=*/1);
  }

  static std::string sqlstate(const Result& r) {
    const char* s = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    return s ? s : "";
  }

  // The status for a failed statement; a lost connection is dropped (the next call reconnects).
  Status error(const std::string& what, const Result& r) const {
    const std::string state = sqlstate(r);
    std::string msg = trim(r.get() ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_));
    if (msg.empty()) msg = trim(PQerrorMessage(conn_));
    if (PQstatus(conn_) != CONNECTION_OK || state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      PQfinish(conn_);
      conn_ = nullptr;
      return unavailable(unreachable(what + ": " + msg));
    }
    const std::string full = where_ + ": " + what + ": " + msg;
    if (state == "57014") return unavailable(full + " (statement_timeout; the database is overloaded or locked)");
    if (state == "40001" || state == "40P01" || state == "55P03") return unavailable(full + " (retry)");
    if (state.rfind("53", 0) == 0) return resource_exhausted(full);
    if (state.rfind("XX", 0) == 0) return data_loss(full);
    return internal_error(full);
  }

  // A statement returning rows / no rows; errors as error().
  StatusOr<Result> query(const std::string& what, const std::string& sql) const {
    Params p;
    return query(what, sql, p);
  }
  StatusOr<Result> query(const std::string& what, const std::string& sql, Params& p) const {
    FACELENS_RETURN_IF_ERROR(connected());
    Result r(run(sql, p));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return error(what, r);
    return r;
  }
  StatusOr<Result> command(const std::string& what, const std::string& sql, Params& p) const {
    FACELENS_RETURN_IF_ERROR(connected());
    Result r(run(sql, p));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error(what, r);
    return r;
  }
  // One or several statements without parameters (results not read).
  StatusOr<Result> exec(const std::string& what, const std::string& sql) const {
    FACELENS_RETURN_IF_ERROR(connected());
    Result r(PQexec(conn_, sql.c_str()));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error(what, r);
    return r;
  }

  void rollback() const {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
    pending_ = {};
    changes_.clear();
  }

  // A write transaction: the lock on facelens_meta's row serialises writers (of every replica)
  // and gives the last sequence number.
  Status begin_write() {
    pending_ = {};
    changes_.clear();
    FACELENS_RETURN_IF_ERROR(exec("begin a write", "BEGIN").status());
    auto r = query("lock the change log", "SELECT last_seq FROM facelens_meta WHERE id = 1 FOR UPDATE");
    if (!r.ok()) {
      rollback();
      return r.status();
    }
    next_seq_ = r->int64(0, 0) + 1;
    return Status::Ok();
  }

  // Publishes the recorded changes (facelens_meta.last_seq, a notification delivered at commit),
  // prunes the log and commits. A connection lost during COMMIT leaves the outcome unknown:
  // kUnavailable, never OK.
  Status commit() {
    if (!changes_.empty()) {
      // The recorded changes in one statement (one round trip, however many faces).
      std::string seqs = "{", kinds = "{", identities = "{", faces = "{";
      for (size_t i = 0; i < changes_.size(); ++i) {
        const char* sep = i ? "," : "";
        seqs += sep + std::to_string(changes_[i].seq);
        kinds += sep + std::string(change_kind_name(changes_[i].kind));
        identities += sep + std::to_string(changes_[i].identity_id);
        faces += sep + std::to_string(changes_[i].face_id);
      }
      Params p;
      p.add(seqs + "}").add(kinds + "}").add(identities + "}").add(faces + "}");
      auto r = command("record the changes",
                       "INSERT INTO facelens_changes(seq, kind, identity_id, face_id) "
                       "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])",
                       p);
      changes_.clear();
      if (!r.ok()) {
        rollback();
        return r.status();
      }
    }
    if (pending_.last > 0) {
      const std::string last = std::to_string(pending_.last);
      std::string sql = "UPDATE facelens_meta SET last_seq = " + last + " WHERE id = 1; SELECT pg_notify('" + kChannel +
                        "', '" + last + "');";
      if (pending_.last > o_.change_log_rows)
        sql += "DELETE FROM facelens_changes WHERE seq <= " + std::to_string(pending_.last - o_.change_log_rows) + ";";
      auto r = exec("publish the changes", sql);
      if (!r.ok()) {
        rollback();
        return r.status();
      }
    }
    auto r = exec("commit", "COMMIT");
    if (!r.ok()) {
      pending_ = {};
      if (r.status().code() == StatusCode::kUnavailable)
        return unavailable(r.status().message() + " (the write may or may not have been committed)");
      return r.status();
    }
    last_write_ = pending_;
    pending_ = {};
    return Status::Ok();
  }

  // Appends a change to those the open write transaction inserts at commit().
  Status record(ChangeKind kind, int64_t identity_id, int64_t face_id) {
    const int64_t seq = next_seq_++;
    changes_.push_back({seq, kind, identity_id, face_id});
    if (pending_.first == 0) pending_.first = seq;
    pending_.last = seq;
    return Status::Ok();
  }

  Status migrate_locked() {
    FACELENS_RETURN_IF_ERROR(
        exec("migrate: lock", "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")").status());
    FACELENS_ASSIGN_OR_RETURN(auto has,
                              query("read the schema version", "SELECT to_regclass('facelens_meta') IS NOT NULL"));
    int64_t version = 0;
    if (has.int64(0, 0)) {
      FACELENS_ASSIGN_OR_RETURN(
          auto v, query("read the schema version", "SELECT schema_version FROM facelens_meta WHERE id = 1"));
      if (v.rows() == 1) version = v.int64(0, 0);
    }
    if (version > kSchemaVersion)
      return failed_precondition(where_ + " has gallery schema version " + std::to_string(version) +
                                 " but this facelens knows up to version " + std::to_string(kSchemaVersion) +
                                 ": run a newer facelens (every replica on the same version), or restore a backup "
                                 "made before the upgrade");
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      FACELENS_RETURN_IF_ERROR(
          exec("migrate the gallery schema to version " + std::to_string(v + 1), kMigrations[static_cast<size_t>(v)])
              .status());
    }
    if (version == kSchemaVersion) return Status::Ok();
    return exec("migrate: set the version",
                "UPDATE facelens_meta SET schema_version = " + std::to_string(kSchemaVersion) + " WHERE id = 1")
        .status();
  }

  static std::string identity_sql(const std::string& where) {
    return "SELECT i.id, i.name, i.metadata::text, i.created_at, i.updated_at, "
           "(SELECT count(*) FROM facelens_faces f WHERE f.identity_id = i.id) FROM facelens_identities i " +
           where;
  }
  static StoredIdentity read_identity(const Result& r, int row) {
    StoredIdentity s;
    s.id = r.int64(row, 0);
    s.name = r.text(row, 1);
    s.metadata = r.text(row, 2);
    s.created_at = r.text(row, 3);
    s.updated_at = r.text(row, 4);
    s.n_faces = r.int64(row, 5);
    return s;
  }

  StatusOr<std::optional<ImageOwner>> find_image_locked(const std::string& sha) const {
    Params p;
    p.add(sha);
    FACELENS_ASSIGN_OR_RETURN(auto r, query("find image",
                                            "SELECT f.id, i.name FROM facelens_faces f JOIN facelens_identities i "
                                            "ON i.id = f.identity_id WHERE f.image_sha256 = $1",
                                            p));
    if (r.rows() == 0) return std::optional<ImageOwner>();
    return std::optional<ImageOwner>(ImageOwner{r.int64(0, 0), r.text(0, 1)});
  }

  // Adds the items in the open write transaction; a face whose image is stored (or repeated)
  // sets *duplicate to its sha256 and fails.
  StatusOr<std::vector<AddedFace>> add_locked(std::span<const NewIdentityFaces> items, std::string* duplicate) {
    std::vector<AddedFace> ids;
    size_t n_faces = 0;
    for (const auto& item : items) n_faces += item.faces.size();
    const bool bulk = n_faces > o_.bulk_change_faces;
    // An identity of that name is created, or (another replica created it first) extended: one
    // identity per name whatever the timing. (xmax = 0) tells a new row from an updated one.
    const std::string upsert_meta =
        std::string(
            "INSERT INTO facelens_identities(name, metadata, created_at, updated_at) VALUES ($1, $2, "
            "coalesce(nullif($3, ''), ") +
        kNow + "), coalesce(nullif($4, ''), " + kNow +
        ")) ON CONFLICT (name) DO UPDATE SET metadata = EXCLUDED.metadata, updated_at = " + kNow +
        " RETURNING id, (xmax = 0)";
    const std::string upsert_touch =
        std::string(
            "INSERT INTO facelens_identities(name, metadata, created_at, updated_at) VALUES ($1, $2, "
            "coalesce(nullif($3, ''), ") +
        kNow + "), coalesce(nullif($4, ''), " + kNow + ")) ON CONFLICT (name) DO UPDATE SET updated_at = " + kNow +
        " RETURNING id, (xmax = 0)";
    const std::string insert_face =
        std::string(
            "INSERT INTO facelens_faces(identity_id, embedding, dim, model_id, quality, box_x1, box_y1, box_x2, "
            "box_y2, image_sha256, crop, crop_width, crop_height, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
            "$9, $10, $11, $12, $13, coalesce(nullif($14, ''), ") +
        kNow + ")) RETURNING id";
    for (const auto& item : items) {
      FACELENS_RETURN_IF_ERROR(validate_identity_name(item.name));
      Params p;
      p.add(item.name)
          .add(item.metadata ? *item.metadata : std::string("{}"))
          .add(item.created_at)
          .add(item.updated_at);
      Result r(run(item.metadata ? upsert_meta : upsert_touch, p));
      if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
        if (sqlstate(r) == "22P02")
          return invalid_argument("metadata of '" + item.name + "' is not valid JSON: " + item.metadata.value_or(""));
        return error("write identity '" + item.name + "'", r);
      }
      const int64_t identity_id = r.int64(0, 0);
      const bool created = r.int64(0, 1) != 0;
      // The whole write rolls back: the new row is never seen.
      if (created && item.must_exist) return not_found("no identity '" + item.name + "'");
      // A new identity with faces is announced by their kAddFace changes.
      if (created && !bulk && item.faces.empty())
        FACELENS_RETURN_IF_ERROR(record(ChangeKind::kAddIdentity, identity_id, 0));
      for (const auto& f : item.faces) {
        if (f.embedding.empty()) return invalid_argument("face of '" + item.name + "' has no embedding");
        if (f.model_id.empty()) return invalid_argument("face of '" + item.name + "' has no model id");
        if (!f.crop.empty() && f.crop.pixels.size() != static_cast<size_t>(f.crop.width) * f.crop.height * 3)
          return invalid_argument("crop of '" + item.name + "' is not width x height RGB pixels");
        Params q;
        q.add(identity_id)
            .add_bytes(f.embedding.data(), f.embedding.size() * sizeof(float))
            .add(static_cast<int64_t>(f.embedding.size()))
            .add(f.model_id)
            .add(static_cast<double>(f.quality))
            .add(static_cast<double>(f.box.x1))
            .add(static_cast<double>(f.box.y1))
            .add(static_cast<double>(f.box.x2))
            .add(static_cast<double>(f.box.y2));
        if (f.image_sha256.empty()) q.add_null();
        else q.add(f.image_sha256);
        if (f.crop.empty()) q.add_null();
        else q.add_bytes(f.crop.pixels.data(), f.crop.pixels.size());
        q.add(static_cast<int64_t>(f.crop.width)).add(static_cast<int64_t>(f.crop.height)).add(f.created_at);
        Result fr(run(insert_face, q));
        if (PQresultStatus(fr.get()) != PGRES_TUPLES_OK) {
          if (sqlstate(fr) == "23505") {
            *duplicate = f.image_sha256;
            return invalid_argument("duplicate image");
          }
          return error("insert face", fr);
        }
        ids.push_back({fr.int64(0, 0), identity_id});
        if (!bulk) FACELENS_RETURN_IF_ERROR(record(ChangeKind::kAddFace, identity_id, ids.back().face_id));
      }
    }
    if (bulk) FACELENS_RETURN_IF_ERROR(record(ChangeKind::kReload, 0, 0));
    return ids;
  }

  StatusOr<std::vector<int64_t>> remove_locked(const std::string& name) {
    Params p;
    p.add(name);
    FACELENS_ASSIGN_OR_RETURN(
        auto who, query("find identity '" + name + "'", "SELECT id FROM facelens_identities WHERE name = $1", p));
    if (who.rows() == 0) return not_found("no identity '" + name + "' in " + where_);
    const int64_t identity_id = who.int64(0, 0);
    Params q;
    q.add(identity_id);
    FACELENS_ASSIGN_OR_RETURN(auto faces, query("list faces of '" + name + "'",
                                                "DELETE FROM facelens_faces WHERE identity_id = $1 RETURNING id", q));
    std::vector<int64_t> ids;
    for (int i = 0; i < faces.rows(); ++i) ids.push_back(faces.int64(i, 0));
    std::sort(ids.begin(), ids.end());
    FACELENS_RETURN_IF_ERROR(
        command("remove '" + name + "'", "DELETE FROM facelens_identities WHERE id = $1", q).status());
    FACELENS_RETURN_IF_ERROR(record(ChangeKind::kRemoveIdentity, identity_id, 0));
    return ids;
  }

  StatusOr<ChangeLog> changes_locked(int64_t after, size_t limit) const {
    ChangeLog log;
    FACELENS_ASSIGN_OR_RETURN(
        auto lo, query("read the change log",
                       "SELECT min(seq), (SELECT last_seq FROM facelens_meta WHERE id = 1) FROM facelens_changes"));
    // Sequences are consecutive: a first stored change beyond after + 1 means the ones between
    // were pruned; a reader ahead of the database (restored from a backup) reloads too.
    const int64_t last = lo.int64(0, 1);
    if ((!lo.is_null(0, 0) && lo.int64(0, 0) > after + 1) || (lo.is_null(0, 0) && last > after) || after > last) {
      log.gap = true;
      return log;
    }
    Params p;
    p.add(after).add(static_cast<int64_t>(limit));
    FACELENS_ASSIGN_OR_RETURN(
        auto r, query("read the change log",
                      "SELECT c.seq, c.kind, c.identity_id, c.face_id, coalesce(i.name, ''), f.id, f.embedding, "
                      "f.model_id FROM facelens_changes c "
                      "LEFT JOIN facelens_identities i ON i.id = c.identity_id "
                      "LEFT JOIN facelens_faces f ON c.kind = 'add_face' AND f.id = c.face_id "
                      "WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
                      p));
    for (int row = 0; row < r.rows(); ++row) {
      Change c;
      c.seq = r.int64(row, 0);
      FACELENS_ASSIGN_OR_RETURN(c.kind, parse_change_kind(r.text(row, 1)));
      c.identity_id = r.int64(row, 2);
      c.face_id = r.int64(row, 3);
      c.name = r.text(row, 4);
      c.face_exists = !r.is_null(row, 5);
      if (c.face_exists) {
        auto blob = r.bytes(row, 6);
        if (blob.size() % sizeof(float) != 0)
          return data_loss(where_ + ": face " + std::to_string(c.face_id) + " has an embedding of " +
                           std::to_string(blob.size()) + " bytes");
        c.embedding.resize(blob.size() / sizeof(float));
        if (!blob.empty()) std::memcpy(c.embedding.data(), blob.data(), blob.size());
        c.model_id = r.text(row, 7);
      }
      log.changes.push_back(std::move(c));
    }
    return log;
  }

  static std::string face_sql(bool with_crops) {
    return std::string(
               "SELECT id, identity_id, embedding, model_id, quality, box_x1, box_y1, box_x2, box_y2, "
               "coalesce(image_sha256, ''), created_at, crop_width, crop_height") +
           (with_crops ? ", crop" : "") + " FROM facelens_faces";
  }

  // The face of a row of face_sql().
  StatusOr<StoredFace> read_face(const Result& r, int row, bool with_crops) const {
    StoredFace f;
    f.id = r.int64(row, 0);
    f.identity_id = r.int64(row, 1);
    auto blob = r.bytes(row, 2);
    if (blob.size() % sizeof(float) != 0)
      return data_loss(where_ + ": face " + std::to_string(f.id) + " has an embedding of " +
                       std::to_string(blob.size()) + " bytes");
    f.embedding.resize(blob.size() / sizeof(float));
    if (!blob.empty()) std::memcpy(f.embedding.data(), blob.data(), blob.size());
    f.model_id = r.text(row, 3);
    f.quality = static_cast<float>(r.real(row, 4));
    f.box = {static_cast<float>(r.real(row, 5)), static_cast<float>(r.real(row, 6)), static_cast<float>(r.real(row, 7)),
             static_cast<float>(r.real(row, 8))};
    f.image_sha256 = r.text(row, 9);
    f.created_at = r.text(row, 10);
    f.has_crop = r.int64(row, 11) > 0;
    if (with_crops && !r.is_null(row, 13)) {
      auto crop = r.bytes(row, 13);
      f.crop.width = static_cast<int>(r.int64(row, 11));
      f.crop.height = static_cast<int>(r.int64(row, 12));
      if (crop.size() != static_cast<size_t>(f.crop.width) * f.crop.height * 3)
        return data_loss(where_ + ": face " + std::to_string(f.id) + " has a crop of the wrong size");
      f.crop.pixels.assign(crop.begin(), crop.end());
    }
    return f;
  }

  Status for_each_locked(bool with_crops, const std::function<Status(StoredFace&&)>& fn) const {
    FACELENS_RETURN_IF_ERROR(
        exec("read faces", "DECLARE facelens_face_cursor NO SCROLL CURSOR FOR " + face_sql(with_crops) + " ORDER BY id")
            .status());
    for (;;) {
      FACELENS_ASSIGN_OR_RETURN(auto r, query("read faces", "FETCH 2000 FROM facelens_face_cursor"));
      if (r.rows() == 0) break;
      for (int row = 0; row < r.rows(); ++row) {
        FACELENS_ASSIGN_OR_RETURN(auto f, read_face(r, row, with_crops));
        FACELENS_RETURN_IF_ERROR(fn(std::move(f)));
      }
    }
    return Status::Ok();
  }

  PgStoreOptions o_;
  std::string where_;  // postgresql://host:port/db

  mutable std::mutex mu_;  // the call connection and the write state below
  mutable PGconn* conn_ = nullptr;
  mutable int64_t next_connect_ms_ = 0;
  mutable std::string conn_error_;
  struct PendingChange {
    int64_t seq;
    ChangeKind kind;
    int64_t identity_id;
    int64_t face_id;
  };
  mutable std::vector<PendingChange> changes_;  // recorded by the open write transaction
  mutable SeqRange pending_;                    // their sequence numbers
  SeqRange last_write_;                         // by the last committed one
  int64_t next_seq_ = 0;

  std::mutex listen_mu_;  // the listener connection
  PGconn* listen_ = nullptr;
  int64_t next_listen_ms_ = 0;
  std::string listen_error_;
  int wake_fd_ = -1;  // cancel_wait() wakes wait_for_change()
};

}  // namespace

bool is_pg_url(const std::string& s) { return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0; }

std::string describe_pg_url(const std::string& url) {
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), nullptr);
  std::string host, port, db;
  if (opts) {
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
      if (!o->val) continue;
      if (std::strcmp(o->keyword, "host") == 0) host = o->val;
      if (std::strcmp(o->keyword, "port") == 0) port = o->val;
      if (std::strcmp(o->keyword, "dbname") == 0) db = o->val;
    }
    PQconninfoFree(opts);
  }
  return "postgresql://" + (host.empty() ? std::string("localhost") : host) + ":" +
         (port.empty() ? std::string("5432") : port) + "/" + db;
}

StatusOr<std::unique_ptr<Store>> open_pg_store(const PgStoreOptions& options) {
  if (!is_pg_url(options.url))
    return invalid_argument("'" + describe_pg_url(options.url) +
                            "' is not a PostgreSQL URL: expected postgresql://user:password@host:port/database");
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(options.url.c_str(), &err);
  if (!opts) {
    std::string msg = err ? trim(err) : "cannot parse it";
    PQfreemem(err);
    return invalid_argument("bad PostgreSQL URL " + describe_pg_url(options.url) + ": " + msg +
                            " (expected postgresql://user:password@host:port/database)");
  }
  PQconninfoFree(opts);
  auto store = std::make_unique<PgStore>(options);
  FACELENS_RETURN_IF_ERROR(store->init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace facelens::gallery

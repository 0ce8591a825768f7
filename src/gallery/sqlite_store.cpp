// SQLite gallery store: one file, WAL journal, one connection serialised by a mutex.
#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <mutex>

#include "gallery/store.h"

namespace facelens::gallery {
namespace {

// Version 1: identities, faces, schema_version.
// Version 2: ids AUTOINCREMENT (never reused: a reader's in-memory index can tell a new face from a
// removed one) and the change log `changes`.
constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT NOT NULL UNIQUE,
  metadata   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  identity_id  INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
  embedding    BLOB NOT NULL,
  dim          INTEGER NOT NULL,
  model_id     TEXT NOT NULL,
  quality      REAL NOT NULL DEFAULT 0,
  box_x1 REAL NOT NULL, box_y1 REAL NOT NULL, box_x2 REAL NOT NULL, box_y2 REAL NOT NULL,
  image_sha256 TEXT,
  crop         BLOB,
  crop_width   INTEGER NOT NULL DEFAULT 0,
  crop_height  INTEGER NOT NULL DEFAULT 0,
  created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_identity ON faces(identity_id);
CREATE UNIQUE INDEX IF NOT EXISTS faces_image ON faces(image_sha256) WHERE image_sha256 IS NOT NULL;
CREATE TABLE IF NOT EXISTS changes (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  kind        TEXT NOT NULL,
  identity_id INTEGER NOT NULL DEFAULT 0,
  face_id     INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
)sql";

// Version 1 -> 2: the tables again with AUTOINCREMENT (SQLite cannot alter a primary key), rows
// and ids kept; foreign keys are off while it runs. The indexes come back with kSchema.
constexpr const char* kMigrate1To2 = R"sql(
CREATE TABLE identities_v2 (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT NOT NULL UNIQUE,
  metadata   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
INSERT INTO identities_v2 (id, name, metadata, created_at, updated_at)
  SELECT id, name, metadata, created_at, updated_at FROM identities ORDER BY id;
CREATE TABLE faces_v2 (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  identity_id  INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
  embedding    BLOB NOT NULL,
  dim          INTEGER NOT NULL,
  model_id     TEXT NOT NULL,
  quality      REAL NOT NULL DEFAULT 0,
  box_x1 REAL NOT NULL, box_y1 REAL NOT NULL, box_x2 REAL NOT NULL, box_y2 REAL NOT NULL,
  image_sha256 TEXT,
  crop         BLOB,
  crop_width   INTEGER NOT NULL DEFAULT 0,
  crop_height  INTEGER NOT NULL DEFAULT 0,
  created_at   TEXT NOT NULL
);
INSERT INTO faces_v2 SELECT id, identity_id, embedding, dim, model_id, quality, box_x1, box_y1, box_x2, box_y2,
  image_sha256, crop, crop_width, crop_height, created_at FROM faces ORDER BY id;
DROP TABLE faces;
DROP TABLE identities;
ALTER TABLE identities_v2 RENAME TO identities;
ALTER TABLE faces_v2 RENAME TO faces;
)sql";

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

// A prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &s_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Status prepared() const {
    return rc_ == SQLITE_OK ? Status::Ok() : internal_error(std::string("SQLite prepare: ") + sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, double v) { sqlite3_bind_double(s_, i, v); }
  void bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_null(int i) { sqlite3_bind_null(s_, i); }
  void bind_blob(int i, const void* p, size_t n) {
    sqlite3_bind_blob64(s_, i, p, static_cast<sqlite3_uint64>(n), SQLITE_STATIC);
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(s_); }
  int64_t int64(int c) const { return sqlite3_column_int64(s_, c); }
  double real(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, c)) : std::string();
  }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::span<const uint8_t> blob(int c) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, c));
    return {p, p ? static_cast<size_t>(sqlite3_column_bytes(s_, c)) : 0};
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

class SqliteStore final : public Store {
 public:
  template <class Tx, class Body>
  friend Status gallery::write_transaction(std::mutex& mu, Tx& tx, Body&& body);
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override {
    record_stmt_.reset();
    sqlite3_close_v2(db_);
  }

  Status init(const SqliteStoreOptions& o) {
    sqlite3_busy_timeout(db_, o.busy_timeout_ms);
    // WAL: readers never block the writer and a commit is one append to the -wal file.
    std::string mode;
    FACELENS_RETURN_IF_ERROR(query_text("PRAGMA journal_mode=WAL", &mode));
    if (mode != "wal")
      return failed_precondition(path_ + ": cannot use WAL journal mode (got '" + mode +
                                 "'); is the folder on a network file system?");
    FACELENS_RETURN_IF_ERROR(
        exec(o.durability == Durability::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
    change_log_rows_ = o.change_log_rows;
    bulk_change_faces_ = o.bulk_change_faces;
    // Foreign keys stay off while the schema is created or migrated (a migration drops tables).
    FACELENS_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
    Status s = create_schema();
    if (!s.ok()) {
      exec("ROLLBACK").ok();
      return s;
    }
    FACELENS_RETURN_IF_ERROR(exec("COMMIT"));
    return exec("PRAGMA foreign_keys=ON");
  }

  StatusOr<std::vector<AddedFace>> add(std::span<const NewIdentityFaces> items) override {
    std::lock_guard<std::mutex> lock(mu_);
    FACELENS_RETURN_IF_ERROR(begin_write());
    auto ids = add_locked(items);
    if (!ids.ok()) {
      rollback();
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
      Stmt st(db_, std::string("UPDATE identities SET name = coalesce(?1, name), metadata = coalesce(?2, metadata), "
                               "updated_at = ") +
                       kNow + " WHERE id = ?3");
      FACELENS_RETURN_IF_ERROR(st.prepared());
      if (update.name) st.bind(1, *update.name);
      else st.bind_null(1);
      if (update.metadata_json) st.bind(2, *update.metadata_json);
      else st.bind_null(2);
      st.bind(3, identity_id);
      if (st.step() != SQLITE_DONE) {
        const int code = sqlite3_extended_errcode(db_);
        if (code == SQLITE_CONSTRAINT_UNIQUE)
          return failed_precondition("cannot rename identity " + std::to_string(identity_id) + " to '" +
                                     update.name.value_or("") + "': the name is taken");
        if (code == SQLITE_CONSTRAINT_CHECK)
          return invalid_argument("metadata is not valid JSON: " + update.metadata_json.value_or(""));
        return error("update identity");
      }
      if (sqlite3_changes(db_) != 1) return not_found("no identity " + std::to_string(identity_id) + " in " + path_);
      return record(update.name ? ChangeKind::kRenameIdentity : ChangeKind::kUpdateIdentity, identity_id, 0);
    });
  }

  Status remove_face(int64_t identity_id, int64_t face_id) override {
    return write_transaction(mu_, *this, [&]() -> Status {
      Stmt del(db_, "DELETE FROM faces WHERE id = ?1 AND identity_id = ?2");
      FACELENS_RETURN_IF_ERROR(del.prepared());
      del.bind(1, face_id);
      del.bind(2, identity_id);
      if (del.step() != SQLITE_DONE) return error("remove face");
      if (sqlite3_changes(db_) != 1)
        return not_found("identity " + std::to_string(identity_id) + " has no face " + std::to_string(face_id));
      FACELENS_RETURN_IF_ERROR(touch_identity(identity_id));
      return record(ChangeKind::kRemoveFace, identity_id, face_id);
    });
  }

  StatusOr<std::optional<StoredFace>> find_face(int64_t face_id, bool with_crop) const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, face_sql(with_crop) + " WHERE id = ?1");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.bind(1, face_id);
    const int rc = st.step();
    if (rc == SQLITE_DONE) return std::optional<StoredFace>();
    if (rc != SQLITE_ROW) return error("find face");
    FACELENS_ASSIGN_OR_RETURN(auto f, read_face(st, with_crop));
    return std::optional<StoredFace>(std::move(f));
  }

  StatusOr<std::vector<StoredFace>> identity_faces(int64_t identity_id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, face_sql(false) + " WHERE identity_id = ?1 ORDER BY id");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.bind(1, identity_id);
    std::vector<StoredFace> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      FACELENS_ASSIGN_OR_RETURN(auto f, read_face(st, false));
      out.push_back(std::move(f));
    }
    if (rc != SQLITE_DONE) return error("list faces");
    return out;
  }

  StatusOr<int64_t> last_change() const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, "SELECT coalesce(max(seq), 0) FROM changes");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    if (st.step() != SQLITE_ROW) return error("read the change log");
    return st.int64(0);
  }

  StatusOr<ChangeLog> changes_since(int64_t after, size_t limit) const override {
    std::lock_guard<std::mutex> lock(mu_);
    // One read transaction: the changes and the rows they point at from one snapshot.
    FACELENS_RETURN_IF_ERROR(exec("BEGIN"));
    auto log = changes_locked(after, limit);
    exec("COMMIT").ok();
    return log;
  }

  StatusOr<int64_t> external_version() const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, "PRAGMA data_version");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    if (st.step() != SQLITE_ROW) return error("PRAGMA data_version");
    return st.int64(0);
  }

  SeqRange last_write() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return last_write_;
  }

  StatusOr<std::vector<StoredIdentity>> identities() const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, identity_sql("") + " ORDER BY i.name");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    std::vector<StoredIdentity> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(read_identity(st));
    if (rc != SQLITE_DONE) return error("list identities");
    return out;
  }

  StatusOr<std::optional<StoredIdentity>> find_identity(const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, identity_sql("WHERE i.name = ?1"));
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.bind(1, name);
    int rc = st.step();
    if (rc == SQLITE_ROW) return std::optional<StoredIdentity>(read_identity(st));
    if (rc != SQLITE_DONE) return error("find identity");
    return std::optional<StoredIdentity>();
  }

  StatusOr<std::optional<ImageOwner>> find_image(const std::string& sha) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return find_image_locked(sha);
  }

  Status for_each_face(bool with_crops, const std::function<Status(StoredFace&&)>& fn) const override {
    std::lock_guard<std::mutex> lock(mu_);
    // One read transaction: a consistent snapshot even while another process writes.
    FACELENS_RETURN_IF_ERROR(exec("BEGIN"));
    Status s = for_each_locked(with_crops, fn);
    exec("COMMIT").ok();
    return s;
  }

  StatusOr<std::vector<std::string>> model_ids() const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, "SELECT DISTINCT model_id FROM faces ORDER BY model_id");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    std::vector<std::string> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(st.text(0));
    if (rc != SQLITE_DONE) return error("list model ids");
    return out;
  }

  Status update_embeddings(std::span<const EmbeddingUpdate> updates) override {
    return write_transaction(mu_, *this, [&]() -> Status {
      Stmt st(db_, "UPDATE faces SET embedding = ?1, dim = ?2, model_id = ?3 WHERE id = ?4");
      FACELENS_RETURN_IF_ERROR(st.prepared());
      for (const auto& u : updates) {
        st.reset();
        st.bind_blob(1, u.embedding.data(), u.embedding.size() * sizeof(float));
        st.bind(2, static_cast<int64_t>(u.embedding.size()));
        st.bind(3, u.model_id);
        st.bind(4, u.face_id);
        if (st.step() != SQLITE_DONE) return error("update embedding");
        if (sqlite3_changes(db_) != 1) return not_found("no face " + std::to_string(u.face_id) + " in " + path_);
      }
      return updates.empty() ? Status::Ok() : record(ChangeKind::kReload, 0, 0);
    });
  }

  StatusOr<std::string> integrity_check() const override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt st(db_, "PRAGMA integrity_check");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    std::string out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      if (!out.empty()) out += '\n';
      out += st.text(0);
    }
    if (rc != SQLITE_DONE) return error("integrity check");
    return out;
  }

  std::string describe() const override { return "sqlite:" + path_; }

 private:
  Status error(const std::string& what) const {
    const int code = sqlite3_errcode(db_);
    std::string msg = path_ + ": " + what + ": " + sqlite3_errmsg(db_);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
      return unavailable(msg + " (another process holds the database's write lock; retry)");
    if (code == SQLITE_FULL) return resource_exhausted(msg + " (disk full)");
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return data_loss(msg);
    return internal_error(msg);
  }

  Status exec(const char* sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    Status e = error(sql);
    return Status(e.code(), path_ + ": " + sql + ": " + msg);
  }

  // A write transaction; its changes are recorded with record() and published by commit().
  Status begin_write() {
    pending_ = {};
    return exec("BEGIN IMMEDIATE");
  }
  void rollback() {
    exec("ROLLBACK").ok();
    pending_ = {};
  }
  Status commit() {
    // Prune the log to its last change_log_rows_ changes (a reader further behind reloads).
    if (pending_.last > change_log_rows_) {
      Stmt prune(db_, "DELETE FROM changes WHERE seq <= ?1");
      if (prune.prepared().ok()) {
        prune.bind(1, pending_.last - change_log_rows_);
        if (prune.step() != SQLITE_DONE) {
          Status e = error("prune the change log");
          rollback();
          return e;
        }
      }
    }
    Status s = exec("COMMIT");
    if (!s.ok()) {
      rollback();
      return s;
    }
    last_write_ = pending_;
    pending_ = {};
    return s;
  }

  // Appends a change to the log in the open write transaction.
  Status record(ChangeKind kind, int64_t identity_id, int64_t face_id) {
    // Prepared once per connection (bulk enrolments record one change per face).
    if (!record_stmt_)
      record_stmt_ = std::make_unique<Stmt>(db_, "INSERT INTO changes(kind, identity_id, face_id) VALUES (?1, ?2, ?3)");
    Stmt& st = *record_stmt_;
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.reset();
    st.bind(1, std::string(change_kind_name(kind)));
    st.bind(2, identity_id);
    st.bind(3, face_id);
    const int rc = st.step();
    st.reset();
    if (rc != SQLITE_DONE) return error("record a change");
    const int64_t seq = sqlite3_last_insert_rowid(db_);
    if (pending_.first == 0) pending_.first = seq;
    pending_.last = seq;
    return Status::Ok();
  }

  StatusOr<ChangeLog> changes_locked(int64_t after, size_t limit) const {
    ChangeLog log;
    Stmt lo(db_, "SELECT min(seq) FROM changes");
    FACELENS_RETURN_IF_ERROR(lo.prepared());
    if (lo.step() != SQLITE_ROW) return error("read the change log");
    // Sequences are consecutive (a rolled-back write takes its numbers back): a first stored
    // change beyond after + 1 means the ones between were pruned.
    if (!lo.is_null(0) && lo.int64(0) > after + 1) {
      log.gap = true;
      return log;
    }
    Stmt st(db_,
            "SELECT c.seq, c.kind, c.identity_id, c.face_id, i.name, f.id, f.embedding, f.model_id FROM changes c "
            "LEFT JOIN identities i ON i.id = c.identity_id "
            "LEFT JOIN faces f ON c.kind = 'add_face' AND f.id = c.face_id "
            "WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.bind(1, after);
    st.bind(2, static_cast<int64_t>(limit));
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      Change c;
      c.seq = st.int64(0);
      FACELENS_ASSIGN_OR_RETURN(c.kind, parse_change_kind(st.text(1)));
      c.identity_id = st.int64(2);
      c.face_id = st.int64(3);
      c.name = st.text(4);
      c.face_exists = !st.is_null(5);
      if (c.face_exists) {
        auto blob = st.blob(6);
        if (blob.size() % sizeof(float) != 0)
          return data_loss(path_ + ": face " + std::to_string(c.face_id) + " has an embedding of " +
                           std::to_string(blob.size()) + " bytes");
        c.embedding.resize(blob.size() / sizeof(float));
        if (!blob.empty()) std::memcpy(c.embedding.data(), blob.data(), blob.size());
        c.model_id = st.text(7);
      }
      log.changes.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) return error("read the change log");
    return log;
  }

  Status query_text(const char* sql, std::string* out) const {
    Stmt st(db_, sql);
    FACELENS_RETURN_IF_ERROR(st.prepared());
    if (st.step() != SQLITE_ROW) return error(sql);
    *out = st.text(0);
    return Status::Ok();
  }

  Status create_schema() {
    int64_t version = 0;  // 0: a new file
    {
      // Statements finished before any migration (an open one keeps its tables locked).
      Stmt has(db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
      FACELENS_RETURN_IF_ERROR(has.prepared());
      if (has.step() != SQLITE_ROW) return error("read schema");
      if (has.int64(0) == 1) {
        Stmt v(db_, "SELECT max(version) FROM schema_version");
        FACELENS_RETURN_IF_ERROR(v.prepared());
        if (v.step() != SQLITE_ROW) return error("read schema version");
        version = v.int64(0);
      }
    }
    if (version > kSchemaVersion)
      return failed_precondition(path_ + " has gallery schema version " + std::to_string(version) +
                                 " but this facelens reads up to " + std::to_string(kSchemaVersion) +
                                 ": use a newer facelens");
    if (version == kSchemaVersion) return Status::Ok();
    if (version == 1) {
      char* err = nullptr;
      if (sqlite3_exec(db_, kMigrate1To2, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "";
        sqlite3_free(err);
        return internal_error(path_ + ": migrate the gallery schema from version 1 to 2: " + msg);
      }
    }
    char* err = nullptr;
    if (sqlite3_exec(db_, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "";
      sqlite3_free(err);
      return internal_error(path_ + ": create the gallery schema: " + msg);
    }
    FACELENS_RETURN_IF_ERROR(exec("DELETE FROM schema_version"));
    return exec(("INSERT INTO schema_version(version) VALUES (" + std::to_string(kSchemaVersion) + ")").c_str());
  }

  static std::string identity_sql(const std::string& where) {
    return "SELECT i.id, i.name, i.metadata, i.created_at, i.updated_at, "
           "(SELECT count(*) FROM faces f WHERE f.identity_id = i.id) FROM identities i " +
           where;
  }
  static StoredIdentity read_identity(const Stmt& st) {
    StoredIdentity s;
    s.id = st.int64(0);
    s.name = st.text(1);
    s.metadata = st.text(2);
    s.created_at = st.text(3);
    s.updated_at = st.text(4);
    s.n_faces = st.int64(5);
    return s;
  }

  StatusOr<std::optional<ImageOwner>> find_image_locked(const std::string& sha) const {
    Stmt st(db_,
            "SELECT f.id, i.name FROM faces f JOIN identities i ON i.id = f.identity_id WHERE f.image_sha256 = ?1");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.bind(1, sha);
    int rc = st.step();
    if (rc == SQLITE_ROW) return std::optional<ImageOwner>(ImageOwner{st.int64(0), st.text(1)});
    if (rc != SQLITE_DONE) return error("find image");
    return std::optional<ImageOwner>();
  }

  StatusOr<std::vector<AddedFace>> add_locked(std::span<const NewIdentityFaces> items) {
    Stmt find(db_, "SELECT id FROM identities WHERE name = ?1");
    Stmt insert_identity(db_,
                         std::string("INSERT INTO identities(name, metadata, created_at, updated_at) VALUES (?1, ?2, "
                                     "coalesce(nullif(?3, ''), ") +
                             kNow + "), coalesce(nullif(?4, ''), " + kNow + "))");
    Stmt touch(db_, std::string("UPDATE identities SET updated_at = ") + kNow + " WHERE id = ?1");
    Stmt set_meta(db_, std::string("UPDATE identities SET metadata = ?2, updated_at = ") + kNow + " WHERE id = ?1");
    Stmt insert_face(
        db_, std::string("INSERT INTO faces(identity_id, embedding, dim, model_id, quality, box_x1, box_y1, "
                         "box_x2, box_y2, image_sha256, crop, crop_width, crop_height, created_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, coalesce(nullif(?14, ''), ") +
                 kNow + "))");
    for (const Stmt* s : {&find, &insert_identity, &touch, &set_meta, &insert_face})
      FACELENS_RETURN_IF_ERROR(s->prepared());
    std::vector<AddedFace> ids;
    size_t n_faces = 0;
    for (const auto& item : items) n_faces += item.faces.size();
    // A bulk write (imports) is one kReload change: readers reload rather than replay it.
    const bool bulk = n_faces > bulk_change_faces_;
    for (const auto& item : items) {
      FACELENS_RETURN_IF_ERROR(validate_identity_name(item.name));
      find.reset();
      find.bind(1, item.name);
      int rc = find.step();
      int64_t identity_id = 0;
      if (rc == SQLITE_ROW) {
        identity_id = find.int64(0);
        Stmt& up = item.metadata ? set_meta : touch;
        up.reset();
        up.bind(1, identity_id);
        if (item.metadata) up.bind(2, *item.metadata);
        if (up.step() != SQLITE_DONE) return metadata_error(item);
      } else if (rc == SQLITE_DONE) {
        if (item.must_exist) return not_found("no identity '" + item.name + "'");
        insert_identity.reset();
        insert_identity.bind(1, item.name);
        insert_identity.bind(2, item.metadata ? *item.metadata : std::string("{}"));
        insert_identity.bind(3, item.created_at);
        insert_identity.bind(4, item.updated_at);
        if (insert_identity.step() != SQLITE_DONE) return metadata_error(item);
        identity_id = sqlite3_last_insert_rowid(db_);
        // A new identity with faces is announced by their kAddFace changes.
        if (!bulk && item.faces.empty()) FACELENS_RETURN_IF_ERROR(record(ChangeKind::kAddIdentity, identity_id, 0));
      } else {
        return error("find identity");
      }
      for (const auto& f : item.faces) {
        if (f.embedding.empty()) return invalid_argument("face of '" + item.name + "' has no embedding");
        if (f.model_id.empty()) return invalid_argument("face of '" + item.name + "' has no model id");
        insert_face.reset();
        insert_face.bind(1, identity_id);
        insert_face.bind_blob(2, f.embedding.data(), f.embedding.size() * sizeof(float));
        insert_face.bind(3, static_cast<int64_t>(f.embedding.size()));
        insert_face.bind(4, f.model_id);
        insert_face.bind(5, static_cast<double>(f.quality));
        insert_face.bind(6, static_cast<double>(f.box.x1));
        insert_face.bind(7, static_cast<double>(f.box.y1));
        insert_face.bind(8, static_cast<double>(f.box.x2));
        insert_face.bind(9, static_cast<double>(f.box.y2));
        if (f.image_sha256.empty()) insert_face.bind_null(10);
        else insert_face.bind(10, f.image_sha256);
        if (f.crop.empty()) {
          insert_face.bind_null(11);
        } else {
          if (f.crop.pixels.size() != static_cast<size_t>(f.crop.width) * f.crop.height * 3)
            return invalid_argument("crop of '" + item.name + "' is not width x height RGB pixels");
          insert_face.bind_blob(11, f.crop.pixels.data(), f.crop.pixels.size());
        }
        insert_face.bind(12, static_cast<int64_t>(f.crop.width));
        insert_face.bind(13, static_cast<int64_t>(f.crop.height));
        insert_face.bind(14, f.created_at);
        if (insert_face.step() != SQLITE_DONE) {
          if (sqlite3_extended_errcode(db_) != SQLITE_CONSTRAINT_UNIQUE) return error("insert face");
          // The unique index on image_sha256 found the image already stored (or twice in this call).
          FACELENS_ASSIGN_OR_RETURN(auto owner, find_image_locked(f.image_sha256));
          return invalid_argument("duplicate image: already enrolled as '" + (owner ? owner->name : item.name) +
                                  "' (sha256 " + f.image_sha256.substr(0, 16) + "...)");
        }
        ids.push_back({sqlite3_last_insert_rowid(db_), identity_id});
        if (!bulk) FACELENS_RETURN_IF_ERROR(record(ChangeKind::kAddFace, identity_id, ids.back().face_id));
      }
    }
    if (bulk) FACELENS_RETURN_IF_ERROR(record(ChangeKind::kReload, 0, 0));
    return ids;
  }

  Status metadata_error(const NewIdentityFaces& item) const {
    if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_CHECK)
      return invalid_argument("metadata of '" + item.name + "' is not valid JSON: " + item.metadata.value_or(""));
    return error("write identity '" + item.name + "'");
  }

  StatusOr<std::vector<int64_t>> remove_locked(const std::string& name) {
    Stmt who(db_, "SELECT id FROM identities WHERE name = ?1");
    Stmt find(db_, "SELECT id FROM faces WHERE identity_id = ?1 ORDER BY id");
    Stmt del(db_, "DELETE FROM identities WHERE id = ?1");
    for (const Stmt* s : {&who, &find, &del}) FACELENS_RETURN_IF_ERROR(s->prepared());
    who.bind(1, name);
    int rc = who.step();
    if (rc == SQLITE_DONE) return not_found("no identity '" + name + "' in " + path_);
    if (rc != SQLITE_ROW) return error("find identity '" + name + "'");
    const int64_t identity_id = who.int64(0);
    find.bind(1, identity_id);
    std::vector<int64_t> ids;
    while ((rc = find.step()) == SQLITE_ROW) ids.push_back(find.int64(0));
    if (rc != SQLITE_DONE) return error("list faces of '" + name + "'");
    del.bind(1, identity_id);
    if (del.step() != SQLITE_DONE) return error("remove '" + name + "'");
    FACELENS_RETURN_IF_ERROR(record(ChangeKind::kRemoveIdentity, identity_id, 0));
    return ids;
  }

  static std::string face_sql(bool with_crops) {
    return std::string(
               "SELECT id, identity_id, embedding, model_id, quality, box_x1, box_y1, box_x2, box_y2, "
               "image_sha256, created_at, crop_width, crop_height") +
           (with_crops ? ", crop" : "") + " FROM faces";
  }

  // The face of a row of face_sql().
  StatusOr<StoredFace> read_face(const Stmt& st, bool with_crops) const {
    StoredFace f;
    f.id = st.int64(0);
    f.identity_id = st.int64(1);
    auto blob = st.blob(2);
    if (blob.size() % sizeof(float) != 0)
      return data_loss(path_ + ": face " + std::to_string(f.id) + " has an embedding of " +
                       std::to_string(blob.size()) + " bytes");
    f.embedding.resize(blob.size() / sizeof(float));
    if (!blob.empty()) std::memcpy(f.embedding.data(), blob.data(), blob.size());
    f.model_id = st.text(3);
    f.quality = static_cast<float>(st.real(4));
    f.box = {static_cast<float>(st.real(5)), static_cast<float>(st.real(6)), static_cast<float>(st.real(7)),
             static_cast<float>(st.real(8))};
    f.image_sha256 = st.text(9);
    f.created_at = st.text(10);
    f.has_crop = st.int64(11) > 0;
    if (with_crops && !st.is_null(13)) {
      auto crop = st.blob(13);
      f.crop.width = static_cast<int>(st.int64(11));
      f.crop.height = static_cast<int>(st.int64(12));
      if (crop.size() != static_cast<size_t>(f.crop.width) * f.crop.height * 3)
        return data_loss(path_ + ": face " + std::to_string(f.id) + " has a crop of the wrong size");
      f.crop.pixels.assign(crop.begin(), crop.end());
    }
    return f;
  }

  Status for_each_locked(bool with_crops, const std::function<Status(StoredFace&&)>& fn) const {
    Stmt st(db_, face_sql(with_crops) + " ORDER BY id");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      FACELENS_ASSIGN_OR_RETURN(auto f, read_face(st, with_crops));
      FACELENS_RETURN_IF_ERROR(fn(std::move(f)));
    }
    if (rc != SQLITE_DONE) return error("read faces");
    return Status::Ok();
  }

  Status touch_identity(int64_t identity_id) {
    Stmt st(db_, std::string("UPDATE identities SET updated_at = ") + kNow + " WHERE id = ?1");
    FACELENS_RETURN_IF_ERROR(st.prepared());
    st.bind(1, identity_id);
    if (st.step() != SQLITE_DONE) return error("update identity");
    return Status::Ok();
  }

  sqlite3* db_;
  std::string path_;
  mutable std::mutex mu_;
  int64_t change_log_rows_ = 100000;
  size_t bulk_change_faces_ = 10000;
  std::unique_ptr<Stmt> record_stmt_;  // INSERT INTO changes, finalised before the connection closes
  SeqRange pending_;                   // changes recorded by the open write transaction
  SeqRange last_write_;                // by the last committed one
};

}  // namespace

const char* change_kind_name(ChangeKind k) {
  switch (k) {
    case ChangeKind::kAddIdentity: return "add_identity";
    case ChangeKind::kAddFace: return "add_face";
    case ChangeKind::kRemoveIdentity: return "remove_identity";
    case ChangeKind::kRenameIdentity: return "rename_identity";
    case ChangeKind::kRemoveFace: return "remove_face";
    case ChangeKind::kUpdateIdentity: return "update_identity";
    case ChangeKind::kReload: return "reload";
  }
  return "reload";
}

StatusOr<ChangeKind> parse_change_kind(const std::string& name) {
  for (ChangeKind k :
       {ChangeKind::kAddIdentity, ChangeKind::kAddFace, ChangeKind::kRemoveIdentity, ChangeKind::kRenameIdentity,
        ChangeKind::kRemoveFace, ChangeKind::kUpdateIdentity, ChangeKind::kReload})
    if (name == change_kind_name(k)) return k;
  return data_loss("unknown gallery change kind '" + name +
                   "' (written by a newer facelens?): expected add_identity, add_face, remove_identity, "
                   "rename_identity, remove_face, update_identity or reload");
}

StatusOr<std::unique_ptr<Store>> open_sqlite_store(const SqliteStoreOptions& options) {
  if (options.path.empty()) return invalid_argument("gallery database path is empty");
  std::error_code ec;
  const auto parent = std::filesystem::path(options.path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec)
      return invalid_argument("cannot create the folder " + parent.string() + " for the gallery: " + ec.message());
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(options.path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return invalid_argument("cannot open the gallery " + options.path + ": " + msg);
  }
  auto store = std::make_unique<SqliteStore>(db, options.path);
  Status s = store->init(options);
  if (!s.ok()) {
    if (sqlite3_errcode(db) == SQLITE_NOTADB)
      return invalid_argument(options.path + " is not a SQLite gallery: " + s.message());
    return s;
  }
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace facelens::gallery

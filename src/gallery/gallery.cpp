#include "facelens/gallery.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "gallery/identity_table.h"
#include "gallery/json_io.h"
#include "gallery/names.h"
#include "gallery/search.h"
#include "gallery/store.h"

// The coordinator: the store, the in-memory IdentityTable and its Search, the locks, and the sync
// with the changes other processes logged in the store.

namespace facelens {
namespace {

constexpr int kSyncBatch = 4096;  // changes read from the log at a time
// A shared store (PostgreSQL): the watcher thread checks the database at least this often (when no
// notification came), and waits this long before retrying an unreachable one.
constexpr int kWatchCheckMs = 1000;
constexpr int kWatchRetryMs = 250;

Status check_metadata(const std::optional<std::string>& meta) {
  if (!meta) return Status::Ok();
  auto j = nlohmann::json::parse(*meta, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument("metadata must be a JSON object, e.g. {\"employee_id\": 42}; got: " + *meta);
  return Status::Ok();
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// scheme:// (RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.').
bool has_url_scheme(const std::string& s) {
  const size_t colon = s.find("://");
  if (colon == std::string::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

Status set_gallery_database(GalleryOptions& options, const std::string& path_or_url) {
  if (gallery::is_pg_url(path_or_url)) {
    options.db_url = path_or_url;
    return Status::Ok();
  }
  if (has_url_scheme(path_or_url))
    return invalid_argument("unknown gallery database URL '" + path_or_url.substr(0, path_or_url.find("://") + 3) +
                            "...': expected postgresql:// or postgres:// (PostgreSQL), or a file path (SQLite)");
  if (path_or_url.empty()) return invalid_argument("gallery database path is empty");
  options.db_path = path_or_url;
  options.db_url.clear();
  return Status::Ok();
}

struct Gallery::Impl {
  GalleryOptions options;
  std::unique_ptr<gallery::Store> store;
  float threshold = 0;
  bool shared = false;  // the store notifies (PostgreSQL): a watcher thread follows it

  ~Impl() {
    if (watcher.joinable()) {
      {
        std::lock_guard<std::mutex> lock(stop_mu);
        stopping = true;
      }
      stop_cv.notify_all();
      store->cancel_wait();
      watcher.join();
    }
  }

  // Writers (store write + in-memory update) and syncs take write_mu first, then mu exclusively
  // for the in-memory part only; readers take mu shared.
  mutable std::mutex write_mu;
  mutable std::shared_mutex mu;

  // Sync with other processes (guarded by write_mu): the last change of the store's log applied
  // to memory, and the store's external version when it was.
  mutable std::atomic<int64_t> applied_seq{0};  // written under write_mu; read by sync_state()
  // A reload failed part-way (memory holds part of the store): nothing is answered from memory and
  // the next sync reloads everything (written under write_mu).
  mutable std::atomic<bool> needs_reload{false};
  mutable int64_t seen_version = -1;
  mutable std::atomic<int64_t> last_check_ms{0};

  // Health of a shared store: set false by any call that finds the database unreachable, true by
  // the watcher once it is connected again and caught up.
  mutable std::atomic<bool> connected{true};
  mutable std::atomic<int64_t> store_seq{0};
  mutable std::atomic<int64_t> last_ok_ms{-1};  // steady_ms() of the last successful check
  mutable std::mutex error_mu;
  mutable std::string last_error;  // guarded by error_mu

  std::thread watcher;
  std::atomic<bool> watcher_syncing{false};  // the watcher wants write_mu to apply changes
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;  // guarded by stop_mu

  // In-memory state: changed by writes and by syncs (which run from const searches too).
  mutable gallery::IdentityTable table;

  gallery::Search search() const { return gallery::Search(table, options); }

  // The match threshold of a call: `t`, or the gallery's for kGalleryThreshold (any t < -1).
  StatusOr<float> threshold_of(float t) const {
    if (t < -1) return threshold;
    if (!(t <= 1)) return invalid_argument("threshold must be a cosine in [-1, 1], got " + std::to_string(t));
    return t;
  }

  // The stored identity `name`, or kNotFound.
  StatusOr<gallery::StoredIdentity> find(const std::string& name) const {
    FACELENS_RETURN_IF_ERROR(validate_identity_name(name));
    auto found = store->find_identity(name);
    if (!found.ok()) return note(found.status());
    if (!*found) return not_found("no identity '" + name + "' in the gallery");
    return std::move(**found);
  }

  // After a committed write of this process (callers hold write_mu): memory follows the log (this
  // write and anything other processes wrote before it). A failure here leaves the next search to
  // retry, not the write's answer.
  void follow() const {
    auto version = store->external_version();
    if (!version.ok() || !sync_locked(*version).ok()) seen_version = -1;
  }

  // Callers hold mu (shared is enough).
  Status check_model(const std::string& model) const {
    return table.check_model(model, store->describe(), options.db_url.empty() ? options.db_path : store->describe());
  }

  // Passes `s` on; a shared store found unreachable marks this process disconnected.
  Status note(Status s) const {
    if (shared && s.code() == StatusCode::kUnavailable) {
      std::lock_guard<std::mutex> lock(error_mu);
      last_error = s.message();
      connected = false;
    }
    return s;
  }
  // kUnavailable while disconnected from a shared store: the index may be stale.
  Status serving() const {
    if (needs_reload.load()) {
      return unavailable("the gallery's memory is being reloaded from " + store->describe() +
                         " after an error; this process answers again once it has reloaded: retry");
    }
    if (!shared || connected.load()) return Status::Ok();
    std::lock_guard<std::mutex> lock(error_mu);
    return unavailable(last_error + "; this replica answers again once it has reconnected and caught up");
  }

  // The watcher of a shared store: applies changes as their notifications arrive, checks the
  // database every kWatchCheckMs, and catches up after a reconnect.
  void watch() {
    for (;;) {
      auto changed = store->wait_for_change(kWatchCheckMs);
      {
        std::unique_lock<std::mutex> lock(stop_mu);
        if (stopping) return;
        if (!changed.ok()) {
          note(changed.status());
          stop_cv.wait_for(lock, std::chrono::milliseconds(kWatchRetryMs), [&] { return stopping; });
          continue;
        }
      }
      {
        std::lock_guard<std::mutex> write(write_mu);
        // Set while the watcher holds write_mu, never while it waits for a write: a search waits
        // for a sync in progress, not for an enrolment.
        watcher_syncing = true;
        // After a reconnect (changed) the log is read whatever the version says.
        if (*changed) seen_version = -1;
        if (note(sync_if_changed()).ok()) connected = true;
        watcher_syncing = false;
      }
    }
  }

  // Applies the store's changes after applied_seq (callers hold write_mu). `version` is the
  // store's external version read before the changes.
  Status sync_locked(int64_t version) const {
    if (shared) store_seq = std::max(store_seq.load(), version);  // a sequence number (SQLite: a data version)
    if (needs_reload.load()) FACELENS_RETURN_IF_ERROR(load());
    for (;;) {
      FACELENS_ASSIGN_OR_RETURN(auto log, store->changes_since(applied_seq, kSyncBatch));
      bool reload = log.gap;
      if (!reload && !log.changes.empty()) {
        std::unique_lock<std::shared_mutex> lock(mu);
        for (const auto& c : log.changes) {
          FACELENS_ASSIGN_OR_RETURN(reload, table.apply(c));
          if (reload) break;
          applied_seq = c.seq;
        }
      }
      if (reload) {
        FACELENS_RETURN_IF_ERROR(load());
        break;
      }
      if (log.changes.size() < static_cast<size_t>(kSyncBatch)) break;
    }
    seen_version = version;
    store_seq = shared ? std::max(version, applied_seq.load()) : applied_seq.load();
    last_ok_ms = steady_ms();
    return Status::Ok();
  }

  // Syncs when another process committed since the last sync (callers hold write_mu).
  Status sync_if_changed() const {
    FACELENS_ASSIGN_OR_RETURN(int64_t version, store->external_version());
    if (version == seen_version && !needs_reload.load()) {
      last_ok_ms = steady_ms();
      return Status::Ok();
    }
    return sync_locked(version);
  }

  // Called by searches: at most every sync_interval_ms, and never waiting for a write in progress
  // (that write syncs when it commits); a sync of the watcher in progress (a change another
  // replica committed) is waited for.
  // After a failed reload (needs_reload) every search tries the reload itself before answering.
  Status maybe_sync() const {
    const bool reload = needs_reload.load();
    if (!reload) FACELENS_RETURN_IF_ERROR(serving());
    const int64_t now = steady_ms();
    if (!reload && options.sync_interval_ms > 0 &&
        now - last_check_ms.load(std::memory_order_relaxed) < options.sync_interval_ms)
      return Status::Ok();
    std::unique_lock<std::mutex> write(write_mu, std::try_to_lock);
    if (!write.owns_lock()) {
      if (!watcher_syncing.load() && !reload) return Status::Ok();
      write.lock();
    }
    last_check_ms.store(now, std::memory_order_relaxed);
    FACELENS_RETURN_IF_ERROR(note(sync_if_changed()));
    return serving();
  }

  // Everything from the store (callers hold write_mu, or are alone). Changes committed while it
  // reads come after the sequence read first and are replayed by the next sync.
  Status load() const {
    FACELENS_ASSIGN_OR_RETURN(const int64_t seq, store->last_change());
    std::unique_lock<std::shared_mutex> lock(mu);
    needs_reload = true;  // until every identity and face is read again
    table.clear();
    FACELENS_ASSIGN_OR_RETURN(auto ids, store->identities());
    std::unordered_map<int64_t, std::string> names;
    for (const auto& i : ids) names[i.id] = display_identity_name(i.name);
    for (const auto& [id, name] : names) table.identity(id, name);
    // Faces come in id order; consecutive faces of one identity go to memory together.
    std::vector<gallery::StoredFace> run;
    auto flush = [&]() -> Status {
      if (run.empty()) return Status::Ok();
      std::vector<int64_t> face_ids;
      std::vector<const std::vector<float>*> vectors;
      std::vector<std::string> models;
      for (const auto& f : run) {
        face_ids.push_back(f.id);
        vectors.push_back(&f.embedding);
        models.push_back(f.model_id);
      }
      Status s = table.add_faces(run.front().identity_id, names[run.front().identity_id], face_ids, vectors, models);
      run.clear();
      return s;
    };
    FACELENS_RETURN_IF_ERROR(store->for_each_face(/*with_crops=*/false, [&](gallery::StoredFace&& f) -> Status {
      // A face of an identity created after the identities were read: replayed from the log.
      if (!names.count(f.identity_id)) return Status::Ok();
      if (!run.empty() && (run.front().identity_id != f.identity_id || run.size() >= 4096))
        FACELENS_RETURN_IF_ERROR(flush());
      run.push_back(std::move(f));
      return Status::Ok();
    }));
    FACELENS_RETURN_IF_ERROR(flush());
    applied_seq = seq;
    needs_reload = false;
    return Status::Ok();
  }

  // Builds the ANN index when the gallery wants one and has none (takes mu exclusively).
  Status ensure_ann() const {
    {
      std::shared_lock<std::shared_mutex> lock(mu);
      if (table.ann || !search().want_ann()) return Status::Ok();
    }
    std::unique_lock<std::shared_mutex> lock(mu);
    if (table.ann || !search().want_ann()) return Status::Ok();
    FACELENS_ASSIGN_OR_RETURN(table.ann, search().build_ann());
    table.ann_removed = 0;
    return Status::Ok();
  }

  // ---- writes ------------------------------------------------------------------------------------
  // Store write + memory update for new faces (caller holds write_mu). Once the store committed,
  // the answer is success: memory follows from the change log when it cannot follow directly.
  StatusOr<std::vector<int64_t>> add(std::vector<gallery::NewIdentityFaces>& items) {
    FACELENS_ASSIGN_OR_RETURN(auto added, store->add(items));
    std::vector<int64_t> ids;
    for (const auto& a : added) ids.push_back(a.face_id);
    const gallery::SeqRange written = store->last_write();
    if (written.first != applied_seq + 1) {
      // Another process wrote since the last sync: replay the log (ours included) in order.
      auto version = store->external_version();
      Status s = version.ok() ? sync_locked(*version) : version.status();
      if (!s.ok()) seen_version = -1;  // the next search retries
      return ids;
    }
    Status s = add_to_memory(items, added);
    if (!s.ok()) {
      // Committed: memory is rebuilt from the store rather than the enrolment refused.
      seen_version = -1;
      load().ok();
      return ids;
    }
    applied_seq = written.last;
    return ids;
  }

  Status add_to_memory(const std::vector<gallery::NewIdentityFaces>& items,
                       const std::vector<gallery::AddedFace>& added) {
    std::unique_lock<std::shared_mutex> lock(mu);
    size_t k = 0;
    for (const auto& item : items) {
      for (const auto& f : item.faces) {
        const auto& a = added[k++];
        FACELENS_RETURN_IF_ERROR(
            table.add_faces(a.identity_id, item.name, {&a.face_id, 1}, {&f.embedding}, {f.model_id}));
      }
      if (item.faces.empty()) {
        // A new identity without faces (imports): known by name from now on.
        FACELENS_ASSIGN_OR_RETURN(auto found, store->find_identity(item.name));
        if (found) table.identity(found->id, display_identity_name(found->name));
      }
    }
    return Status::Ok();
  }
};

Gallery::Gallery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gallery::~Gallery() = default;

StatusOr<std::unique_ptr<Gallery>> Gallery::open(const GalleryOptions& options) {
  if (options.score_top_k < 1) return invalid_argument("score_top_k must be at least 1");
  if (options.ann_candidates < 1) return invalid_argument("ann_candidates must be at least 1");
  if (options.match_threshold < 0)
    return invalid_argument(
        "GalleryOptions::match_threshold must be set (>= 0): e.g. the engine's, with "
        "gallery_options_for(engine, options)");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->threshold = options.match_threshold;
  if (!options.db_url.empty()) {
    if (!gallery::is_pg_url(options.db_url))
      return invalid_argument("gallery db_url '" + gallery::describe_pg_url(options.db_url) +
                              "' is not a PostgreSQL URL: expected postgresql://user:password@host:port/database (or "
                              "postgres://); leave db_url empty for the SQLite file db_path");
    gallery::PgStoreOptions po;
    po.url = options.db_url;
    FACELENS_ASSIGN_OR_RETURN(impl->store, gallery::open_pg_store(po));
  } else {
    if (has_url_scheme(options.db_path))
      return invalid_argument("gallery db_path '" + options.db_path +
                              "' is a URL: a PostgreSQL URL (postgresql:// or postgres://) goes in db_url "
                              "([gallery] db_url, or --db, which takes either), db_path is a SQLite file");
    gallery::SqliteStoreOptions so;
    so.path = options.db_path;
    so.durability = options.durability;
    FACELENS_ASSIGN_OR_RETURN(impl->store, gallery::open_sqlite_store(so));
  }
  impl->shared = impl->store->notifies();
  FACELENS_ASSIGN_OR_RETURN(impl->seen_version, impl->store->external_version());
  FACELENS_RETURN_IF_ERROR(impl->load());
  impl->store_seq = impl->applied_seq.load();
  impl->last_ok_ms = steady_ms();
  impl->last_check_ms.store(steady_ms());
  if (impl->shared) impl->watcher = std::thread([m = impl.get()] { m->watch(); });
  return std::unique_ptr<Gallery>(new Gallery(std::move(impl)));
}

float Gallery::match_threshold() const { return impl_->threshold; }
const GalleryOptions& Gallery::options() const { return impl_->options; }

Status Gallery::check_model(const std::string& model_id) const {
  const Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  return m.check_model(model_id);
}

Status Gallery::check_identity(const std::string& name) const {
  const Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  if (!m.table.by_name.count(name))
    return not_found("no identity '" + name + "' in the gallery " + m.store->describe());
  return Status::Ok();
}

Status Gallery::check_enrollment(const std::string& name, const std::optional<std::string>& metadata_json,
                                 const std::string& model_id, const std::string& image_sha256) const {
  FACELENS_RETURN_IF_ERROR(validate_identity_name(name));
  FACELENS_RETURN_IF_ERROR(check_metadata(metadata_json));
  FACELENS_RETURN_IF_ERROR(check_model(model_id));
  if (image_sha256.empty()) return Status::Ok();
  // The store's unique index is the real guard; this refuses before the models run.
  auto found = impl_->store->find_image(image_sha256);
  if (!found.ok()) return impl_->note(found.status());
  const auto& owner = *found;
  if (owner)
    return invalid_argument("duplicate image: already enrolled as '" + owner->name + "' (face " +
                            std::to_string(owner->face_id) + ")");
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> Gallery::enroll_embeddings(std::span<const EmbeddingEnrollment> items) {
  Impl& m = *impl_;
  std::vector<gallery::NewIdentityFaces> batch;
  batch.reserve(items.size());
  std::set<std::string> models;
  for (const auto& e : items) {
    FACELENS_RETURN_IF_ERROR(validate_identity_name(e.name));
    if (e.embedding.empty()) return invalid_argument("enrolment of '" + e.name + "' has no embedding");
    if (e.model_id.empty()) return invalid_argument("enrolment of '" + e.name + "' has no model id");
    FACELENS_RETURN_IF_ERROR(check_metadata(e.metadata_json));
    models.insert(e.model_id);
    gallery::NewIdentityFaces item;
    item.name = e.name;
    item.metadata = e.metadata_json;
    item.must_exist = e.must_exist;
    gallery::StoredFace f;
    f.embedding = e.embedding;
    f.model_id = e.model_id;
    f.quality = e.quality;
    f.box = e.box;
    f.image_sha256 = e.image_sha256;
    f.crop = e.crop;
    item.faces.push_back(std::move(f));
    batch.push_back(std::move(item));
  }
  if (models.size() > 1)
    return invalid_argument("embeddings of several models in one enrolment: enrol one model's at a time");
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.note(m.sync_if_changed()));
  if (!models.empty()) {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    FACELENS_RETURN_IF_ERROR(m.check_model(*models.begin()));
    if (m.table.exact && m.table.exact->size() > 0 &&
        static_cast<int>(items[0].embedding.size()) != m.table.exact->dim())
      return invalid_argument("embedding has " + std::to_string(items[0].embedding.size()) +
                              " dimensions, the gallery " + std::to_string(m.table.exact->dim()));
  }
  for (const auto& e : items)
    if (e.embedding.size() != items[0].embedding.size())
      return invalid_argument("embeddings of different dimensions in one enrolment");
  auto ids = m.add(batch);
  if (!ids.ok()) m.note(ids.status());
  return ids;
}

StatusOr<IdentifiedFace> Gallery::identify_embedding(std::span<const float> embedding, const std::string& model_id,
                                                     int top_k, float threshold) const {
  const Impl& m = *impl_;
  FACELENS_ASSIGN_OR_RETURN(const float t, m.threshold_of(threshold));
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  FACELENS_RETURN_IF_ERROR(m.ensure_ann());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  FACELENS_RETURN_IF_ERROR(m.check_model(model_id));
  return m.search().decide(embedding, top_k, t);
}

StatusOr<std::vector<IdentifiedFace>> Gallery::identify_embeddings(std::span<const std::vector<float>> embeddings,
                                                                   const std::string& model_id, int top_k,
                                                                   float threshold) const {
  const Impl& m = *impl_;
  FACELENS_ASSIGN_OR_RETURN(const float t, m.threshold_of(threshold));
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  FACELENS_RETURN_IF_ERROR(m.ensure_ann());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  FACELENS_RETURN_IF_ERROR(m.check_model(model_id));
  const gallery::Search search = m.search();
  std::vector<IdentifiedFace> out;
  out.reserve(embeddings.size());
  for (const auto& e : embeddings) {
    FACELENS_ASSIGN_OR_RETURN(auto face, search.decide(e, top_k, t));
    out.push_back(std::move(face));
  }
  return out;
}

StatusOr<GalleryVerifyResult> Gallery::verify_embedding(std::span<const float> embedding, const std::string& model_id,
                                                        const std::string& name, float threshold) const {
  const Impl& m = *impl_;
  FACELENS_ASSIGN_OR_RETURN(const float t, m.threshold_of(threshold));
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  FACELENS_RETURN_IF_ERROR(m.check_model(model_id));
  FACELENS_ASSIGN_OR_RETURN(float score, m.search().identity_score(embedding, name, m.store->describe()));
  GalleryVerifyResult v;
  v.name = name;
  v.score = score;
  v.threshold = t;
  v.match = score >= t;
  return v;
}

Status Gallery::remove(const std::string& name) {
  Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(validate_identity_name(name));
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.note(m.store->remove_identity(name).status()));
  m.follow();
  return Status::Ok();
}

Status Gallery::remove_face(const std::string& name, int64_t face_id) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_ASSIGN_OR_RETURN(auto identity, m.find(name));
  Status s = m.note(m.store->remove_face(identity.id, face_id));
  if (s.code() == StatusCode::kNotFound)
    return not_found("identity '" + name + "' has no face " + std::to_string(face_id));
  FACELENS_RETURN_IF_ERROR(s);
  m.follow();
  return Status::Ok();
}

Status Gallery::update_identity(const std::string& name, const IdentityUpdate& update) {
  Impl& m = *impl_;
  if (!update.name && !update.metadata_json)
    return invalid_argument("an update of identity '" + name + "' sets nothing: give a new name and/or metadata");
  if (update.name) FACELENS_RETURN_IF_ERROR(validate_identity_name(*update.name));
  FACELENS_RETURN_IF_ERROR(check_metadata(update.metadata_json));
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_ASSIGN_OR_RETURN(auto identity, m.find(name));
  IdentityUpdate change = update;
  if (change.name && *change.name == identity.name) change.name.reset();  // a rename to itself writes nothing
  if (!change.name && !change.metadata_json) return Status::Ok();
  Status s = m.note(m.store->update_identity(identity.id, change));
  if (s.code() == StatusCode::kFailedPrecondition && change.name)
    return failed_precondition("cannot rename '" + name + "' to '" + *change.name +
                               "': an identity of that name exists" +
                               (change.metadata_json ? " (its metadata was not changed either)" : ""));
  FACELENS_RETURN_IF_ERROR(s);
  m.follow();
  return Status::Ok();
}

Status Gallery::rename(const std::string& name, const std::string& new_name) {
  return update_identity(name, {.name = new_name, .metadata_json = std::nullopt});
}

Status Gallery::set_metadata(const std::string& name, const std::string& metadata_json) {
  return update_identity(name, {.name = std::nullopt, .metadata_json = metadata_json});
}

StatusOr<IdentityInfo> Gallery::identity(const std::string& name) const {
  FACELENS_ASSIGN_OR_RETURN(auto i, impl_->find(name));
  return IdentityInfo{
      i.id,     display_identity_name(i.name), std::move(i.metadata), std::move(i.created_at), std::move(i.updated_at),
      i.n_faces};
}

StatusOr<std::vector<FaceInfo>> Gallery::faces(const std::string& name) const {
  FACELENS_ASSIGN_OR_RETURN(auto identity, impl_->find(name));
  auto stored = impl_->store->identity_faces(identity.id);
  if (!stored.ok()) return impl_->note(stored.status());
  std::vector<FaceInfo> out;
  out.reserve(stored->size());
  const std::string shown = display_identity_name(identity.name);
  for (const auto& f : *stored)
    out.push_back({f.id, shown, f.model_id, f.quality, f.box, f.image_sha256, f.has_crop, f.created_at});
  return out;
}

StatusOr<Image> Gallery::crop(int64_t face_id) const {
  auto found = impl_->store->find_face(face_id, /*with_crop=*/true);
  if (!found.ok()) return impl_->note(found.status());
  if (!*found) return not_found("no face " + std::to_string(face_id) + " in the gallery");
  if ((*found)->crop.empty())
    return not_found("face " + std::to_string(face_id) + " was stored without its aligned crop");
  return std::move((*found)->crop);
}

Status Gallery::sync() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_ASSIGN_OR_RETURN(int64_t version, m.store->external_version());
  return m.sync_locked(version);
}

StatusOr<std::vector<NameProblem>> Gallery::check_names(bool repair) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_ASSIGN_OR_RETURN(auto ids, m.store->identities());
  std::vector<NameProblem> out = gallery::name_repairs(ids);
  if (!repair || out.empty()) return out;
  for (const auto& p : out)
    FACELENS_RETURN_IF_ERROR(
        m.store->update_identity(p.identity_id, {.name = p.repaired, .metadata_json = std::nullopt}));
  FACELENS_ASSIGN_OR_RETURN(int64_t version, m.store->external_version());
  FACELENS_RETURN_IF_ERROR(m.sync_locked(version));
  return out;
}

StatusOr<std::vector<IdentityInfo>> Gallery::list() const {
  FACELENS_ASSIGN_OR_RETURN(auto ids, impl_->store->identities());
  std::vector<IdentityInfo> out;
  out.reserve(ids.size());
  for (auto& i : ids)
    out.push_back({i.id, display_identity_name(i.name), std::move(i.metadata), std::move(i.created_at),
                   std::move(i.updated_at), i.n_faces});
  return out;
}

StatusOr<std::vector<FaceInfo>> Gallery::faces() const {
  FACELENS_ASSIGN_OR_RETURN(auto ids, impl_->store->identities());
  std::unordered_map<int64_t, std::string> names;
  for (const auto& i : ids) names[i.id] = display_identity_name(i.name);
  std::vector<FaceInfo> out;
  FACELENS_RETURN_IF_ERROR(impl_->store->for_each_face(false, [&](gallery::StoredFace&& f) -> Status {
    out.push_back({f.id, names[f.identity_id], f.model_id, f.quality, f.box, f.image_sha256, f.has_crop, f.created_at});
    return Status::Ok();
  }));
  return out;
}

StatusOr<std::string> Gallery::export_json(bool with_crops) const {
  return gallery::export_json(*impl_->store, with_crops);
}

StatusOr<ImportResult> Gallery::import_json(const std::string& text) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.sync_if_changed());
  FACELENS_ASSIGN_OR_RETURN(auto plan, gallery::read_import(text, *m.store));
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    if (!plan.models.empty()) {
      Status s = m.check_model(*plan.models.begin());
      if (!s.ok())
        return failed_precondition("import: the file holds embeddings of '" + *plan.models.begin() +
                                   "', the gallery of '" + m.table.model_list() +
                                   "': import into an empty gallery, then run `facelens gallery reembed`");
    }
    if (m.table.exact && m.table.exact->size() > 0 && plan.dim != 0 &&
        static_cast<int>(plan.dim) != m.table.exact->dim())
      return invalid_argument("import: embeddings have " + std::to_string(plan.dim) + " dimensions, the gallery " +
                              std::to_string(m.table.exact->dim()));
  }
  FACELENS_RETURN_IF_ERROR(m.add(plan.items).status());
  return plan.result;
}

StatusOr<ReembedResult> Gallery::reembed(const std::string& model_id, const CropEmbedder& embed,
                                         const std::function<void(size_t, size_t)>& progress) {
  Impl& m = *impl_;
  if (model_id.empty()) return invalid_argument("reembed needs the model id of the new embeddings");
  if (!embed) return invalid_argument("reembed needs a function that embeds the aligned crops");
  ReembedResult result;
  result.to_model = model_id;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.sync_if_changed());
  size_t total = 0;
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    result.from_model = m.table.model_list();
    total = m.table.n_faces();
  }
  constexpr size_t kBatch = 32;
  std::vector<gallery::EmbeddingUpdate> updates;
  std::vector<Image> crops;
  std::vector<int64_t> crop_ids;
  std::set<int64_t> missing_identities;
  size_t n_missing = 0;
  auto flush = [&]() -> Status {
    if (crops.empty()) return Status::Ok();
    FACELENS_ASSIGN_OR_RETURN(auto embeddings, embed(crops));
    if (embeddings.size() != crops.size())
      return internal_error("reembed: " + std::to_string(embeddings.size()) + " embeddings for " +
                            std::to_string(crops.size()) + " crops");
    for (size_t i = 0; i < crops.size(); ++i) updates.push_back({crop_ids[i], std::move(embeddings[i]), model_id});
    crops.clear();
    crop_ids.clear();
    if (progress) progress(updates.size() + n_missing, total);
    return Status::Ok();
  };
  FACELENS_RETURN_IF_ERROR(m.store->for_each_face(/*with_crops=*/true, [&](gallery::StoredFace&& f) -> Status {
    if (f.crop.empty()) {
      ++n_missing;
      missing_identities.insert(f.identity_id);
      return Status::Ok();
    }
    crops.push_back(std::move(f.crop));
    crop_ids.push_back(f.id);
    return crops.size() >= kBatch ? flush() : Status::Ok();
  }));
  FACELENS_RETURN_IF_ERROR(flush());
  if (n_missing > 0) {
    std::string names;
    {
      std::shared_lock<std::shared_mutex> lock(m.mu);
      for (int64_t id : missing_identities) {
        auto it = m.table.identities.find(id);
        if (it != m.table.identities.end()) names += (names.empty() ? "" : ", ") + it->second.name;
      }
    }
    return failed_precondition(std::to_string(n_missing) +
                               " face(s) have no stored aligned crop (enrolled with "
                               "keep_crop off, or imported without crops), so they cannot be re-embedded; nothing "
                               "was changed. Remove and re-enrol: " +
                               names);
  }
  FACELENS_RETURN_IF_ERROR(m.store->update_embeddings(updates));
  FACELENS_RETURN_IF_ERROR(m.load());
  result.n_faces = updates.size();
  return result;
}

StatusOr<std::string> Gallery::integrity_check() const { return impl_->store->integrity_check(); }

GallerySyncState Gallery::sync_state() const {
  const Impl& m = *impl_;
  GallerySyncState s;
  s.store = m.store->describe();
  s.shared = m.shared;
  s.connected = (!m.shared || m.connected.load()) && !m.needs_reload.load();
  s.applied_seq = m.applied_seq.load();
  s.store_seq = std::max(m.store_seq.load(), s.applied_seq);
  s.lag = s.store_seq - s.applied_seq;
  const int64_t ok_ms = m.last_ok_ms.load();
  s.check_age_ms = ok_ms < 0 ? -1 : steady_ms() - ok_ms;
  if (!s.connected) {
    std::lock_guard<std::mutex> lock(m.error_mu);
    s.error = m.needs_reload.load() ? "memory is being reloaded from the database after an error: " + m.last_error
                                    : m.last_error;
  }
  return s;
}

GalleryStats Gallery::stats() const {
  const Impl& m = *impl_;
  m.maybe_sync().ok();  // stats are best effort: the last synced state when the store fails
  std::shared_lock<std::shared_mutex> lock(m.mu);
  GalleryStats s;
  s.store = m.store->describe();
  s.n_identities = m.table.identities.size();
  s.n_faces = m.table.n_faces();
  s.dim = m.table.dim();
  s.model_id = m.table.model_list();
  s.index = index_kind_name(m.search().mode());
  s.threshold = m.threshold;
  return s;
}

}  // namespace facelens

// The gallery's durable store: identities (name, JSON metadata, timestamps) with several faces
// each (embedding, model id, quality, box, source image sha256, optional aligned crop).
//
//   auto store = gallery::open_sqlite_store({.path = "data/gallery.db"});
//   gallery::NewIdentityFaces item{.name = "ada", .faces = {face}};
//   auto ids = (*store)->add({&item, 1});        // durable once it returns OK
//
// An interface so that another backend (PostgreSQL for several replicas) can follow the SQLite
// one. Every write is one transaction: all of it or nothing, and durable when it returns OK.
// Thread-safety: implementations serialise their calls; any method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "facelens/gallery.h"
#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens::gallery {

struct StoredFace {
  int64_t id = 0;           // assigned by the store
  int64_t identity_id = 0;  // assigned by the store
  std::vector<float> embedding;
  std::string model_id;
  float quality = 0;         // sharpness (variance of the Laplacian of the aligned crop); 0 = unknown
  Box box;                   // in the source image's pixels
  std::string image_sha256;  // lower-case hex; "" when unknown (imported, synthetic)
  Image crop;                // aligned crop (RGB); empty when not kept or not read
  bool has_crop = false;     // set by the store when reading: a crop is stored
  std::string created_at;    // ISO 8601 UTC
};

struct StoredIdentity {
  int64_t id = 0;
  std::string name;
  std::string metadata = "{}";  // a JSON object, as text
  std::string created_at;       // ISO 8601 UTC
  std::string updated_at;
  int64_t n_faces = 0;
};

// Faces to add to the identity `name`, created when absent.
struct NewIdentityFaces {
  std::string name;
  std::optional<std::string> metadata;  // set (or replace) the identity's metadata; nullopt keeps it
  std::vector<StoredFace> faces;        // their created_at is kept when set (imports), else now
  std::string created_at;               // for a new identity: kept when set (imports), else now
  std::string updated_at;
  bool must_exist = false;  // kNotFound (and nothing written) when no identity has the name
};

// Where an image (by sha256) is already enrolled.
struct ImageOwner {
  int64_t face_id = 0;
  std::string name;
};

struct AddedFace {
  int64_t face_id = 0;
  int64_t identity_id = 0;
};

// The change log: every write records what it changed, with a monotonic sequence number, in the
// same transaction. Another process (or a replica) brings its in-memory index up to date by
// applying the changes after the last one it applied, in order.
enum class ChangeKind {
  kAddIdentity,     // identity_id created without faces (one created with faces: its kAddFace changes)
  kAddFace,         // face_id added to identity_id
  kRemoveIdentity,  // identity_id and all its faces removed
  // identity_id renamed, and its metadata replaced when the same write set it (one
  // Store::update_identity with a name: Gallery::update_identity, name repair). Memory holds no
  // metadata: applying it renames.
  kRenameIdentity,
  kRemoveFace,      // face_id of identity_id removed (the identity stays, even without faces)
  kUpdateIdentity,  // identity_id's metadata replaced, its name kept (memory holds none: nothing to apply)
  kReload,          // too much changed to list (bulk writes, reembed): reload everything
};
const char* change_kind_name(ChangeKind k);  // "add_identity", "add_face", ...
StatusOr<ChangeKind> parse_change_kind(const std::string& name);

struct Change {
  int64_t seq = 0;
  ChangeKind kind = ChangeKind::kReload;
  int64_t identity_id = 0;
  int64_t face_id = 0;
  // The identity's current name as stored ("" when it no longer exists): kAddIdentity, kAddFace,
  // kRenameIdentity.
  std::string name;
  // kAddFace: the face as stored now; face_exists is false when it was removed since.
  bool face_exists = false;
  std::vector<float> embedding;
  std::string model_id;
};

struct ChangeLog {
  std::vector<Change> changes;  // in sequence order
  // Changes after the asked sequence were pruned from the log: the reader must reload everything.
  bool gap = false;
};

// The sequence numbers the last successful write of this store object recorded (both 0 when it
// recorded none).
struct SeqRange {
  int64_t first = 0;
  int64_t last = 0;
};

struct EmbeddingUpdate {
  int64_t face_id = 0;
  std::vector<float> embedding;
  std::string model_id;
};

class Store {
 public:
  virtual ~Store() = default;
  // Adds every item in one transaction; returns the new faces in order (items, then faces).
  // Refuses (and adds nothing) when a face's image_sha256 is already stored or repeated.
  virtual StatusOr<std::vector<AddedFace>> add(std::span<const NewIdentityFaces> items) = 0;
  // Removes the identity and its faces; returns the removed face ids. not_found when absent.
  virtual StatusOr<std::vector<int64_t>> remove_identity(const std::string& name) = 0;
  virtual StatusOr<std::vector<StoredIdentity>> identities() const = 0;
  virtual StatusOr<std::optional<StoredIdentity>> find_identity(const std::string& name) const = 0;
  virtual StatusOr<std::optional<ImageOwner>> find_image(const std::string& image_sha256) const = 0;
  // Calls fn for every face in id order (crops read only when asked); stops at fn's first error.
  virtual Status for_each_face(bool with_crops, const std::function<Status(StoredFace&&)>& fn) const = 0;
  // The distinct model ids of the stored faces, sorted.
  virtual StatusOr<std::vector<std::string>> model_ids() const = 0;
  // Replaces embeddings and model ids, all in one transaction.
  virtual Status update_embeddings(std::span<const EmbeddingUpdate> updates) = 0;
  // Renames the identity and/or replaces its metadata (the fields `update` sets, at least one) in
  // one transaction recording one change: kRenameIdentity when it sets a name, else
  // kUpdateIdentity. not_found when absent, failed_precondition when the name is taken,
  // invalid_argument for metadata that is not JSON; nothing is changed when it fails.
  virtual Status update_identity(int64_t identity_id, const IdentityUpdate& update) = 0;
  // Removes one face of the identity (the identity stays, even without faces); not_found when the
  // identity has no face `face_id`.
  virtual Status remove_face(int64_t identity_id, int64_t face_id) = 0;
  // One face (its crop read when asked); nullopt when absent.
  virtual StatusOr<std::optional<StoredFace>> find_face(int64_t face_id, bool with_crop) const = 0;
  // The faces of one identity in id order, without crops (has_crop set).
  virtual StatusOr<std::vector<StoredFace>> identity_faces(int64_t identity_id) const = 0;

  // ---- change log (see ChangeKind) ----
  // The highest sequence number recorded (0 when none).
  virtual StatusOr<int64_t> last_change() const = 0;
  // Up to `limit` changes with a sequence above `after`, in order.
  virtual StatusOr<ChangeLog> changes_since(int64_t after, size_t limit) const = 0;
  // A cheap value that differs after another connection (process) committed a write; it does
  // not change with this object's own writes (SQLite: PRAGMA data_version).
  virtual StatusOr<int64_t> external_version() const = 0;
  virtual SeqRange last_write() const = 0;

  // ---- notifications (a store shared through a server: PostgreSQL) ----
  // True when wait_for_change() is supported.
  virtual bool notifies() const { return false; }
  // Waits up to timeout_ms for another writer's change notification (or cancel_wait()). True when
  // changes may have been committed: a notification came, or the listener (re)connected and may
  // have missed some. kUnavailable when the database cannot be reached (it reconnects on a later
  // call). Called from one thread at a time.
  virtual StatusOr<bool> wait_for_change(int timeout_ms) {
    (void)timeout_ms;
    return unimplemented(describe() + " sends no change notifications");
  }
  // Makes a wait_for_change() in progress (or the next one) return at once.
  virtual void cancel_wait() {}

  // The backend's own consistency check: "ok" when sound, else what it found.
  virtual StatusOr<std::string> integrity_check() const = 0;
  virtual std::string describe() const = 0;  // e.g. "sqlite:data/gallery.db"
};

struct SqliteStoreOptions {
  std::string path = "./data/gallery.db";  // its folder is created when missing
  Durability durability = Durability::kFull;
  int busy_timeout_ms = 5000;  // wait this long for another process' write lock
  // The change log keeps this many latest changes; a reader further behind reloads everything.
  int64_t change_log_rows = 100000;
  // A write adding more faces than this records one kReload change instead of one per face.
  size_t bulk_change_faces = 10000;
};

// Opens (creating when absent) a SQLite gallery in WAL mode; refuses a newer schema version and
// migrates older ones (version 1 -> 2: AUTOINCREMENT ids, never reused, and the change log).
StatusOr<std::unique_ptr<Store>> open_sqlite_store(const SqliteStoreOptions& options);

// PostgreSQL: a gallery several replicas share (see pg_store.cpp).
struct PgStoreOptions {
  std::string url;  // postgresql://user:password@host:port/database (or postgres://)
  int connect_timeout_s = 5;
  int statement_timeout_ms = 15000;
  // While the database is unreachable, calls fail at once (kUnavailable) and a new connection is
  // tried at most this often.
  int reconnect_interval_ms = 250;
  int64_t change_log_rows = 100000;
  size_t bulk_change_faces = 10000;
};

// One write transaction of a store, under its lock: begin_write(), the body, then commit(), or
// rollback() when the body fails (so a write is all or nothing). `Tx` is the store (it names this
// function a friend); `body` returns a Status.
template <class Tx, class Body>
Status write_transaction(std::mutex& mu, Tx& tx, Body&& body) {
  std::lock_guard<std::mutex> lock(mu);
  FACELENS_RETURN_IF_ERROR(tx.begin_write());
  Status s = body();
  if (!s.ok()) {
    tx.rollback();
    return s;
  }
  return tx.commit();
}

// Connects, and creates or migrates the schema (in one transaction, under an advisory lock, so
// that replicas starting at once migrate once); refuses a schema newer than this binary's.
// kUnavailable when the database cannot be reached.
StatusOr<std::unique_ptr<Store>> open_pg_store(const PgStoreOptions& options);
// True for postgresql:// and postgres:// URLs.
bool is_pg_url(const std::string& s);
// "postgresql://host:port/database": the URL without user and password.
std::string describe_pg_url(const std::string& url);

}  // namespace facelens::gallery

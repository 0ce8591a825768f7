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
  float quality = 0;  // sharpness (variance of the Laplacian of the aligned crop); 0 = unknown
  Box box;            // in the source image's pixels
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
  // The backend's own consistency check: "ok" when sound, else what it found.
  virtual StatusOr<std::string> integrity_check() const = 0;
  virtual std::string describe() const = 0;  // e.g. "sqlite:data/gallery.db"
};

struct SqliteStoreOptions {
  std::string path = "./data/gallery.db";  // its folder is created when missing
  Durability durability = Durability::kFull;
  int busy_timeout_ms = 5000;  // wait this long for another process' write lock
};

// Opens (creating when absent) a SQLite gallery in WAL mode; refuses a newer schema version.
StatusOr<std::unique_ptr<Store>> open_sqlite_store(const SqliteStoreOptions& options);

}  // namespace facelens::gallery

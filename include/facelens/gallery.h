// facelens — the gallery: people enrolled as embeddings (vectors), searched 1:N (identify) and
// compared 1:1 with a claimed identity (verify). It works on vectors only; image-level enrolment,
// identification, verification and re-embedding go through facelens::Recognition
// (recognition.h), which holds an Engine and a Gallery.
//
//   facelens::GalleryOptions go;                      // ./data/gallery.db, index by size
//   go.match_threshold = 0.4f;                        // or facelens::gallery_options_for(engine, go)
//   auto gallery = facelens::Gallery::open(go);
//   if (!gallery.ok()) return gallery.status();
//   (*gallery)->enroll_embeddings(std::vector<facelens::EmbeddingEnrollment>{{"ada", ada_vec, "arcface_r100"}});
//   auto r = (*gallery)->identify_embedding(probe_vec, "arcface_r100", 5);
//   if (r.ok() && r->identity) print(r->identity->name, r->score);
//
// Storage: SQLite in WAL mode (one file; an acknowledged enrolment survives a crash or SIGKILL,
// and with Durability::kFull a power cut), or PostgreSQL (GalleryOptions::db_url) shared by several
// replicas (an acknowledged enrolment is committed; durability as the server's settings make it). Every embedding is
// stored with its model id; a gallery enrolled with one recognizer refuses to compare embeddings of another until
// `reembed()` (CLI: `facelens gallery reembed`) recomputes the embeddings from the stored aligned crops. Search: exact
// inner product (SIMD) below GalleryOptions::ann_min_faces faces; above, a sign-code (SimHash) Hamming pre-filter, or
// FAISS HNSW / IVF when configured; candidates are always re-scored exactly. Identity score = best or mean of top-k
// face scores; a face whose best identity scores below the match threshold is unknown.
//
// Ownership: a Gallery owns its store connection and its in-memory index (every embedding in FP32
// and FP16 plus its sign code: about 3.1 KiB per 512-d face, plus a FAISS index when configured).
// Thread-safety: every method may be called from many threads at once; searches run in parallel,
// writes are serialised and never block searches. Units: scores are cosines in [-1, 1], boxes
// pixels of the original image.
//
// Several processes on one database (a server and the CLI; several server replicas): every write
// records its changes, with a monotonic sequence number, in the same transaction (the store's
// change log). Before a search or a write a Gallery checks, at most every
// GalleryOptions::sync_interval_ms, whether another process committed (SQLite: PRAGMA
// data_version, a cheap read; PostgreSQL: the last sequence number) and then applies the changes
// after the last one it applied to its in-memory index. With PostgreSQL (GalleryOptions::db_url)
// a thread of the Gallery also LISTENs for the writers' notifications, so a change made by another
// replica is applied within milliseconds without waiting for a search; see sync_state(). Writers
// of all replicas are serialised by the database, so the sequence order is the commit order. Face
// and identity ids are never reused.
//
// Names: valid UTF-8, 1..kMaxIdentityNameBytes bytes, no control characters; every entry point
// refuses others (kInvalidArgument) before anything is written. Rows stored by older versions
// with such names are shown escaped (display_identity_name) and fixed by check_names(true)
// (CLI: `facelens gallery check --repair`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens {

enum class Durability {
  kFull,    // SQLite synchronous=FULL: every commit synced; survives kills and power cuts
  kNormal,  // synchronous=NORMAL with WAL: survives kills (SIGKILL, crashes), not power cuts
};

enum class IndexKind {
  kAuto,     // exact below ann_min_faces faces, kHamming from there on
  kExact,    // always exact
  kHamming,  // sign-bit codes (SimHash) scanned by Hamming distance, hamming_candidates re-scored
             // exactly: nothing to build or train, +64 bytes per 512-d face; recall@1 1.0 on
             // probes of enrolled faces up to 1M random 512-d faces (tools/bench/gallery_bench)
  kHnsw,     // FAISS HNSW graph (built on first search: minutes per 100k faces on 2 cores)
  kIvf,      // FAISS IVF-Flat (trained on the gallery on first search)
};

enum class IdentityScore {
  kBest,      // an identity scores as its best face
  kMeanTopK,  // the mean of its score_top_k best faces (all of them when it has fewer)
};

// The names used by the CLI and the config file: "auto", "exact", "hamming", "hnsw", "ivf";
// "best", "mean"; "full", "normal". Unknown names are errors that list the known ones.
const char* index_kind_name(IndexKind k);
StatusOr<IndexKind> parse_index_kind(const std::string& name);
StatusOr<IdentityScore> parse_identity_score(const std::string& name);
StatusOr<Durability> parse_durability(const std::string& name);

// The longest identity name, in bytes of UTF-8.
inline constexpr size_t kMaxIdentityNameBytes = 256;
// Ok for a name of 1..kMaxIdentityNameBytes bytes of valid UTF-8 (no overlong forms, surrogates or
// code points over U+10FFFF) without control characters (U+0000..U+001F, U+007F); else
// kInvalidArgument saying what is wrong and where.
Status validate_identity_name(std::string_view name);
// The name itself when valid; else a valid form: each byte that is not part of valid UTF-8 and
// each control character written as \xHH, cut to kMaxIdentityNameBytes, "?" when empty.
std::string display_identity_name(std::string_view name);

// The threshold argument of Gallery's searches that means "the gallery's match_threshold()".
inline constexpr float kGalleryThreshold = -2;

struct GalleryOptions {
  // The database: db_url when set, else the SQLite file db_path. set_gallery_database() sorts a
  // path or URL given on a command line into them.
  std::string db_path = "./data/gallery.db";  // SQLite; folder created when missing; not a URL
  // PostgreSQL, shared by several replicas: postgresql://user:password@host:port/database (or
  // postgres://, with libpq's query parameters, e.g. ?sslmode=require). Any other scheme is refused.
  std::string db_url;
  Durability durability = Durability::kFull;
  IndexKind index = IndexKind::kAuto;
  // kAuto leaves exact search from this many faces. One core, 512-d (tools/bench/gallery_bench): exact
  // 0.27 ms at 10k faces and 3.9 ms at 100k; hamming 0.78 ms at 100k and 3.5 ms at 1M.
  size_t ann_min_faces = 20000;
  int hamming_candidates = 512;  // faces re-scored exactly after the Hamming scan
  int hnsw_m = 32;
  int hnsw_ef_construction = 80;
  int hnsw_ef_search = 128;
  int ivf_nlist = 0;  // 0 = 4 * sqrt(faces)
  int ivf_nprobe = 32;
  int ann_candidates = 64;  // faces taken from the approximate search; their identities re-scored exactly
  IdentityScore score = IdentityScore::kBest;
  int score_top_k = 3;
  // Scores at or above it are a match. Required (>= 0): gallery_options_for (recognition.h) sets
  // the engine's (manifest-calibrated or configured) when it is < 0.
  float match_threshold = -1;
  // The recognizer whose embeddings the gallery is used with ("" = not declared): Recognition::create
  // refuses an engine with another recognizer. gallery_options_for sets the engine's when empty.
  std::string model_id;
  // How often (at most) a search or write checks for changes committed by other processes; they
  // are seen within this interval. 0 = before every call.
  int sync_interval_ms = 200;
};

// Sets options.db_url for a postgresql:// or postgres:// URL, else options.db_path (db_url
// cleared) for a file path; kInvalidArgument for any other scheme:// (naming the accepted ones).
Status set_gallery_database(GalleryOptions& options, const std::string& path_or_url);

// How far this process's in-memory index is in step with the store (Gallery::sync_state()).
struct GallerySyncState {
  std::string store;          // "sqlite:<path>" or "postgresql://host:port/db"
  bool shared = false;        // a database other replicas write (PostgreSQL): followed by notifications
  bool connected = true;      // the last exchange with the database succeeded (always true for SQLite)
  int64_t applied_seq = 0;    // the last change of the store's log applied to memory
  int64_t store_seq = 0;      // the store's last change at the last check
  int64_t lag = 0;            // store_seq - applied_seq (0 when caught up)
  int64_t check_age_ms = -1;  // since the last successful check of the store (-1: none yet)
  std::string error;          // why not connected ("" when connected)
  // Connected and caught up: what a replica's /ready answers.
  bool ready() const { return connected && lag == 0; }
};

// An enrolment of an embedding computed elsewhere (imports, benchmarks, other pipelines).
struct EmbeddingEnrollment {
  std::string name;
  std::vector<float> embedding;  // L2-normalised
  std::string model_id;          // the recognizer that produced it
  std::optional<std::string> metadata_json;
  std::string image_sha256;  // "" when unknown; duplicates refused otherwise
  Box box;
  float quality = 0;  // sharpness of the aligned face at enrolment (0 = unknown)
  Image crop;         // the aligned face (RGB), stored for reembed; empty = none
  // Add to an existing identity only: kNotFound (nothing written) when no identity has the name
  // at the moment of the write, even if it was removed or renamed after an earlier check.
  bool must_exist = false;
};

// What Gallery::update_identity changes: the fields set (at least one), all in one write.
struct IdentityUpdate {
  std::optional<std::string> name;           // a new name (validate_identity_name rules)
  std::optional<std::string> metadata_json;  // new metadata, replacing the old: a JSON object
};

struct Match {
  std::string name;
  float score = 0;
};

struct IdentifiedFace {
  Face face;
  std::optional<Match> identity;  // nullopt: unknown (best score below the threshold, or no one enrolled)
  float score = 0;                // the best identity's score (0 when no one is enrolled)
  std::vector<Match> matches;     // the top-k identities, best first, whatever their score
};

struct GalleryVerifyResult {
  std::string name;
  float score = 0;
  bool match = false;
  float threshold = 0;
  Face face;  // Recognition::verify: the largest face of the image; empty from verify_embedding
};

struct IdentityInfo {
  int64_t id = 0;
  std::string name;
  std::string metadata_json = "{}";
  std::string created_at;  // ISO 8601 UTC
  std::string updated_at;
  int64_t n_faces = 0;
};

struct FaceInfo {
  int64_t id = 0;
  std::string name;
  std::string model_id;
  float quality = 0;  // sharpness at enrolment
  Box box;
  std::string image_sha256;
  bool has_crop = false;
  std::string created_at;
};

struct GalleryStats {
  std::string store;  // "sqlite:<path>" or "postgresql://host:port/db"
  size_t n_identities = 0;
  size_t n_faces = 0;
  int dim = 0;
  std::string model_id;  // of the stored embeddings; "" when empty; several joined by ", " when mixed
  std::string index;     // "exact", "hamming", "hnsw", "ivf" (the search searches use now)
  float threshold = 0;
};

// An identity whose stored name is not valid (see validate_identity_name).
struct NameProblem {
  int64_t identity_id = 0;
  std::string name;      // display_identity_name of the stored name
  std::string problem;   // what validate_identity_name says
  std::string repaired;  // the new name (check_names(true)) or the one it would get
};

struct ImportResult {
  size_t n_identities = 0;  // identities created or extended
  size_t n_faces = 0;       // faces added
  size_t n_duplicates = 0;  // faces skipped: their image is already enrolled
};

struct ReembedResult {
  size_t n_faces = 0;
  std::string from_model;
  std::string to_model;
};

class Gallery {
 public:
  // Opens (creating) the store and loads every embedding into memory. options.match_threshold
  // must be set (>= 0).
  static StatusOr<std::unique_ptr<Gallery>> open(const GalleryOptions& options);
  ~Gallery();
  Gallery(const Gallery&) = delete;
  Gallery& operator=(const Gallery&) = delete;

  // All in one transaction; returns the face ids. No quality checks (Recognition::enroll makes
  // them on images). A repeated image_sha256 is refused, as is a model other than the stored one.
  StatusOr<std::vector<int64_t>> enroll_embeddings(std::span<const EmbeddingEnrollment> items);
  // What an enrolment of `name` by `model_id` would be refused for before its embedding exists:
  // the name, the metadata, the model (as check_model) and an image already enrolled (by sha256,
  // "" = not checked). Lets callers refuse before paying for the models.
  Status check_enrollment(const std::string& name, const std::optional<std::string>& metadata_json,
                          const std::string& model_id, const std::string& image_sha256) const;

  // Ok when the stored embeddings are of `model_id` (or none is stored); else kFailedPrecondition
  // saying how to re-embed.
  Status check_model(const std::string& model_id) const;
  // Ok when an identity is called `name`; else kNotFound naming the store.
  Status check_identity(const std::string& name) const;

  // One embedding of `model_id` against the gallery: top-k identities and the decision (`face`
  // is left empty). `threshold`: the match threshold of this call (a cosine in [-1, 1]; < -1, the
  // default: the gallery's match_threshold()); kInvalidArgument above 1.
  StatusOr<IdentifiedFace> identify_embedding(std::span<const float> embedding, const std::string& model_id, int top_k,
                                              float threshold = kGalleryThreshold) const;
  // Several embeddings (the faces of one image) searched against one state of the gallery.
  StatusOr<std::vector<IdentifiedFace>> identify_embeddings(std::span<const std::vector<float>> embeddings,
                                                            const std::string& model_id, int top_k,
                                                            float threshold = kGalleryThreshold) const;
  // One embedding against the identity `name` (kNotFound when not enrolled, or when it has no
  // face left); `face` left empty.
  StatusOr<GalleryVerifyResult> verify_embedding(std::span<const float> embedding, const std::string& model_id,
                                                 const std::string& name, float threshold = kGalleryThreshold) const;

  // Removes the identity and its faces (kNotFound when absent).
  Status remove(const std::string& name);
  // Removes the face `face_id` of the identity `name`; kNotFound when the identity is absent or
  // the face is not one of its. The identity stays, even when that was its last face (remove()
  // removes identities). Other processes and replicas apply it from the change log.
  Status remove_face(const std::string& name, int64_t face_id);
  // Renames the identity `name` and/or replaces its metadata, as `update` says, in one write (one
  // transaction, one change of the log, which other processes and replicas apply). kNotFound when
  // absent; kFailedPrecondition when the new name is taken; kInvalidArgument for a name breaking
  // validate_identity_name's rules, metadata that is not a JSON object, or an update setting
  // nothing. On any error nothing is changed. Its faces keep their ids.
  Status update_identity(const std::string& name, const IdentityUpdate& update);
  // update_identity with only a new name / only new metadata.
  Status rename(const std::string& name, const std::string& new_name);
  Status set_metadata(const std::string& name, const std::string& metadata_json);
  StatusOr<std::vector<IdentityInfo>> list() const;
  // One identity (kNotFound when absent).
  StatusOr<IdentityInfo> identity(const std::string& name) const;
  StatusOr<std::vector<FaceInfo>> faces() const;
  // The faces of one identity, in enrolment order (kNotFound when the identity is absent).
  StatusOr<std::vector<FaceInfo>> faces(const std::string& name) const;
  // The aligned face stored at enrolment (RGB, as Engine::embed_aligned takes it); kNotFound when
  // there is no face `face_id` or it was stored without a crop (EnrollOptions::keep_crop off,
  // imports without crops).
  StatusOr<Image> crop(int64_t face_id) const;

  // {"format": "facelens-gallery", "version": 1, "identities": [{"name", "metadata", timestamps,
  // "faces": [{"model_id", "embedding", "quality", "box", "image_sha256", "created_at",
  // "crop": {"width", "height", "rgb_base64"}}]}]}. Crops only when asked.
  StatusOr<std::string> export_json(bool with_crops) const;
  // Adds the identities of an export (one transaction); faces whose image is already enrolled are
  // skipped. Refuses embeddings of a model other than the gallery's.
  StatusOr<ImportResult> import_json(const std::string& json_text);

  // Embeddings of aligned crops (as Engine::embed_aligned makes them), one per crop, in order.
  using CropEmbedder = std::function<StatusOr<std::vector<std::vector<float>>>(std::span<const Image>)>;
  // Replaces every stored embedding by `embed` of its stored aligned crop, as model `model_id`
  // (one transaction: all faces or none; kFailedPrecondition naming the identities when a face has
  // no crop). progress(done, total) is called as it goes. Recognition::reembed uses the engine.
  StatusOr<ReembedResult> reembed(const std::string& model_id, const CropEmbedder& embed,
                                  const std::function<void(size_t, size_t)>& progress = {});

  // Identities whose stored names are invalid (written by older versions or by hand); with
  // `repair`, each is renamed to its display form (made unique with a "~N" suffix when taken).
  StatusOr<std::vector<NameProblem>> check_names(bool repair);
  // Applies the changes other processes committed since the last sync now (searches and writes
  // do this on their own, at most every sync_interval_ms).
  Status sync();

  // Where this process stands with the store: cheap (no database call), for /ready and /metrics.
  // With PostgreSQL a background thread (owned by the Gallery) applies other replicas' changes as
  // their notifications arrive, and checks the database every second; while it cannot reach the
  // database, connected is false and searches fail with kUnavailable rather than answer from an
  // index that may be stale. On reconnecting it catches up from the change log (or reloads).
  GallerySyncState sync_state() const;

  // The store's own consistency check: "ok" when sound.
  StatusOr<std::string> integrity_check() const;
  GalleryStats stats() const;
  float match_threshold() const;
  const GalleryOptions& options() const;

  struct Impl;

 private:
  explicit Gallery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facelens

// facelens — recognition against a gallery: an Engine (detection, alignment, embedding) and a
// Gallery (vectors) together enrol photos, identify the faces of an image (1:N), verify a face
// against a claimed identity (1:1) and re-embed a gallery with the engine's recognizer.
//
//   std::shared_ptr<const facelens::Engine> engine = std::move(*facelens::Engine::create({}));
//   auto go = facelens::gallery_options_for(*engine, {});  // ./data/gallery.db, the engine's threshold
//   std::shared_ptr<facelens::Gallery> gallery = std::move(*facelens::Gallery::open(go));
//   auto rec = facelens::Recognition::create(engine, gallery);
//   if (!rec.ok()) return rec.status();
//   auto e = (*rec)->enroll_file("ada", "ada.jpg", {});  // quality-checked; durable when OK
//   auto r = (*rec)->identify_file("group.jpg", 5);
//   for (const auto& f : r->faces) print(f.identity ? f.identity->name : "unknown", f.score);
//
// Images are decoded with the engine's decode limits (Engine::decode_options). Ownership: shares
// the engine and the gallery. Thread-safety: every method may be called from many threads at once
// (the engine and the gallery are thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens {

// The enrolment quality gate and what is stored.
struct EnrollOptions {
  std::optional<std::string> metadata_json;  // a JSON object to set on the identity
  bool largest_face = false;                 // several faces: enrol the largest instead of refusing
  float min_face_size = 40;                  // pixels, the shorter side of the face box; 0 = off
  // Variance of the Laplacian of the aligned 112x112 grey face; 0 = off. Sharp photos score in
  // the hundreds and more; 40 refuses visibly blurred faces (measured on ../shared/data).
  double min_sharpness = 40;
  // |yaw| and |pitch| limit in degrees, checked when the engine has a pose attribute model; 0 = off.
  float max_pose_degrees = 45;
  bool require_live = false;  // run the liveness model and refuse a spoof
  bool keep_crop = true;      // store the aligned crop (reembed needs it)
  bool must_exist = false;    // add a face to an existing identity only (kNotFound otherwise)
};

struct EnrollResult {
  std::string name;
  int64_t face_id = 0;
  std::string image_sha256;
  Face face;  // the enrolled face, with its embedding
  double sharpness = 0;
  size_t n_faces_in_image = 0;
};

struct IdentifyResult {
  int width = 0;
  int height = 0;
  float threshold = 0;
  std::vector<IdentifiedFace> faces;  // as detected, best detection first
};

// `options` with what it takes from the engine where unset: match_threshold (< 0) becomes the
// engine's match_threshold(), model_id ("") its recognizer_model_id().
GalleryOptions gallery_options_for(const Engine& engine, GalleryOptions options);

class Recognition {
 public:
  // Both needed. Refuses (kFailedPrecondition, saying how to fix) a gallery opened for another
  // recognizer (GalleryOptions::model_id) than the engine's. Stored embeddings of another model
  // do not stop it: enrol/identify/verify refuse them per call, and reembed() fixes them.
  static StatusOr<std::unique_ptr<Recognition>> create(std::shared_ptr<const Engine> engine,
                                                       std::shared_ptr<Gallery> gallery);
  ~Recognition();
  Recognition(const Recognition&) = delete;
  Recognition& operator=(const Recognition&) = delete;

  // Detects, checks quality (one face, size, sharpness, pose, liveness), refuses an image already
  // enrolled (by sha256), embeds and stores one face of `name` (created when new). Durable when OK.
  // A refusal is kInvalidArgument with the reason; a model mismatch kFailedPrecondition.
  StatusOr<EnrollResult> enroll(const std::string& name, std::span<const uint8_t> image_bytes,
                                const EnrollOptions& options) const;
  StatusOr<EnrollResult> enroll_file(const std::string& name, const std::string& path,
                                     const EnrollOptions& options) const;

  // Every face of the image against the gallery: top-k identities and the decision, at
  // `threshold` (a cosine in [-1, 1]; kGalleryThreshold: the gallery's match threshold).
  StatusOr<IdentifyResult> identify(const Image& image, int top_k, float threshold = kGalleryThreshold) const;
  StatusOr<IdentifyResult> identify_file(const std::string& path, int top_k) const;

  // The largest face of the image against the identity `name` (kNotFound when not enrolled).
  StatusOr<GalleryVerifyResult> verify(const Image& image, const std::string& name,
                                       float threshold = kGalleryThreshold) const;
  StatusOr<GalleryVerifyResult> verify_file(const std::string& path, const std::string& name) const;

  // Re-embeds every stored face from its aligned crop with the engine's recognizer (one
  // transaction: all faces or none). progress(done, total) is called as it goes.
  StatusOr<ReembedResult> reembed(const std::function<void(size_t, size_t)>& progress = {}) const;

  const Engine& engine() const { return *engine_; }
  Gallery& gallery() const { return *gallery_; }

 private:
  Recognition(std::shared_ptr<const Engine> engine, std::shared_ptr<Gallery> gallery);
  std::shared_ptr<const Engine> engine_;
  std::shared_ptr<Gallery> gallery_;
};

}  // namespace facelens

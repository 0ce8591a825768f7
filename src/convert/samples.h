// Face images as the pipeline sees them, for calibrating and checking converted models: each
// image decoded, its faces found by the reference (float32) detector, five points from the
// detector or the landmark model; then, per model, the input tensors its service would build
// (detector: the resized image; recognizer: aligned faces; landmarks, liveness, attributes: their
// face crops).
//
//   optimize::Reference ref{detector_entry, detector_path, landmark_entry, landmark_path};
//   FACELENS_ASSIGN_OR_RETURN(auto files, optimize::list_images("faces/", 64));
//   FACELENS_ASSIGN_OR_RETURN(auto set, optimize::build_sample_set(files, ref, env));
//   FACELENS_ASSIGN_OR_RETURN(auto inputs, optimize::model_inputs(recognizer_entry, set, 64));
//
// A SampleSet is an immutable value after construction (shareable across threads).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "runtime/environment.h"

namespace facelens::optimize {

// Image files (jpg, jpeg, png, webp, bmp) under `dir`, recursively, sorted by path; at most
// `max_images` (0 = all), taken evenly over the sorted list.
StatusOr<std::vector<std::string>> list_images(const std::string& dir, int max_images);

// The identity a file name suggests, for verification statistics: the folder name under a
// "train"/"test"-style tree of per-person folders, else the file stem up to its first digit or
// '_' with trailing '-' removed ("obama2.jpg", "obama-240p.jpg" -> "obama").
std::string identity_of(const std::string& path);

struct SampleFace {
  Box box;
  float score = 0;
  std::optional<FivePoints> five;
};

struct SampleImage {
  std::string path;
  std::string identity;
  Image image;
  std::vector<SampleFace> faces;  // best score first
  // Index of the largest face scored at least `min_score`, -1 when none.
  int largest_face(float min_score = 0) const;
};

struct SampleSet {
  std::vector<SampleImage> images;
  int n_faces() const;
};

// The float32 models that find faces and their five points for the sample set.
struct Reference {
  models::ModelEntry detector;
  std::string detector_path;
  std::optional<models::ModelEntry> landmarks;  // needed when the detector gives no keypoints
  std::string landmarks_path;
};

// Decodes `files` and finds their faces with `ref` (at most `max_faces` per image). Images that
// fail to decode are skipped (and counted in the error only when none is left).
StatusOr<SampleSet> build_sample_set(const std::vector<std::string>& files, const Reference& ref,
                                     std::shared_ptr<const runtime::Environment> env, int max_faces = 5);

// The model inputs `entry`'s service would build from the set, one sample per image (detector)
// or per face (face models), at most `max_samples` (0 = all), spread over the set.
StatusOr<std::vector<models::CalibrationSample>> model_inputs(const models::ModelEntry& entry, const SampleSet& set,
                                                              int max_samples);

}  // namespace facelens::optimize

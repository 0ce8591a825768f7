// Measuring a converted model's accuracy drift against its original on face images, through the
// same services the pipeline runs (detector, landmarks, recognizer, liveness, attributes), plus a
// raw comparison of every output on the model's inputs.
//
//   optimize::DriftOptions o;
//   o.key_pairs = {{"obama.jpg", "obama2.jpg"}, {"obama.jpg", "biden.jpg"}};
//   FACELENS_ASSIGN_OR_RETURN(auto report, optimize::measure_drift(entry, "fr_feature.onnx", "fr_feature.int8.onnx",
//   set, o, env)); models::check_bounds(report, models::default_bounds("int8"));
//
// Both models run on the CPU provider (the drift of the conversion, not of a device).
// Thread-safety: pure function over its arguments (creates its own sessions).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "convert/drift.h"
#include "convert/samples.h"
#include "facelens/status.h"
#include "models/manifest.h"
#include "runtime/environment.h"

namespace facelens::optimize {

struct DriftOptions {
  int max_samples = 64;  // raw-output comparison: model inputs compared at most
  // Pairs of images (paths, or path suffixes such as "obama.jpg") whose same/different decision
  // must not change; pairs whose images are not in the set (or have no face) are ignored.
  std::vector<std::pair<std::string, std::string>> key_pairs;
  double far = 0.01;  // TAR is reported at this false accept rate
  // Faces the reference detector scores below this are often not faces (a 0.77 detection in
  // face_recognition/knn/train/biden/biden2.jpg is background): their drift is reported in the
  // notes (detectors) or left out (face models), not held to the bounds.
  float min_face_score = 0.9f;
  // A class label (liveness, gender, eyes) the original decided within this distance of its
  // threshold may flip on rounding alone: such flips are reported in the notes, not counted.
  float flip_margin = 0.02f;
  float match_threshold = -1;  // < 0: the recognizer's manifest threshold "match" (else 0.4)
};

// Runs `original` and `converted` (files with the contract of `entry`) on `set` and fills the
// report's measurements (bounds are not checked here: see models::check_bounds).
StatusOr<models::DriftReport> measure_drift(const models::ModelEntry& entry, const std::string& original,
                                            const std::string& converted, const SampleSet& set,
                                            const DriftOptions& options,
                                            std::shared_ptr<const runtime::Environment> env);

// Median wall time (ms) of one run of the model file on `input`, after `warmup` runs.
StatusOr<double> measure_latency(const std::string& model_path, const models::CalibrationSample& input, int runs,
                                 int warmup, int threads, std::shared_ptr<const runtime::Environment> env);

}  // namespace facelens::optimize

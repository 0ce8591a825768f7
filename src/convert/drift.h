// Accuracy drift of a converted model against its original: the numbers, the bounds they are
// held to, and the checks. Pure data and arithmetic; running the two models on images is done by
// convert/drift_eval.h (it needs the detector and recognizer services).
//
//   models::DriftReport r;                       // filled by optimize::measure_drift
//   models::check_bounds(r, models::default_bounds("int8"));
//   if (!r.ok()) for (auto& v : r.violations) std::cerr << v << "\n";
//
// Values, no shared state; thread-safe to read. Units: cosines and IoUs in [0, 1] (cosine in
// [-1, 1]), detector scores as the model gives them (0..1), landmark errors as a fraction of the
// face box size.
#pragma once

#include <limits>
#include <span>
#include <string>
#include <vector>

#include "facelens/types.h"

namespace facelens::models {

// Running minimum, maximum and mean.
struct Stats {
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  int n = 0;
  void add(double v);
  double mean() const { return n ? sum / n : 0; }
  bool empty() const { return n == 0; }
};

// Limits a converted model must stay within; a broken one refuses the conversion.
struct DriftBounds {
  double min_cosine = 0.98;           // recognizer: every face's embedding cosine (converted vs original)
  double min_mean_cosine = 0.99;      // recognizer: mean of those cosines
  int max_key_pair_flips = 0;         // recognizer: decisions that changed on the designated pairs
  double max_flip_ratio = 0.01;       // recognizer: share of all face pairs whose decision changed
  double min_box_iou = 0.9;           // detector: every matched box
  double max_score_diff = 0.1;        // detector: score of a matched box
  double max_unmatched_ratio = 0.05;  // detector: faces found by one model only, per face found
  double max_landmark_error = 0.05;   // landmarks: mean point distance / box size, per face
  double max_probability_diff = 0.1;  // liveness and classifiers: class probability
  double max_label_flip_ratio = 0.1;  // liveness and classifiers: share of decisions that changed
  double min_output_cosine = 0.99;    // any model: cosine of each raw output (per sample)
};

// The bounds facelens holds each precision to: "fp16" (cosine 0.999), "int8" (cosine 0.98),
// anything else the fp16 ones.
DriftBounds default_bounds(const std::string& precision);

struct DriftReport {
  std::string model;      // model id or file
  std::string task;       // manifest task: "detector", "recognizer", ...
  std::string precision;  // "fp16", "int8", "int8-weight-only", "dynamic-batch"
  std::string original_path;
  std::string converted_path;
  int64_t original_bytes = 0;
  int64_t converted_bytes = 0;
  int n_images = 0;
  int n_samples = 0;  // model inputs compared (faces, crops or images)

  Stats output_cosine;      // every model: raw outputs, cosine per sample and output
  double max_abs_diff = 0;  // every model: raw outputs

  Stats embedding_cosine;  // recognizer
  int n_pairs = 0;         // all pairs of faces (the largest face of each image)
  int decision_flips = 0;
  int n_key_pairs = 0;  // designated pairs (e.g. same person, different person) found in the set
  int key_pair_flips = 0;
  double threshold = 0;  // the match threshold the decisions use
  double far = 0;        // the false accept rate TAR is read at
  double tar_original = 0;
  double tar_converted = 0;

  Stats box_iou;  // detector
  double max_score_diff = 0;
  int n_faces_original = 0;
  int n_unmatched = 0;
  bool boxes_compared = false;  // false when the family has no decoder: raw outputs only

  Stats landmark_error;             // landmarks
  double max_probability_diff = 0;  // liveness / classifiers
  int n_labels = 0;                 // decisions/labels compared
  int label_flips = 0;

  double latency_original_ms = 0;  // optional: median single-input latency, 0 = not measured
  double latency_converted_ms = 0;

  std::vector<std::string> notes;
  std::vector<std::string> violations;  // broken bounds, each saying what and by how much
  bool ok() const { return violations.empty(); }
};

// Fills `report.violations` from the measured numbers (a metric that was not measured is not
// checked).
void check_bounds(DriftReport& report, const DriftBounds& bounds);

// Pairs of boxes from two detectors' outputs, greedily by IoU (highest first, at least
// `min_iou`); unmatched boxes count on each side.
struct BoxMatch {
  std::vector<std::pair<int, int>> pairs;
  std::vector<double> ious;
  int unmatched_a = 0;
  int unmatched_b = 0;
};
BoxMatch match_boxes(std::span<const Box> a, std::span<const Box> b, double min_iou);

// Cosine of two vectors of the same length (not assumed normalised); 1 when both are zero.
double cosine(std::span<const float> a, std::span<const float> b);

// True accept rate at the threshold that gives at most `far` false accepts among `impostor`.
double tar_at_far(std::span<const double> genuine, std::span<const double> impostor, double far);

// Report as text (several lines) and as one JSON object.
std::string drift_report_text(const DriftReport& r);
std::string drift_report_json(const DriftReport& r);

}  // namespace facelens::models

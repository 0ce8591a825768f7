// facelens — converting a model file to float16, int8 or a dynamic batch, with the accuracy drift
// of the result against the original measured on face images. A conversion that breaks a drift
// bound is refused and nothing is written. `facelens models convert` is this call.
//
//   facelens::ConvertOptions o;
//   o.input = "models/fr_feature.onnx";
//   o.output = "fr_feature.int8.onnx";
//   o.models_dir = engine->models_dir();      // IN's manifest entry, the detector for the faces
//   o.precision = facelens::ConvertPrecision::kInt8;
//   o.calibration_images = "faces/";          // also the drift images unless drift_images is set
//   auto r = facelens::convert_model(o);
//   if (r.ok()) std::cout << facelens::convert_report_text(*r);
//   if (r.ok() && r->refused) std::cerr << r->refusal;   // and OUT was not written
//
// Thread-safety: a pure function over its options; temporary files have unique names. Units:
// differences and cosines as plain numbers, sizes in bytes, latencies in milliseconds.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "facelens/status.h"

namespace facelens {

// The precision the weights and computation are converted to; kKeep converts only the batch
// dimension (ConvertOptions::dynamic_batch).
enum class ConvertPrecision { kKeep, kFp16, kInt8, kInt8WeightOnly };
const char* convert_precision_name(ConvertPrecision p);  // "keep", "fp16", "int8", "int8-weight-only"
StatusOr<ConvertPrecision> parse_convert_precision(const std::string& name);

// How int8 activation ranges are chosen from the calibration images: kMinMax the observed range,
// kPercentile the range that keeps ConvertOptions::percentile % of the values, kMse the clipping
// range with the least expected squared quantization error.
enum class ConvertCalibration { kMinMax, kPercentile, kMse };
const char* convert_calibration_name(ConvertCalibration c);  // "minmax", "percentile", "mse"
StatusOr<ConvertCalibration> parse_convert_calibration(const std::string& name);

// Drift bounds that replace the precision's defaults (float16: embedding cosine 0.999; int8: 0.98);
// unset = the default.
struct ConvertDriftBounds {
  std::optional<double> min_cosine;         // recognizer: every face's embedding cosine
  std::optional<double> min_mean_cosine;    // recognizer: mean of those cosines
  std::optional<double> min_box_iou;        // detector: every matched box
  std::optional<double> max_score_diff;     // detector: score of a matched box
  std::optional<double> max_flip_ratio;     // recognizer: share of face pairs whose decision changed
  std::optional<double> min_output_cosine;  // any model: cosine of each raw output
};

struct ConvertOptions {
  std::string input;   // ONNX model file
  std::string output;  // written only when the drift is within bounds; must differ from input
  // Folder with manifest.json: IN's manifest entry (its input contract prepares the samples) and
  // the default detector and landmark models that find the faces in the images.
  std::string models_dir;
  std::string manifest;  // another manifest file searched before models_dir's ("" = none)
  // IN's manifest entry; "" = the entry with IN's file name, else the template of the model
  // family IN's signature fits.
  std::string model_id;

  ConvertPrecision precision = ConvertPrecision::kKeep;
  bool dynamic_batch = false;  // make the batch dimension symbolic (checked against single runs)
  int batch_check = 8;         // dynamic batch: the batch compared with single runs

  std::vector<std::string> keep_fp32_ops;  // op types kept in float32 (e.g. "Softmax")
  std::string calibration_images;          // folder of face images; required for kInt8
  std::string drift_images;                // folder of face images; "" = calibration_images
  int max_images = 64;                     // images used at most from each folder
  ConvertCalibration calibration = ConvertCalibration::kMse;
  double percentile = 99.99;  // kPercentile: the share (%) of each activation's values kept
  bool per_channel = true;    // one weight scale per output channel (false: per tensor)

  bool check_drift = true;  // false: convert without measuring (not recommended)
  // Images (paths or file names) whose same/different decision must not change.
  std::vector<std::pair<std::string, std::string>> key_pairs;
  ConvertDriftBounds bounds;
  int latency_runs = 0;  // > 0: also time this many single runs of original and converted (CPU)
  int threads = 0;       // ONNX Runtime intra-op threads for the latency runs; 0 = its default
};

// One conversion step (a dynamic batch, then a precision) as the converter reports it.
struct ConvertStep {
  std::string kind;                     // "fp16", "int8", "int8-weight-only", "dynamic-batch"
  int n_nodes = 0;                      // nodes of the converted graph
  int n_nodes_converted = 0;            // nodes computing in float16 or quantized
  int n_nodes_kept_fp32 = 0;            // float nodes left in float32
  int n_casts = 0;                      // Cast nodes added (fp16)
  int n_quantized_tensors = 0;          // activations with a QuantizeLinear/DequantizeLinear pair (int8)
  int n_quantized_weights = 0;          // weight initializers stored as int8 (int8)
  int n_clamped = 0;                    // weights clamped to the float16 range
  int n_reshapes_fixed = 0;             // Reshape shapes with a hard-coded batch of 1 (dynamic batch)
  std::map<std::string, int> kept_ops;  // op type -> nodes kept in float32
  std::vector<std::string> notes;       // what the converter decided and why
};

// Dynamic batch: converted against original at batch 1, and a batch against single runs.
struct ConvertBatchCheck {
  int batch = 0;
  double max_abs_diff_batch1 = 0;
  double max_abs_diff_batchn = 0;
};

struct ConvertReport {
  std::string input;
  std::string output;
  std::string precision;  // "fp16", "int8", "int8-weight-only", "dynamic-batch"
  std::vector<ConvertStep> steps;
  std::optional<ConvertBatchCheck> batch;
  bool drift_measured = false;
  std::string drift_text;                     // the drift report as lines of text ("" when not measured)
  std::string drift_json;                     // the drift report as one JSON object ("" when not measured)
  std::vector<std::string> drift_violations;  // broken bounds, each saying what and by how much
  bool refused = false;
  std::string refusal;  // why, when refused
  bool written = false;
};

// Errors are failures to convert or measure (no such file, no manifest entry or family for IN,
// an unsupported graph, images without faces, ONNX Runtime cannot load the result); a broken
// drift bound is not an error: the report says refused.
StatusOr<ConvertReport> convert_model(const ConvertOptions& options);

// The report as `facelens models convert` prints it: the steps, the batch check and the drift
// report as text (lines ending in '\n'); as JSON (indented by 2, no final newline).
std::string convert_report_text(const ConvertReport& report);
std::string convert_report_json(const ConvertReport& report);

}  // namespace facelens

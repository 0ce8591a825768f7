// Converting a model file and proving the result: dynamic batch (checked batch 1 and batch N
// against single runs), then FP16 or INT8, then the accuracy drift against the original on face
// images; a conversion that breaks a drift bound is refused and nothing is kept. Used by
// `facelens models convert` and by the automatic precision of the Engine.
//
//   optimize::ConvertRequest req;
//   req.input = "models/fr_feature.onnx";  req.output = "fr_feature.int8.onnx";
//   req.entry = *manifest.find("fr_feature");
//   req.precision = models::Precision::kInt8;  req.samples = &set;  // optimize::build_sample_set
//   FACELENS_ASSIGN_OR_RETURN(auto res, optimize::convert_model(req, env));
//   if (res.refused) std::cerr << res.refusal;   // and the file was not written
//
// Thread-safety: a pure function over its arguments; temporary files have unique names.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "convert/drift.h"
#include "convert/drift_eval.h"
#include "convert/samples.h"
#include "facelens/status.h"
#include "models/manifest.h"
#include "runtime/environment.h"

namespace facelens::optimize {

struct ConvertRequest {
  std::string input;         // model file
  std::string output;        // where the result goes; "" = keep it in ConvertResult::model only
  models::ModelEntry entry;  // the model's contract (task, input, outputs) for samples and drift

  bool dynamic_batch = false;
  // The precision to convert to: kFp16, kInt8 (static, calibrated on `samples`, unless
  // int8_weight_only); kFp32 = no precision step (dynamic batch only).
  models::Precision precision = models::Precision::kFp32;
  bool int8_weight_only = false;  // with kInt8: the weights only, no calibration
  models::Fp16Options fp16_options;
  models::Int8Options int8_options;

  // int8: when the drift is beyond bounds, first leave unrounded the outputs only float32 ops
  // read, then keep the layers that hurt the outputs most (each quantized alone and measured) in
  // float32, a few more each round, up to half of them.
  bool mixed_precision = true;

  const SampleSet* samples = nullptr;  // faces for calibration and drift; required for int8 and drift
  int max_calibration_samples = 64;
  bool check_drift = true;
  DriftOptions drift;
  std::optional<models::DriftBounds> bounds;  // default: models::default_bounds(precision)
  int batch_check = 8;                        // dynamic batch: compare a batch of this many with single runs
  double max_batch_diff = 1e-4;               // refuse above this max abs difference
  int latency_runs = 0;                       // > 0: median latency of original and converted (single input)
  int threads = 0;                            // intra-op threads for the latency measurement
};

struct ConvertResult {
  std::string precision;  // "fp16", "int8", "int8-weight-only", "dynamic-batch"
  std::vector<models::ConversionInfo> steps;
  std::optional<models::BatchCheck> batch;
  std::optional<models::DriftReport> drift;  // with violations filled
  bool refused = false;
  std::string refusal;  // why, when refused
  std::string model;    // the converted bytes when ConvertRequest::output is ""
  bool written = false;
};

// Errors are failures to convert or measure (bad file, unsupported graph, ORT cannot load the
// result); a drift bound broken is not an error: the result says refused.
StatusOr<ConvertResult> convert_model(const ConvertRequest& request, std::shared_ptr<const runtime::Environment> env);

}  // namespace facelens::optimize

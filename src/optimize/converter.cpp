#include "optimize/converter.h"

#include <filesystem>
#include <random>

namespace facelens::optimize {

namespace {

namespace fs = std::filesystem;

// A temporary file removed when this goes out of scope.
class TempFile {
 public:
  explicit TempFile(const std::string& tag) {
    std::random_device rd;
    path_ = (fs::temp_directory_path() / ("facelens-" + tag + "-" + std::to_string(rd()) + ".onnx")).string();
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

StatusOr<ConvertResult> convert_model(const ConvertRequest& req, std::shared_ptr<const runtime::Environment> env) {
  const int n_targets = int(req.fp16) + int(req.int8) + int(req.int8_weight_only);
  if (n_targets > 1) return invalid_argument("choose one of --fp16, --int8, --int8-dynamic");
  if (n_targets == 0 && !req.dynamic_batch) {
    return invalid_argument("nothing to do: pass --fp16, --int8 (with --calibrate DIR), --int8-dynamic or --dynamic-batch");
  }
  if (req.int8 && !req.samples) {
    return invalid_argument("--int8 needs calibration images: pass --calibrate DIR with face images");
  }
  if (req.check_drift && !req.samples) {
    return invalid_argument("the drift report needs face images: pass --faces DIR (or --calibrate DIR)");
  }
  ConvertResult res;
  res.precision = req.fp16 ? "fp16" : req.int8 ? "int8" : req.int8_weight_only ? "int8-weight-only" : "dynamic-batch";
  FACELENS_ASSIGN_OR_RETURN(std::string bytes, models::read_model_file(req.input));

  if (req.dynamic_batch) {
    FACELENS_ASSIGN_OR_RETURN(auto d, models::make_batch_dynamic(bytes));
    bytes = std::move(d.model);
    res.steps.push_back(d.info);
    if (req.batch_check >= 2) {
      TempFile tmp("batch");
      FACELENS_RETURN_IF_ERROR(models::write_model_file(tmp.path(), bytes));
      auto check = models::check_dynamic_batch(req.input, tmp.path(), req.batch_check, env);
      if (!check.ok()) return check.status().with_context("dynamic batch check");
      res.batch = *check;
      if (check->max_abs_diff_batch1 > req.max_batch_diff || check->max_abs_diff_batchn > req.max_batch_diff) {
        res.refused = true;
        res.refusal = "dynamic batch changes the outputs: max abs diff " + std::to_string(check->max_abs_diff_batch1) +
                      " at batch 1, " + std::to_string(check->max_abs_diff_batchn) + " at batch " +
                      std::to_string(req.batch_check) + " (bound " + std::to_string(req.max_batch_diff) + ")";
        return res;
      }
    }
  }

  const std::string before = bytes;  // the model the precision step starts from
  models::ActivationRanges ranges;
  std::vector<models::CalibrationSample> calibration;
  if (req.fp16) {
    FACELENS_ASSIGN_OR_RETURN(auto c, models::convert_fp16(bytes, req.fp16_options));
    bytes = std::move(c.model);
    res.steps.push_back(c.info);
  } else if (req.int8) {
    FACELENS_ASSIGN_OR_RETURN(calibration, model_inputs(req.entry, *req.samples, req.max_calibration_samples));
    FACELENS_ASSIGN_OR_RETURN(auto c, models::quantize_int8_static(bytes, calibration, req.int8_options, env, &ranges));
    bytes = std::move(c.model);
    res.steps.push_back(c.info);
  } else if (req.int8_weight_only) {
    FACELENS_ASSIGN_OR_RETURN(auto c, models::quantize_int8_weights(bytes, req.int8_options));
    bytes = std::move(c.model);
    res.steps.push_back(c.info);
  }

  if (req.check_drift) {
    const models::DriftBounds bounds = req.bounds ? *req.bounds : models::default_bounds(res.precision);
    auto measure = [&](const std::string& model) -> StatusOr<models::DriftReport> {
      TempFile converted("converted");
      FACELENS_RETURN_IF_ERROR(models::write_model_file(converted.path(), model));
      FACELENS_ASSIGN_OR_RETURN(auto report,
                                measure_drift(req.entry, req.input, converted.path(), *req.samples, req.drift, env));
      report.precision = res.precision;
      if (!req.output.empty()) report.converted_path = req.output;
      models::check_bounds(report, bounds);
      if (req.latency_runs > 0) {
        FACELENS_ASSIGN_OR_RETURN(auto inputs, model_inputs(req.entry, *req.samples, 1));
        FACELENS_ASSIGN_OR_RETURN(report.latency_original_ms,
                                  measure_latency(req.input, inputs[0], req.latency_runs, 3, req.threads, env));
        FACELENS_ASSIGN_OR_RETURN(report.latency_converted_ms,
                                  measure_latency(converted.path(), inputs[0], req.latency_runs, 3, req.threads, env));
      }
      return report;
    };
    FACELENS_ASSIGN_OR_RETURN(auto report, measure(bytes));
    // Mixed precision: leave the outputs that only float32 ops use unrounded, then keep the most
    // sensitive layers in float32, a few more each round, until the drift is within bounds (or a
    // quarter of the layers would be kept). The calibration is reused.
    if (!report.ok() && req.int8 && req.mixed_precision) {
      FACELENS_ASSIGN_OR_RETURN(auto order, models::int8_sensitivity_order(before));
      const size_t cap = std::max<size_t>(2, order.size() / 4);
      for (size_t k = 0; k <= cap && !report.ok(); k += (k == 0 ? 2 : k < 6 ? 1 : 2)) {
        models::Int8Options o = req.int8_options;
        o.round_before_float_ops = false;
        o.weight_only_nodes.insert(o.weight_only_nodes.end(), order.begin(), order.begin() + std::min(k, order.size()));
        FACELENS_ASSIGN_OR_RETURN(auto c, models::quantize_int8_static(before, ranges, o));
        FACELENS_ASSIGN_OR_RETURN(auto r2, measure(c.model));
        std::string kept;
        for (size_t j = 0; j < k && j < order.size(); ++j) kept += (j ? "," : "") + order[j];
        report.notes.push_back("mixed precision: outputs read only by float32 ops unrounded, " + std::to_string(k) +
                               " of " + std::to_string(order.size()) + " layers with float32 activations (" + kept +
                               "): output cosine min " +
                               std::to_string(r2.output_cosine.min).substr(0, 6) +
                               (r2.ok() ? ", within bounds" : ", still beyond"));
        if (r2.ok()) {
          auto notes = report.notes;
          report = std::move(r2);
          report.notes.insert(report.notes.begin(), notes.begin(), notes.end());
          bytes = std::move(c.model);
          res.steps.back() = c.info;
        }
      }
    }
    for (const auto& step : res.steps)
      for (const auto& n : step.notes) report.notes.push_back(step.kind + ": " + n);
    res.drift = report;
    if (!report.ok()) {
      res.refused = true;
      res.refusal = "the " + res.precision + " model drifts beyond its bounds:";
      for (const auto& v : report.violations) res.refusal += " " + v + ";";
      return res;  // nothing is kept
    }
  }
  if (req.output.empty()) {
    res.model = std::move(bytes);
  } else {
    FACELENS_RETURN_IF_ERROR(models::write_model_file(req.output, bytes));
    res.written = true;
  }
  return res;
}

}  // namespace facelens::optimize

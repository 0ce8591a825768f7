#include "convert/converter.h"

#include <algorithm>
#include <cmath>
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

// Each weighted layer quantized alone (weights and activations; the rest float32): the relative
// error it causes in the model's outputs on a few calibration inputs. Most harmful first.
StatusOr<std::vector<std::string>> measured_sensitivity(const std::string& model,
                                                        const models::ActivationRanges& ranges,
                                                        const models::Int8Options& base,
                                                        std::span<const models::CalibrationSample> samples,
                                                        std::shared_ptr<const runtime::Environment> env) {
  FACELENS_ASSIGN_OR_RETURN(auto names, models::int8_sensitivity_order(model));
  runtime::SessionOptions so;
  so.service.provider = Provider::kCpu;
  auto outputs_of = [&](const std::string& bytes) -> StatusOr<std::vector<std::vector<runtime::Tensor>>> {
    TempFile f("sensitivity");
    FACELENS_RETURN_IF_ERROR(models::write_model_file(f.path(), bytes));
    FACELENS_ASSIGN_OR_RETURN(auto s, runtime::Session::create(env, f.path(), so));
    std::vector<std::vector<runtime::Tensor>> all;
    for (const auto& sample : samples) {
      FACELENS_ASSIGN_OR_RETURN(auto out, s->run(runtime::refs_of(sample)));
      all.push_back(std::move(out));
    }
    return all;
  };
  FACELENS_ASSIGN_OR_RETURN(auto reference, outputs_of(model));
  std::vector<std::pair<double, std::string>> scored;
  for (const auto& name : names) {
    models::Int8Options o = base;
    for (const auto& other : names)
      if (other != name) o.keep_fp32_nodes.push_back(other);
    auto q = models::quantize_int8_static(model, ranges, o);
    if (!q.ok()) continue;
    FACELENS_ASSIGN_OR_RETURN(auto got, outputs_of(q->model));
    double err = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      for (size_t k = 0; k < got[i].size(); ++k) {
        double d = 0, n = 0;
        for (size_t j = 0; j < got[i][k].data.size(); ++j) {
          const double a = reference[i][k].data[j], b = got[i][k].data[j];
          d += (a - b) * (a - b);
          n += a * a;
        }
        err += n > 0 ? std::sqrt(d / n) : 0;
      }
    }
    scored.push_back({err, name});
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> order;
  for (const auto& [err, name] : scored) order.push_back(name);
  return order;
}

}  // namespace

StatusOr<ConvertResult> convert_model(const ConvertRequest& req, std::shared_ptr<const runtime::Environment> env) {
  using models::Precision;
  if (req.int8_weight_only && req.precision != Precision::kInt8) {
    return invalid_argument("int8_weight_only goes with precision int8: choose one of --fp16, --int8, --int8-dynamic");
  }
  const bool fp16 = req.precision == Precision::kFp16;
  const bool int8 = req.precision == Precision::kInt8 && !req.int8_weight_only;
  const bool int8_weight_only = req.precision == Precision::kInt8 && req.int8_weight_only;
  if (req.precision == Precision::kFp32 && !req.dynamic_batch) {
    return invalid_argument(
        "nothing to do: pass --fp16, --int8 (with --calibrate DIR), --int8-dynamic or --dynamic-batch");
  }
  if (int8 && !req.samples) {
    return invalid_argument("--int8 needs calibration images: pass --calibrate DIR with face images");
  }
  if (req.check_drift && !req.samples) {
    return invalid_argument("the drift report needs face images: pass --faces DIR (or --calibrate DIR)");
  }
  ConvertResult res;
  res.precision = fp16 ? "fp16" : int8 ? "int8" : int8_weight_only ? "int8-weight-only" : "dynamic-batch";
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

  std::string before = bytes;  // the model the precision step starts from
  models::ActivationRanges ranges;
  std::vector<models::CalibrationSample> calibration;
  std::vector<std::string> equalized;  // notes of the channel equalization (int8)
  if (fp16) {
    FACELENS_ASSIGN_OR_RETURN(auto c, models::convert_fp16(bytes, req.fp16_options));
    bytes = std::move(c.model);
    res.steps.push_back(c.info);
  } else if (int8) {
    FACELENS_ASSIGN_OR_RETURN(calibration, model_inputs(req.entry, *req.samples, req.max_calibration_samples));
    if (req.int8_options.equalize_channels) {
      // The same float32 outputs; every quantization below (the fallbacks too) starts from it.
      FACELENS_ASSIGN_OR_RETURN(auto e, models::equalize_channels(bytes, calibration, env));
      before = std::move(e.model);
      equalized = e.info.notes;
    }
    FACELENS_ASSIGN_OR_RETURN(auto c,
                              models::quantize_int8_static(before, calibration, req.int8_options, env, &ranges));
    c.info.notes.insert(c.info.notes.begin(), equalized.begin(), equalized.end());
    bytes = std::move(c.model);
    res.steps.push_back(c.info);
  } else if (int8_weight_only) {
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
    // Mixed precision: first keep PRelu in float32 and leave unrounded the outputs that only
    // float32 ops read; then keep
    // the layers that hurt the outputs most (each measured alone) in float32, a few more each
    // round, up to half of them. The calibration is reused.
    if (!report.ok() && int8 && req.mixed_precision) {
      // What each attempt measured (the first one included: its numbers are replaced below).
      auto summary = [](const std::string& what, const models::DriftReport& r) {
        return what + ": output cosine min " + std::to_string(r.output_cosine.min).substr(0, 6) +
               (r.embedding_cosine.empty()
                    ? ""
                    : ", embedding cosine min " + std::to_string(r.embedding_cosine.min).substr(0, 6) + " mean " +
                          std::to_string(r.embedding_cosine.mean()).substr(0, 6)) +
               (r.box_iou.empty() ? "" : ", box IoU min " + std::to_string(r.box_iou.min).substr(0, 6)) +
               (r.latency_converted_ms > 0 ? ", " + std::to_string(r.latency_converted_ms).substr(0, 5) + " ms" : "") +
               (r.ok() ? ": within bounds" : ": beyond");
      };
      report.notes.push_back(summary("fully int8", report));
      auto attempt = [&](const models::Int8Options& o, const std::string& what) -> Status {
        FACELENS_ASSIGN_OR_RETURN(auto c, models::quantize_int8_static(before, ranges, o));
        c.info.notes.insert(c.info.notes.begin(), equalized.begin(), equalized.end());
        FACELENS_ASSIGN_OR_RETURN(auto r2, measure(c.model));
        report.notes.push_back(summary("mixed precision, " + what, r2));
        if (r2.ok()) {
          auto notes = report.notes;
          report = std::move(r2);
          report.notes.insert(report.notes.begin(), notes.begin(), notes.end());
          bytes = std::move(c.model);
          res.steps.back() = c.info;
        }
        return Status::Ok();
      };
      // The first fallback is the int8 of converter version 1: PRelu kept in float32 (not
      // rewritten), int8 activations, 8-bit weights, its inputs unrounded (slower than float32
      // on x86: mostly float32 compute, but the least rounding).
      models::Int8Options o = req.int8_options;
      o.round_before_float_ops = false;
      o.prelu = models::PreluRewrite::kKeep;
      o.activations = models::ActivationType::kInt8;
      o.reduce_range = false;
      FACELENS_RETURN_IF_ERROR(attempt(o, "PRelu kept in float32, outputs read only by float32 ops unrounded"));
      if (!report.ok()) {
        const size_t n_probe = std::min<size_t>(8, calibration.size());
        // Measured on the graph these rounds quantize (`o`): the rewritten graph's layers differ.
        FACELENS_ASSIGN_OR_RETURN(auto order,
                                  measured_sensitivity(before, ranges, o, std::span(calibration).first(n_probe), env));
        const size_t cap = std::max<size_t>(1, order.size() / 2);
        for (size_t k = 1; k <= cap && !report.ok(); k = k < 4 ? k + 1 : k + k / 2) {
          models::Int8Options ok = o;
          std::string kept;
          for (size_t j = 0; j < k && j < order.size(); ++j) {
            ok.keep_fp32_nodes.push_back(order[j]);
            kept += (j ? "," : "") + order[j];
          }
          FACELENS_RETURN_IF_ERROR(attempt(
              ok, std::to_string(k) + " of " + std::to_string(order.size()) + " layers in float32 (" + kept + ")"));
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

// facelens/convert.h over the converter (convert/converter.h): finds IN's manifest entry, builds
// the face sample set, converts and reports.
#include "facelens/convert.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "convert/converter.h"
#include "convert/drift.h"
#include "convert/samples.h"
#include "models/family.h"
#include "models/registry.h"
#include "runtime/environment.h"

namespace facelens {

namespace {

using json = nlohmann::ordered_json;

// The contract of IN: the entry `model_id` names, else the manifest entry with IN's file name,
// else the template of the family IN's signature fits (models/family.h).
StatusOr<models::ModelEntry> find_entry(const ConvertOptions& o) {
  std::vector<models::Manifest> manifests = models::load_known_manifests(o.models_dir);
  if (!o.manifest.empty()) {
    FACELENS_ASSIGN_OR_RETURN(auto m, models::load_manifest(o.manifest));
    manifests.insert(manifests.begin(), std::move(m));
  }
  if (!o.model_id.empty()) {
    for (const auto& m : manifests)
      if (const models::ModelEntry* e = m.find(o.model_id)) return *e;
    return not_found("no model '" + o.model_id + "' in the manifests of " + o.models_dir);
  }
  const std::string name = std::filesystem::path(o.input).filename().string();
  for (const auto& m : manifests)
    for (const auto& e : m.models)
      if (std::filesystem::path(e.file).filename().string() == name) return e;
  models::FileModelOptions fo;
  for (const auto& m : manifests) fo.manifests.push_back(&m);
  auto fm = models::entry_for_file(o.input, fo);
  if (!fm.ok()) {
    return fm.status().with_context("'" + o.input +
                                    "' is in no manifest and its family was not recognised: name "
                                    "its manifest entry with --model ID (and --manifest FILE); the entry says how to "
                                    "prepare the model's input for calibration and the drift report");
  }
  return fm->entry;
}

models::CalibrationMethod calibration_method(ConvertCalibration c) {
  switch (c) {
    case ConvertCalibration::kPercentile: return models::CalibrationMethod::kPercentile;
    case ConvertCalibration::kMse: return models::CalibrationMethod::kMse;
    case ConvertCalibration::kMinMax: break;
  }
  return models::CalibrationMethod::kMinMax;
}

json step_json(const ConvertStep& s) {
  json j = {{"kind", s.kind},
            {"nodes", s.n_nodes},
            {"nodes_converted", s.n_nodes_converted},
            {"nodes_kept_fp32", s.n_nodes_kept_fp32},
            {"casts", s.n_casts},
            {"quantized_tensors", s.n_quantized_tensors},
            {"quantized_weights", s.n_quantized_weights},
            {"clamped", s.n_clamped},
            {"reshapes_fixed", s.n_reshapes_fixed}};
  j["kept_ops"] = s.kept_ops;
  j["notes"] = s.notes;
  return j;
}

}  // namespace

const char* convert_precision_name(ConvertPrecision p) {
  switch (p) {
    case ConvertPrecision::kFp16: return "fp16";
    case ConvertPrecision::kInt8: return "int8";
    case ConvertPrecision::kInt8WeightOnly: return "int8-weight-only";
    case ConvertPrecision::kKeep: break;
  }
  return "keep";
}

StatusOr<ConvertPrecision> parse_convert_precision(const std::string& name) {
  for (ConvertPrecision p :
       {ConvertPrecision::kKeep, ConvertPrecision::kFp16, ConvertPrecision::kInt8, ConvertPrecision::kInt8WeightOnly})
    if (name == convert_precision_name(p)) return p;
  return invalid_argument("unknown precision '" + name + "': use keep, fp16, int8 or int8-weight-only");
}

const char* convert_calibration_name(ConvertCalibration c) {
  switch (c) {
    case ConvertCalibration::kPercentile: return "percentile";
    case ConvertCalibration::kMse: return "mse";
    case ConvertCalibration::kMinMax: break;
  }
  return "minmax";
}

StatusOr<ConvertCalibration> parse_convert_calibration(const std::string& name) {
  for (ConvertCalibration c : {ConvertCalibration::kMinMax, ConvertCalibration::kPercentile, ConvertCalibration::kMse})
    if (name == convert_calibration_name(c)) return c;
  return invalid_argument("unknown calibration method '" + name + "': use mse, percentile or minmax");
}

StatusOr<ConvertReport> convert_model(const ConvertOptions& o) {
  if (!std::filesystem::is_regular_file(o.input)) return not_found("model file '" + o.input + "' does not exist");
  std::error_code ec;
  if (std::filesystem::exists(o.output, ec) && std::filesystem::equivalent(o.input, o.output, ec)) {
    return invalid_argument("OUT must differ from IN: the original is needed to measure the drift");
  }
  FACELENS_ASSIGN_OR_RETURN(auto registry, models::ModelRegistry::open(o.models_dir));
  FACELENS_ASSIGN_OR_RETURN(auto entry, find_entry(o));
  FACELENS_ASSIGN_OR_RETURN(auto env, runtime::Environment::create({}));

  optimize::ConvertRequest req;
  req.input = o.input;
  req.output = o.output;
  req.entry = entry;
  req.precision = o.precision == ConvertPrecision::kFp16   ? models::Precision::kFp16
                  : o.precision == ConvertPrecision::kKeep ? models::Precision::kFp32
                                                           : models::Precision::kInt8;
  req.int8_weight_only = o.precision == ConvertPrecision::kInt8WeightOnly;
  req.dynamic_batch = o.dynamic_batch;
  req.fp16_options.keep_fp32_ops = o.keep_fp32_ops;
  req.int8_options.keep_fp32_ops = o.keep_fp32_ops;
  req.int8_options.method = calibration_method(o.calibration);
  req.int8_options.percentile = o.percentile;
  req.int8_options.per_channel = o.per_channel;
  req.check_drift = o.check_drift;
  req.latency_runs = o.latency_runs;
  req.threads = o.threads;
  req.batch_check = o.batch_check;
  req.drift.key_pairs = o.key_pairs;
  const std::string images_dir = !o.drift_images.empty() ? o.drift_images : o.calibration_images;
  std::optional<optimize::SampleSet> set;
  if (o.precision == ConvertPrecision::kInt8 && o.calibration_images.empty())
    return invalid_argument("--int8 needs --calibrate DIR (face images)");
  if (req.check_drift && images_dir.empty()) {
    return invalid_argument(
        "the drift report needs face images: pass --faces DIR (or --calibrate DIR), "
        "or --no-drift to convert without measuring");
  }
  if (!images_dir.empty()) {
    const auto& m = registry->manifest();
    const models::ModelEntry* det = m.default_for("detector");
    if (!det) return not_found(m.path + " names no default detector to find the faces with");
    FACELENS_ASSIGN_OR_RETURN(auto det_path, registry->verified_path(det->id));
    optimize::Reference ref{*det, det_path, std::nullopt, ""};
    if (const models::ModelEntry* lm = m.default_for("landmarks")) {
      FACELENS_ASSIGN_OR_RETURN(auto lm_path, registry->verified_path(lm->id));
      ref.landmarks = *lm;
      ref.landmarks_path = lm_path;
    }
    // Calibration uses the calibration images; the drift report the drift images (when given,
    // else the same images).
    FACELENS_ASSIGN_OR_RETURN(
        auto files,
        optimize::list_images(o.calibration_images.empty() ? images_dir : o.calibration_images, o.max_images));
    if (!o.drift_images.empty() && !o.calibration_images.empty() && o.drift_images != o.calibration_images) {
      FACELENS_ASSIGN_OR_RETURN(auto more, optimize::list_images(o.drift_images, o.max_images));
      files.insert(files.end(), more.begin(), more.end());
    }
    FACELENS_ASSIGN_OR_RETURN(auto built, optimize::build_sample_set(files, ref, env));
    set = std::move(built);
    req.samples = &*set;
  }
  // Without a precision (dynamic batch only) the drift is held to the float16 bounds.
  models::DriftBounds b = models::default_bounds(
      o.precision == ConvertPrecision::kInt8 || o.precision == ConvertPrecision::kInt8WeightOnly ? "int8" : "fp16");
  if (o.bounds.min_cosine) b.min_cosine = *o.bounds.min_cosine;
  if (o.bounds.min_mean_cosine) b.min_mean_cosine = *o.bounds.min_mean_cosine;
  if (o.bounds.min_box_iou) b.min_box_iou = *o.bounds.min_box_iou;
  if (o.bounds.max_score_diff) b.max_score_diff = *o.bounds.max_score_diff;
  if (o.bounds.max_flip_ratio) b.max_flip_ratio = *o.bounds.max_flip_ratio;
  if (o.bounds.min_output_cosine) b.min_output_cosine = *o.bounds.min_output_cosine;
  req.bounds = b;

  FACELENS_ASSIGN_OR_RETURN(auto res, optimize::convert_model(req, env));
  ConvertReport r;
  r.input = o.input;
  r.output = o.output;
  r.precision = res.precision;
  r.steps = res.steps;
  if (res.batch)
    r.batch = ConvertBatchCheck{res.batch->batch, res.batch->max_abs_diff_batch1, res.batch->max_abs_diff_batchn};
  if (res.drift) {
    r.drift_measured = true;
    r.drift_text = models::drift_report_text(*res.drift);
    r.drift_json = models::drift_report_json(*res.drift);
    r.drift_violations = res.drift->violations;
  }
  r.refused = res.refused;
  r.refusal = res.refusal;
  r.written = res.written;
  return r;
}

std::string convert_report_text(const ConvertReport& r) {
  std::ostringstream out;
  for (const auto& s : r.steps) {
    out << s.kind << ": " << s.n_nodes << " nodes";
    if (s.kind == "fp16")
      out << ", " << s.n_nodes_converted << " in float16, " << s.n_nodes_kept_fp32 << " kept in float32, " << s.n_casts
          << " casts";
    if (s.kind.rfind("int8", 0) == 0)
      out << ", " << s.n_quantized_weights << " int8 weights, " << s.n_quantized_tensors << " quantized activations";
    if (s.kind == "dynamic-batch") out << ", " << s.n_reshapes_fixed << " Reshape shapes fixed";
    out << "\n";
    for (const auto& n : s.notes) out << "  note: " << n << "\n";
  }
  if (r.batch) {
    out << "dynamic batch check: max abs diff " << r.batch->max_abs_diff_batch1 << " at batch 1, "
        << r.batch->max_abs_diff_batchn << " at batch " << r.batch->batch << " vs single runs\n";
  }
  if (r.drift_measured) out << r.drift_text;
  else out << "drift not measured (--no-drift)\n";
  return out.str();
}

std::string convert_report_json(const ConvertReport& r) {
  json j;
  j["input"] = r.input;
  j["output"] = r.output;
  j["precision"] = r.precision;
  json steps = json::array();
  for (const auto& s : r.steps) steps.push_back(step_json(s));
  j["steps"] = steps;
  if (r.batch) {
    j["batch_check"] = {{"batch", r.batch->batch},
                        {"max_abs_diff_batch1", r.batch->max_abs_diff_batch1},
                        {"max_abs_diff_batchn", r.batch->max_abs_diff_batchn}};
  }
  j["drift"] = r.drift_measured ? json::parse(r.drift_json) : json(nullptr);
  j["refused"] = r.refused;
  if (r.refused) j["refusal"] = r.refusal;
  j["written"] = r.written;
  return j.dump(2);
}

}  // namespace facelens

// facelens models convert IN OUT --fp16 | --int8 --calibrate DIR | --int8-dynamic [--dynamic-batch]
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common.h"
#include "models/drift.h"
#include "models/family.h"
#include "models/registry.h"
#include "optimize/converter.h"
#include "runtime/environment.h"

namespace facelens::cli {
namespace {

using json = nlohmann::ordered_json;

struct ConvertArgs {
  std::string input, output;
  bool fp16 = false, int8 = false, int8_dynamic = false, dynamic_batch = false;
  std::vector<std::string> keep_fp32_ops;
  std::string calibrate;        // calibration images
  std::string faces;            // drift images ("" = the calibration images)
  std::string method = "mse";
  double percentile = 99.99;
  bool per_tensor = false;
  int max_images = 64;
  std::string model_id;         // manifest entry
  std::vector<std::string> pairs;  // "A,B": designated pairs whose decision must not change
  bool no_drift = false;
  int latency_runs = 0;
  int batch_check = 8;
  // Bounds: < 0 = the precision's default (models::default_bounds).
  double min_cosine = -1, min_mean_cosine = -1, min_iou = -1, max_score_diff = -1, max_flip_ratio = -1,
         min_output_cosine = -1;
};

json info_json(const models::ConversionInfo& i) {
  json j = {{"kind", i.kind},
            {"nodes", i.n_nodes},
            {"nodes_converted", i.n_nodes_converted},
            {"nodes_kept_fp32", i.n_nodes_kept_fp32},
            {"casts", i.n_casts},
            {"quantized_tensors", i.n_quantized_tensors},
            {"quantized_weights", i.n_quantized_weights},
            {"clamped", i.n_clamped},
            {"reshapes_fixed", i.n_reshapes_fixed}};
  j["kept_ops"] = i.kept_ops;
  j["notes"] = i.notes;
  return j;
}

// The contract of IN: the entry --model names, else the manifest entry with IN's sha256 or file
// name, else the template of the family IN's signature fits (models/family.h).
StatusOr<models::ModelEntry> find_entry(const ConvertArgs& a, const Common& c, const std::string& models_dir) {
  std::vector<models::Manifest> manifests = models::load_known_manifests(models_dir);
  if (!c.manifest.empty()) {
    FACELENS_ASSIGN_OR_RETURN(auto m, models::load_manifest(c.manifest));
    manifests.insert(manifests.begin(), std::move(m));
  }
  if (!a.model_id.empty()) {
    for (const auto& m : manifests)
      if (const models::ModelEntry* e = m.find(a.model_id)) return *e;
    return not_found("no model '" + a.model_id + "' in the manifests of " + models_dir);
  }
  const std::string name = std::filesystem::path(a.input).filename().string();
  for (const auto& m : manifests)
    for (const auto& e : m.models)
      if (std::filesystem::path(e.file).filename().string() == name) return e;
  models::FileModelOptions o;
  for (const auto& m : manifests) o.manifests.push_back(&m);
  auto fm = models::entry_for_file(a.input, o);
  if (!fm.ok()) {
    return fm.status().with_context("'" + a.input + "' is in no manifest and its family was not recognised: name "
                                    "its manifest entry with --model ID (and --manifest FILE); the entry says how to "
                                    "prepare the model's input for calibration and the drift report");
  }
  return fm->entry;
}

int cmd_convert(const Common& c, const ConvertArgs& a) {
  if (!std::filesystem::is_regular_file(a.input)) return fail(not_found("model file '" + a.input + "' does not exist"));
  std::error_code ec;
  if (std::filesystem::exists(a.output, ec) && std::filesystem::equivalent(a.input, a.output, ec)) {
    return fail(invalid_argument("OUT must differ from IN: the original is needed to measure the drift"));
  }
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  auto engine = Engine::create(*opts);
  if (!engine.ok()) return fail(engine.status());
  auto registry = models::ModelRegistry::open((*engine)->models_dir());
  if (!registry.ok()) return fail(registry.status());
  auto entry = find_entry(a, c, (*engine)->models_dir());
  if (!entry.ok()) return fail(entry.status());
  auto env = runtime::Environment::create({});
  if (!env.ok()) return fail(env.status());

  optimize::ConvertRequest req;
  req.input = a.input;
  req.output = a.output;
  req.entry = *entry;
  if (int(a.fp16) + int(a.int8) + int(a.int8_dynamic) > 1) {
    return fail(invalid_argument("choose one of --fp16, --int8, --int8-dynamic"));
  }
  req.precision = a.fp16 ? models::Precision::kFp16
                  : a.int8 || a.int8_dynamic ? models::Precision::kInt8
                                             : models::Precision::kFp32;
  req.int8_weight_only = a.int8_dynamic;
  req.dynamic_batch = a.dynamic_batch;
  req.fp16_options.keep_fp32_ops = a.keep_fp32_ops;
  req.int8_options.keep_fp32_ops = a.keep_fp32_ops;
  req.int8_options.method = a.method == "percentile" ? models::CalibrationMethod::kPercentile
                           : a.method == "mse"      ? models::CalibrationMethod::kMse
                                                    : models::CalibrationMethod::kMinMax;
  req.int8_options.percentile = a.percentile;
  req.int8_options.per_channel = !a.per_tensor;
  req.check_drift = !a.no_drift;
  req.latency_runs = a.latency_runs;
  req.threads = c.threads;
  req.batch_check = a.batch_check;
  for (const auto& p : a.pairs) {
    const auto comma = p.find(',');
    if (comma == std::string::npos) return fail(invalid_argument("--pair takes A,B (two image paths or file names)"));
    req.drift.key_pairs.emplace_back(p.substr(0, comma), p.substr(comma + 1));
  }
  const std::string images_dir = !a.faces.empty() ? a.faces : a.calibrate;
  std::optional<optimize::SampleSet> set;
  if (a.int8 && a.calibrate.empty()) return fail(invalid_argument("--int8 needs --calibrate DIR (face images)"));
  if (req.check_drift && images_dir.empty()) {
    return fail(invalid_argument("the drift report needs face images: pass --faces DIR (or --calibrate DIR), "
                                 "or --no-drift to convert without measuring"));
  }
  if (!images_dir.empty()) {
    const auto& m = (*registry)->manifest();
    const models::ModelEntry* det = m.default_for("detector");
    if (!det) return fail(not_found(m.path + " names no default detector to find the faces with"));
    auto det_path = (*registry)->verified_path(det->id);
    if (!det_path.ok()) return fail(det_path.status());
    optimize::Reference ref{*det, *det_path, std::nullopt, ""};
    if (const models::ModelEntry* lm = m.default_for("landmarks")) {
      auto lm_path = (*registry)->verified_path(lm->id);
      if (!lm_path.ok()) return fail(lm_path.status());
      ref.landmarks = *lm;
      ref.landmarks_path = *lm_path;
    }
    // Calibration uses --calibrate; the drift report --faces (when given, else the same images).
    auto files = optimize::list_images(a.calibrate.empty() ? images_dir : a.calibrate, a.max_images);
    if (!files.ok()) return fail(files.status());
    if (!a.faces.empty() && !a.calibrate.empty() && a.faces != a.calibrate) {
      auto more = optimize::list_images(a.faces, a.max_images);
      if (!more.ok()) return fail(more.status());
      files->insert(files->end(), more->begin(), more->end());
    }
    auto built = optimize::build_sample_set(*files, ref, *env);
    if (!built.ok()) return fail(built.status());
    set = std::move(*built);
    req.samples = &*set;
  }
  const std::string precision = a.fp16 ? "fp16" : a.int8 ? "int8" : a.int8_dynamic ? "int8" : "fp16";
  models::DriftBounds b = models::default_bounds(precision);
  if (a.min_cosine >= 0) b.min_cosine = a.min_cosine;
  if (a.min_mean_cosine >= 0) b.min_mean_cosine = a.min_mean_cosine;
  if (a.min_iou >= 0) b.min_box_iou = a.min_iou;
  if (a.max_score_diff >= 0) b.max_score_diff = a.max_score_diff;
  if (a.max_flip_ratio >= 0) b.max_flip_ratio = a.max_flip_ratio;
  if (a.min_output_cosine >= 0) b.min_output_cosine = a.min_output_cosine;
  req.bounds = b;

  auto res = optimize::convert_model(req, *env);
  if (!res.ok()) return fail(res.status());
  if (c.json_out) {
    json j;
    j["input"] = a.input;
    j["output"] = a.output;
    j["precision"] = res->precision;
    json steps = json::array();
    for (const auto& s : res->steps) steps.push_back(info_json(s));
    j["steps"] = steps;
    if (res->batch) {
      j["batch_check"] = {{"batch", res->batch->batch},
                          {"max_abs_diff_batch1", res->batch->max_abs_diff_batch1},
                          {"max_abs_diff_batchn", res->batch->max_abs_diff_batchn}};
    }
    j["drift"] = res->drift ? json::parse(models::drift_report_json(*res->drift)) : json(nullptr);
    j["refused"] = res->refused;
    if (res->refused) j["refusal"] = res->refusal;
    j["written"] = res->written;
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& s : res->steps) {
      std::cout << s.kind << ": " << s.n_nodes << " nodes";
      if (s.kind == "fp16") std::cout << ", " << s.n_nodes_converted << " in float16, " << s.n_nodes_kept_fp32
                                      << " kept in float32, " << s.n_casts << " casts";
      if (s.kind.rfind("int8", 0) == 0) std::cout << ", " << s.n_quantized_weights << " int8 weights, "
                                                  << s.n_quantized_tensors << " quantized activations";
      if (s.kind == "dynamic-batch") std::cout << ", " << s.n_reshapes_fixed << " Reshape shapes fixed";
      std::cout << "\n";
      for (const auto& n : s.notes) std::cout << "  note: " << n << "\n";
    }
    if (res->batch) {
      std::cout << "dynamic batch check: max abs diff " << res->batch->max_abs_diff_batch1 << " at batch 1, "
                << res->batch->max_abs_diff_batchn << " at batch " << res->batch->batch << " vs single runs\n";
    }
    if (res->drift) std::cout << models::drift_report_text(*res->drift);
    else std::cout << "drift not measured (--no-drift)\n";
  }
  if (res->refused) {
    std::cerr << "facelens: refused, nothing written: " << res->refusal << "\n";
    return kExitFailure;
  }
  if (!c.json_out) std::cout << "wrote " << a.output << "\n";
  return 0;
}

}  // namespace

void register_convert_commands(CLI::App& app, Common& common, std::vector<Runner>& runners) {
  CLI::App* models = app.get_subcommand("models");
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = models->add_subcommand(
      "convert", "FP16 / INT8 / dynamic-batch variant of a model, with its accuracy drift against the original");
  add_common(cmd, common);
  cmd->add_option("IN", a->input, "ONNX model file (a manifest model, or one named with --model)")->required();
  cmd->add_option("OUT", a->output, "converted model file (written only when the drift is within bounds)")->required();
  auto* fp16 = cmd->add_flag("--fp16", a->fp16, "float16 weights and computation, float32 inputs/outputs");
  auto* int8 = cmd->add_flag("--int8", a->int8, "static int8 QDQ quantization calibrated on --calibrate images");
  auto* dyn = cmd->add_flag("--int8-dynamic", a->int8_dynamic, "int8 weights only (no calibration), float32 compute");
  fp16->excludes(int8)->excludes(dyn);
  int8->excludes(dyn);
  cmd->add_flag("--dynamic-batch", a->dynamic_batch, "make the batch dimension symbolic (checked against single runs)");
  cmd->add_option("--keep-fp32-ops", a->keep_fp32_ops, "op types kept in float32 (e.g. Softmax,ReduceMean)")
      ->delimiter(',');
  cmd->add_option("--calibrate", a->calibrate, "folder of face images for int8 calibration (and the drift report)");
  cmd->add_option("--calibration", a->method,
                  "activation ranges: mse (least quantization error, default), percentile or minmax")
      ->check(CLI::IsMember({"mse", "minmax", "percentile"}));
  cmd->add_option("--percentile", a->percentile, "percentile kept by --calibration percentile (default 99.99)");
  cmd->add_flag("--per-tensor", a->per_tensor, "one weight scale per tensor instead of per output channel");
  cmd->add_option("--faces", a->faces, "folder of face images for the drift report (default: --calibrate)");
  cmd->add_option("--max-images", a->max_images, "images used at most from each folder (default 64)");
  cmd->add_option("--model", a->model_id,
                  "manifest entry of IN (default: the entry with IN's file name, else IN's family by its signature)");
  cmd->add_option("--pair", a->pairs, "A,B: images whose same/different decision must not change (repeatable)");
  cmd->add_flag("--no-drift", a->no_drift, "convert without measuring the drift (not recommended)");
  cmd->add_option("--latency", a->latency_runs, "also time N single runs of original and converted (CPU)");
  cmd->add_option("--batch-check", a->batch_check, "--dynamic-batch: batch size compared with single runs (default 8)");
  cmd->add_option("--min-cosine", a->min_cosine, "bound: min embedding cosine (default 0.999 fp16, 0.98 int8)");
  cmd->add_option("--min-mean-cosine", a->min_mean_cosine, "bound: mean embedding cosine");
  cmd->add_option("--min-iou", a->min_iou, "bound: min IoU of matched detector boxes (default 0.9)");
  cmd->add_option("--max-score-diff", a->max_score_diff, "bound: max detector score difference");
  cmd->add_option("--max-flip-ratio", a->max_flip_ratio, "bound: share of face pairs whose decision may change");
  cmd->add_option("--min-output-cosine", a->min_output_cosine, "bound: min cosine of raw outputs");
  runners.push_back([cmd, a, &common]() -> std::optional<int> {
    if (!*cmd) return std::nullopt;
    return cmd_convert(common, *a);
  });
}

}  // namespace facelens::cli

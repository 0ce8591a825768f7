// facelens models convert IN OUT --fp16 | --int8 --calibrate DIR | --int8-dynamic [--dynamic-batch]
// facelens models synth ARCH OUT [--seed N]
#include <iostream>

#include "common.h"
#include "facelens/convert.h"
#include "facelens/synth.h"

namespace facelens::cli {
namespace {

struct ConvertArgs {
  std::string input, output;
  bool fp16 = false, int8 = false, int8_dynamic = false, dynamic_batch = false;
  std::vector<std::string> keep_fp32_ops;
  std::string calibrate;  // calibration images
  std::string faces;      // drift images ("" = the calibration images)
  std::string method = "mse";
  double percentile = 99.99;
  bool per_tensor = false;
  int max_images = 64;
  std::string model_id;            // manifest entry
  std::vector<std::string> pairs;  // "A,B": designated pairs whose decision must not change
  bool no_drift = false;
  int latency_runs = 0;
  int batch_check = 8;
  // Bounds: < 0 = the precision's default.
  double min_cosine = -1, min_mean_cosine = -1, min_iou = -1, max_score_diff = -1, max_flip_ratio = -1,
         min_output_cosine = -1;
};

std::optional<double> bound(double v) { return v >= 0 ? std::optional<double>(v) : std::nullopt; }

int cmd_convert(const Common& c, const ConvertArgs& a) {
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  auto engine = Engine::create(*opts);
  if (!engine.ok()) return fail(engine.status());

  ConvertOptions o;
  o.input = a.input;
  o.output = a.output;
  o.models_dir = (*engine)->models_dir();
  o.manifest = c.manifest;
  o.model_id = a.model_id;
  o.precision = a.fp16           ? ConvertPrecision::kFp16
                : a.int8         ? ConvertPrecision::kInt8
                : a.int8_dynamic ? ConvertPrecision::kInt8WeightOnly
                                 : ConvertPrecision::kKeep;
  o.dynamic_batch = a.dynamic_batch;
  o.batch_check = a.batch_check;
  o.keep_fp32_ops = a.keep_fp32_ops;
  o.calibration_images = a.calibrate;
  o.drift_images = a.faces;
  o.max_images = a.max_images;
  auto method = parse_convert_calibration(a.method);
  if (!method.ok()) return fail(method.status());
  o.calibration = *method;
  o.percentile = a.percentile;
  o.per_channel = !a.per_tensor;
  o.check_drift = !a.no_drift;
  for (const auto& p : a.pairs) {
    const auto comma = p.find(',');
    if (comma == std::string::npos) return fail(invalid_argument("--pair takes A,B (two image paths or file names)"));
    o.key_pairs.emplace_back(p.substr(0, comma), p.substr(comma + 1));
  }
  o.bounds.min_cosine = bound(a.min_cosine);
  o.bounds.min_mean_cosine = bound(a.min_mean_cosine);
  o.bounds.min_box_iou = bound(a.min_iou);
  o.bounds.max_score_diff = bound(a.max_score_diff);
  o.bounds.max_flip_ratio = bound(a.max_flip_ratio);
  o.bounds.min_output_cosine = bound(a.min_output_cosine);
  o.latency_runs = a.latency_runs;
  o.threads = c.threads;

  auto res = convert_model(o);
  if (!res.ok()) return fail(res.status());
  if (c.json_out) std::cout << convert_report_json(*res) << "\n";
  else std::cout << convert_report_text(*res);
  if (res->refused) {
    std::cerr << "facelens: refused, nothing written: " << res->refusal << "\n";
    return kExitFailure;
  }
  if (!c.json_out) std::cout << "wrote " << a.output << "\n";
  return 0;
}

struct SynthArgs {
  std::string arch, output;
  uint64_t seed = 1;
};

int cmd_synth(const Common& c, const SynthArgs& a) {
  auto arch = parse_synth_arch(a.arch);
  if (!arch.ok()) return fail(arch.status());
  SynthOptions o;
  o.arch = *arch;
  o.output = a.output;
  o.seed = a.seed;
  auto r = synth_model(o);
  if (!r.ok()) return fail(r.status());
  if (c.json_out) std::cout << synth_report_json(*r) << "\n";
  else std::cout << synth_report_text(*r);
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

  auto sa = std::make_shared<SynthArgs>();
  auto* synth = models->add_subcommand(
      "synth",
      "write a reference-design architecture with RANDOM weights (for speed measurements: bench and convert accept "
      "it, detection and recognition refuse it)");
  add_common(synth, common);
  synth->add_option("ARCH", sa->arch, "yolov10n, arcface-r50, adaface-ir101 or xception")
      ->required()
      ->check(CLI::IsMember({"yolov10n", "arcface-r50", "adaface-ir101", "xception"}));
  synth->add_option("OUT", sa->output, "ONNX file to write (replaced when it exists)")->required();
  synth->add_option("--seed", sa->seed, "seed of the random weights (default 1; the same seed, the same file)");
  runners.push_back([synth, sa, &common]() -> std::optional<int> {
    if (!*synth) return std::nullopt;
    return cmd_synth(common, *sa);
  });
}

}  // namespace facelens::cli

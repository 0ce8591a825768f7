#include "bench/reference_design.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "convert/convert.h"
#include "core/sha256.h"
#include "facelens/convert.h"
#include "facelens/synth.h"
#include "facelens/version.h"
#include "runtime/placement.h"
#include "runtime/providers.h"
#include "runtime/session.h"

namespace facelens::bench {

namespace {

namespace fs = std::filesystem;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s;
  for (auto d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

std::string device_of(const BenchReport& rep, const ProviderStatus& p, bool on_cpu) {
  const MachineInfo& m = rep.machine;
  if (on_cpu) return m.cpu.model.empty() ? "CPU" : m.cpu.model;
  const int id = p.device_ids.empty() ? 0 : p.device_ids.front();
  for (const auto& d : m.gpu.devices)
    if (d.index == id) return d.name;
  return "CUDA device " + std::to_string(id);
}

// The fp16/int8 variant of `m` in the cache folder (made by the converter when absent). The
// name carries a hash of the source's sha256, the converter and ONNX Runtime versions and the
// calibration, so a changed source or converter (with its version bumped) never reuses an old one.
StatusOr<std::string> variant_file(const BenchOptions& o, const ReferenceModel& m, const std::string& precision) {
  if (precision == "fp32") return m.file;
  // Keyed by what makes the variant: the source, the converter's version, ONNX Runtime's, and the
  // calibration images (int8).
  const std::string key = core::sha256_hex(
      m.sha256 + "|" + precision + "|" + std::to_string(models::kConverterVersion) + "|" +
      runtime::Environment::ort_version() + "|" +
      (precision == "int8" ? o.calibration_images + "|" + std::to_string(o.calibration_max_images) : ""));
  const std::string out =
      (fs::path(o.reference_cache_dir) / (m.arch + "." + key.substr(0, 16) + "." + precision + ".onnx")).string();
  if (fs::exists(out)) return out;
  ConvertOptions c;
  c.input = m.file;
  c.output = out;
  c.models_dir = o.models_dir;
  c.precision = precision == "fp16" ? ConvertPrecision::kFp16 : ConvertPrecision::kInt8;
  // Random weights: the drift against the original says nothing about a real model's accuracy.
  c.check_drift = false;
  c.threads = o.threads;
  if (precision == "int8") {
    if (o.calibration_images.empty())
      return unavailable(
          "int8 needs face photos to calibrate its activation ranges: pass --calibrate DIR "
          "(e.g. ../shared/data/faces/face_recognition)");
    c.calibration_images = o.calibration_images;
    c.max_images = o.calibration_max_images;
  }
  FACELENS_ASSIGN_OR_RETURN(ConvertReport r, convert_model(c));
  if (r.refused) return unavailable("the converter refused " + precision + ": " + r.refusal);
  if (!r.written || !fs::exists(out)) return internal_error("the converter wrote no " + out);
  return out;
}

// Deterministic input values in [-1, 1] (the order of magnitude of every family's normalised input).
std::vector<float> input_values(size_t n) {
  std::mt19937 rng(19);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace

const std::vector<ReferenceArch>& reference_archs() {
  static const std::vector<ReferenceArch> kArchs = {
      {"yolov10n", "detector", "image"},
      {"arcface-r50", "recognizer", "face"},
      {"adaface-ir101", "recognizer", "face"},
      {"xception", "deepfake", "face"},
  };
  return kArchs;
}

Status run_reference_design(const BenchOptions& options, const std::shared_ptr<const runtime::Environment>& env,
                            BenchReport& rep, const std::function<void(const Progress&)>& progress) {
  auto note = [&](const std::string& text) {
    Progress p;
    p.event = Progress::Event::kNote;
    p.message = text;
    progress(p);
  };
  std::error_code ec;
  fs::create_directories(options.reference_cache_dir, ec);
  if (ec)
    return unavailable("cannot create the reference-design cache folder " + options.reference_cache_dir + ": " +
                       ec.message());

  // The models and their variants.
  for (const auto& arch : options.reference_archs) {
    const ReferenceArch* a = nullptr;
    for (const auto& x : reference_archs())
      if (x.arch == arch) a = &x;
    const ReferenceFigure* f = reference_figure_of(arch);
    if (!a || !f) continue;  // validate() refuses unknown names
    ReferenceModel m;
    m.arch = arch;
    m.task = a->task;
    m.figure = f->name;
    const std::string given = options.reference_models_dir.empty()
                                  ? ""
                                  : (fs::path(options.reference_models_dir) / (arch + ".onnx")).string();
    if (!given.empty() && fs::exists(given)) {
      m.file = given;
      m.source = "file";
    } else {
      // Synthesised once into the cache (random weights, fixed seed: the same graph every time). The
      // name carries the seed and the facelens version, so a newer generator never times an old file.
      auto parsed = parse_synth_arch(arch);
      const std::string out =
          (fs::path(options.reference_cache_dir) / (arch + ".synthetic.seed1." + version() + ".onnx")).string();
      Status made = parsed.status();
      if (made.ok() && !fs::exists(out)) {
        note(arch + ": synthesising an architecture-faithful graph with random weights into " + out + " ...");
        SynthOptions so;
        so.arch = *parsed;
        so.output = out;
        so.seed = 1;
        made = synth_model(so).status();
      }
      if (!made.ok()) {
        const std::string why =
            "no " + arch + ".onnx" +
            (options.reference_models_dir.empty() ? std::string() : " in " + options.reference_models_dir) +
            " and it could not be synthesised: " + made.message();
        rep.skipped.push_back({arch, "*", "*", why});
        note(arch + " skipped: " + why);
        continue;
      }
      m.file = out;
      m.source = "synthesised";
    }
    if (auto meta = model_metadata(m.file); meta.ok()) {
      auto it = meta->find(kSyntheticMetadataKey);
      m.synthetic = it != meta->end() && it->second == "true";
    }
    auto sha = core::sha256_file(m.file);
    if (!sha.ok()) {
      rep.skipped.push_back({arch, "*", "*", sha.status().message()});
      continue;
    }
    m.sha256 = *sha;
    for (const auto& precision : options.precisions) {
      if (precision != "fp32")
        note(arch + ": " + precision + " variant (converter, cached in " + options.reference_cache_dir + ") ...");
      auto file = variant_file(options, m, precision);
      if (!file.ok()) {
        rep.skipped.push_back({arch, "*", precision, file.status().message()});
        note(arch + " " + precision + " skipped: " + file.status().message());
        continue;
      }
      m.files[precision] = *file;
    }
    rep.reference_models.push_back(std::move(m));
  }

  int n_available = 0;
  for (const auto& p : rep.providers) n_available += p.available ? 1 : 0;
  int n_steps = 0;
  for (const auto& m : rep.reference_models)
    n_steps += n_available * static_cast<int>(m.files.size() * options.batches.size());
  int step = 0;

  for (auto& m : rep.reference_models) {
    const ReferenceArch* a = nullptr;
    for (const auto& x : reference_archs())
      if (x.arch == m.arch) a = &x;
    for (const auto& prov : rep.providers) {
      if (!prov.available) continue;
      const bool cuda = prov.name == "cuda";
      for (const auto& precision : options.precisions) {
        auto fit = m.files.find(precision);
        if (fit == m.files.end()) continue;
        runtime::SessionOptions so;
        so.intra_op_threads = options.threads > 0 ? options.threads : options.runtime.intra_op_threads;
        so.inter_op_threads = options.runtime.inter_op_threads;
        so.allow_spinning = options.runtime.allow_spinning;
        so.cuda_ep_path = options.runtime.cuda_ep_path;
        so.service = options.runtime.resolve(m.task);
        so.service.provider = cuda ? Provider::kCuda : Provider::kCpu;
        so.require_gpu = false;  // a fallback is measured and marked, not an error
        std::vector<int64_t> warm;
        for (int b : options.batches)
          if (b > 1) warm.push_back(b);
        so.warmup_batches = warm;
        const std::optional<uint64_t> rss_before = rss_bytes();
        auto session = runtime::Session::create(env, fit->second, so);
        const std::optional<uint64_t> rss_loaded = rss_bytes();
        // A graph without inputs fails its rows like one that cannot be opened; the bench goes on.
        const Status opened = !session.ok()                  ? session.status()
                              : (*session)->inputs().empty() ? invalid_argument("the graph has no input")
                                                             : Status::Ok();
        // A row of this model, provider and precision at one batch size.
        auto new_row = [&](int batch) {
          Row r;
          r.service = m.arch;
          r.provider = prov.name;
          r.precision = precision;
          r.batch = batch;
          r.reference = m.figure;
          return r;
        };
        if (!opened.ok()) {
          for (int b : options.batches) {
            Row r = new_row(b);
            r.status = "failed";
            r.note = "could not open " + fit->second + ": " + opened.to_string();
            rep.rows.push_back(r);
          }
          step += static_cast<int>(options.batches.size());
          note(m.arch + " " + prov.name + " " + precision + " failed: " + opened.to_string());
          continue;
        }
        const runtime::Session& s = **session;
        std::vector<int64_t> shape = s.inputs()[0].shape;
        if (m.input_shape.empty()) {
          m.input_shape = shape_string(shape);
          m.dynamic_batch = !shape.empty() && shape[0] < 0;
        }
        const bool batched = !shape.empty() && shape[0] < 0;
        for (size_t i = 1; i < shape.size(); ++i)
          if (shape[i] < 0) shape[i] = 1;  // no family here has other symbolic dims
        const bool fell_back = cuda && s.provider() != runtime::kCudaEpName;
        const std::string fallback_reason =
            fell_back ? (s.fallback_reason().empty() ? "ONNX Runtime placed the session on " + s.provider()
                                                     : s.fallback_reason())
                      : "";
        for (int batch : options.batches) {
          ++step;
          Row r = new_row(batch);
          r.status = "ok";
          r.provider_used = s.provider();
          r.fell_back_to_cpu = fell_back;
          r.fallback_reason = fallback_reason;
          r.placement = s.placement();
          r.device = device_of(rep, prov, !cuda || fell_back);
          r.batched = batched;
          r.calls_per_run = batched ? 1 : batch;
          r.item = a ? a->item : "image";
          r.items_per_run = batch;
          r.faces_per_run = 0;
          r.models = {m.arch};
          std::vector<int64_t> in_shape = shape;
          if (!in_shape.empty()) in_shape[0] = batched ? batch : (shape[0] > 0 ? shape[0] : 1);
          size_t n = 1;
          for (auto d : in_shape) n *= static_cast<size_t>(d);
          const std::vector<float> values = input_values(n);
          const std::vector<runtime::TensorRef> inputs = {{values, in_shape}};
          const int calls = batched ? 1 : batch;
          Progress p;
          p.step = step;
          p.n_steps = n_steps;
          p.n_runs = options.warmup + options.iterations;
          p.label =
              "reference design " + m.arch + " " + prov.name + " " + precision + " batch " + std::to_string(batch);
          p.event = Progress::Event::kStep;
          progress(p);
          const bool peak_reset = reset_peak_rss();
          Status st = time_cell(
              [&]() -> Status {
                for (int c = 0; c < calls; ++c) FACELENS_RETURN_IF_ERROR(s.run(inputs).status());
                return Status::Ok();
              },
              options, r, p, progress);
          if (!st.ok()) {
            r.status = "failed";
            r.note = st.to_string();
          }
          r.summary = summarize(r.samples_ms, batch);
          r.memory.rss_load_delta_bytes =
              rss_loaded && rss_before
                  ? std::optional<int64_t>(static_cast<int64_t>(*rss_loaded) - static_cast<int64_t>(*rss_before))
                  : std::nullopt;
          if (peak_reset) r.memory.rss_peak_bytes = peak_rss_bytes();
          r.memory.note =
              cuda ? "GPU memory not measured for the reference-design models" : "CPU run: no device memory";
          if (fell_back) r.note = "asked for CUDA, ran on " + r.provider_used + ": " + fallback_reason;
          p.event = Progress::Event::kStepDone;
          char line[256];
          std::snprintf(line, sizeof line, "%s: p50 %.3f ms, mean %.3f ms, %d warm-up runs (%s)%s", p.label.c_str(),
                        r.summary.p50_ms, r.summary.mean_ms, r.warmup, r.warmup_stop.c_str(),
                        r.status == "ok" ? (fell_back ? " (fell back to CPU)" : "") : " FAILED");
          p.message = r.status == "ok" ? line : p.label + " failed: " + r.note;
          progress(p);
          rep.rows.push_back(std::move(r));
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace facelens::bench

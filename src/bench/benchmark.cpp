#include "bench/benchmark.h"
#include "runtime/placement.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "align/aligner.h"
#include "bench/http_client.h"
#include "bench/reference_design.h"
#include "bench/services.h"
#include "bench/sweep_photos.h"
#include "detect/detector.h"
#include "facelens/engine.h"
#include "facelens/image.h"
#include "landmarks/landmarks.h"
#include "models/registry.h"
#include "runtime/environment.h"
#include "runtime/providers.h"
#include "services/factory.h"

namespace facelens::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s;
  for (auto d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// Returns the heap's free pages to the system (glibc keeps them otherwise), so that the resident
// set before opening a service does not include memory the previous one freed.
void release_free_heap() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

template <typename T>
std::optional<int64_t> delta(const std::optional<T>& after, const std::optional<T>& before) {
  if (!after || !before) return std::nullopt;
  return static_cast<int64_t>(*after) - static_cast<int64_t>(*before);
}

// The images' bytes, pixels, faces and aligned crops, found once on the CPU at fp32 so that every
// provider and precision times the same inputs.
StatusOr<BenchInputs> load_inputs(const BenchOptions& o, const models::Manifest& manifest,
                                  const ModelVariants& variants, std::vector<std::string>* notes) {
  BenchInputs in;
  DecodeOptions decode;
  for (const auto& path : o.images) {
    auto bytes = read_file_bytes(path, decode.max_bytes);
    // An image that cannot be used is bad input, whatever the reason (missing, unreadable, corrupt).
    if (!bytes.ok()) return invalid_argument("--image " + path + ": " + bytes.status().message());
    auto img = decode_image(*bytes, decode);
    if (!img.ok()) return invalid_argument("--image " + path + ": " + img.status().message());
    in.paths.push_back(path);
    in.encoded.push_back(std::move(*bytes));
    in.images.push_back(std::move(img->image));
  }
  runtime::SessionOptions so;
  so.service.provider = Provider::kCpu;
  so.intra_op_threads = o.threads;
  const models::ModelEntry* det_entry = manifest.default_for("detector");
  if (!det_entry) return failed_precondition(manifest.path + " names no default detector (defaults.detector)");
  FACELENS_ASSIGN_OR_RETURN(auto det_session, variants.open(*det_entry, "fp32", so));
  FACELENS_ASSIGN_OR_RETURN(auto detector, services::make<models::Task::kDetector>(*det_entry, det_session));
  std::shared_ptr<const landmarks::LandmarkModel> lm;
  if (const auto* e = manifest.default_for("landmarks"); e && !detector->has_keypoints()) {
    FACELENS_ASSIGN_OR_RETURN(auto s, variants.open(*e, "fp32", so));
    FACELENS_ASSIGN_OR_RETURN(lm, services::make<models::Task::kLandmarks>(*e, s));
  }
  const models::ModelEntry* rec_entry = manifest.default_for("recognizer");
  const int align_size = rec_entry && rec_entry->input.width() > 0 ? rec_entry->input.width() : 112;
  for (size_t i = 0; i < in.images.size(); ++i) {
    FACELENS_ASSIGN_OR_RETURN(auto found, detector->detect(in.images[i]));
    for (const auto& d : found) {
      BenchInputs::FaceRef f;
      f.image = i;
      f.box = d.box;
      if (d.keypoints) {
        f.five = *d.keypoints;
      } else if (lm) {
        FACELENS_ASSIGN_OR_RETURN(f.five, lm->predict(in.images[i], d.box));
      } else {
        in.faces.push_back(f);
        continue;
      }
      in.faces.push_back(f);
      in.aligned.push_back(align::align_face(in.images[i], f.five, align_size));
    }
    notes->push_back(o.images[i] + ": " + std::to_string(in.images[i].width) + "x" +
                     std::to_string(in.images[i].height) + ", " + std::to_string(found.size()) + " face(s)");
  }
  return in;
}

ProviderStatus probe_provider(const std::string& name, const runtime::Environment& env, const RuntimeOptions& rt) {
  ProviderStatus p;
  p.name = name;
  if (name == "cpu") {
    p.execution_provider = runtime::kCpuEpName;
    p.available = true;
    return p;
  }
  p.execution_provider = runtime::kCudaEpName;
  auto n = env.cuda_devices(rt.cuda_ep_path);
  if (!n.ok()) {
    p.reason = n.status().message();
    return p;
  }
  p.device_ids = rt.resolve("detector").device_ids;
  if (Status ids = env.check_cuda_device_ids(p.device_ids); !ids.ok()) {
    p.reason = ids.message();
    return p;
  }
  p.available = true;
  return p;
}

std::string device_name(const MachineInfo& m, const ProviderStatus& p, bool on_cpu) {
  if (on_cpu) return m.cpu.model.empty() ? "CPU" : m.cpu.model;
  const int id = p.device_ids.empty() ? 0 : p.device_ids.front();
  for (const auto& d : m.gpu.devices)
    if (d.index == id) return d.name;
  return "CUDA device " + std::to_string(id);
}

// The Engine of the "pipeline" service: the benchmark's models, provider and threads, and what
// `facelens serve` sets (tools/cli/cmd_serve.cpp: dynamic batching kAuto); every service on the
// provider of the cell, and a fallback to the CPU measured and marked, not an error.
EngineOptions pipeline_engine_options(const BenchOptions& o, bool cuda) {
  EngineOptions eo;
  eo.models_dir = o.models_dir;
  eo.runtime = o.runtime;
  eo.runtime.provider = cuda ? Provider::kCuda : Provider::kCpu;
  for (auto& [name, s] : eo.runtime.services) s.provider.reset();
  if (o.threads > 0) eo.runtime.intra_op_threads = o.threads;
  eo.runtime.require_gpu = false;
  eo.batching.mode = EngineOptions::Batching::Mode::kAuto;
  return eo;
}

Status run_matrix(const BenchOptions& options, const models::ModelRegistry& reg,
                  const std::shared_ptr<const ModelVariants>& variants, BenchReport& rep,
                  const std::function<void(const Progress&)>& progress);
Status run_sweep_and_server(const BenchOptions& options, BenchReport& rep,
                            const std::function<void(const std::string&)>& note);

}  // namespace

const std::vector<ReferenceFigure>& reference_design() {
  // shared/REFERENCE-DESIGN.md, "Performance Improvements": "Actual performance may vary based on
  // hardware, image size, and number of faces" (it names neither hardware nor image size). Its
  // models: "Face detection (YOLOv10n model)", "Face recognition (ArcFace and AdaFace models)",
  // "Deepfake detection (Xception model)" (its Overview).
  static const std::vector<ReferenceFigure> kFigures = {
      {"Face Detection", "detect", {"yolov10n"}, {80, 120}, {15, 25}, {4, 5}, "YOLOv10n"},
      {"Face Recognition",
       "embed",
       {"arcface-r50", "adaface-ir101"},
       {150, 200},
       {20, 30},
       {5, 7},
       "ArcFace and AdaFace (the reference does not name their backbones; facelens times IResNet-50 and IR-101)"},
      {"Deepfake Detection", "deepfake", {"xception"}, {300, 400}, {60, 80}, {4, 5}, "Xception"},
  };
  return kFigures;
}

const ReferenceFigure* reference_figure_of(const std::string& arch) {
  for (const auto& f : reference_design())
    if (std::find(f.archs.begin(), f.archs.end(), arch) != f.archs.end()) return &f;
  return nullptr;
}

EngineOptions service_pipeline_engine_options(const BenchOptions& o) {
  BenchOptions like_service = o;
  if (o.server_threads > 0) like_service.threads = o.server_threads;
  const bool cpu = std::find(o.providers.begin(), o.providers.end(), "cpu") != o.providers.end();
  EngineOptions eo = pipeline_engine_options(like_service, /*cuda=*/!cpu);
  if (o.server_runtime) {  // exactly the service's runtime
    eo.runtime = *o.server_runtime;
    eo.runtime.require_gpu = false;
  }
  return eo;
}

WarmupRule warmup_rule(const BenchOptions& o) {
  WarmupRule r;
  r.min_runs = o.warmup;
  r.max_runs = o.warmup_max;
  r.window = o.warmup_window;
  r.tolerance = o.warmup_tolerance;
  r.max_seconds = o.warmup_max_s;
  return r;
}

Status time_cell(const std::function<Status()>& run, const BenchOptions& options, Row& r, Progress& p,
                 const std::function<void(const Progress&)>& progress) {
  const WarmupRule rule = warmup_rule(options);
  Status st;
  WarmupState state = warmup_state(r.warmup_ms, rule);
  int done = 0;
  while (state == WarmupState::kContinue) {
    const auto t0 = Clock::now();
    st = run();
    if (!st.ok()) return st;
    r.warmup_ms.push_back(ms_since(t0));
    state = warmup_state(r.warmup_ms, rule);
    p.event = Progress::Event::kRun;
    p.run = ++done;
    // Until the warm-up ends its length is not known: at least the minimum, one more while it goes on.
    p.n_runs = std::max(rule.min_runs, done + (state == WarmupState::kContinue ? 1 : 0)) + options.iterations;
    progress(p);
  }
  r.warmup = static_cast<int>(r.warmup_ms.size());
  r.warmup_stop = warmup_state_name(state);
  p.n_runs = r.warmup + options.iterations;
  for (int i = 0; i < options.iterations; ++i) {
    const auto t0 = Clock::now();
    st = run();
    const double ms = ms_since(t0);
    if (!st.ok()) return st;
    r.samples_ms.push_back(ms);
    p.event = Progress::Event::kRun;
    p.run = ++done;
    progress(p);
  }
  return Status::Ok();
}

void set_speedups(std::vector<Row>& rows) {
  // Cells (service, precision, batch) measured on CPU and on a second provider.
  std::map<std::tuple<std::string, std::string, int>, double> cpu_mean;
  std::set<std::tuple<std::string, std::string, int>> second;
  for (const auto& r : rows) {
    if (r.status != "ok" || r.summary.n == 0 || r.summary.mean_ms <= 0) continue;
    if (r.provider == "cpu") cpu_mean[{r.service, r.precision, r.batch}] = r.summary.mean_ms;
    else if (!r.fell_back_to_cpu) second.insert({r.service, r.precision, r.batch});
  }
  for (auto& r : rows) {
    r.speedup_vs_cpu.reset();
    if (r.status != "ok" || r.summary.n == 0 || r.fell_back_to_cpu || r.summary.mean_ms <= 0) continue;
    const std::tuple<std::string, std::string, int> key{r.service, r.precision, r.batch};
    if (!second.count(key)) continue;
    auto it = cpu_mean.find(key);
    if (it != cpu_mean.end()) r.speedup_vs_cpu = it->second / r.summary.mean_ms;
  }
}

int BenchReport::n_failed() const {
  return static_cast<int>(
      std::count_if(rows.begin(), rows.end(), [](const Row& r) { return r.status == "failed"; }) +
      std::count_if(sweep.begin(), sweep.end(), [](const SweepRow& r) { return r.status == "failed"; }));
}

int BenchReport::n_server_errors() const { return server ? server->n_errors() : 0; }

Status validate(const BenchOptions& o) {
  if (o.images.empty() && o.sweep_source.empty() && !o.reference_design)
    return invalid_argument("no image: pass --image PHOTO (one or more), --sweep PHOTO or --reference-design");
  if (o.reference_design) {
    if (o.reference_archs.empty()) return invalid_argument("--reference-design with no model: name at least one");
    for (const auto& a : o.reference_archs)
      if (!reference_figure_of(a))
        return invalid_argument("unknown reference-design model '" + a +
                                "': expected yolov10n, arcface-r50, adaface-ir101 or xception");
    if (o.reference_cache_dir.empty())
      return invalid_argument("--reference-design needs a cache folder for the converted models (--cache DIR)");
    if (o.calibration_max_images < 1) return invalid_argument("--calibration-max-images must be at least 1");
  }
  if (!o.server_url.empty() && o.sweep_source.empty())
    return invalid_argument("--server needs --sweep PHOTO: the service bench posts the sweep photos made from it");
  if (o.sweep_iterations < 1) return invalid_argument("--sweep-iterations must be at least 1");
  if (o.server_iterations < 1) return invalid_argument("--server-iterations must be at least 1");
  if (o.server_warmup < 0) return invalid_argument("--server-warmup must be 0 or more");
  if (o.server_threads < 0) return invalid_argument("--server-threads must be 0 (the benchmark's --threads) or more");
  if (o.connections < 0) return invalid_argument("--connections must be 0 (no concurrency mode) or more");
  if (o.connections > 0 && o.load_requests < o.connections)
    return invalid_argument("--load-requests must be at least --connections (one request per connection)");
  if (!o.server_url.empty()) FACELENS_RETURN_IF_ERROR(parse_http_url(o.server_url).status());
  if (o.providers.empty()) return invalid_argument("no provider: expected --providers cpu,cuda (or one of them)");
  for (const auto& p : o.providers)
    if (p != "cpu" && p != "cuda") return invalid_argument("unknown provider '" + p + "': expected cpu or cuda");
  if (o.services.empty()) return invalid_argument("no service to benchmark");
  for (const auto& s : o.services)
    if (service_tasks(s).empty())
      return invalid_argument("unknown service '" + s + "': expected " + join(known_services(), ", "));
  if (o.precisions.empty()) return invalid_argument("no precision: expected fp32, fp16 or int8");
  for (const auto& p : o.precisions)
    if (!is_known_precision(p)) return invalid_argument("unknown precision '" + p + "': expected fp32, fp16 or int8");
  if (o.batches.empty()) return invalid_argument("no batch size");
  for (int b : o.batches)
    if (b < 1 || b > 4096)
      return invalid_argument("batch size " + std::to_string(b) + " out of range: expected 1..4096");
  if (o.iterations < 1) return invalid_argument("--iterations must be at least 1");
  if (o.warmup < 0) return invalid_argument("--warmup must be 0 or more");
  if (o.warmup_max < 0) return invalid_argument("--warmup-max must be 0 or more (at most --warmup: a fixed count)");
  if (o.warmup_window < 1) return invalid_argument("--warmup-window must be at least 1");
  if (!(o.warmup_tolerance > 0)) return invalid_argument("--warmup-tolerance must be above 0 (e.g. 0.05 for 5 %)");
  if (!(o.warmup_max_s > 0)) return invalid_argument("--warmup-max-s must be above 0 seconds");
  if (o.threads < 0) return invalid_argument("--threads must be 0 (ONNX Runtime's default) or more");
  return Status::Ok();
}

StatusOr<BenchReport> run_benchmark(const BenchOptions& options) {
  FACELENS_RETURN_IF_ERROR(validate(options));
  if (options.models_dir.empty()) {
    return invalid_argument(
        "no models folder: set BenchOptions::models_dir (the tool takes --models DIR or "
        "FACELENS_MODELS)");
  }
  const auto t_start = Clock::now();
  BenchReport rep;
  rep.options = options;
  rep.options.on_progress = nullptr;
  rep.started_at = utc_timestamp();
  rep.load_start = load_average();
  rep.machine = capture_machine(options.source_dir, options.configured_commit);
  rep.models_dir = options.models_dir;
  auto progress = [&](const Progress& p) {
    if (options.on_progress) options.on_progress(p);
  };
  auto note = [&](const std::string& text) {
    Progress p;
    p.event = Progress::Event::kNote;
    p.message = text;
    progress(p);
  };

  FACELENS_ASSIGN_OR_RETURN(std::shared_ptr<models::ModelRegistry> registry,
                            models::ModelRegistry::open(rep.models_dir));
  FACELENS_ASSIGN_OR_RETURN(std::shared_ptr<runtime::Environment> env, runtime::Environment::create({}));
  std::shared_ptr<const ModelVariants> variants =
      options.variants ? options.variants : registry_variants(registry, env);

  for (const auto& name : options.providers) {
    rep.providers.push_back(probe_provider(name, *env, options.runtime));
    if (!rep.providers.back().available) note(name + " unavailable: " + rep.providers.back().reason);
  }
  if (!options.images.empty()) FACELENS_RETURN_IF_ERROR(run_matrix(options, *registry, variants, rep, progress));
  if (options.reference_design) FACELENS_RETURN_IF_ERROR(run_reference_design(options, env, rep, progress));
  set_speedups(rep.rows);
  if (!options.sweep_source.empty()) FACELENS_RETURN_IF_ERROR(run_sweep_and_server(options, rep, note));

  rep.finished_at = utc_timestamp();
  rep.duration_s = ms_since(t_start) / 1000.0;
  rep.load_end = load_average();
  return rep;
}

namespace {

Status run_matrix(const BenchOptions& options, const models::ModelRegistry& reg,
                  const std::shared_ptr<const ModelVariants>& variants, BenchReport& rep,
                  const std::function<void(const Progress&)>& progress) {
  const models::ModelRegistry* registry = &reg;
  const models::Manifest& manifest = registry->manifest();
  auto note = [&](const std::string& text) {
    Progress p;
    p.event = Progress::Event::kNote;
    p.message = text;
    progress(p);
  };
  FACELENS_ASSIGN_OR_RETURN(BenchInputs inputs, load_inputs(options, manifest, *variants, &rep.input_notes));
  for (const auto& n : rep.input_notes) note(n);

  std::vector<std::string> precisions;
  for (const auto& p : options.precisions) {
    Status s = variants->supports(p);
    if (s.ok()) precisions.push_back(p);
    else rep.skipped.push_back({"*", "*", p, s.message()});
  }

  std::set<std::pair<std::string, std::string>> recorded;  // (id, precision)
  for (const auto& service : options.services) {
    for (const auto& task : service_tasks(service)) {
      const models::ModelEntry* e = manifest.default_for(task);
      if (!e) continue;
      for (const auto& p : precisions) {
        if (!recorded.emplace(e->id, p).second) continue;
        ModelRecord m;
        m.task = task;
        m.id = e->id;
        m.file = registry->path_of(*e);
        m.precision = p;
        auto sha = variants->sha256(*e, p);
        m.sha256 = sha.ok() ? *sha : "";
        m.sha256_matches_manifest = sha.ok() && *sha == e->sha256;
        m.input_shape = shape_string(e->input.shape);
        m.dynamic_batch = !e->input.shape.empty() && e->input.shape[0] < 0;
        rep.models.push_back(m);
      }
    }
  }

  int n_available = 0;
  for (const auto& p : rep.providers) n_available += p.available ? 1 : 0;
  const int n_steps =
      n_available * static_cast<int>(options.services.size() * precisions.size() * options.batches.size());
  int step = 0;
  std::set<std::string> skipped_services;

  for (const auto& prov : rep.providers) {
    if (!prov.available) continue;
    const bool cuda = prov.name == "cuda";
    const int cuda_device = prov.device_ids.empty() ? 0 : prov.device_ids.front();
    for (const auto& service : options.services) {
      for (const auto& precision : precisions) {
        ServiceContext ctx;
        ctx.manifest = &manifest;
        ctx.variants = variants.get();
        ctx.precision = precision;
        ctx.inputs = &inputs;
        ctx.session_options = [&](const std::string& task) {
          runtime::SessionOptions so;
          so.intra_op_threads = options.threads > 0 ? options.threads : options.runtime.intra_op_threads;
          so.inter_op_threads = options.runtime.inter_op_threads;
          so.allow_spinning = options.runtime.allow_spinning;
          so.cuda_ep_path = options.runtime.cuda_ep_path;
          so.service = options.runtime.resolve(task);
          so.service.provider = cuda ? Provider::kCuda : Provider::kCpu;
          so.require_gpu = false;  // a fallback is measured and marked, not an error
          return so;
        };
        ctx.engine = pipeline_engine_options(options, cuda);
        release_free_heap();  // what earlier services freed must not hide this one's memory
        std::optional<uint64_t> rss_before = rss_bytes();
        DeviceMemory dev_before;
        if (cuda) dev_before = device_memory_in_use(cuda_device);
        auto made = make_service_bench(service, ctx);
        if (!made.ok()) {
          const StatusCode code = made.status().code();
          if (code == StatusCode::kUnavailable || code == StatusCode::kFailedPrecondition) {
            if (skipped_services.insert(service).second) {
              rep.skipped.push_back({service, "*", "*", made.status().message()});
              note(service + " skipped: " + made.status().message());
            }
          } else {
            for (int b : options.batches) {
              Row r;
              r.service = service;
              r.provider = prov.name;
              r.precision = precision;
              r.batch = b;
              r.status = "failed";
              r.note = "could not open the service: " + made.status().to_string();
              rep.rows.push_back(r);
            }
            note(service + " " + prov.name + " failed: " + made.status().to_string());
          }
          step += static_cast<int>(options.batches.size());
          continue;
        }
        std::unique_ptr<ServiceBench> svc = std::move(*made);
        std::optional<uint64_t> rss_loaded = rss_bytes();
        DeviceMemory dev_loaded;
        if (cuda) dev_loaded = device_memory_in_use(cuda_device);

        // Where the sessions really run.
        std::set<std::string> used;
        std::string fallback_reason;
        std::vector<std::string> model_ids;
        const std::vector<SessionFacts> sessions = svc->sessions();
        for (const auto& s : sessions) {
          used.insert(s.provider);
          if (cuda && s.provider != runtime::kCudaEpName && fallback_reason.empty())
            fallback_reason =
                s.fallback_reason.empty() ? "ONNX Runtime placed the session on " + s.provider : s.fallback_reason;
        }
        for (const auto& s : sessions) {
          std::string id = s.model_id.empty() ? std::filesystem::path(s.model_path).filename().string() : s.model_id;
          if (s.model_id.empty())
            for (const auto& e : manifest.models)
              if (registry->path_of(e) == s.model_path) id = e.id;
          model_ids.push_back(id);
        }
        const bool fell_back = cuda && !fallback_reason.empty();
        std::vector<EpPlacement> placement;
        for (const auto& s : sessions) runtime::merge_placement(&placement, s.placement);

        for (int batch : options.batches) {
          ++step;
          Row r;
          r.service = service;
          r.provider = prov.name;
          r.precision = precision;
          r.batch = batch;
          r.status = "ok";
          r.provider_used = join(std::vector<std::string>(used.begin(), used.end()), "+");
          r.fell_back_to_cpu = fell_back;
          r.fallback_reason = fallback_reason;
          r.placement = placement;
          r.device = device_name(rep.machine, prov, !cuda || fell_back);
          r.batched = svc->batched();
          r.calls_per_run = svc->calls_per_run(batch);
          r.item = svc->item();
          r.items_per_run = batch;
          r.models = model_ids;
          Progress p;
          p.step = step;
          p.n_steps = n_steps;
          p.n_runs = options.warmup + options.iterations;
          p.label = service + " " + prov.name + " " + precision + " batch " + std::to_string(batch);
          p.event = Progress::Event::kStep;
          progress(p);
          Status st = svc->prepare(batch);
          const bool peak_reset = reset_peak_rss();
          if (st.ok()) st = time_cell([&] { return svc->run(); }, options, r, p, progress);
          r.faces_per_run = svc->faces_last_run();
          if (!st.ok()) {
            r.status = "failed";
            r.note = st.to_string();
          }
          r.summary = summarize(r.samples_ms, batch);
          r.memory.rss_load_delta_bytes = delta(rss_loaded, rss_before);
          r.memory.rss_run_delta_bytes = delta(rss_bytes(), rss_loaded);
          if (peak_reset) r.memory.rss_peak_bytes = peak_rss_bytes();
          if (cuda) {
            DeviceMemory after = device_memory_in_use(cuda_device);
            r.memory.device_bytes = after.bytes;
            r.memory.device_scope = after.scope;
            r.memory.device_load_delta_bytes = delta(dev_loaded.bytes, dev_before.bytes);
            if (!after.note.empty()) r.memory.note = "GPU memory: " + after.note;
          } else {
            r.memory.note = "CPU run: no device memory";
          }
          if (!peak_reset)
            r.memory.note += std::string(r.memory.note.empty() ? "" : "; ") +
                             "peak RSS not measured (/proc/self/clear_refs not writable)";
          if (fell_back) r.note = "asked for CUDA, ran on " + r.provider_used + ": " + fallback_reason;
          p.event = Progress::Event::kStepDone;
          char line[256];
          std::snprintf(line, sizeof line, "%s: mean %.3f ms, p95 %.3f ms, %.1f %ss/s%s", p.label.c_str(),
                        r.summary.mean_ms, r.summary.p95_ms, r.summary.throughput_items_per_s, r.item.c_str(),
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

// The sweep photos made from options.sweep_source, the pipeline sweep on them, then the service
// bench on the photos it sends (with the pipeline's p50 on each).
Status run_sweep_and_server(const BenchOptions& options, BenchReport& rep,
                            const std::function<void(const std::string&)>& note) {
  if (options.sweep_photos_dir.empty())
    return invalid_argument("no folder for the sweep photos: set BenchOptions::sweep_photos_dir");
  FACELENS_ASSIGN_OR_RETURN(auto photos, make_sweep_photos(options.sweep_source, options.sweep_photos_dir));
  note("sweep: " + std::to_string(photos.size()) + " photos made from " + options.sweep_source + " in " +
       options.sweep_photos_dir);
  EngineOptions eo;
  eo.models_dir = options.models_dir;
  eo.runtime = options.runtime;
  const bool cpu = std::find(options.providers.begin(), options.providers.end(), "cpu") != options.providers.end();
  eo.runtime.provider = cpu ? Provider::kCpu : Provider::kCuda;
  if (options.threads > 0) eo.runtime.intra_op_threads = options.threads;
  rep.sweep_provider = cpu ? "cpu" : "cuda";
  rep.sweep_threads = eo.runtime.intra_op_threads;
  FACELENS_ASSIGN_OR_RETURN(auto engine, Engine::create(eo));
  FACELENS_ASSIGN_OR_RETURN(rep.sweep,
                            run_pipeline_sweep(*engine, photos, options.warmup, options.sweep_iterations, note));
  if (options.server_url.empty()) return Status::Ok();
  std::vector<ServerPhoto> sent;
  for (const auto& row : rep.sweep) {
    if (!row.photo.sent_to_server) continue;
    ServerPhoto p;
    p.name = row.photo.name;
    p.megapixels = row.photo.megapixels;
    FACELENS_ASSIGN_OR_RETURN(p.bytes, read_file_bytes(row.photo.path, 1LL << 30));
    if (row.status == "ok") p.pipeline_p50_ms = row.pipeline.p50_ms;
    sent.push_back(std::move(p));
  }
  ServerBenchOptions so;
  so.url = options.server_url;
  so.api_key = options.api_key;
  so.warmup = options.server_warmup;
  so.iterations = options.server_iterations;
  so.connections = options.connections;
  so.load_requests = options.load_requests;
  so.ready_timeout_s = options.server_ready_timeout_s;
  // The in-process pipeline the overhead is measured against: the request's own call
  // (Engine::analyze_bytes with /v1/embed's options) on an engine set up like the service's, with
  // the service's provider, intra-op threads and spinning (`facelens serve` runs one thread per
  // session by default, the sweep ONNX Runtime's default), so that the difference is the HTTP
  // layer's alone.
  const EngineOptions service_eo = service_pipeline_engine_options(options);
  FACELENS_ASSIGN_OR_RETURN(std::shared_ptr<const Engine> service_engine, Engine::create(service_eo));
  AnalyzeOptions embed;
  embed.embedding = true;
  FACELENS_RETURN_IF_ERROR(service_engine->warm_up(embed));
  so.pipeline = [service_engine, embed](std::span<const uint8_t> bytes) {
    return service_engine->analyze_bytes(bytes, embed).status();
  };
  FACELENS_ASSIGN_OR_RETURN(rep.server, run_server_bench(so, sent, note));
  rep.server->pipeline_threads = service_eo.runtime.intra_op_threads;
  rep.server->pipeline_provider = service_eo.runtime.provider;
  rep.server->pipeline_allow_spinning = service_eo.runtime.allow_spinning;
  return Status::Ok();
}

}  // namespace

}  // namespace facelens::bench

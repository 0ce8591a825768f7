#include "facelens/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>

#include "align/aligner.h"
#include "attributes/attributes.h"
#include "convert/auto_precision.h"
#include "core/sha256.h"
#include "deepfake/deepfake.h"
#include "detect/detector.h"
#include "facelens/synth.h"
#include "image/tensor.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "models/binding.h"
#include "models/family.h"
#include "models/registry.h"
#include "recognize/recognizer.h"
#include "runtime/batcher.h"
#include "runtime/environment.h"
#include "runtime/model_cache.h"
#include "runtime/providers.h"
#include "services/factory.h"

namespace facelens {

namespace {

// A service created on first use and shared afterwards, through the engine's model cache when
// bound to it (idle unload, memory budget, reload on next use), else kept for the engine's life.
// A failed load is not cached: the next call tries again (the file may have been fixed).
template <typename T>
class Lazy {
 public:
  void bind(runtime::ModelCache* cache, std::string key, uint64_t bytes) {
    cache_ = cache;
    key_ = std::move(key);
    bytes_ = bytes;
  }
  template <typename Make>
  StatusOr<std::shared_ptr<const T>> get(Make make) const {
    if (cache_) return cache_->get<T>(key_, bytes_, make);
    std::lock_guard<std::mutex> lock(mu_);
    if (value_) return value_;
    auto made = make();
    if (made.ok()) value_ = *made;
    return made;
  }
  std::shared_ptr<const T> peek() const {
    if (cache_) return cache_->peek<T>(key_);
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }

 private:
  runtime::ModelCache* cache_ = nullptr;
  std::string key_;
  uint64_t bytes_ = 0;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const T> value_;
};

uint64_t file_bytes(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

// One service of the engine: the entries of its models (several only for fused liveness) and the
// service built from them on first use.
struct Slot {
  std::vector<const models::ModelEntry*> entries;
  std::string cache_key;  // the task's name; "attribute:<id>" for each attribute model
  Lazy<models::ModelService> service;
};

// Why a task has no slot, for the error of a call that needs it.
constexpr std::string_view kNotConfigured[models::kTaskCount] = {
    "no detector configured (manifest defaults.detector)",
    "no landmark model configured (manifest defaults.landmarks)",
    "no recognizer configured (manifest defaults.recognizer)",
    "no liveness model configured (manifest defaults.liveness)",
    "no deepfake model configured (--deepfake FILE or defaults.deepfake)",
    "no attribute model configured (manifest entries with task \"attribute\")",
};

constexpr std::array<models::Task, models::kTaskCount> kTasks = {models::Task::kDetector,   models::Task::kLandmarks,
                                                                 models::Task::kRecognizer, models::Task::kLiveness,
                                                                 models::Task::kDeepfake,   models::Task::kAttribute};

size_t index(models::Task t) { return static_cast<size_t>(t); }

// A synthetic model (facelens/synth.h: an architecture with random weights) would give meaningless
// faces and embeddings: the Engine, through which every answer is computed, refuses it here where
// each of its services opens its model. `facelens bench` and `models convert` open models without
// the Engine and accept it.
Status refuse_synthetic(const models::ModelEntry& e, const runtime::Session& s) {
  auto it = s.metadata().find(kSyntheticMetadataKey);
  if (it == s.metadata().end() || it->second != "true") return Status::Ok();
  auto arch = s.metadata().find(kSyntheticArchMetadataKey);
  return failed_precondition(std::string(models::name(e.task)) + " model '" + s.model_path() + "' is a synthetic " +
                             (arch == s.metadata().end() ? std::string() : arch->second + " ") +
                             "benchmark model with random weights (made by `facelens models synth`; ONNX metadata " +
                             kSyntheticMetadataKey +
                             " = true): its answers would be meaningless. Use it with `facelens bench` or `facelens "
                             "models convert` only, and give a trained model for " +
                             std::string(models::name(e.task)) + " answers");
}

// Photos whose side is over kReducedAbove x the detector's resized size (on either axis) are
// analysed on area-averaged copies (Engine::Impl::analyze_reduced): below it each model reads the
// photo itself with a bilinear resize, as the default models' package does (and
// pipeline_reference.json checks: its photos shrink up to 9.7x into the detector), but a bilinear
// resize that shrinks by more than 2x skips pixels, so that on larger photos the answers would
// hang on the photo's resolution and no downscaled decode could give them.
constexpr double kReducedAbove = 10.0;
// A reduced copy gives each model kPixelsPerInputPixel source pixels per input pixel (its
// bilinear resize then reads every pixel of the copy): the detector's copy is that many times its
// resized size, the faces' copy is the smallest that gives every face model's crop that many.
constexpr int kPixelsPerInputPixel = 2;
// The faces' copy of a reduced photo covers, around each face, at least this many times the face's
// side (the aligned face spans about one side; the rest is margin), or its widest model crop.
constexpr double kFaceRegionSides = 2.5;

}  // namespace

struct Engine::Impl {
  explicit Impl(const EngineOptions& o)
      : options(o), cache({o.runtime.idle_unload_seconds, o.runtime.memory_budget_bytes}) {}
  EngineOptions options;
  mutable runtime::ModelCache cache;
  std::string models_dir;
  std::shared_ptr<models::ModelRegistry> registry;
  std::shared_ptr<const runtime::Environment> env;
  runtime::SessionOptions session_options;
  services::ServiceOptions service_options;
  // The services by task, in the order of models::Task: none, one, or (attributes) one per model.
  std::array<std::vector<std::unique_ptr<Slot>>, models::kTaskCount> slots;
  // Entries of model files given outside the manifest (EngineOptions::*_file); stable addresses.
  std::deque<models::ModelEntry> file_entries;

  const std::vector<std::unique_ptr<Slot>>& slots_of(models::Task t) const { return slots[index(t)]; }
  // The entry of the task's (first) model, or nullptr when the task has none.
  const models::ModelEntry* entry_of(models::Task t) const {
    const auto& s = slots_of(t);
    return s.empty() ? nullptr : s.front()->entries.front();
  }
  // Sets the task's one slot to `entries` (none: the task has no service).
  void set_entries(models::Task t, std::vector<const models::ModelEntry*> entries) {
    auto& s = slots[index(t)];
    s.clear();
    if (entries.empty()) return;
    s.push_back(std::make_unique<Slot>());
    s.back()->entries = std::move(entries);
  }
  void set_entry(models::Task t, const models::ModelEntry* e) {
    set_entries(t, e ? std::vector<const models::ModelEntry*>{e} : std::vector<const models::ModelEntry*>{});
  }

  // The slot's service, built on first use (its models' sessions, then services::make_service).
  StatusOr<std::shared_ptr<const models::ModelService>> get(const Slot& slot) const {
    return slot.service.get([&]() -> StatusOr<std::shared_ptr<const models::ModelService>> {
      std::vector<services::ServiceModel> parts;
      for (const auto* e : slot.entries) {
        FACELENS_ASSIGN_OR_RETURN(auto s, open(*e));
        parts.push_back({e, std::move(s)});
      }
      return services::make_service(parts, service_options);
    });
  }
  // The service of task T (its i-th slot), typed; FailedPrecondition when the task has none.
  template <models::Task T>
  StatusOr<std::shared_ptr<const services::ServiceOf<T>>> get(size_t i = 0) const {
    const auto& s = slots_of(T);
    if (i >= s.size()) return failed_precondition(std::string(kNotConfigured[index(T)]));
    FACELENS_ASSIGN_OR_RETURN(auto any, get(*s[i]));
    return services::service_as<T>(std::move(any));
  }

  bool from_file(const models::ModelEntry& e) const {
    return std::any_of(file_entries.begin(), file_entries.end(), [&](const auto& f) { return &f == &e; });
  }
  // The entry for a model file given for `task` (see EngineOptions::detector_file).
  StatusOr<const models::ModelEntry*> add_file(const std::string& path, const std::string& family, models::Task task,
                                               const std::string& flag) {
    std::vector<models::Manifest> known = models::load_known_manifests(models_dir);
    if (!options.known_models_dir.empty() && options.known_models_dir != models_dir) {
      for (auto& m : models::load_known_manifests(options.known_models_dir)) known.push_back(std::move(m));
    }
    models::FileModelOptions fo;
    if (!family.empty()) {
      auto f = models::parse_file_family(family);
      if (!f.ok()) return f.status().with_context(flag + "-family " + family);
      fo.family = *f;
    }
    fo.task = task;
    fo.manifests.push_back(&registry->manifest());
    for (const auto& m : known) fo.manifests.push_back(&m);
    auto fm = models::entry_for_file(path, fo);
    if (!fm.ok()) return fm.status().with_context(flag + " " + path);
    fm->entry.file = std::filesystem::absolute(path).string();
    spdlog::info("{} '{}': family {} ({})", models::name(task), path, models::name(fm->entry.family),
                 fm->how == "manifest" ? "manifest entry " + fm->entry.id + " of " + fm->manifest_path : fm->how);
    file_entries.push_back(std::move(fm->entry));
    return &file_entries.back();
  }

  // The session for a manifest entry, placed by the runtime options of its service (the entry's
  // task). Says at WARNING when CUDA was asked for (or found but failing) and the CPU is used.
  StatusOr<std::shared_ptr<const runtime::Session>> open(const models::ModelEntry& e) const {
    runtime::SessionOptions so = session_options;
    so.service = options.runtime.resolve(std::string(models::name(e.task)));
    // The dynamic batcher feeds the recognizer every batch size up to max_batch: on CUDA each is
    // run once at creation (cuDNN's search per shape), not by the first request of that size.
    if (e.task == models::Task::kRecognizer && options.batching.mode != EngineOptions::Batching::Mode::kOff)
      for (int b = 2; b <= options.batching.max_batch; ++b) so.warmup_batches.push_back(b);
    // A model file given outside the manifest has no pinned sha256 to check.
    FACELENS_ASSIGN_OR_RETURN(auto session, open_at_precision(e, so));
    log_placement(e.task, e.id, *session, so.service.provider);
    return session;
  }
  // The session of `e` at the precision EngineOptions::precision asks for its service: the file as
  // shipped, or an FP16/INT8 variant made or found in the cache (convert/auto_precision.h).
  StatusOr<std::shared_ptr<const runtime::Session>> open_at_precision(const models::ModelEntry& e,
                                                                      const runtime::SessionOptions& so) const;
  mutable std::mutex precision_mu;
  mutable std::map<const models::ModelEntry*, optimize::PrecisionChoice> precision_choices;
  // The recognizer's input through the dynamic batcher when batching is on (faces of concurrent
  // calls merged into one recognizer call), else directly.
  struct Embedded {
    std::vector<float> embedding;
    float quality = 0;
    bool has_quality = false;
  };
  mutable std::mutex batcher_mu;
  mutable std::unique_ptr<runtime::DynamicBatcher<Image, Embedded>> batcher;
  StatusOr<std::vector<std::vector<float>>> embed(const recognize::Recognizer& rec, std::vector<Image> aligned,
                                                  std::vector<float>* quality) const {
    using Mode = EngineOptions::Batching::Mode;
    const bool merge = options.batching.mode == Mode::kOn ||
                       (options.batching.mode == Mode::kAuto && rec.provider() == runtime::kCudaEpName);
    if (!merge) return rec.embed(aligned, quality);
    {
      std::lock_guard<std::mutex> lock(batcher_mu);
      if (!batcher) {
        batcher = std::make_unique<runtime::DynamicBatcher<Image, Embedded>>(
            [this](std::vector<Image>& items) -> StatusOr<std::vector<Embedded>> {
              FACELENS_ASSIGN_OR_RETURN(auto r, get<models::Task::kRecognizer>());
              std::vector<float> q;
              FACELENS_ASSIGN_OR_RETURN(auto e, r->embed(items, &q));
              std::vector<Embedded> out(e.size());
              for (size_t i = 0; i < e.size(); ++i) {
                out[i].embedding = std::move(e[i]);
                out[i].has_quality = i < q.size();
                if (out[i].has_quality) out[i].quality = q[i];
              }
              return out;
            },
            options.batching.max_batch,
            std::chrono::microseconds(static_cast<int64_t>(options.batching.max_wait_ms * 1000)));
      }
    }
    FACELENS_ASSIGN_OR_RETURN(auto done, batcher->submit(std::move(aligned)));
    std::vector<std::vector<float>> out;
    out.reserve(done.size());
    for (auto& d : done) {
      out.push_back(std::move(d.embedding));
      if (d.has_quality) quality->push_back(d.quality);
    }
    return out;
  }
  // Landmarks, embeddings, liveness, deepfake and attributes of the detected faces on `image`
  // (detections in its pixels); the result in its pixels.
  StatusOr<ImageResult> analyze_faces(const Image& image, const detect::Detector& detector,
                                      const std::vector<detect::Detection>& detections,
                                      const AnalyzeOptions& what) const;
  // The scale (copy pixels per photo pixel, at most 1) of the smallest copy of the photo that gives
  // every face model `what` runs kPixelsPerInputPixel pixels per input pixel from every face
  // (detections in photo pixels); 0 when no face model runs.
  double face_scale(const detect::Detector& detector, const std::vector<detect::Detection>& detections,
                    const AnalyzeOptions& what, double* widest_crop) const;
  // Whether a width x height photo is analysed on area-averaged copies (kReducedAbove).
  bool reduces(const detect::Detector& detector, int width, int height) const;
  // The photo (width x height) at a scale of at least the one asked (a copy and its scale:
  // copy pixels per photo pixel, 1 = the photo itself); the pointer stays valid for the call.
  using SourceAt = std::function<StatusOr<std::pair<const Image*, double>>(double scale)>;
  // The analysis of a photo too large to read directly: the detector on an area-averaged copy of
  // kPixelsPerInputPixel x its resized size, the face models on the smallest copy that gives them
  // kPixelsPerInputPixel pixels per input pixel (face_scale); each copy area-averaged from
  // `source_at` of its scale. Coordinates in the photo's pixels.
  StatusOr<ImageResult> analyze_reduced(const detect::Detector& detector, int width, int height,
                                        const AnalyzeOptions& what, const SourceAt& source_at) const;
  std::vector<uint64_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(batcher_mu);
    return batcher ? batcher->batch_sizes() : std::vector<uint64_t>{};
  }

  static void log_placement(models::Task task, const std::string& id, const runtime::Session& s, Provider requested) {
    const std::string_view service = models::name(task);
    if (s.fallback_reason().empty()) {
      spdlog::info("{} '{}' runs on {}", service, id, s.provider());
      return;
    }
    // With provider auto and a core built without CUDA or no CUDA provider library at all, the
    // CPU is the expected place.
    const bool expected = requested == Provider::kAuto && s.cuda_absent();
    if (expected) spdlog::info("{} '{}' runs on {}: {}", service, id, s.provider(), s.fallback_reason());
    else
      spdlog::warn("{} '{}' runs on {} because CUDA cannot be used: {}", service, id, s.provider(),
                   s.fallback_reason());
  }
};

StatusOr<std::shared_ptr<const runtime::Session>> Engine::Impl::open_at_precision(
    const models::ModelEntry& e, const runtime::SessionOptions& so) const {
  // A model file given outside the manifest has no pinned sha256 to check.
  auto open_original = [&]() -> StatusOr<std::shared_ptr<const runtime::Session>> {
    FACELENS_ASSIGN_OR_RETURN(auto s, from_file(e) ? models::open_session_unverified(e.file, e, env, so)
                                                   : models::open_session(*registry, e, env, so));
    FACELENS_RETURN_IF_ERROR(refuse_synthetic(e, *s));
    return s;
  };
  const std::string task(models::name(e.task));
  auto asked = options.precision.find(task);
  if (asked == options.precision.end()) asked = options.precision.find("*");
  const std::string precision = asked == options.precision.end() ? "fp32" : asked->second;
  std::optional<models::Precision> wanted;  // none: "auto"
  if (precision != "auto") {
    auto p = models::parse_precision(precision);
    if (!p.ok()) {
      return invalid_argument("precision '" + precision + "' for model '" + e.id +
                              "' is not one of fp32, fp16, int8, auto: fix EngineOptions::precision ([runtime] or "
                              "[services." +
                              task + "] precision)");
    }
    wanted = *p;
  }
  if (wanted == models::Precision::kFp32) return open_original();
  // The provider decides "auto": open the original first to see where it really runs.
  FACELENS_ASSIGN_OR_RETURN(auto session, open_original());
  optimize::PrecisionRequest r;
  r.precision = wanted;
  r.provider = session->provider() == runtime::kCudaEpName ? Provider::kCuda : Provider::kCpu;
  r.entry = e;
  r.model_path = from_file(e) ? e.file : registry->path_of(e);
  if (from_file(e)) {
    FACELENS_ASSIGN_OR_RETURN(r.model_sha256, core::sha256_file(e.file));
  } else {
    r.model_sha256 = registry->check(e).actual_sha256;
  }
  const models::ModelEntry* det = entry_of(models::Task::kDetector);
  const models::ModelEntry* lm = entry_of(models::Task::kLandmarks);
  optimize::Reference ref{*det, from_file(*det) ? det->file : registry->path_of(*det), std::nullopt, ""};
  if (lm) {
    ref.landmarks = *lm;
    ref.landmarks_path = from_file(*lm) ? lm->file : registry->path_of(*lm);
  }
  r.reference = ref;
  r.calibration_dir = options.calibration_dir;
  r.cache_dir = options.precision_cache_dir;
  r.threads = options.runtime.intra_op_threads;
  auto choice = optimize::resolve_precision(r, env);
  if (!choice.ok()) return choice.status().with_context(task + " '" + e.id + "' at precision " + precision);
  spdlog::info("{} '{}': {} ({}): {}", task, e.id, models::name(choice->precision), choice->source, choice->reason);
  {
    std::lock_guard<std::mutex> lock(precision_mu);
    precision_choices[&e] = *choice;
  }
  if (choice->path == r.model_path) return session;
  return models::open_session_unverified(choice->path, e, env, so);
}

StatusOr<EngineOptions::Batching::Mode> parse_batching_mode(const std::string& name) {
  using Mode = EngineOptions::Batching::Mode;
  if (name == "auto") return Mode::kAuto;
  if (name == "on") return Mode::kOn;
  if (name == "off") return Mode::kOff;
  return invalid_argument("batching mode '" + name + "' is not one of auto, on or off");
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

static StatusOr<const models::ModelEntry*> pick(const models::Manifest& m, const std::string& service,
                                                const std::string& id, bool required) {
  if (!id.empty()) {
    const models::ModelEntry* e = m.find(id);
    if (!e) return not_found("no model '" + id + "' in " + m.path + " for the " + service);
    return e;
  }
  const models::ModelEntry* e = m.default_for(service);
  if (!e && required) return not_found(m.path + " names no default " + service + " (defaults." + service + ")");
  return e;
}

StatusOr<std::unique_ptr<Engine>> Engine::create(const EngineOptions& options) {
  using models::Task;
  if (options.models_dir.empty()) {
    return invalid_argument(
        "no models folder given: set EngineOptions::models_dir to the folder with manifest.json "
        "(the tools take --models DIR or FACELENS_MODELS)");
  }
  auto impl = std::make_unique<Impl>(options);
  impl->models_dir = options.models_dir;
  FACELENS_ASSIGN_OR_RETURN(impl->registry, models::ModelRegistry::open(impl->models_dir, options.manifest));
  FACELENS_ASSIGN_OR_RETURN(impl->env, runtime::Environment::create({}));
  impl->session_options.intra_op_threads = options.runtime.intra_op_threads;
  impl->session_options.inter_op_threads = options.runtime.inter_op_threads;
  impl->session_options.allow_spinning = options.runtime.allow_spinning;
  impl->session_options.require_gpu = options.runtime.require_gpu;
  impl->session_options.cuda_ep_path = options.runtime.cuda_ep_path;
  impl->service_options.detector.score_threshold = options.detect_threshold;
  impl->service_options.detector.nms_iou = options.nms_iou;
  impl->service_options.detector.max_faces = options.max_faces;
  impl->service_options.detector.tiling = options.detect_tiling;
  impl->service_options.deepfake.margin = options.deepfake_margin;
  const auto& m = impl->registry->manifest();
  FACELENS_ASSIGN_OR_RETURN(auto detector, pick(m, "detector", options.detector, options.detector_file.empty()));
  impl->set_entry(Task::kDetector, detector);
  FACELENS_ASSIGN_OR_RETURN(auto landmarks, pick(m, "landmarks", options.landmarks, false));
  impl->set_entry(Task::kLandmarks, landmarks);
  FACELENS_ASSIGN_OR_RETURN(auto recognizer, pick(m, "recognizer", options.recognizer, false));
  impl->set_entry(Task::kRecognizer, recognizer);
  FACELENS_ASSIGN_OR_RETURN(auto liveness_entry, pick(m, "liveness", options.liveness, false));
  std::vector<const models::ModelEntry*> liveness;
  if (liveness_entry) {
    liveness.push_back(liveness_entry);
    // "fuse_with": the ids of the models whose scores the entry's authors fuse with its own.
    std::string rest = liveness_entry->string("fuse_with", "");
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string id = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      FACELENS_ASSIGN_OR_RETURN(auto e, pick(m, "liveness", id, true));
      liveness.push_back(e);
    }
  }
  FACELENS_ASSIGN_OR_RETURN(auto deepfake, pick(m, "deepfake", options.deepfake, false));
  if (!options.detector_file.empty()) {
    FACELENS_ASSIGN_OR_RETURN(
        detector, impl->add_file(options.detector_file, options.detector_family, Task::kDetector, "--detector"));
    impl->set_entry(Task::kDetector, detector);
  }
  if (!options.recognizer_file.empty()) {
    FACELENS_ASSIGN_OR_RETURN(recognizer, impl->add_file(options.recognizer_file, options.recognizer_family,
                                                         Task::kRecognizer, "--recognizer"));
    impl->set_entry(Task::kRecognizer, recognizer);
  }
  if (!options.liveness_files.empty()) {
    liveness.clear();
    for (const auto& f : options.liveness_files) {
      FACELENS_ASSIGN_OR_RETURN(auto e, impl->add_file(f, "", Task::kLiveness, "--liveness"));
      liveness.push_back(e);
    }
  }
  impl->set_entries(Task::kLiveness, std::move(liveness));
  if (!options.deepfake_file.empty()) {
    FACELENS_ASSIGN_OR_RETURN(
        deepfake, impl->add_file(options.deepfake_file, options.deepfake_family, Task::kDeepfake, "--deepfake"));
  }
  impl->set_entry(Task::kDeepfake, deepfake);
  // Every attribute model is a service of its own.
  std::vector<const models::ModelEntry*> attributes;
  if (options.attributes.empty()) {
    for (const auto& e : m.models)
      if (e.task == Task::kAttribute) attributes.push_back(&e);
  } else {
    for (const auto& id : options.attributes) {
      FACELENS_ASSIGN_OR_RETURN(auto e, pick(m, "attribute", id, true));
      attributes.push_back(e);
    }
  }
  for (const auto* e : attributes) {
    impl->slots[index(Task::kAttribute)].push_back(std::make_unique<Slot>());
    impl->slots[index(Task::kAttribute)].back()->entries = {e};
  }
  // Every service goes through the model cache, its memory estimated by its files' size.
  for (auto& task_slots : impl->slots) {
    for (auto& slot : task_slots) {
      const models::ModelEntry& first = *slot->entries.front();
      slot->cache_key =
          first.task == Task::kAttribute ? "attribute:" + first.id : std::string(models::name(first.task));
      uint64_t bytes = 0;
      for (const auto* e : slot->entries) bytes += file_bytes(impl->registry->path_of(*e));
      slot->service.bind(&impl->cache, slot->cache_key, bytes);
    }
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const std::string& Engine::models_dir() const { return impl_->models_dir; }

const DecodeOptions& Engine::decode_options() const { return impl_->options.decode; }

float Engine::match_threshold() const {
  if (impl_->options.match_threshold >= 0) return impl_->options.match_threshold;
  const models::ModelEntry* rec = impl_->entry_of(models::Task::kRecognizer);
  return rec ? static_cast<float>(rec->match_threshold()) : models::kFallbackMatchThreshold;
}

std::string Engine::recognizer_model_id() const {
  const models::ModelEntry* rec = impl_->entry_of(models::Task::kRecognizer);
  return rec ? rec->id : std::string();
}

StatusOr<Image> Engine::align_face(const Image& image, const Face& face) const {
  if (!face.landmarks) return invalid_argument("align_face needs the face's landmarks (AnalyzeOptions::landmarks)");
  FACELENS_ASSIGN_OR_RETURN(auto rec, impl_->get<models::Task::kRecognizer>());
  return align::align_face(image, *face.landmarks, rec->input_size());
}

StatusOr<std::vector<std::vector<float>>> Engine::embed_aligned(std::span<const Image> aligned) const {
  FACELENS_ASSIGN_OR_RETURN(auto rec, impl_->get<models::Task::kRecognizer>());
  const int n = rec->input_size();
  for (const auto& a : aligned)
    if (a.empty()) return invalid_argument("embed_aligned: empty face crop");
  const bool fit =
      std::all_of(aligned.begin(), aligned.end(), [n](const Image& a) { return a.width == n && a.height == n; });
  if (fit) return rec->embed(aligned);
  std::vector<Image> resized;
  resized.reserve(aligned.size());
  for (const auto& a : aligned) resized.push_back(a.width == n && a.height == n ? a : image::resize(a, n, n));
  return rec->embed(resized);
}

Status Engine::warm_up(const AnalyzeOptions& what) const {
  using models::Task;
  FACELENS_ASSIGN_OR_RETURN(auto detector, impl_->get<Task::kDetector>());
  // Whether `what` needs the task's service, and whether a missing one is an error (analyze()
  // skips the optional ones when they are not configured).
  auto wanted = [&](Task t) {
    switch (t) {
      // A detector that gives five keypoints makes the landmark model unnecessary.
      case Task::kLandmarks: return (what.landmarks || what.embedding) && !detector->has_keypoints();
      case Task::kRecognizer: return what.embedding;
      case Task::kLiveness: return what.liveness;
      case Task::kDeepfake: return what.deepfake;
      case Task::kAttribute: return what.attributes;
      case Task::kDetector: return false;  // loaded above
    }
    return false;
  };
  auto optional = [](Task t) { return t == Task::kDeepfake || t == Task::kAttribute; };
  for (Task t : kTasks) {
    if (!wanted(t)) continue;
    const auto& slots = impl_->slots_of(t);
    if (slots.empty() && !optional(t)) return failed_precondition(std::string(kNotConfigured[index(t)]));
    for (const auto& slot : slots) FACELENS_RETURN_IF_ERROR(impl_->get(*slot).status());
  }
  return Status::Ok();
}

StatusOr<ImageResult> Engine::analyze(const Image& image, const AnalyzeOptions& what) const {
  if (image.empty()) return invalid_argument("empty image");
  FACELENS_ASSIGN_OR_RETURN(auto detector, impl_->get<models::Task::kDetector>());
  if (impl_->reduces(*detector, image.width, image.height)) {
    // Every copy is area-averaged from the image itself.
    return impl_->analyze_reduced(
        *detector, image.width, image.height, what,
        [&](double) -> StatusOr<std::pair<const Image*, double>> { return std::make_pair(&image, 1.0); });
  }
  FACELENS_ASSIGN_OR_RETURN(auto detections, detector->detect(image));
  return impl_->analyze_faces(image, *detector, detections, what);
}

StatusOr<ImageResult> Engine::Impl::analyze_faces(const Image& image, const detect::Detector& detector,
                                                  const std::vector<detect::Detection>& detections,
                                                  const AnalyzeOptions& what) const {
  // Each face reports the detected box; the crops of landmarks and liveness take the detector's
  // crop_box (the square box of the default detector, as its package hands on). The attribute
  // models keep the detected box: their crops (manifest notes) were checked on it, and the
  // enrolment pose check measured with it (tests/model/test_gallery.cpp).
  ImageResult result;
  result.width = image.width;
  result.height = image.height;
  result.faces.reserve(detections.size());
  for (const auto& d : detections) {
    Face f;
    f.box = d.box;
    f.score = d.score;
    f.landmarks = d.keypoints;
    result.faces.push_back(std::move(f));
  }
  const bool need_points = what.landmarks || what.embedding;
  if (need_points && !detector.has_keypoints()) {
    FACELENS_ASSIGN_OR_RETURN(auto lm, get<models::Task::kLandmarks>());
    for (size_t i = 0; i < result.faces.size(); ++i) {
      FACELENS_ASSIGN_OR_RETURN(auto five, lm->predict(image, detections[i].crop_box));
      result.faces[i].landmarks = five;
    }
  }
  if (what.embedding && !result.faces.empty()) {
    FACELENS_ASSIGN_OR_RETURN(auto rec, get<models::Task::kRecognizer>());
    std::vector<Image> aligned;
    aligned.reserve(result.faces.size());
    for (const auto& f : result.faces) aligned.push_back(align::align_face(image, *f.landmarks, rec->input_size()));
    std::vector<float> quality;
    FACELENS_ASSIGN_OR_RETURN(auto embeddings, embed(*rec, std::move(aligned), &quality));
    for (size_t i = 0; i < result.faces.size(); ++i) {
      result.faces[i].embedding = std::move(embeddings[i]);
      if (i < quality.size()) result.faces[i].quality = quality[i];
    }
  }
  if (what.deepfake && entry_of(models::Task::kDeepfake) && !result.faces.empty()) {
    FACELENS_ASSIGN_OR_RETURN(auto df, get<models::Task::kDeepfake>());
    std::vector<Box> boxes;
    for (const auto& f : result.faces) boxes.push_back(f.box);
    FACELENS_ASSIGN_OR_RETURN(auto verdicts, df->score(image, boxes));
    for (size_t i = 0; i < result.faces.size(); ++i) result.faces[i].deepfake = verdicts[i];
  }
  if (what.liveness) {
    FACELENS_ASSIGN_OR_RETURN(auto live, get<models::Task::kLiveness>());
    for (size_t i = 0; i < result.faces.size(); ++i) {
      FACELENS_ASSIGN_OR_RETURN(result.faces[i].liveness, live->score(image, detections[i].crop_box));
    }
  }
  if (what.attributes && !result.faces.empty()) {
    for (size_t i = 0; i < slots_of(models::Task::kAttribute).size(); ++i) {
      FACELENS_ASSIGN_OR_RETURN(auto model, get<models::Task::kAttribute>(i));
      for (auto& f : result.faces) {
        if (!f.attributes) f.attributes = Attributes{};
        FACELENS_RETURN_IF_ERROR(model->apply(image, f.box, f.landmarks, &*f.attributes));
      }
    }
  }
  if (!what.landmarks && !detector.has_keypoints()) {
    for (auto& f : result.faces) f.landmarks.reset();
  }
  return result;
}

double Engine::Impl::face_scale(const detect::Detector& detector, const std::vector<detect::Detection>& detections,
                                const AnalyzeOptions& what, double* widest_crop) const {
  // The crop each face model reads, as a multiple of the face's side, and the model's input side.
  struct Need {
    double crop;  // crop side / face side
    int input;    // the model's input side (the larger of width and height)
  };
  std::vector<Need> needs;
  auto add = [&](const models::ModelEntry* e, double crop) {
    if (e && crop > 0) needs.push_back({crop, std::max(e->input.width(), e->input.height())});
  };
  using models::Task;
  const models::ModelEntry* landmarks = entry_of(Task::kLandmarks);
  if ((what.landmarks || what.embedding) && !detector.has_keypoints() && landmarks)
    add(landmarks, landmarks->input.crop_scale);
  // The aligned face spans about the detected face (the ArcFace template's face fills its square).
  if (what.embedding) add(entry_of(Task::kRecognizer), 1.0);
  if (what.liveness)
    for (const auto& slot : slots_of(Task::kLiveness))
      for (const auto* e : slot->entries) add(e, e->input.crop_scale);
  if (what.deepfake) {
    const models::ModelEntry* e = entry_of(Task::kDeepfake);
    add(e, options.deepfake_margin > 0 ? options.deepfake_margin : e ? e->input.crop_scale : 0);
  }
  if (what.attributes)
    for (const auto& slot : slots_of(Task::kAttribute)) {
      const models::ModelEntry* e = slot->entries.front();
      // The eye crop: eye_width_iod x the eye distance (under the face's side) x crop_scale.
      const double eye = e->input.crop == models::CropRule::kEyeSquare ? e->number("eye_width_iod", 1.0) : 1.0;
      add(e, eye * e->input.crop_scale);
    }
  *widest_crop = 0;
  for (const auto& n : needs) *widest_crop = std::max(*widest_crop, n.crop);
  double scale = 0;
  for (const auto& d : detections) {
    const double side = std::max(1.f, std::min(d.box.width(), d.box.height()));
    for (const auto& n : needs) scale = std::max(scale, kPixelsPerInputPixel * n.input / (n.crop * side));
  }
  return std::min(scale, 1.0);
}

bool Engine::Impl::reduces(const detect::Detector& detector, int width, int height) const {
  if (detector.tiled()) return false;  // the tiles want every pixel
  int rw = 0, rh = 0;
  detector.resized_size(width, height, &rw, &rh);
  return width > kReducedAbove * rw || height > kReducedAbove * rh;
}

StatusOr<ImageResult> Engine::Impl::analyze_reduced(const detect::Detector& detector, int width, int height,
                                                    const AnalyzeOptions& what, const SourceAt& source_at) const {
  // Maps a detection from one frame to another: x * ax + bx, y * ay + by.
  auto to_frame = [](std::vector<detect::Detection>& ds, double ax, double bx, double ay, double by) {
    const float fax = static_cast<float>(ax), fbx = static_cast<float>(bx);
    const float fay = static_cast<float>(ay), fby = static_cast<float>(by);
    auto box = [&](Box& b) { b = {b.x1 * fax + fbx, b.y1 * fay + fby, b.x2 * fax + fbx, b.y2 * fay + fby}; };
    for (auto& d : ds) {
      box(d.box);
      box(d.crop_box);
      if (d.keypoints)
        for (auto& p : *d.keypoints) p = {p.x * fax + fbx, p.y * fay + fby};
    }
  };
  // The detector's copy: kPixelsPerInputPixel x its resized size on each axis.
  int rw = 0, rh = 0;
  detector.resized_size(width, height, &rw, &rh);
  const int dw = std::min(width, kPixelsPerInputPixel * rw), dh = std::min(height, kPixelsPerInputPixel * rh);
  const double detect_scale = std::max(static_cast<double>(dw) / width, static_cast<double>(dh) / height);
  // Decoded one DCT step finer than the detector needs: that costs little more (entropy decoding,
  // the same at every scale, dominates a large JPEG) and mostly spares the faces a second decode.
  FACELENS_ASSIGN_OR_RETURN(auto coarse, source_at(std::min(1.0, 2 * detect_scale)));
  const Image& from = *coarse.first;
  const Image det_image = from.width == dw && from.height == dh ? Image{} : image::resize_area(from, dw, dh);
  FACELENS_ASSIGN_OR_RETURN(auto detections, detector.detect(det_image.empty() ? from : det_image));
  to_frame(detections, static_cast<double>(width) / dw, 0, static_cast<double>(height) / dh, 0);
  ImageResult result;
  if (!detections.empty()) {
    // The faces' copy: the smallest that gives every face model's crop of every face enough
    // pixels, made only over the rectangle the face models read (around each face, its side x
    // kFaceRegionSides or its widest crop, whichever is larger): area-averaged from that part of
    // the source, whose pixels stand for the same part of the photo.
    double widest_crop = 0;
    const double wanted = face_scale(detector, detections, what, &widest_crop);
    FACELENS_ASSIGN_OR_RETURN(auto fine, wanted > coarse.second ? source_at(wanted) : coarse);
    const Image& src = *fine.first;
    const double sx = static_cast<double>(src.width) / width, sy = static_cast<double>(src.height) / height;
    const double reach = 0.5 * std::max(kFaceRegionSides, widest_crop);
    double x1 = width, y1 = height, x2 = 0, y2 = 0;
    for (const auto& d : detections) {
      for (const Box& b : {d.box, d.crop_box}) {
        const double side = std::max(b.width(), b.height());
        const double cx = 0.5 * (b.x1 + b.x2), cy = 0.5 * (b.y1 + b.y2);
        x1 = std::min(x1, cx - reach * side);
        y1 = std::min(y1, cy - reach * side);
        x2 = std::max(x2, cx + reach * side);
        y2 = std::max(y2, cy + reach * side);
      }
    }
    // The rectangle in source pixels (whole pixels, inside the source) and its size in the copy.
    const int px = std::clamp(static_cast<int>(std::floor(x1 * sx)), 0, src.width - 1);
    const int py = std::clamp(static_cast<int>(std::floor(y1 * sy)), 0, src.height - 1);
    const int pw = std::clamp(static_cast<int>(std::ceil(x2 * sx)), px + 1, src.width) - px;
    const int ph = std::clamp(static_cast<int>(std::ceil(y2 * sy)), py + 1, src.height) - py;
    const int fw = std::clamp(static_cast<int>(std::lround(pw * wanted / sx)), 1, pw);
    const int fh = std::clamp(static_cast<int>(std::lround(ph * wanted / sy)), 1, ph);
    const bool whole = px == 0 && py == 0 && pw == src.width && ph == src.height;
    const Image face_image = whole && fw == pw && fh == ph ? Image{}
                             : fw == pw && fh == ph        ? image::crop(src, px, py, pw, ph)
                                                           : image::resize_area(src, {px, py, pw, ph}, fw, fh);
    const Image& faces = face_image.empty() ? src : face_image;
    // Photo pixels to the copy's: (p * s - r) * k; back: (q / k + r) / s.
    const double kx = static_cast<double>(fw) / pw, ky = static_cast<double>(fh) / ph;
    to_frame(detections, sx * kx, -px * kx, sy * ky, -py * ky);
    FACELENS_ASSIGN_OR_RETURN(result, analyze_faces(faces, detector, detections, what));
    const float ax = static_cast<float>(1.0 / (sx * kx)), bx = static_cast<float>(px / sx);
    const float ay = static_cast<float>(1.0 / (sy * ky)), by = static_cast<float>(py / sy);
    for (auto& f : result.faces) {
      f.box = {f.box.x1 * ax + bx, f.box.y1 * ay + by, f.box.x2 * ax + bx, f.box.y2 * ay + by};
      if (f.landmarks)
        for (auto& p : *f.landmarks) p = {p.x * ax + bx, p.y * ay + by};
    }
  }
  result.width = width;
  result.height = height;
  result.decode_scale = coarse.second;
  return result;
}

StatusOr<ImageResult> Engine::analyze_bytes(std::span<const uint8_t> bytes, const AnalyzeOptions& what) const {
  FACELENS_ASSIGN_OR_RETURN(auto detector, impl_->get<models::Task::kDetector>());
  const DecodeOptions& decode = impl_->options.decode;
  auto header = check_image(bytes, decode);
  // The header's size is after EXIF orientation: without it applied (an option) the decode's frame
  // may be the transposed one, so such photos take the full decode.
  if (header.ok() && header->format == ImageFormat::kJpeg && decode.apply_exif_orientation &&
      impl_->reduces(*detector, header->width, header->height)) {
    // A large JPEG: each copy from a decode with the largest DCT downscale that keeps it at least
    // the copy's size (decoded once when the detector's decode has enough pixels for the faces).
    std::optional<DecodedImage> coarse, fine;
    auto at_scale = [&](double scale) -> StatusOr<std::pair<const Image*, double>> {
      DecodeOptions d = decode;
      d.min_width = std::max(1, static_cast<int>(std::ceil(scale * header->width)));
      d.min_height = std::max(1, static_cast<int>(std::ceil(scale * header->height)));
      if (scale >= 1) d.min_width = d.min_height = 0;
      std::optional<DecodedImage>& slot = coarse ? fine : coarse;
      FACELENS_ASSIGN_OR_RETURN(slot, decode_image(bytes, d));
      return std::pair<const Image*, double>(&slot->image, slot->scale);
    };
    return impl_->analyze_reduced(*detector, header->width, header->height, what, at_scale);
  }
  const bool detect_only = !what.embedding && !what.landmarks && !what.attributes && !what.liveness &&
                           !(what.deepfake && impl_->entry_of(models::Task::kDeepfake));
  if (!detect_only) {
    FACELENS_ASSIGN_OR_RETURN(auto decoded, decode_image(bytes, decode));
    return analyze(decoded.image, what);
  }
  // Boxes only: twice the detector input keeps the boxes' precision while skipping most of a large
  // JPEG's pixels.
  DecodeOptions scaled = decode;
  scaled.min_width = 2 * detector->input_width();
  scaled.min_height = 2 * detector->input_height();
  FACELENS_ASSIGN_OR_RETURN(auto decoded, decode_image(bytes, scaled));
  FACELENS_ASSIGN_OR_RETURN(auto result, analyze(decoded.image, what));
  if (decoded.scale != 1.0) {
    const float k = static_cast<float>(1.0 / decoded.scale);
    for (auto& f : result.faces) {
      f.box = {f.box.x1 * k, f.box.y1 * k, f.box.x2 * k, f.box.y2 * k};
      if (f.landmarks)
        for (auto& p : *f.landmarks) p = {p.x * k, p.y * k};
    }
    result.width = decoded.original_width;
    result.height = decoded.original_height;
    result.decode_scale = decoded.scale;
  }
  return result;
}

StatusOr<ImageResult> Engine::analyze_file(const std::string& path, const AnalyzeOptions& what) const {
  FACELENS_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(path, impl_->options.decode.max_bytes));
  return analyze_bytes(bytes, what);
}

std::vector<StatusOr<ImageResult>> Engine::analyze_batch(std::span<const Image> images,
                                                         const AnalyzeOptions& what) const {
  std::vector<StatusOr<ImageResult>> out;
  out.reserve(images.size());
  for (const auto& img : images) out.push_back(analyze(img, what));
  return out;
}

VerifyResult Engine::compare(std::span<const float> a, std::span<const float> b) const {
  VerifyResult v;
  v.similarity = recognize::cosine(a, b);
  v.threshold = match_threshold();
  v.match = v.similarity >= v.threshold;
  return v;
}

StatusOr<VerifyResult> Engine::verify(const Image& a, const Image& b) const {
  AnalyzeOptions what;
  what.embedding = true;
  what.deepfake = true;
  FACELENS_ASSIGN_OR_RETURN(auto ra, analyze(a, what));
  FACELENS_ASSIGN_OR_RETURN(auto rb, analyze(b, what));
  if (ra.faces.empty()) return invalid_argument("no face found in the first image");
  if (rb.faces.empty()) return invalid_argument("no face found in the second image");
  Face& fa = ra.faces[largest_face(ra.faces)];
  Face& fb = rb.faces[largest_face(rb.faces)];
  VerifyResult v = compare(fa.embedding, fb.embedding);
  v.face_a = std::move(fa);
  v.face_b = std::move(fb);
  return v;
}

std::vector<ServiceInfo> Engine::services() const {
  std::vector<ServiceInfo> out;
  for (const auto& task_slots : impl_->slots) {
    for (const auto& slot : task_slots) {
      const models::ModelEntry* e = slot->entries.front();
      const std::string task(models::name(e->task));
      auto service = slot->service.peek();
      const runtime::Session* s = service ? &service->session() : nullptr;
      ServiceInfo info;
      info.service = task;
      info.model_id = e->id;
      info.model_path = impl_->registry->path_of(*e);
      // A fused service: "id1+id2", "path1+path2".
      for (size_t i = 1; i < slot->entries.size(); ++i) {
        info.model_id += "+" + slot->entries[i]->id;
        info.model_path += "+" + impl_->registry->path_of(*slot->entries[i]);
      }
      info.family = models::name(e->family);
      info.loaded = s != nullptr;
      info.requested = provider_option_name(impl_->options.runtime.resolve(task).provider);
      if (s) {
        info.provider = s->provider();
        info.provider_reason = s->fallback_reason();
        info.device_ids = s->device_ids();
        info.queue_depths = s->queue_depths();
        info.placement = s->placement();
        info.placement_error = s->placement_error();
        info.cudnn_conv_algo_search = s->conv_algo_search();
        info.cudnn_conv_algo_search_reason = s->conv_algo_search_reason();
        info.precision = models::name(models::Precision::kFp32);
        info.precision_source = "original";
        std::lock_guard<std::mutex> lock(impl_->precision_mu);
        auto pc = impl_->precision_choices.find(e);
        if (pc != impl_->precision_choices.end()) {
          info.precision = models::name(pc->second.precision);
          info.precision_source = pc->second.source;
          info.precision_reason = pc->second.reason;
        }
      }
      out.push_back(std::move(info));
    }
  }
  return out;
}

std::vector<uint64_t> Engine::recognizer_batch_sizes() const { return impl_->batch_sizes(); }

std::vector<std::string> Engine::collect_idle() const { return impl_->cache.collect(); }

void Engine::shrink_arenas() const {
  for (const auto& task_slots : impl_->slots)
    for (const auto& slot : task_slots)
      if (auto service = slot->service.peek()) service->request_arena_shrink();
}

std::vector<ModelFileInfo> Engine::check_models() const {
  std::vector<ModelFileInfo> out;
  for (const auto& e : impl_->registry->manifest().models) {
    models::FileCheck c = impl_->registry->check(e);
    ModelFileInfo info;
    info.id = e.id;
    info.task = models::name(e.task);
    info.family = models::name(e.family);
    info.path = c.path;
    info.state = models::file_state_name(c.state);
    info.expected_sha256 = e.sha256;
    info.actual_sha256 = c.actual_sha256;
    info.message = c.status.ok() ? "" : c.status.message();
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace facelens

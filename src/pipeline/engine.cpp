#include "facelens/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <cstdlib>
#include <map>
#include <mutex>

#include "align/aligner.h"
#include "attributes/attributes.h"
#include "deepfake/deepfake.h"
#include "detect/detector.h"
#include "image/tensor.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "models/binding.h"
#include "models/family.h"
#include "core/sha256.h"
#include "models/registry.h"
#include "convert/auto_precision.h"
#include "recognize/recognizer.h"
#include "runtime/batcher.h"
#include "runtime/providers.h"
#include "runtime/environment.h"
#include "runtime/model_cache.h"

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
  const models::ModelEntry* detector_entry = nullptr;
  const models::ModelEntry* landmark_entry = nullptr;
  const models::ModelEntry* recognizer_entry = nullptr;
  std::vector<const models::ModelEntry*> liveness_entries;  // several: fused
  const models::ModelEntry* deepfake_entry = nullptr;
  std::vector<const models::ModelEntry*> attribute_entries;
  // Entries of model files given outside the manifest (EngineOptions::*_file); stable addresses.
  std::deque<models::ModelEntry> file_entries;

  Lazy<detect::Detector> detector;
  Lazy<landmarks::LandmarkModel> landmark_model;
  Lazy<recognize::Recognizer> recognizer;
  Lazy<liveness::FusedLiveness> liveness_model;
  Lazy<deepfake::DeepfakeModel> deepfake_model;
  std::vector<std::unique_ptr<Lazy<attributes::AttributeModel>>> attribute_models;

  bool from_file(const models::ModelEntry& e) const {
    return std::any_of(file_entries.begin(), file_entries.end(), [&](const auto& f) { return &f == &e; });
  }
  // The entry for a model file given for `task` (see EngineOptions::detector_file).
  StatusOr<const models::ModelEntry*> add_file(const std::string& path, const std::string& family,
                                               const std::string& task, const std::string& flag) {
    std::vector<models::Manifest> known = models::load_known_manifests(models_dir);
    if (models_dir != FACELENS_DEFAULT_MODELS_DIR) {
      for (auto& m : models::load_known_manifests(FACELENS_DEFAULT_MODELS_DIR)) known.push_back(std::move(m));
    }
    models::FileModelOptions fo;
    fo.family = family;
    fo.task = task;
    fo.manifests.push_back(&registry->manifest());
    for (const auto& m : known) fo.manifests.push_back(&m);
    auto fm = models::entry_for_file(path, fo);
    if (!fm.ok()) return fm.status().with_context(flag + " " + path);
    fm->entry.file = std::filesystem::absolute(path).string();
    spdlog::info("{} '{}': family {} ({})", task, path, fm->entry.family,
                 fm->how == "manifest" ? "manifest entry " + fm->entry.id + " of " + fm->manifest_path : fm->how);
    file_entries.push_back(std::move(fm->entry));
    return &file_entries.back();
  }

  // The session for a manifest entry, placed by the runtime options of its service (the entry's
  // task). Says at WARNING when CUDA was asked for (or found but failing) and the CPU is used.
  StatusOr<std::shared_ptr<const runtime::Session>> open(const models::ModelEntry& e) const {
    runtime::SessionOptions so = session_options;
    so.service = options.runtime.resolve(e.task);
    // The dynamic batcher feeds the recognizer every batch size up to max_batch: on CUDA each is
    // run once at creation (cuDNN's search per shape), not by the first request of that size.
    if (e.task == "recognizer" && options.batching.mode != EngineOptions::Batching::Mode::kOff)
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
                       (options.batching.mode == Mode::kAuto && rec.session().provider() == runtime::kCudaEpName);
    if (!merge) return rec.embed(aligned, quality);
    {
      std::lock_guard<std::mutex> lock(batcher_mu);
      if (!batcher) {
        batcher = std::make_unique<runtime::DynamicBatcher<Image, Embedded>>(
            [this](std::vector<Image>& items) -> StatusOr<std::vector<Embedded>> {
              FACELENS_ASSIGN_OR_RETURN(auto r, get_recognizer());
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
  std::vector<uint64_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(batcher_mu);
    return batcher ? batcher->batch_sizes() : std::vector<uint64_t>{};
  }

  static void log_placement(const std::string& service, const std::string& id, const runtime::Session& s,
                            Provider requested) {
    if (s.fallback_reason().empty()) {
      spdlog::info("{} '{}' runs on {}", service, id, s.provider());
      return;
    }
    // With provider auto and a core built without CUDA or no CUDA provider library at all, the
    // CPU is the expected place.
    const bool expected = requested == Provider::kAuto &&
                          (s.fallback_reason().find("was not found") != std::string::npos ||
                           s.fallback_reason().find("build without CUDA") != std::string::npos);
    if (expected) spdlog::info("{} '{}' runs on {}: {}", service, id, s.provider(), s.fallback_reason());
    else spdlog::warn("{} '{}' runs on {} because CUDA cannot be used: {}", service, id, s.provider(), s.fallback_reason());
  }
  StatusOr<std::shared_ptr<const detect::Detector>> get_detector() const {
    return detector.get([&]() -> StatusOr<std::shared_ptr<const detect::Detector>> {
      FACELENS_ASSIGN_OR_RETURN(auto s, open(*detector_entry));
      detect::DetectorOptions o;
      o.score_threshold = options.detect_threshold;
      o.nms_iou = options.nms_iou;
      o.max_faces = options.max_faces;
      o.tiling = options.detect_tiling;
      return detect::create_detector(*detector_entry, s, o);
    });
  }
  StatusOr<std::shared_ptr<const landmarks::LandmarkModel>> get_landmarks() const {
    if (!landmark_entry) return failed_precondition("no landmark model configured (manifest defaults.landmarks)");
    return landmark_model.get([&]() -> StatusOr<std::shared_ptr<const landmarks::LandmarkModel>> {
      FACELENS_ASSIGN_OR_RETURN(auto s, open(*landmark_entry));
      return landmarks::LandmarkModel::create(*landmark_entry, s);
    });
  }
  StatusOr<std::shared_ptr<const recognize::Recognizer>> get_recognizer() const {
    if (!recognizer_entry) return failed_precondition("no recognizer configured (manifest defaults.recognizer)");
    return recognizer.get([&]() -> StatusOr<std::shared_ptr<const recognize::Recognizer>> {
      FACELENS_ASSIGN_OR_RETURN(auto s, open(*recognizer_entry));
      return recognize::Recognizer::create(*recognizer_entry, s);
    });
  }
  StatusOr<std::shared_ptr<const liveness::FusedLiveness>> get_liveness() const {
    if (liveness_entries.empty()) return failed_precondition("no liveness model configured (manifest defaults.liveness)");
    return liveness_model.get([&]() -> StatusOr<std::shared_ptr<const liveness::FusedLiveness>> {
      std::vector<std::shared_ptr<const liveness::LivenessModel>> models;
      for (const auto* e : liveness_entries) {
        FACELENS_ASSIGN_OR_RETURN(auto s, open(*e));
        FACELENS_ASSIGN_OR_RETURN(auto m, liveness::LivenessModel::create(*e, s));
        models.push_back(std::move(m));
      }
      return liveness::FusedLiveness::create(std::move(models));
    });
  }
  StatusOr<std::shared_ptr<const deepfake::DeepfakeModel>> get_deepfake() const {
    if (!deepfake_entry) return failed_precondition("no deepfake model configured (--deepfake FILE or defaults.deepfake)");
    return deepfake_model.get([&]() -> StatusOr<std::shared_ptr<const deepfake::DeepfakeModel>> {
      FACELENS_ASSIGN_OR_RETURN(auto s, open(*deepfake_entry));
      deepfake::DeepfakeOptions o;
      o.margin = options.deepfake_margin;
      return deepfake::DeepfakeModel::create(*deepfake_entry, s, o);
    });
  }
  StatusOr<std::shared_ptr<const attributes::AttributeModel>> get_attribute(size_t i) const {
    return attribute_models[i]->get([&]() -> StatusOr<std::shared_ptr<const attributes::AttributeModel>> {
      FACELENS_ASSIGN_OR_RETURN(auto s, open(*attribute_entries[i]));
      return attributes::create_attribute_model(*attribute_entries[i], s);
    });
  }
};

StatusOr<std::shared_ptr<const runtime::Session>> Engine::Impl::open_at_precision(
    const models::ModelEntry& e, const runtime::SessionOptions& so) const {
  // A model file given outside the manifest has no pinned sha256 to check.
  auto open_original = [&]() {
    return from_file(e) ? models::open_session_unverified(e.file, e, env, so) : models::open_session(*registry, e, env, so);
  };
  auto asked = options.precision.find(e.task);
  if (asked == options.precision.end()) asked = options.precision.find("*");
  const std::string precision = asked == options.precision.end() ? "fp32" : asked->second;
  if (precision == "fp32") return open_original();
  // The provider decides "auto": open the original first to see where it really runs.
  FACELENS_ASSIGN_OR_RETURN(auto session, open_original());
  optimize::PrecisionRequest r;
  r.precision = precision;
  r.provider = session->provider() == runtime::kCudaEpName ? "cuda" : "cpu";
  r.entry = e;
  r.model_path = from_file(e) ? e.file : registry->path_of(e);
  if (from_file(e)) {
    FACELENS_ASSIGN_OR_RETURN(r.model_sha256, core::sha256_file(e.file));
  } else {
    r.model_sha256 = registry->check(e).actual_sha256;
  }
  const models::ModelEntry* det = detector_entry;
  const models::ModelEntry* lm = landmark_entry;
  optimize::Reference ref{*det, from_file(*det) ? det->file : registry->path_of(*det), std::nullopt, ""};
  if (lm) {
    ref.landmarks = *lm;
    ref.landmarks_path = from_file(*lm) ? lm->file : registry->path_of(*lm);
  }
  r.reference = ref;
  r.calibration_dir = options.calibration_dir;
  if (r.calibration_dir.empty()) {
    const char* dir = std::getenv("FACELENS_CALIBRATION");
    if (dir && *dir) r.calibration_dir = dir;
  }
  r.cache_dir = options.precision_cache_dir;
  r.threads = options.runtime.intra_op_threads;
  auto choice = optimize::resolve_precision(r, env);
  if (!choice.ok()) return choice.status().with_context(e.task + " '" + e.id + "' at precision " + precision);
  spdlog::info("{} '{}': {} ({}): {}", e.task, e.id, choice->precision, choice->source, choice->reason);
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
  auto impl = std::make_unique<Impl>(options);
  impl->models_dir = options.models_dir;
  if (impl->models_dir.empty()) {
    const char* env = std::getenv("FACELENS_MODELS");
    impl->models_dir = env && *env ? env : FACELENS_DEFAULT_MODELS_DIR;
  }
  FACELENS_ASSIGN_OR_RETURN(impl->registry, models::ModelRegistry::open(impl->models_dir, options.manifest));
  FACELENS_ASSIGN_OR_RETURN(impl->env, runtime::Environment::create({}));
  impl->session_options.intra_op_threads = options.runtime.intra_op_threads;
  impl->session_options.inter_op_threads = options.runtime.inter_op_threads;
  impl->session_options.allow_spinning = options.runtime.allow_spinning;
  impl->session_options.require_gpu = options.runtime.require_gpu;
  impl->session_options.cuda_ep_path = options.runtime.cuda_ep_path;
  const auto& m = impl->registry->manifest();
  FACELENS_ASSIGN_OR_RETURN(impl->detector_entry, pick(m, "detector", options.detector, options.detector_file.empty()));
  FACELENS_ASSIGN_OR_RETURN(impl->landmark_entry, pick(m, "landmarks", options.landmarks, false));
  FACELENS_ASSIGN_OR_RETURN(impl->recognizer_entry, pick(m, "recognizer", options.recognizer, false));
  FACELENS_ASSIGN_OR_RETURN(auto liveness_entry, pick(m, "liveness", options.liveness, false));
  if (liveness_entry) {
    impl->liveness_entries.push_back(liveness_entry);
    // "fuse_with": the ids of the models whose scores the entry's authors fuse with its own.
    std::string rest = liveness_entry->string("fuse_with", "");
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string id = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      FACELENS_ASSIGN_OR_RETURN(auto e, pick(m, "liveness", id, true));
      impl->liveness_entries.push_back(e);
    }
  }
  FACELENS_ASSIGN_OR_RETURN(impl->deepfake_entry, pick(m, "deepfake", options.deepfake, false));
  if (!options.detector_file.empty()) {
    FACELENS_ASSIGN_OR_RETURN(impl->detector_entry,
                              impl->add_file(options.detector_file, options.detector_family, "detector", "--detector"));
  }
  if (!options.recognizer_file.empty()) {
    FACELENS_ASSIGN_OR_RETURN(impl->recognizer_entry, impl->add_file(options.recognizer_file, options.recognizer_family,
                                                                     "recognizer", "--recognizer"));
  }
  if (!options.liveness_files.empty()) {
    impl->liveness_entries.clear();
    for (const auto& f : options.liveness_files) {
      FACELENS_ASSIGN_OR_RETURN(auto e, impl->add_file(f, "", "liveness", "--liveness"));
      impl->liveness_entries.push_back(e);
    }
  }
  if (!options.deepfake_file.empty()) {
    FACELENS_ASSIGN_OR_RETURN(impl->deepfake_entry,
                              impl->add_file(options.deepfake_file, options.deepfake_family, "deepfake", "--deepfake"));
  }
  if (options.attributes.empty()) {
    for (const auto& e : m.models)
      if (e.task == "attribute") impl->attribute_entries.push_back(&e);
  } else {
    for (const auto& id : options.attributes) {
      FACELENS_ASSIGN_OR_RETURN(auto e, pick(m, "attribute", id, true));
      impl->attribute_entries.push_back(e);
    }
  }
  for (size_t i = 0; i < impl->attribute_entries.size(); ++i) {
    impl->attribute_models.push_back(std::make_unique<Lazy<attributes::AttributeModel>>());
  }
  // Every service goes through the model cache, its memory estimated by its file size.
  auto bind = [&](auto& slot, const std::string& key, const models::ModelEntry* e) {
    if (e) slot.bind(&impl->cache, key, file_bytes(impl->registry->path_of(*e)));
  };
  bind(impl->detector, "detector", impl->detector_entry);
  bind(impl->landmark_model, "landmarks", impl->landmark_entry);
  bind(impl->recognizer, "recognizer", impl->recognizer_entry);
  uint64_t liveness_bytes = 0;
  for (const auto* e : impl->liveness_entries) liveness_bytes += file_bytes(impl->registry->path_of(*e));
  if (!impl->liveness_entries.empty()) impl->liveness_model.bind(&impl->cache, "liveness", liveness_bytes);
  bind(impl->deepfake_model, "deepfake", impl->deepfake_entry);
  for (size_t i = 0; i < impl->attribute_entries.size(); ++i) {
    bind(*impl->attribute_models[i], "attribute:" + impl->attribute_entries[i]->id, impl->attribute_entries[i]);
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const std::string& Engine::models_dir() const { return impl_->models_dir; }

const DecodeOptions& Engine::decode_options() const { return impl_->options.decode; }

float Engine::match_threshold() const {
  if (impl_->options.match_threshold >= 0) return impl_->options.match_threshold;
  return static_cast<float>(impl_->recognizer_entry ? impl_->recognizer_entry->match_threshold()
                                                    : models::kFallbackMatchThreshold);
}

std::string Engine::recognizer_model_id() const {
  return impl_->recognizer_entry ? impl_->recognizer_entry->id : std::string();
}

StatusOr<Image> Engine::align_face(const Image& image, const Face& face) const {
  if (!face.landmarks) return invalid_argument("align_face needs the face's landmarks (AnalyzeOptions::landmarks)");
  FACELENS_ASSIGN_OR_RETURN(auto rec, impl_->get_recognizer());
  return align::align_face(image, *face.landmarks, rec->input_size());
}

StatusOr<std::vector<std::vector<float>>> Engine::embed_aligned(std::span<const Image> aligned) const {
  FACELENS_ASSIGN_OR_RETURN(auto rec, impl_->get_recognizer());
  const int n = rec->input_size();
  for (const auto& a : aligned)
    if (a.empty()) return invalid_argument("embed_aligned: empty face crop");
  const bool fit = std::all_of(aligned.begin(), aligned.end(), [n](const Image& a) { return a.width == n && a.height == n; });
  if (fit) return rec->embed(aligned);
  std::vector<Image> resized;
  resized.reserve(aligned.size());
  for (const auto& a : aligned) resized.push_back(a.width == n && a.height == n ? a : image::resize(a, n, n));
  return rec->embed(resized);
}

Status Engine::warm_up(const AnalyzeOptions& what) const {
  FACELENS_ASSIGN_OR_RETURN(auto detector, impl_->get_detector());
  // A detector that gives five keypoints makes the landmark model unnecessary.
  if ((what.landmarks || what.embedding) && !detector->has_keypoints())
    FACELENS_RETURN_IF_ERROR(impl_->get_landmarks().status());
  if (what.embedding) FACELENS_RETURN_IF_ERROR(impl_->get_recognizer().status());
  if (what.liveness) FACELENS_RETURN_IF_ERROR(impl_->get_liveness().status());
  if (what.deepfake && impl_->deepfake_entry) FACELENS_RETURN_IF_ERROR(impl_->get_deepfake().status());
  if (what.attributes)
    for (size_t i = 0; i < impl_->attribute_entries.size(); ++i)
      FACELENS_RETURN_IF_ERROR(impl_->get_attribute(i).status());
  return Status::Ok();
}

StatusOr<ImageResult> Engine::analyze(const Image& image, const AnalyzeOptions& what) const {
  if (image.empty()) return invalid_argument("empty image");
  FACELENS_ASSIGN_OR_RETURN(auto detector, impl_->get_detector());
  FACELENS_ASSIGN_OR_RETURN(auto detections, detector->detect(image));
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
  if (need_points && !detector->has_keypoints()) {
    FACELENS_ASSIGN_OR_RETURN(auto lm, impl_->get_landmarks());
    for (size_t i = 0; i < result.faces.size(); ++i) {
      FACELENS_ASSIGN_OR_RETURN(auto five, lm->predict(image, detections[i].crop_box));
      result.faces[i].landmarks = five;
    }
  }
  if (what.embedding && !result.faces.empty()) {
    FACELENS_ASSIGN_OR_RETURN(auto rec, impl_->get_recognizer());
    std::vector<Image> aligned;
    aligned.reserve(result.faces.size());
    for (const auto& f : result.faces) aligned.push_back(align::align_face(image, *f.landmarks, rec->input_size()));
    std::vector<float> quality;
    FACELENS_ASSIGN_OR_RETURN(auto embeddings, impl_->embed(*rec, std::move(aligned), &quality));
    for (size_t i = 0; i < result.faces.size(); ++i) {
      result.faces[i].embedding = std::move(embeddings[i]);
      if (i < quality.size()) result.faces[i].quality = quality[i];
    }
  }
  if (what.deepfake && impl_->deepfake_entry && !result.faces.empty()) {
    FACELENS_ASSIGN_OR_RETURN(auto df, impl_->get_deepfake());
    std::vector<Box> boxes;
    for (const auto& f : result.faces) boxes.push_back(f.box);
    FACELENS_ASSIGN_OR_RETURN(auto verdicts, df->score(image, boxes));
    for (size_t i = 0; i < result.faces.size(); ++i) result.faces[i].deepfake = verdicts[i];
  }
  if (what.liveness) {
    FACELENS_ASSIGN_OR_RETURN(auto live, impl_->get_liveness());
    for (size_t i = 0; i < result.faces.size(); ++i) {
      FACELENS_ASSIGN_OR_RETURN(result.faces[i].liveness, live->score(image, detections[i].crop_box));
    }
  }
  if (what.attributes && !result.faces.empty()) {
    for (size_t i = 0; i < impl_->attribute_entries.size(); ++i) {
      FACELENS_ASSIGN_OR_RETURN(auto model, impl_->get_attribute(i));
      for (auto& f : result.faces) {
        if (!f.attributes) f.attributes = Attributes{};
        FACELENS_RETURN_IF_ERROR(model->apply(image, f.box, f.landmarks, &*f.attributes));
      }
    }
  }
  if (!what.landmarks && !detector->has_keypoints()) {
    for (auto& f : result.faces) f.landmarks.reset();
  }
  return result;
}

StatusOr<ImageResult> Engine::analyze_bytes(std::span<const uint8_t> bytes, const AnalyzeOptions& what) const {
  DecodeOptions decode = impl_->options.decode;
  const bool detect_only = !what.embedding && !what.landmarks && !what.attributes && !what.liveness &&
                           !(what.deepfake && impl_->deepfake_entry);
  if (detect_only) {
    FACELENS_ASSIGN_OR_RETURN(auto detector, impl_->get_detector());
    // Twice the detector input keeps the boxes' precision while skipping most of a large JPEG.
    decode.min_width = 2 * detector->input_width();
    decode.min_height = 2 * detector->input_height();
  }
  FACELENS_ASSIGN_OR_RETURN(auto decoded, decode_image(bytes, decode));
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
  auto add = [&](const char* service, const models::ModelEntry* e, const runtime::Session* s) {
    if (!e) return;
    ServiceInfo info;
    info.service = service;
    info.model_id = e->id;
    info.model_path = impl_->registry->path_of(*e);
    info.family = e->family;
    info.loaded = s != nullptr;
    info.requested = provider_option_name(impl_->options.runtime.resolve(e->task).provider);
    if (s) {
      info.provider = s->provider();
      info.provider_reason = s->fallback_reason();
      info.device_ids = s->device_ids();
      info.queue_depths = s->queue_depths();
      info.placement = s->placement();
      info.placement_error = s->placement_error();
      info.cudnn_conv_algo_search = s->conv_algo_search();
      info.cudnn_conv_algo_search_reason = s->conv_algo_search_reason();
      info.precision = "fp32";
      info.precision_source = "original";
      std::lock_guard<std::mutex> lock(impl_->precision_mu);
      auto pc = impl_->precision_choices.find(e);
      if (pc != impl_->precision_choices.end()) {
        info.precision = pc->second.precision;
        info.precision_source = pc->second.source;
        info.precision_reason = pc->second.reason;
      }
    }
    out.push_back(std::move(info));
  };
  auto d = impl_->detector.peek();
  add("detector", impl_->detector_entry, d ? &d->session() : nullptr);
  auto l = impl_->landmark_model.peek();
  add("landmarks", impl_->landmark_entry, l ? &l->session() : nullptr);
  auto r = impl_->recognizer.peek();
  add("recognizer", impl_->recognizer_entry, r ? &r->session() : nullptr);
  auto lv = impl_->liveness_model.peek();
  if (!impl_->liveness_entries.empty()) {
    add("liveness", impl_->liveness_entries[0], lv ? &lv->session() : nullptr);
    for (size_t i = 1; i < impl_->liveness_entries.size(); ++i) {
      out.back().model_id += "+" + impl_->liveness_entries[i]->id;
      out.back().model_path += "+" + impl_->registry->path_of(*impl_->liveness_entries[i]);
    }
  }
  auto df = impl_->deepfake_model.peek();
  add("deepfake", impl_->deepfake_entry, df ? &df->session() : nullptr);
  for (size_t i = 0; i < impl_->attribute_entries.size(); ++i) {
    auto a = impl_->attribute_models[i]->peek();
    add("attribute", impl_->attribute_entries[i], a ? &a->session() : nullptr);
  }
  return out;
}

std::vector<uint64_t> Engine::recognizer_batch_sizes() const { return impl_->batch_sizes(); }

std::vector<std::string> Engine::collect_idle() const { return impl_->cache.collect(); }

void Engine::shrink_arenas() const {
  if (auto d = impl_->detector.peek()) d->session().request_arena_shrink();
  if (auto l = impl_->landmark_model.peek()) l->session().request_arena_shrink();
  if (auto r = impl_->recognizer.peek()) r->session().request_arena_shrink();
  if (auto lv = impl_->liveness_model.peek())
    for (const auto& m : lv->models()) m->session().request_arena_shrink();
  if (auto df = impl_->deepfake_model.peek()) df->session().request_arena_shrink();
  for (const auto& a : impl_->attribute_models)
    if (auto m = a->peek()) m->session().request_arena_shrink();
}

std::vector<ModelFileInfo> Engine::check_models() const {
  std::vector<ModelFileInfo> out;
  for (const auto& e : impl_->registry->manifest().models) {
    models::FileCheck c = impl_->registry->check(e);
    ModelFileInfo info;
    info.id = e.id;
    info.task = e.task;
    info.family = e.family;
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

#include "bench/services.h"

#include <thread>

#include "services/factory.h"

namespace facelens::bench {

namespace {

StatusOr<const models::ModelEntry*> entry_for(const ServiceContext& ctx, const std::string& task) {
  const models::ModelEntry* e = ctx.manifest->default_for(task);
  if (!e) return unavailable("no " + task + " model configured (" + ctx.manifest->path + " defaults." + task + ")");
  return e;
}

StatusOr<std::shared_ptr<const runtime::Session>> open(const ServiceContext& ctx, const models::ModelEntry& e) {
  return ctx.variants->open(e, ctx.precision, ctx.session_options(std::string(models::name(e.task))));
}

Status need_faces(const ServiceContext& ctx, const std::string& service) {
  if (ctx.inputs->faces.empty())
    return failed_precondition(service +
                               " needs a face: the detector found none in the --image files; pass a photo "
                               "with a face");
  return Status::Ok();
}

class DetectBench final : public ServiceBench {
 public:
  explicit DetectBench(std::shared_ptr<const detect::Detector> d, const BenchInputs& in)
      : det_(std::move(d)), in_(in) {}
  bool batched() const override { return false; }
  const char* item() const override { return "image"; }
  Status prepare(int batch) override {
    batch_ = batch;
    return Status::Ok();
  }
  Status run() override {
    faces_ = 0;
    for (int i = 0; i < batch_; ++i) {
      FACELENS_ASSIGN_OR_RETURN(auto found, det_->detect(in_.images[i % in_.images.size()]));
      faces_ += static_cast<int>(found.size());
    }
    return Status::Ok();
  }
  std::vector<SessionFacts> sessions() const override { return {facts_of(det_->session())}; }
  int faces_last_run() const override { return faces_; }

 private:
  std::shared_ptr<const detect::Detector> det_;
  const BenchInputs& in_;
  int batch_ = 1;
  int faces_ = 0;
};

class LandmarksBench final : public ServiceBench {
 public:
  LandmarksBench(std::shared_ptr<const landmarks::LandmarkModel> m, const BenchInputs& in)
      : m_(std::move(m)), in_(in) {}
  bool batched() const override { return false; }
  const char* item() const override { return "face"; }
  Status prepare(int batch) override {
    batch_ = batch;
    return Status::Ok();
  }
  Status run() override {
    for (int i = 0; i < batch_; ++i) {
      const auto& f = in_.faces[i % in_.faces.size()];
      FACELENS_RETURN_IF_ERROR(m_->predict(in_.images[f.image], f.box).status());
    }
    return Status::Ok();
  }
  std::vector<SessionFacts> sessions() const override { return {facts_of(m_->session())}; }
  int faces_last_run() const override { return batch_; }

 private:
  std::shared_ptr<const landmarks::LandmarkModel> m_;
  const BenchInputs& in_;
  int batch_ = 1;
};

class LivenessBench final : public ServiceBench {
 public:
  LivenessBench(std::shared_ptr<const liveness::FusedLiveness> m, const BenchInputs& in) : m_(std::move(m)), in_(in) {}
  bool batched() const override { return false; }
  const char* item() const override { return "face"; }
  Status prepare(int batch) override {
    batch_ = batch;
    return Status::Ok();
  }
  Status run() override {
    for (int i = 0; i < batch_; ++i) {
      const auto& f = in_.faces[i % in_.faces.size()];
      FACELENS_RETURN_IF_ERROR(m_->score(in_.images[f.image], f.box).status());
    }
    return Status::Ok();
  }
  std::vector<SessionFacts> sessions() const override { return {facts_of(m_->session())}; }
  int faces_last_run() const override { return batch_; }

 private:
  std::shared_ptr<const liveness::FusedLiveness> m_;
  const BenchInputs& in_;
  int batch_ = 1;
};

// Recognizer::embed runs the whole batch in one call when the model's batch dimension is
// symbolic, else one call per face: either way one embed() per run.
class EmbedBench final : public ServiceBench {
 public:
  EmbedBench(std::shared_ptr<const recognize::Recognizer> r, const BenchInputs& in) : r_(std::move(r)), in_(in) {}
  bool batched() const override { return r_->batched(); }
  const char* item() const override { return "face"; }
  Status prepare(int batch) override {
    crops_.clear();
    for (int i = 0; i < batch; ++i) crops_.push_back(in_.aligned[i % in_.aligned.size()]);
    return Status::Ok();
  }
  Status run() override {
    FACELENS_ASSIGN_OR_RETURN(auto e, r_->embed(crops_));
    if (e.size() != crops_.size())
      return internal_error("embed returned " + std::to_string(e.size()) + " embeddings for " +
                            std::to_string(crops_.size()) + " faces");
    return Status::Ok();
  }
  std::vector<SessionFacts> sessions() const override { return {facts_of(r_->session())}; }
  int faces_last_run() const override { return static_cast<int>(crops_.size()); }

 private:
  std::shared_ptr<const recognize::Recognizer> r_;
  const BenchInputs& in_;
  std::vector<Image> crops_;
};

StatusOr<std::shared_ptr<const detect::Detector>> open_detector(const ServiceContext& ctx) {
  FACELENS_ASSIGN_OR_RETURN(auto e, entry_for(ctx, "detector"));
  FACELENS_ASSIGN_OR_RETURN(auto s, open(ctx, *e));
  return services::make<models::Task::kDetector>(*e, s);
}

StatusOr<std::shared_ptr<const landmarks::LandmarkModel>> open_landmarks(const ServiceContext& ctx) {
  FACELENS_ASSIGN_OR_RETURN(auto e, entry_for(ctx, "landmarks"));
  FACELENS_ASSIGN_OR_RETURN(auto s, open(ctx, *e));
  return services::make<models::Task::kLandmarks>(*e, s);
}

StatusOr<std::shared_ptr<const recognize::Recognizer>> open_recognizer(const ServiceContext& ctx) {
  FACELENS_ASSIGN_OR_RETURN(auto e, entry_for(ctx, "recognizer"));
  FACELENS_ASSIGN_OR_RETURN(auto s, open(ctx, *e));
  return services::make<models::Task::kRecognizer>(*e, s);
}

}  // namespace

const std::vector<std::string>& known_services() {
  static const std::vector<std::string> kServices = {"detect",   "landmarks", "embed",
                                                     "liveness", "deepfake",  "pipeline"};
  return kServices;
}

std::vector<std::string> service_tasks(const std::string& service) {
  if (service == "detect") return {"detector"};
  if (service == "landmarks") return {"landmarks"};
  if (service == "embed") return {"recognizer"};
  if (service == "liveness") return {"liveness"};
  if (service == "deepfake") return {"deepfake"};
  if (service == "pipeline") return {"detector", "landmarks", "recognizer"};
  return {};
}

StatusOr<std::unique_ptr<ServiceBench>> make_service_bench(const std::string& service, const ServiceContext& ctx) {
  const BenchInputs& in = *ctx.inputs;
  if (in.images.empty()) return invalid_argument("the benchmark needs at least one image");
  if (service == "detect") {
    FACELENS_ASSIGN_OR_RETURN(auto d, open_detector(ctx));
    return std::unique_ptr<ServiceBench>(std::make_unique<DetectBench>(d, in));
  }
  if (service == "landmarks") {
    FACELENS_RETURN_IF_ERROR(entry_for(ctx, "landmarks").status());
    FACELENS_RETURN_IF_ERROR(need_faces(ctx, service));
    FACELENS_ASSIGN_OR_RETURN(auto m, open_landmarks(ctx));
    return std::unique_ptr<ServiceBench>(std::make_unique<LandmarksBench>(m, in));
  }
  if (service == "embed") {
    FACELENS_RETURN_IF_ERROR(entry_for(ctx, "recognizer").status());
    FACELENS_RETURN_IF_ERROR(need_faces(ctx, service));
    if (in.aligned.empty())
      return failed_precondition(
          "embed needs aligned faces: no landmark model (manifest defaults.landmarks) and a "
          "detector without keypoints");
    FACELENS_ASSIGN_OR_RETURN(auto r, open_recognizer(ctx));
    return std::unique_ptr<ServiceBench>(std::make_unique<EmbedBench>(r, in));
  }
  if (service == "liveness") {
    FACELENS_ASSIGN_OR_RETURN(auto e, entry_for(ctx, "liveness"));
    FACELENS_RETURN_IF_ERROR(need_faces(ctx, service));
    FACELENS_ASSIGN_OR_RETURN(auto s, open(ctx, *e));
    FACELENS_ASSIGN_OR_RETURN(auto m, services::make<models::Task::kLiveness>(*e, s));
    return std::unique_ptr<ServiceBench>(std::make_unique<LivenessBench>(m, in));
  }
  if (service == "deepfake") {
    FACELENS_RETURN_IF_ERROR(entry_for(ctx, "deepfake").status());
    return unavailable(
        "the deepfake service (src/deepfake, issue 5) is not wired into the benchmark yet: add its "
        "runner to src/bench/services.cpp");
  }
  if (service == "pipeline") {
    FACELENS_ASSIGN_OR_RETURN(auto p, make_pipeline_bench(ctx));
    return std::unique_ptr<ServiceBench>(std::move(p));
  }
  return invalid_argument("unknown service '" + service +
                          "': expected detect, landmarks, embed, liveness, deepfake or pipeline");
}

SessionFacts facts_of(const runtime::Session& session) {
  SessionFacts f;
  f.provider = session.provider();
  f.fallback_reason = session.fallback_reason();
  f.model_path = session.model_path();
  f.placement = session.placement();
  return f;
}

PipelineBench::PipelineBench(std::unique_ptr<Engine> engine, const BenchInputs& in)
    : engine_(std::move(engine)), in_(in) {}

Status PipelineBench::prepare(int batch) {
  results_.assign(static_cast<size_t>(batch), ImageResult{});
  return Status::Ok();
}

Status PipelineBench::run() {
  AnalyzeOptions embed;  // the /v1/embed handler's (src/server/routes_analysis.cpp)
  embed.embedding = true;
  const size_t n = results_.size();
  std::vector<Status> status(n);
  auto one = [&](size_t i) {
    auto r = engine_->analyze_bytes(in_.encoded[i % in_.encoded.size()], embed);
    if (r.ok()) results_[i] = std::move(*r);
    else status[i] = r.status().with_context(in_.paths[i % in_.paths.size()]);
  };
  if (n == 1) {
    one(0);
  } else {
    std::vector<std::thread> calls;
    calls.reserve(n);
    for (size_t i = 0; i < n; ++i) calls.emplace_back(one, i);
    for (auto& t : calls) t.join();
  }
  faces_ = 0;
  for (size_t i = 0; i < n; ++i) {
    FACELENS_RETURN_IF_ERROR(status[i]);
    faces_ += static_cast<int>(results_[i].faces.size());
  }
  return Status::Ok();
}

std::vector<SessionFacts> PipelineBench::sessions() const {
  std::vector<SessionFacts> out;
  for (const auto& s : engine_->services()) {
    if (!s.loaded) continue;
    SessionFacts f;
    f.provider = s.provider;
    f.fallback_reason = s.provider_reason;
    f.model_path = s.model_path;
    f.model_id = s.model_id;
    f.placement = s.placement;
    out.push_back(std::move(f));
  }
  return out;
}

StatusOr<std::unique_ptr<PipelineBench>> make_pipeline_bench(const ServiceContext& ctx) {
  const BenchInputs& in = *ctx.inputs;
  if (in.encoded.empty() || in.paths.size() != in.encoded.size())
    return invalid_argument("the pipeline bench needs the images' file bytes (BenchInputs::encoded and paths)");
  if (ctx.precision != "fp32")
    return unavailable("the pipeline runs the Engine, whose " + ctx.precision +
                       " variants come from its precision cache, not from the benchmark's: time them with "
                       "`facelens serve` and `facelens bench --sweep PHOTO --server URL`");
  FACELENS_ASSIGN_OR_RETURN(auto engine, Engine::create(ctx.engine));
  AnalyzeOptions embed;
  embed.embedding = true;
  // The models /v1/embed runs, loaded now (as `facelens serve` does before it listens) so that
  // the load is outside the timing and the sessions' providers are known.
  FACELENS_RETURN_IF_ERROR(engine->warm_up(embed));
  return std::make_unique<PipelineBench>(std::move(engine), in);
}

}  // namespace facelens::bench

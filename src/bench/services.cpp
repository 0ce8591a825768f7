#include "bench/services.h"

#include "align/aligner.h"
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
  std::vector<const runtime::Session*> sessions() const override { return {&det_->session()}; }
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
  std::vector<const runtime::Session*> sessions() const override { return {&m_->session()}; }
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
  std::vector<const runtime::Session*> sessions() const override { return {&m_->session()}; }
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
  std::vector<const runtime::Session*> sessions() const override { return {&r_->session()}; }
  int faces_last_run() const override { return static_cast<int>(crops_.size()); }

 private:
  std::shared_ptr<const recognize::Recognizer> r_;
  const BenchInputs& in_;
  std::vector<Image> crops_;
};

// Decode to embedding for `batch` images: decode, detect, landmarks (when the detector has no
// keypoints), align every face, then every face of every image through the recognizer in one
// embed() call (one model call when the recognizer is batched). Batch 1 is the single stream.
class PipelineBench final : public ServiceBench {
 public:
  PipelineBench(std::shared_ptr<const detect::Detector> d, std::shared_ptr<const landmarks::LandmarkModel> l,
                std::shared_ptr<const recognize::Recognizer> r, const BenchInputs& in)
      : det_(std::move(d)), lm_(std::move(l)), rec_(std::move(r)), in_(in) {}
  bool batched() const override { return rec_->batched(); }
  const char* item() const override { return "image"; }
  int calls_per_run(int batch) const override {
    // Per image: one detector call and one landmark call per face; the recognizer once (batched)
    // or once per face. Counted from the faces the setup found in each image.
    int calls = 0, faces = 0;
    for (int i = 0; i < batch; ++i) {
      const int n = faces_in_[i % faces_in_.size()];
      calls += 1 + (det_->has_keypoints() ? 0 : n);
      faces += n;
    }
    return calls + (rec_->batched() ? (faces > 0 ? 1 : 0) : faces);
  }
  Status prepare(int batch) override {
    batch_ = batch;
    return Status::Ok();
  }
  Status run() override {
    std::vector<Image> aligned;
    for (int i = 0; i < batch_; ++i) {
      const auto& bytes = in_.encoded[i % in_.encoded.size()];
      FACELENS_ASSIGN_OR_RETURN(auto decoded, decode_image(bytes, {}));
      FACELENS_ASSIGN_OR_RETURN(auto found, det_->detect(decoded.image));
      for (const auto& d : found) {
        FivePoints five;
        if (d.keypoints) {
          five = *d.keypoints;
        } else {
          FACELENS_ASSIGN_OR_RETURN(five, lm_->predict(decoded.image, d.box));
        }
        aligned.push_back(align::align_face(decoded.image, five, rec_->input_size()));
      }
    }
    faces_ = static_cast<int>(aligned.size());
    if (aligned.empty()) return Status::Ok();
    FACELENS_ASSIGN_OR_RETURN(auto e, rec_->embed(aligned));
    if (e.size() != aligned.size()) return internal_error("embed returned fewer embeddings than faces");
    return Status::Ok();
  }
  std::vector<const runtime::Session*> sessions() const override {
    std::vector<const runtime::Session*> s = {&det_->session()};
    if (lm_) s.push_back(&lm_->session());
    s.push_back(&rec_->session());
    return s;
  }
  int faces_last_run() const override { return faces_; }
  void set_faces_per_image(std::vector<int> n) { faces_in_ = std::move(n); }

 private:
  std::shared_ptr<const detect::Detector> det_;
  std::shared_ptr<const landmarks::LandmarkModel> lm_;
  std::shared_ptr<const recognize::Recognizer> rec_;
  const BenchInputs& in_;
  std::vector<int> faces_in_;
  int batch_ = 1;
  int faces_ = 0;
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
    FACELENS_ASSIGN_OR_RETURN(auto d, open_detector(ctx));
    std::shared_ptr<const landmarks::LandmarkModel> lm;
    if (!d->has_keypoints()) {
      FACELENS_ASSIGN_OR_RETURN(lm, open_landmarks(ctx));
    }
    FACELENS_ASSIGN_OR_RETURN(auto r, open_recognizer(ctx));
    auto p = std::make_unique<PipelineBench>(d, lm, r, in);
    std::vector<int> per_image(in.images.size(), 0);
    for (const auto& f : in.faces) ++per_image[f.image];
    p->set_faces_per_image(std::move(per_image));
    return std::unique_ptr<ServiceBench>(std::move(p));
  }
  return invalid_argument("unknown service '" + service +
                          "': expected detect, landmarks, embed, liveness, deepfake or pipeline");
}

}  // namespace facelens::bench

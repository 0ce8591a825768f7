#include "detect/detector.h"

#include <algorithm>

#include "detect/families.h"
#include "detect/nms.h"
#include "models/binding.h"
#include "image/tensor.h"

namespace facelens::detect {

namespace {

Box clip(const Box& b, int w, int h) {
  return {std::clamp(b.x1, 0.f, static_cast<float>(w)), std::clamp(b.y1, 0.f, static_cast<float>(h)),
          std::clamp(b.x2, 0.f, static_cast<float>(w)), std::clamp(b.y2, 0.f, static_cast<float>(h))};
}

// UltraFace (Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB) and models with its outputs:
// scores [1,N,2] softmaxed (index 1 = face) and boxes [1,N,4], normalised x1,y1,x2,y2, already
// decoded against the priors. Input stretched to the model size.
class UltraFaceDetector final : public Detector {
 public:
  UltraFaceDetector(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, DetectorOptions o,
                    int scores_idx, int boxes_idx)
      : entry_(e), session_(std::move(s)), options_(o), scores_idx_(scores_idx), boxes_idx_(boxes_idx),
        norm_(e.input.norm) {}

  StatusOr<std::vector<Detection>> detect(const Image& img) const override {
    if (img.empty()) return invalid_argument("empty image given to the detector");
    const int w = entry_.input.width(), h = entry_.input.height();
    std::vector<float> input(static_cast<size_t>(3) * w * h);
    image::crop_resize_planar(img, 0, 0, img.width, img.height, w, h, norm_, input.data());
    runtime::TensorRef ref{input, {1, 3, h, w}};
    FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
    const auto& scores = out[scores_idx_];
    const auto& boxes = out[boxes_idx_];
    const size_t n = scores.data.size() / 2;
    if (boxes.data.size() != n * 4) {
      return internal_error("detector '" + entry_.id + "': scores has " + std::to_string(n) + " anchors but boxes " +
                            std::to_string(boxes.data.size() / 4) + ": check outputs in the manifest");
    }
    std::vector<Box> cand;
    std::vector<float> cand_scores;
    const float fw = static_cast<float>(img.width), fh = static_cast<float>(img.height);
    for (size_t i = 0; i < n; ++i) {
      float s = scores.data[2 * i + 1];
      if (s <= options_.score_threshold) continue;
      const float* b = &boxes.data[4 * i];
      cand.push_back(clip({b[0] * fw, b[1] * fh, b[2] * fw, b[3] * fh}, img.width, img.height));
      cand_scores.push_back(s);
    }
    std::vector<Detection> result;
    for (int k : nms(cand, cand_scores, options_.nms_iou, options_.max_faces)) {
      if (cand[k].area() <= 0) continue;
      result.push_back({cand[k], cand_scores[k], std::nullopt});
    }
    return result;
  }

  int input_width() const override { return entry_.input.width(); }
  int input_height() const override { return entry_.input.height(); }
  bool has_keypoints() const override { return false; }
  const runtime::Session& session() const override { return *session_; }
  const models::ModelEntry& entry() const override { return entry_; }

 private:
  models::ModelEntry entry_;
  std::shared_ptr<const runtime::Session> session_;
  DetectorOptions options_;
  int scores_idx_, boxes_idx_;
  image::Normalization norm_;
};

}  // namespace

StatusOr<std::shared_ptr<const Detector>> create_detector(const models::ModelEntry& entry,
                                                          std::shared_ptr<const runtime::Session> session,
                                                          const DetectorOptions& options) {
  DetectorOptions o = options;
  if (o.score_threshold < 0) o.score_threshold = static_cast<float>(entry.threshold("score", 0.7));
  if (o.nms_iou < 0) o.nms_iou = static_cast<float>(entry.threshold("nms_iou", 0.3));
  if (entry.input.shape.size() != 4 || entry.input.width() <= 0 || entry.input.height() <= 0) {
    return invalid_argument("manifest entry '" + entry.id + "': input.shape must be [1,C,H,W] with fixed H and W");
  }
  if (entry.family == "ultraface") {
    FACELENS_ASSIGN_OR_RETURN(int si, models::output_index(entry, *session, "scores"));
    FACELENS_ASSIGN_OR_RETURN(int bi, models::output_index(entry, *session, "boxes"));
    return std::shared_ptr<const Detector>(std::make_shared<UltraFaceDetector>(entry, std::move(session), o, si, bi));
  }
  if (entry.family == "scrfd") return make_scrfd_detector(entry, std::move(session), o);
  if (entry.family == "yunet") return make_yunet_detector(entry, std::move(session), o);
  if (entry.family == "yolov5face" || entry.family == "yolov8face" || entry.family == "yolov10" ||
      entry.family == "yolov10face")
    return make_yolo_detector(entry, std::move(session), o);
  return unimplemented("detector family '" + entry.family + "' of model '" + entry.id +
                       "' is not supported; known detector families: ultraface, scrfd, yunet, yolov5face, "
                       "yolov8face, yolov10, yolov10face");
}

}  // namespace facelens::detect

#include "detect/detector.h"

#include <algorithm>

#include "detect/families.h"
#include "detect/nms.h"
#include "detect/tiling.h"
#include "image/tensor.h"
#include "models/binding.h"

namespace facelens::detect {

namespace {

// UltraFace (Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB) and models with its outputs:
// scores [1,N,2] softmaxed (index 1 = face) and boxes [1,N,4], normalised x1,y1,x2,y2, already
// decoded against the priors. Candidates: score >= thresholds.score (lib/fr_detect.js screenScore).
class UltraFaceDetector final : public ModelDetector {
 public:
  UltraFaceDetector(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, const DetectorOptions& o,
                    int scores_idx, int boxes_idx)
      : ModelDetector(e, std::move(s), o, /*keypoints=*/false, /*nms=*/true),
        scores_idx_(scores_idx),
        boxes_idx_(boxes_idx) {}

 protected:
  StatusOr<std::vector<Candidate>> decode(const std::vector<runtime::Tensor>& out) const override {
    const auto& scores = out[scores_idx_];
    const auto& boxes = out[boxes_idx_];
    const size_t n = scores.data.size() / 2;
    if (boxes.data.size() != n * 4) {
      return internal_error("detector '" + entry_.id + "': scores has " + std::to_string(n) + " anchors but boxes " +
                            std::to_string(boxes.data.size() / 4) + ": check outputs in the manifest");
    }
    // Boxes in model-input pixels (the input is stretched, so finish() maps them back).
    const float w = static_cast<float>(entry_.input.width()), h = static_cast<float>(entry_.input.height());
    std::vector<Candidate> cand;
    for (size_t i = 0; i < n; ++i) {
      const float s = scores.data[2 * i + 1];
      if (s < options().score_threshold) continue;
      const float* b = &boxes.data[4 * i];
      cand.push_back({{b[0] * w, b[1] * h, b[2] * w, b[3] * h}, s, std::nullopt});
    }
    return cand;
  }

 private:
  int scores_idx_, boxes_idx_;
};

}  // namespace

StatusOr<std::shared_ptr<const Detector>> create_detector(const models::ModelEntry& entry,
                                                          std::shared_ptr<const runtime::Session> session,
                                                          const DetectorOptions& options) {
  DetectorOptions o = options;
  if (o.score_threshold < 0) o.score_threshold = static_cast<float>(entry.threshold("score", 0.7));
  if (o.nms_iou < 0) {
    if (entry.detector.suppression == models::Suppression::kBottomFirstOwnArea) {
      if (!entry.thresholds.count("own_area_overlap")) {
        return invalid_argument("manifest entry '" + entry.id +
                                "': suppression bottom_first_own_area needs thresholds.own_area_overlap");
      }
      o.nms_iou = static_cast<float>(entry.threshold("own_area_overlap", 0));
    } else {
      o.nms_iou = static_cast<float>(entry.threshold("nms_iou", 0.3));
    }
  }
  FACELENS_ASSIGN_OR_RETURN(TilingRule tiling, tiling_rule_of(entry));
  if (o.tiling) tiling.enabled = *o.tiling;
  using models::Family;
  if (tiling.enabled && (entry.family == Family::kYolov10 || entry.family == Family::kYolov10Face)) {
    return invalid_argument("detector '" + entry.id + "' (family " + std::string(models::name(entry.family)) +
                            ") is end to end, without a suppression rule to merge tiles by: turn tiling off for it");
  }
  if (entry.input.shape.size() != 4 || entry.input.width() <= 0 || entry.input.height() <= 0) {
    return invalid_argument("manifest entry '" + entry.id + "': input.shape must be [1,C,H,W] with fixed H and W");
  }
  if (entry.family == Family::kUltraface) {
    FACELENS_ASSIGN_OR_RETURN(int si, models::output_index(entry, *session, "scores"));
    FACELENS_ASSIGN_OR_RETURN(int bi, models::output_index(entry, *session, "boxes"));
    return std::shared_ptr<const Detector>(std::make_shared<UltraFaceDetector>(entry, std::move(session), o, si, bi));
  }
  if (entry.family == Family::kScrfd) return make_scrfd_detector(entry, std::move(session), o);
  if (entry.family == Family::kYunet) return make_yunet_detector(entry, std::move(session), o);
  if (entry.family == Family::kYolov5Face || entry.family == Family::kYolov8Face || entry.family == Family::kYolov10 ||
      entry.family == Family::kYolov10Face)
    return make_yolo_detector(entry, std::move(session), o);
  return unimplemented("detector family '" + std::string(models::name(entry.family)) + "' of model '" + entry.id +
                       "' is not supported; known detector families: ultraface, scrfd, yunet, yolov5face, "
                       "yolov8face, yolov10, yolov10face");
}

}  // namespace facelens::detect

// YuNet (libfacedetection / OpenCV FaceDetectorYN): per stride cls and obj scores, box offsets
// and keypoint offsets for one prior per cell, decoded as OpenCV's face_detect.cpp does.
#include <algorithm>
#include <cmath>

#include "detect/families.h"
#include "models/binding.h"

namespace facelens::detect {

void decode_yunet_level(std::span<const float> cls, std::span<const float> obj, std::span<const float> boxes,
                        std::span<const float> kps, int stride, int rows, int cols, bool sqrt_score, float threshold,
                        std::vector<Candidate>* out) {
  const size_t n = static_cast<size_t>(rows) * cols;
  const float s = static_cast<float>(stride);
  for (size_t i = 0; i < n; ++i) {
    const float p = std::clamp(cls[i], 0.f, 1.f) * std::clamp(obj[i], 0.f, 1.f);
    const float score = sqrt_score ? std::sqrt(p) : p;
    if (score < threshold) continue;
    const float col = static_cast<float>(i % cols), row = static_cast<float>(i / cols);
    const float* b = &boxes[4 * i];
    const float cx = (col + b[0]) * s, cy = (row + b[1]) * s;
    const float w = std::exp(b[2]) * s, h = std::exp(b[3]) * s;
    Candidate c;
    c.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    c.score = score;
    FivePoints pts;
    for (int k = 0; k < 5; ++k) pts[k] = {(kps[10 * i + 2 * k] + col) * s, (kps[10 * i + 2 * k + 1] + row) * s};
    c.keypoints = pts;
    out->push_back(c);
  }
}

namespace {

struct Level {
  int stride = 0;
  int cls = -1, obj = -1, bbox = -1, kps = -1;
};

class YuNetDetector final : public ModelDetector {
 public:
  YuNetDetector(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, const DetectorOptions& o,
                std::vector<Level> levels)
      : ModelDetector(e, std::move(s), o, /*keypoints=*/true, /*nms=*/true),
        levels_(std::move(levels)),
        sqrt_score_(e.string("score_combine", "sqrt") == "sqrt") {}

 protected:
  StatusOr<std::vector<Candidate>> decode(const std::vector<runtime::Tensor>& out) const override {
    std::vector<Candidate> cand;
    for (const auto& l : levels_) {
      const int rows = entry_.input.height() / l.stride, cols = entry_.input.width() / l.stride;
      const size_t n = static_cast<size_t>(rows) * cols;
      if (out[l.cls].data.size() != n || out[l.obj].data.size() != n || out[l.bbox].data.size() != 4 * n ||
          out[l.kps].data.size() != 10 * n) {
        return internal_error("YuNet model '" + entry_.id + "', stride " + std::to_string(l.stride) + ": expected " +
                              std::to_string(n) + " priors (" + std::to_string(rows) + "x" + std::to_string(cols) +
                              "), got " + std::to_string(out[l.cls].data.size()) +
                              ": input.shape must be a multiple of 32");
      }
      decode_yunet_level(out[l.cls].data, out[l.obj].data, out[l.bbox].data, out[l.kps].data, l.stride, rows, cols,
                         sqrt_score_, options().score_threshold, &cand);
    }
    return cand;
  }

 private:
  std::vector<Level> levels_;
  bool sqrt_score_;
};

}  // namespace

StatusOr<std::shared_ptr<const Detector>> make_yunet_detector(const models::ModelEntry& entry,
                                                              std::shared_ptr<const runtime::Session> session,
                                                              const DetectorOptions& options) {
  FACELENS_RETURN_IF_ERROR(letterbox_scale_of(entry).status());
  if (entry.input.width() % 32 != 0 || entry.input.height() % 32 != 0) {
    return invalid_argument("manifest entry '" + entry.id + "': YuNet input.shape " +
                            runtime::shape_to_string(entry.input.shape) + " must have H and W multiples of 32");
  }
  std::vector<Level> levels;
  for (int stride : {8, 16, 32}) {
    const std::string s = std::to_string(stride);
    Level l;
    l.stride = stride;
    FACELENS_ASSIGN_OR_RETURN(l.cls, models::output_index(entry, *session, "cls_" + s));
    FACELENS_ASSIGN_OR_RETURN(l.obj, models::output_index(entry, *session, "obj_" + s));
    FACELENS_ASSIGN_OR_RETURN(l.bbox, models::output_index(entry, *session, "bbox_" + s));
    FACELENS_ASSIGN_OR_RETURN(l.kps, models::output_index(entry, *session, "kps_" + s));
    levels.push_back(l);
  }
  return std::shared_ptr<const Detector>(
      std::make_shared<YuNetDetector>(entry, std::move(session), options, std::move(levels)));
}

}  // namespace facelens::detect

// SCRFD (insightface): per stride a score, box distances and optional keypoint offsets for A
// anchors per cell, decoded as python-package/insightface/model_zoo/scrfd.py does.
#include <map>

#include "detect/families.h"
#include "models/binding.h"

namespace facelens::detect {

void decode_scrfd_level(std::span<const float> scores, std::span<const float> boxes, std::span<const float> kps,
                        int stride, int rows, int cols, int anchors, float threshold, std::vector<Candidate>* out) {
  const size_t n = static_cast<size_t>(rows) * cols * anchors;
  const float s = static_cast<float>(stride);
  for (size_t i = 0; i < n; ++i) {
    if (scores[i] < threshold) continue;
    const size_t cell = i / anchors;
    const float cx = static_cast<float>(cell % cols) * s, cy = static_cast<float>(cell / cols) * s;
    const float* d = &boxes[4 * i];
    Candidate c;
    c.box = {cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s};
    c.score = scores[i];
    if (!kps.empty()) {
      FivePoints p;
      for (int k = 0; k < 5; ++k) p[k] = {cx + kps[10 * i + 2 * k] * s, cy + kps[10 * i + 2 * k + 1] * s};
      c.keypoints = p;
    }
    out->push_back(c);
  }
}

namespace {

struct Level {
  int stride = 0;
  int score = -1, bbox = -1, kps = -1;  // output indexes
};

class ScrfdDetector final : public ModelDetector {
 public:
  ScrfdDetector(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, const DetectorOptions& o,
                std::vector<Level> levels, int anchors)
      : ModelDetector(e, std::move(s), o, levels[0].kps >= 0, /*nms=*/true),
        levels_(std::move(levels)),
        anchors_(anchors) {}

 protected:
  StatusOr<std::vector<Candidate>> decode(const std::vector<runtime::Tensor>& out) const override {
    std::vector<Candidate> cand;
    for (const auto& l : levels_) {
      const int rows = entry_.input.height() / l.stride, cols = entry_.input.width() / l.stride;
      const size_t n = static_cast<size_t>(rows) * cols * anchors_;
      const auto& sc = out[l.score].data;
      const auto& bb = out[l.bbox].data;
      const std::vector<float> none;
      const auto& kp = l.kps >= 0 ? out[l.kps].data : none;
      if (sc.size() != n || bb.size() != 4 * n || (l.kps >= 0 && kp.size() != 10 * n)) {
        return internal_error("SCRFD model '" + entry_.id + "', stride " + std::to_string(l.stride) + ": expected " +
                              std::to_string(n) + " anchors (" + std::to_string(rows) + "x" + std::to_string(cols) +
                              " cells x " + std::to_string(anchors_) + "), got " + std::to_string(sc.size()) +
                              " scores and " + std::to_string(bb.size() / 4) +
                              " boxes: check input.shape and 'anchors' in the manifest");
      }
      decode_scrfd_level(sc, bb, kp, l.stride, rows, cols, anchors_, options().score_threshold, &cand);
    }
    return cand;
  }

 private:
  std::vector<Level> levels_;
  int anchors_;
};

}  // namespace

StatusOr<std::shared_ptr<const Detector>> make_scrfd_detector(const models::ModelEntry& entry,
                                                              std::shared_ptr<const runtime::Session> session,
                                                              const DetectorOptions& options) {
  FACELENS_RETURN_IF_ERROR(letterbox_scale_of(entry).status());
  std::vector<Level> levels;
  for (int stride : {8, 16, 32}) {
    const std::string s = std::to_string(stride);
    Level l;
    l.stride = stride;
    FACELENS_ASSIGN_OR_RETURN(l.score, models::output_index(entry, *session, "score_" + s));
    FACELENS_ASSIGN_OR_RETURN(l.bbox, models::output_index(entry, *session, "bbox_" + s));
    if (entry.outputs.count("kps_" + s)) {
      FACELENS_ASSIGN_OR_RETURN(l.kps, models::output_index(entry, *session, "kps_" + s));
    }
    levels.push_back(l);
  }
  if ((levels[0].kps >= 0) != (levels[2].kps >= 0) || (levels[0].kps >= 0) != (levels[1].kps >= 0)) {
    return invalid_argument("manifest entry '" + entry.id +
                            "': name outputs.kps_8, kps_16 and kps_32 together, or none");
  }
  const int anchors = static_cast<int>(entry.number("anchors", 2));
  if (anchors < 1) return invalid_argument("manifest entry '" + entry.id + "': 'anchors' must be >= 1");
  return std::shared_ptr<const Detector>(
      std::make_shared<ScrfdDetector>(entry, std::move(session), options, std::move(levels), anchors));
}

}  // namespace facelens::detect

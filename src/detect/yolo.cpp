// YOLO face detectors: YOLOv5-face [B,N,16] and YOLOv8-face [B,20,N] (NMS here), and YOLOv10
// end-to-end [B,300,6] / [B,300,6+15] (one-to-one head: no NMS). Coordinates come in input pixels.
#include <cmath>

#include "detect/families.h"
#include "models/binding.h"

namespace facelens::detect {

std::vector<Candidate> decode_yolov5face(std::span<const float> rows, float threshold) {
  std::vector<Candidate> out;
  for (size_t i = 0; i + 16 <= rows.size(); i += 16) {
    const float* r = &rows[i];
    const float score = r[4] * r[15];
    if (score < threshold) continue;
    Candidate c;
    c.box = {r[0] - r[2] / 2, r[1] - r[3] / 2, r[0] + r[2] / 2, r[1] + r[3] / 2};
    c.score = score;
    FivePoints p;
    for (int k = 0; k < 5; ++k) p[k] = {r[5 + 2 * k], r[6 + 2 * k]};
    c.keypoints = p;
    out.push_back(c);
  }
  return out;
}

std::vector<Candidate> decode_yolov8face(std::span<const float> d, int n, float threshold) {
  std::vector<Candidate> out;
  auto at = [&](int channel, int i) { return d[static_cast<size_t>(channel) * n + i]; };
  for (int i = 0; i < n; ++i) {
    const float score = at(4, i);
    if (score < threshold) continue;
    const float cx = at(0, i), cy = at(1, i), w = at(2, i), h = at(3, i);
    Candidate c;
    c.box = {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    c.score = score;
    FivePoints p;
    for (int k = 0; k < 5; ++k) p[k] = {at(5 + 3 * k, i), at(6 + 3 * k, i)};
    c.keypoints = p;
    out.push_back(c);
  }
  return out;
}

std::vector<Candidate> decode_yolov10(std::span<const float> rows, int width, int face_class, float threshold) {
  std::vector<Candidate> out;
  for (size_t i = 0; i + width <= rows.size(); i += width) {
    const float* r = &rows[i];
    if (r[4] < threshold || static_cast<int>(std::lround(r[5])) != face_class) continue;
    Candidate c;
    c.box = {r[0], r[1], r[2], r[3]};
    c.score = r[4];
    if (width >= 21) {
      FivePoints p;
      for (int k = 0; k < 5; ++k) p[k] = {r[6 + 3 * k], r[7 + 3 * k]};
      c.keypoints = p;
    }
    out.push_back(c);
  }
  return out;
}

namespace {

enum class Layout { kV5Face, kV8Face, kV10 };

class YoloDetector final : public ModelDetector {
 public:
  YoloDetector(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, const DetectorOptions& o,
               Layout layout, int out, bool keypoints)
      : ModelDetector(e, std::move(s), o, keypoints, /*nms=*/layout != Layout::kV10),
        layout_(layout),
        out_(out),
        face_class_(static_cast<int>(e.number("face_class", 0))) {}

 protected:
  StatusOr<std::vector<Candidate>> decode(const std::vector<runtime::Tensor>& outs) const override {
    const auto& t = outs[out_];
    const float th = options().score_threshold;
    if (t.shape.size() != 3) return bad(t, "3 dimensions");
    switch (layout_) {
      case Layout::kV5Face:
        if (t.shape[2] != 16) return bad(t, "[B,N,16]");
        return decode_yolov5face(t.data, th);
      case Layout::kV8Face:
        if (t.shape[1] != 20) return bad(t, "[B,20,N]");
        return decode_yolov8face(t.data, static_cast<int>(t.shape[2]), th);
      case Layout::kV10:
        if (t.shape[2] != 6 && t.shape[2] != 21) return bad(t, "[B,300,6] or [B,300,21]");
        return decode_yolov10(t.data, static_cast<int>(t.shape[2]), face_class_, th);
    }
    return internal_error("unknown YOLO layout");
  }

 private:
  Status bad(const runtime::Tensor& t, const std::string& want) const {
    return internal_error("model '" + entry_.id + "' (family " + std::string(models::name(entry_.family)) +
                          ") gave output " + runtime::shape_to_string(t.shape) + ", expected " + want +
                          ": check the family in the manifest (facelens models inspect FILE)");
  }
  Layout layout_;
  int out_;
  int face_class_;
};

}  // namespace

StatusOr<std::shared_ptr<const Detector>> make_yolo_detector(const models::ModelEntry& entry,
                                                             std::shared_ptr<const runtime::Session> session,
                                                             const DetectorOptions& options) {
  FACELENS_RETURN_IF_ERROR(letterbox_scale_of(entry).status());
  FACELENS_ASSIGN_OR_RETURN(int out, models::output_index(entry, *session, "output"));
  Layout layout = Layout::kV10;
  bool keypoints = true;
  if (entry.family == models::Family::kYolov5Face) {
    layout = Layout::kV5Face;
  } else if (entry.family == models::Family::kYolov8Face) {
    layout = Layout::kV8Face;
  } else {
    const auto& shape = session->outputs()[out].shape;
    keypoints = entry.family == models::Family::kYolov10Face || (shape.size() == 3 && shape[2] == 21);
  }
  return std::shared_ptr<const Detector>(
      std::make_shared<YoloDetector>(entry, std::move(session), options, layout, out, keypoints));
}

}  // namespace facelens::detect

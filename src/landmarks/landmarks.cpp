#include "landmarks/landmarks.h"

#include <cmath>

#include "models/binding.h"

namespace facelens::landmarks {

FivePoints five_from_68(const std::vector<Point>& p) {
  auto mean = [&](std::initializer_list<int> idx) {
    Point m;
    for (int i : idx) {
      m.x += p[i].x;
      m.y += p[i].y;
    }
    m.x /= static_cast<float>(idx.size());
    m.y /= static_cast<float>(idx.size());
    return m;
  };
  return {mean({37, 38, 40, 41}), mean({43, 44, 46, 47}), p[30], mean({48, 60}), mean({54, 64})};
}

StatusOr<std::shared_ptr<const LandmarkModel>> LandmarkModel::create(const models::ModelEntry& entry,
                                                                     std::shared_ptr<const runtime::Session> session) {
  if (entry.input.width() <= 0 || entry.input.height() <= 0) {
    return invalid_argument("manifest entry '" + entry.id + "': input.shape must be [1,C,H,W]");
  }
  FACELENS_ASSIGN_OR_RETURN(int out, models::output_index(entry, *session, "points"));
  return std::shared_ptr<const LandmarkModel>(new LandmarkModel(entry, std::move(session), out));
}

StatusOr<std::vector<Point>> LandmarkModel::predict68(const Image& img, const Box& box) const {
  // The crop is the integer box, as the model's own pre-processing takes it (package lib/fr_landmark.js).
  int x1 = std::max(0, static_cast<int>(box.x1)), y1 = std::max(0, static_cast<int>(box.y1));
  int x2 = std::min(img.width, static_cast<int>(box.x2)), y2 = std::min(img.height, static_cast<int>(box.y2));
  if (x2 - x1 < 2 || y2 - y1 < 2) return invalid_argument("face box too small for landmarks");
  const int w = entry_.input.width(), h = entry_.input.height();
  std::vector<float> input(static_cast<size_t>(entry_.input.norm.channels()) * w * h);
  image::crop_resize_planar(img, x1, y1, x2 - x1, y2 - y1, w, h, entry_.input.norm, input.data());
  runtime::TensorRef ref{input, {1, entry_.input.norm.channels(), h, w}};
  FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
  const auto& v = out[output_].data;
  if (v.size() != 136) {
    return internal_error("landmark model '" + entry_.id + "' gave " + std::to_string(v.size()) +
                          " values, expected 136 (68 points)");
  }
  std::vector<Point> pts(68);
  for (int i = 0; i < 68; ++i) {
    pts[i] = {x1 + v[2 * i] * (x2 - x1), y1 + v[2 * i + 1] * (y2 - y1)};
  }
  return pts;
}

StatusOr<FivePoints> LandmarkModel::predict(const Image& img, const Box& box) const {
  FACELENS_ASSIGN_OR_RETURN(auto pts, predict68(img, box));
  return five_from_68(pts);
}

}  // namespace facelens::landmarks

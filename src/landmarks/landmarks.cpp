#include "landmarks/landmarks.h"

#include <cmath>

#include "image/tensor.h"
#include "models/binding.h"

namespace facelens::landmarks {

FivePoints five_from_68(const std::vector<Point>& p, models::FivePointRule rule) {
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
  if (rule == models::FivePointRule::kEyeContourMean)
    return {mean({36, 37, 38, 39, 40, 41}), mean({42, 43, 44, 45, 46, 47}), p[30], p[48], p[54]};
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
  const auto& in = entry_.input;
  Box b = box;
  if (in.crop_rounding == models::Rounding::kTruncate)
    b = {std::trunc(b.x1), std::trunc(b.y1), std::trunc(b.x2), std::trunc(b.y2)};
  // The points are fractions of the box (of its integer corners, as the package's lib/fr_landmark.js
  // takes it); the crop is that box ("box", clipped to the image) or the box scaled about its centre
  // and kept inside the image ("scaled_box", alignLandmarkImage).
  const int x1 = std::max(0, static_cast<int>(b.x1)), y1 = std::max(0, static_cast<int>(b.y1));
  const int x2 = std::min(img.width, static_cast<int>(b.x2)), y2 = std::min(img.height, static_cast<int>(b.y2));
  if (x2 - x1 < 2 || y2 - y1 < 2) return invalid_argument("face box too small for landmarks");
  image::CropRect r{x1, y1, x2 - x1, y2 - y1};
  if (in.crop == models::CropRule::kScaledBox) r = image::scaled_crop(b, in.crop_scale, img.width, img.height);
  const int w = in.width(), h = in.height();
  std::vector<float> input(static_cast<size_t>(in.norm.channels()) * w * h);
  image::crop_resize_planar(img, r.x, r.y, r.w, r.h, w, h, in.norm, input.data());
  runtime::TensorRef ref{input, {1, in.norm.channels(), h, w}};
  FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
  const auto& v = out[output_].data;
  if (v.size() != 136) {
    return internal_error("landmark model '" + entry_.id + "' gave " + std::to_string(v.size()) +
                          " values, expected 136 (68 points)");
  }
  const bool truncate = entry_.landmarks.points_rounding == models::Rounding::kTruncate;
  auto round = [truncate](float x) { return truncate ? std::trunc(x) : x; };
  std::vector<Point> pts(68);
  for (int i = 0; i < 68; ++i) {
    pts[i] = {round(x1 + v[2 * i] * (x2 - x1)), round(y1 + v[2 * i + 1] * (y2 - y1))};
  }
  return pts;
}

StatusOr<FivePoints> LandmarkModel::predict(const Image& img, const Box& box) const {
  FACELENS_ASSIGN_OR_RETURN(auto pts, predict68(img, box));
  return five_from_68(pts, entry_.landmarks.five_points);
}

}  // namespace facelens::landmarks

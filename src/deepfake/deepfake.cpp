#include "deepfake/deepfake.h"

#include <algorithm>
#include <cmath>

#include "image/tensor.h"
#include "models/binding.h"

namespace facelens::deepfake {

CropRect margin_crop(const Box& box, float margin, int iw, int ih) {
  const int x1 = static_cast<int>(box.x1), y1 = static_cast<int>(box.y1);
  const int x2 = static_cast<int>(box.x2), y2 = static_cast<int>(box.y2);
  int size = static_cast<int>(static_cast<float>(std::max(x2 - x1, y2 - y1)) * margin);
  // Python's // floors; the centre and half side are non-negative for boxes inside the image.
  const int cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
  CropRect r;
  r.x = std::max(cx - size / 2, 0);
  r.y = std::max(cy - size / 2, 0);
  size = std::min(iw - r.x, size);
  size = std::min(ih - r.y, size);
  r.size = std::max(size, 0);
  return r;
}

std::vector<float> probabilities(std::span<const float> row, const std::string& activation) {
  std::vector<float> p(row.begin(), row.end());
  if (activation == "softmax" && p.size() > 1) {
    const float m = *std::max_element(p.begin(), p.end());
    double s = 0;
    for (float& v : p) s += (v = std::exp(v - m));
    for (float& v : p) v = static_cast<float>(v / s);
  } else if (activation == "sigmoid" || (activation == "softmax" && p.size() == 1)) {
    for (float& v : p) v = 1.f / (1.f + std::exp(-v));
  }
  if (p.size() == 1) p = {1.f - p[0], p[0]};
  return p;
}

StatusOr<std::shared_ptr<const DeepfakeModel>> DeepfakeModel::create(const models::ModelEntry& entry,
                                                                     std::shared_ptr<const runtime::Session> session,
                                                                     const DeepfakeOptions& options) {
  if (entry.input.shape.size() != 4 || entry.input.width() <= 0 || entry.input.height() <= 0) {
    return invalid_argument("manifest entry '" + entry.id + "': input.shape must be [N,3,H,W] with fixed H and W");
  }
  const std::string act = entry.string("activation", "softmax");
  if (act != "softmax" && act != "sigmoid" && act != "none") {
    return invalid_argument("manifest entry '" + entry.id + "': activation '" + act +
                            "' is not one of softmax, sigmoid, none");
  }
  FACELENS_ASSIGN_OR_RETURN(int out, models::output_index(entry, *session, "logits"));
  const float margin =
      options.margin > 0 ? options.margin : (entry.input.crop_scale > 0 ? entry.input.crop_scale : 1.3f);
  const float threshold = options.threshold >= 0 ? options.threshold : static_cast<float>(entry.threshold("fake", 0.5));
  const bool batched =
      !session->inputs().empty() && !session->inputs()[0].shape.empty() && session->inputs()[0].shape[0] < 0;
  return std::shared_ptr<const DeepfakeModel>(
      new DeepfakeModel(entry, std::move(session), out, batched, margin, threshold));
}

StatusOr<std::vector<Deepfake>> DeepfakeModel::run(const Image& img, std::span<const Box> boxes) const {
  const int w = entry_.input.width(), h = entry_.input.height(), c = entry_.input.norm.channels();
  const size_t per = static_cast<size_t>(c) * w * h;
  std::vector<float> input(per * boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i) {
    const CropRect r = margin_crop(boxes[i], margin_, img.width, img.height);
    if (r.size < 2) return invalid_argument("face box too small for the deepfake model");
    image::crop_resize_planar(img, r.x, r.y, r.size, r.size, w, h, entry_.input.norm, input.data() + i * per);
  }
  runtime::TensorRef ref{input, {static_cast<int64_t>(boxes.size()), c, h, w}};
  FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
  const auto& t = out[output_];
  if (t.data.empty() || t.data.size() % boxes.size() != 0) {
    return internal_error("deepfake model '" + entry_.id + "' gave " + std::to_string(t.data.size()) + " values for " +
                          std::to_string(boxes.size()) + " faces");
  }
  const size_t k = t.data.size() / boxes.size();
  const size_t fake = static_cast<size_t>(entry_.number("fake_index", 1));
  const std::string act = entry_.string("activation", "softmax");
  std::vector<Deepfake> result;
  for (size_t i = 0; i < boxes.size(); ++i) {
    std::vector<float> p = probabilities(std::span<const float>(t.data).subspan(i * k, k), act);
    if (fake >= p.size()) {
      return invalid_argument("manifest entry '" + entry_.id + "': fake_index " + std::to_string(fake) +
                              " but the model gives " + std::to_string(p.size()) + " classes");
    }
    Deepfake d;
    d.score = p[fake];
    d.threshold = threshold_;
    d.fake = d.score >= threshold_;
    result.push_back(d);
  }
  return result;
}

StatusOr<std::vector<Deepfake>> DeepfakeModel::score(const Image& img, std::span<const Box> boxes) const {
  if (boxes.empty()) return std::vector<Deepfake>{};
  if (img.empty()) return invalid_argument("empty image given to the deepfake model");
  if (batched_) return run(img, boxes);
  std::vector<Deepfake> result;
  for (size_t i = 0; i < boxes.size(); ++i) {
    FACELENS_ASSIGN_OR_RETURN(auto one, run(img, boxes.subspan(i, 1)));
    result.push_back(one[0]);
  }
  return result;
}

}  // namespace facelens::deepfake

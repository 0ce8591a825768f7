#include "liveness/liveness.h"

#include <algorithm>
#include <cmath>

#include "models/binding.h"

namespace facelens::liveness {

std::vector<float> softmax(std::span<const float> logits) {
  std::vector<float> p(logits.begin(), logits.end());
  if (p.empty()) return p;
  const float m = *std::max_element(p.begin(), p.end());
  double s = 0;
  for (float& v : p) s += (v = std::exp(v - m));
  for (float& v : p) v = static_cast<float>(v / s);
  return p;
}

StatusOr<std::shared_ptr<const LivenessModel>> LivenessModel::create(const models::ModelEntry& entry,
                                                                     std::shared_ptr<const runtime::Session> session) {
  FACELENS_ASSIGN_OR_RETURN(int out, models::output_index(entry, *session, "logits"));
  return std::shared_ptr<const LivenessModel>(new LivenessModel(entry, std::move(session), out));
}

StatusOr<Liveness> LivenessModel::score(const Image& img, const Box& box) const {
  const int w = entry_.input.width(), h = entry_.input.height(), c = entry_.input.norm.channels();
  Box b = box;
  if (entry_.input.crop_rounding == models::Rounding::kTruncate)
    b = {std::trunc(b.x1), std::trunc(b.y1), std::trunc(b.x2), std::trunc(b.y2)};
  const image::CropRect r = image::scaled_crop(b, entry_.input.crop_scale, img.width, img.height);
  if (r.w < 2 || r.h < 2) return invalid_argument("face box too small for liveness");
  std::vector<float> input(static_cast<size_t>(c) * w * h);
  image::crop_resize_planar(img, r.x, r.y, r.w, r.h, w, h, entry_.input.norm, input.data());
  runtime::TensorRef ref{input, {1, c, h, w}};
  FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
  Liveness l;
  l.probabilities =
      entry_.string("activation", "softmax") == "softmax" ? softmax(out[output_].data) : out[output_].data;
  const size_t live = static_cast<size_t>(entry_.number("live_index", 0));
  if (live >= l.probabilities.size()) {
    return invalid_argument("manifest entry '" + entry_.id + "': live_index " + std::to_string(live) +
                            " but the model has " + std::to_string(l.probabilities.size()) + " classes");
  }
  l.score = l.probabilities[live];
  l.threshold = static_cast<float>(entry_.threshold("live", 0.5));
  l.live = l.score >= l.threshold;
  return l;
}

StatusOr<std::shared_ptr<const FusedLiveness>> FusedLiveness::create(
    std::vector<std::shared_ptr<const LivenessModel>> models) {
  if (models.empty()) return invalid_argument("fused liveness needs at least one model");
  const double live = models[0]->entry().number("live_index", 0);
  for (const auto& m : models) {
    if (m->entry().number("live_index", 0) != live) {
      return invalid_argument("liveness models '" + models[0]->entry().id + "' and '" + m->entry().id +
                              "' name different live_index values: models fused together must share their classes");
    }
  }
  return std::shared_ptr<const FusedLiveness>(new FusedLiveness(std::move(models)));
}

std::vector<const runtime::Session*> FusedLiveness::sessions() const {
  std::vector<const runtime::Session*> out;
  for (const auto& m : models_) out.push_back(&m->session());
  return out;
}

StatusOr<Liveness> FusedLiveness::score(const Image& img, const Box& box) const {
  FACELENS_ASSIGN_OR_RETURN(Liveness first, models_[0]->score(img, box));
  if (models_.size() == 1) return first;
  std::vector<double> sum(first.probabilities.begin(), first.probabilities.end());
  for (size_t i = 1; i < models_.size(); ++i) {
    FACELENS_ASSIGN_OR_RETURN(Liveness l, models_[i]->score(img, box));
    if (l.probabilities.size() != sum.size()) {
      return invalid_argument("liveness models '" + models_[0]->entry().id + "' and '" + models_[i]->entry().id +
                              "' give " + std::to_string(sum.size()) + " and " +
                              std::to_string(l.probabilities.size()) +
                              " classes: models fused together must share their classes");
    }
    for (size_t k = 0; k < sum.size(); ++k) sum[k] += l.probabilities[k];
  }
  Liveness out = first;
  for (size_t k = 0; k < sum.size(); ++k) out.probabilities[k] = static_cast<float>(sum[k] / models_.size());
  out.score = out.probabilities[static_cast<size_t>(models_[0]->entry().number("live_index", 0))];
  out.live = out.score >= out.threshold;
  return out;
}

}  // namespace facelens::liveness

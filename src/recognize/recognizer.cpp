#include "recognize/recognizer.h"

#include <cmath>

#include "models/binding.h"

namespace facelens::recognize {

void l2_normalize(std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  if (s <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (float& x : v) x *= inv;
}

float cosine(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

StatusOr<std::shared_ptr<const Recognizer>> Recognizer::create(const models::ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Session> session) {
  if (entry.input.width() <= 0 || entry.input.width() != entry.input.height()) {
    return invalid_argument("manifest entry '" + entry.id + "': input.shape must be [N,3,S,S] (square aligned face)");
  }
  FACELENS_ASSIGN_OR_RETURN(int out, models::output_index(entry, *session, "embedding"));
  int norm_out = -1;
  if (entry.outputs.count("norm")) {
    FACELENS_ASSIGN_OR_RETURN(norm_out, models::output_index(entry, *session, "norm"));
  }
  const bool batched =
      !session->inputs().empty() && !session->inputs()[0].shape.empty() && session->inputs()[0].shape[0] < 0;
  return std::shared_ptr<const Recognizer>(new Recognizer(entry, std::move(session), out, norm_out, batched));
}

StatusOr<std::vector<Embedding>> Recognizer::run_batch(std::span<const Image> faces,
                                                       std::vector<float>* quality) const {
  const int s = entry_.input.width(), c = entry_.input.norm.channels();
  const size_t per = static_cast<size_t>(c) * s * s;
  std::vector<float> input(per * faces.size());
  for (size_t i = 0; i < faces.size(); ++i) {
    if (faces[i].width != s || faces[i].height != s) {
      return invalid_argument("recognizer '" + entry_.id + "' takes " + std::to_string(s) + "x" + std::to_string(s) +
                              " aligned faces, got " + std::to_string(faces[i].width) + "x" +
                              std::to_string(faces[i].height));
    }
    image::to_planar(faces[i], entry_.input.norm, input.data() + i * per);
  }
  runtime::TensorRef ref{input, {static_cast<int64_t>(faces.size()), c, s, s}};
  FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
  const auto& t = out[output_];
  if (faces.empty() || t.data.size() % faces.size() != 0) {
    return internal_error("recognizer '" + entry_.id + "' output has " + std::to_string(t.data.size()) +
                          " values for " + std::to_string(faces.size()) + " faces");
  }
  const size_t dim = t.data.size() / faces.size();
  if (norm_output_ >= 0 && out[norm_output_].data.size() != faces.size()) {
    return internal_error("recognizer '" + entry_.id + "' norm output has " +
                          std::to_string(out[norm_output_].data.size()) + " values for " +
                          std::to_string(faces.size()) + " faces: outputs.norm must be [B,1]");
  }
  std::vector<Embedding> result(faces.size());
  for (size_t i = 0; i < faces.size(); ++i) {
    result[i].assign(t.data.begin() + i * dim, t.data.begin() + (i + 1) * dim);
    if (quality && norm_output_ >= 0) {
      quality->push_back(out[norm_output_].data[i]);
    } else if (quality && feature_norm_quality_) {
      double s = 0;
      for (float x : result[i]) s += static_cast<double>(x) * x;
      quality->push_back(static_cast<float>(std::sqrt(s)));
    }
    l2_normalize(result[i]);
  }
  return result;
}

StatusOr<std::vector<Embedding>> Recognizer::embed(std::span<const Image> aligned) const {
  return embed(aligned, nullptr);
}

StatusOr<std::vector<Embedding>> Recognizer::embed(std::span<const Image> aligned, std::vector<float>* quality) const {
  if (quality) quality->clear();
  if (!has_quality()) quality = nullptr;
  if (aligned.empty()) return std::vector<Embedding>{};
  if (batched_) return run_batch(aligned, quality);
  std::vector<Embedding> result;
  result.reserve(aligned.size());
  for (size_t i = 0; i < aligned.size(); ++i) {
    FACELENS_ASSIGN_OR_RETURN(auto one, run_batch(aligned.subspan(i, 1), quality));
    result.push_back(std::move(one[0]));
  }
  return result;
}

}  // namespace facelens::recognize

// Face embedding model on aligned crops: one shared session; all faces of a call in one batch
// when the model's batch dimension is symbolic, else one run per face. Outputs are L2-normalised.
// Families (ArcFace, AdaFace, MobileFaceNet 128/512) differ only in their manifest facts (colour
// order, mean/std, outputs). A face quality comes from the manifest's outputs.norm (AdaFace's
// second output, the feature norm) or, with "quality": "feature_norm", from the norm of the raw
// feature. Immutable and thread-safe.
//
//   auto rec = recognize::Recognizer::create(entry, session);
//   std::vector<float> quality;
//   auto emb = (*rec)->embed(aligned_faces, &quality);   // quality empty unless the model gives one
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "models/manifest.h"
#include "models/service.h"
#include "runtime/session.h"

namespace facelens::recognize {

using Embedding = std::vector<float>;

// Scales v to unit length (leaves a zero vector as is).
void l2_normalize(std::vector<float>& v);
// Inner product of two L2-normalised embeddings (= cosine similarity).
float cosine(std::span<const float> a, std::span<const float> b);

class Recognizer final : public models::ModelService {
 public:
  static StatusOr<std::shared_ptr<const Recognizer>> create(const models::ModelEntry& entry,
                                                            std::shared_ptr<const runtime::Session> session);
  // One embedding per aligned face (each input.width x input.height).
  StatusOr<std::vector<Embedding>> embed(std::span<const Image> aligned) const;
  // The same, and one quality per face in `quality` when has_quality() (else it is cleared).
  StatusOr<std::vector<Embedding>> embed(std::span<const Image> aligned, std::vector<float>* quality) const;
  bool has_quality() const { return norm_output_ >= 0 || feature_norm_quality_; }
  int input_size() const { return entry_.input.width(); }
  bool batched() const { return batched_; }
  float match_threshold() const { return static_cast<float>(entry_.match_threshold()); }

 private:
  Recognizer(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int out, int norm_out,
             bool batched)
      : ModelService(e, std::move(s)),
        output_(out),
        norm_output_(norm_out),
        batched_(batched),
        feature_norm_quality_(e.string("quality", "") == "feature_norm") {}
  StatusOr<std::vector<Embedding>> run_batch(std::span<const Image> faces, std::vector<float>* quality) const;
  int output_;
  int norm_output_;  // -1: the model gives no norm
  bool batched_;
  bool feature_norm_quality_;
};

}  // namespace facelens::recognize

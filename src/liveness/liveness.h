// Presentation-attack (liveness) model on a face: the box is scaled about its centre by the
// manifest's crop_scale, shifted to stay inside the image, resized to the model input.
// Class probabilities come from a softmax; the manifest's live_index names the "live" class.
// Immutable and thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "models/service.h"
#include "runtime/session.h"

namespace facelens::liveness {

std::vector<float> softmax(std::span<const float> logits);

class LivenessModel {
 public:
  static StatusOr<std::shared_ptr<const LivenessModel>> create(const models::ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Session> session);
  StatusOr<Liveness> score(const Image& img, const Box& box) const;
  const runtime::Session& session() const { return *session_; }
  const models::ModelEntry& entry() const { return entry_; }

 private:
  LivenessModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int out)
      : entry_(e), session_(std::move(s)), output_(out) {}
  models::ModelEntry entry_;
  std::shared_ptr<const runtime::Session> session_;
  int output_;
};

// Several liveness models on the same face, fused as Silent-Face-Anti-Spoofing's test.py does
// (each model's softmax, summed), divided by the number of models so that the probabilities stay
// in 0..1 (the arg-max is unchanged): e.g. MiniFASNetV2 at scale 2.7 with MiniFASNetV1SE at 4.0.
// Every model must name the same live_index; the decision threshold is the first model's
// thresholds.live. With one model the result is exactly that model's. Immutable, thread-safe.
//
//   auto fused = liveness::FusedLiveness::create({v2, v1se});
//   auto l = (*fused)->score(img, face.box);   // l->probabilities: the mean softmax
class FusedLiveness final : public models::ModelService {
 public:
  static StatusOr<std::shared_ptr<const FusedLiveness>> create(
      std::vector<std::shared_ptr<const LivenessModel>> models);
  StatusOr<Liveness> score(const Image& img, const Box& box) const;
  const std::vector<std::shared_ptr<const LivenessModel>>& models() const { return models_; }
  // entry() and session() are the first model's; sessions() every model's.
  std::vector<const runtime::Session*> sessions() const override;

 private:
  // The first model's session is shared with (owned through) that model.
  explicit FusedLiveness(std::vector<std::shared_ptr<const LivenessModel>> m)
      : ModelService(m.front()->entry(), std::shared_ptr<const runtime::Session>(m.front(), &m.front()->session())),
        models_(std::move(m)) {}
  std::vector<std::shared_ptr<const LivenessModel>> models_;
};

}  // namespace facelens::liveness

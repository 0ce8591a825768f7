// Deepfake (face manipulation) classifier on a face crop: an Xception-style binary classifier
// (FaceForensics++ conventions by default: 299x299, RGB, mean = std = 0.5 on 0..1) run on a square
// crop of `margin` x the larger side of the face box about its centre. The model gives logits
// [B,2] (softmax) or one score [B,1] (a sigmoid, inside the model or applied here); which class
// means "fake" is the manifest's fake_index. No pretrained deepfake weights ship with facelens:
// plug in your own model with a manifest entry (task "deepfake", family "xception") or
// --deepfake FILE. Immutable and thread-safe.
//
//   auto df = deepfake::DeepfakeModel::create(entry, session, {});
//   auto v = (*df)->score(img, boxes);   // one Deepfake {score, fake, threshold} per box
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "models/service.h"
#include "runtime/session.h"

namespace facelens::deepfake {

// The square crop of FaceForensics++ classification/detect_from_video.py get_boundingbox():
// side = int(max(w, h) * margin), top-left at the integer box centre minus side // 2 clamped to
// 0, then the side shrunk to stay inside the image. Integer pixels.
struct CropRect {
  int x = 0, y = 0, size = 0;
};
CropRect margin_crop(const Box& box, float margin, int image_width, int image_height);

// Class probabilities from one row of model output: "softmax" of logits; "sigmoid" of each
// value; "none" as given. A single value p becomes [1 - p, p].
std::vector<float> probabilities(std::span<const float> row, const std::string& activation);

struct DeepfakeOptions {
  float margin = -1;     // < 0: the manifest's input.crop_scale (1.3 by default)
  float threshold = -1;  // < 0: the manifest's thresholds.fake (0.5 by default)
};

class DeepfakeModel final : public models::ModelService {
 public:
  static StatusOr<std::shared_ptr<const DeepfakeModel>> create(const models::ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Session> session,
                                                               const DeepfakeOptions& options);
  // One verdict per face box of `img`, in order (one model call when the batch is symbolic).
  StatusOr<std::vector<Deepfake>> score(const Image& img, std::span<const Box> boxes) const;
  float margin() const { return margin_; }
  float threshold() const { return threshold_; }

 private:
  DeepfakeModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int out, bool batched,
                float margin, float threshold)
      : ModelService(e, std::move(s)), output_(out), batched_(batched), margin_(margin), threshold_(threshold) {}
  StatusOr<std::vector<Deepfake>> run(const Image& img, std::span<const Box> boxes) const;
  int output_;
  bool batched_;
  float margin_;
  float threshold_;
};

}  // namespace facelens::deepfake

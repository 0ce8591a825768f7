// Internal to src/detect/: the common run loop of the model detectors (prepare the input, run,
// decode, NMS, map back) and the factory of each family. create_detector() picks among them.
#pragma once

#include <memory>
#include <vector>

#include "detect/decoders.h"
#include "detect/detector.h"
#include "detect/tiling.h"
#include "runtime/session.h"

namespace facelens::detect {

class ModelDetector : public Detector {
 public:
  ModelDetector(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, const DetectorOptions& o,
                bool keypoints, bool nms)
      : Detector(e, std::move(s)), options_(o), keypoints_(keypoints), nms_(nms) {
    // Checked by create_detector (tiling_rule_of), which makes every ModelDetector.
    auto rule = tiling_rule_of(e);
    if (rule.ok()) tiling_ = *rule;
    if (o.tiling) tiling_.enabled = *o.tiling;
  }

  StatusOr<std::vector<Detection>> detect(const Image& img) const final;
  int input_width() const final { return entry_.input.width(); }
  int input_height() const final { return entry_.input.height(); }
  bool has_keypoints() const final { return keypoints_; }
  bool tiled() const final { return tiling_.enabled && nms_; }
  void resized_size(int w, int h, int* resized_width, int* resized_height) const final;

 protected:
  // Candidates in model-input pixels from the model's outputs (model order).
  virtual StatusOr<std::vector<Candidate>> decode(const std::vector<runtime::Tensor>& out) const = 0;
  const DetectorOptions& options() const { return options_; }
  // The tiles `img` is run in besides the whole photo (none when tiling is off or it is small).
  std::vector<Tile> tiles_of(const Image& img) const;

 private:
  DetectorOptions options_;
  bool keypoints_;
  bool nms_;
  TilingRule tiling_;
};

StatusOr<std::shared_ptr<const Detector>> make_scrfd_detector(const models::ModelEntry& entry,
                                                              std::shared_ptr<const runtime::Session> session,
                                                              const DetectorOptions& options);
StatusOr<std::shared_ptr<const Detector>> make_yunet_detector(const models::ModelEntry& entry,
                                                              std::shared_ptr<const runtime::Session> session,
                                                              const DetectorOptions& options);
// yolov5face, yolov8face, yolov10, yolov10face.
StatusOr<std::shared_ptr<const Detector>> make_yolo_detector(const models::ModelEntry& entry,
                                                             std::shared_ptr<const runtime::Session> session,
                                                             const DetectorOptions& options);

}  // namespace facelens::detect

// Face detectors: one model, one shared session, boxes (and five keypoints where the model gives
// them) in original image pixels, best score first. The manifest entry's family picks the decoder:
// ultraface (default), scrfd, yunet, yolov5face, yolov8face (NMS here) and yolov10 / yolov10face
// (end to end, no NMS); letterbox or stretch as the entry says (decoders.h). A Detector is
// immutable after creation and thread-safe.
//
//   auto det = detect::create_detector(entry, session, {});   // thresholds from the manifest
//   auto faces = (*det)->detect(img);                           // std::vector<Detection>
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "models/service.h"
#include "runtime/session.h"

namespace facelens::detect {

struct Detection {
  Box box;       // the detected box, clipped to the image
  Box crop_box;  // the box the next stages crop the face from (manifest box_shape; = box by default)
  float score = 0;
  std::optional<FivePoints> keypoints;  // when the model predicts them
};

struct DetectorOptions {
  float score_threshold = -1;  // < 0: the manifest's thresholds.score
  // Threshold of the entry's suppression rule; < 0: the manifest's, thresholds.nms_iou
  // (hard_nms_iou) or thresholds.own_area_overlap (bottom_first_own_area).
  float nms_iou = -1;
  int max_faces = 1000;
  // Tiled detection of photos much larger than the input (tiling.h): nullopt = the manifest
  // entry's "tiling"; true / false force it on / off (the rest of the rule stays the entry's).
  std::optional<bool> tiling;
};

class Detector : public models::ModelService {
 public:
  // Faces in `img`, best score first, boxes clipped to the image.
  virtual StatusOr<std::vector<Detection>> detect(const Image& img) const = 0;
  // The model's input size: a decoder may downscale a photo to no less than this.
  virtual int input_width() const = 0;
  virtual int input_height() const = 0;
  virtual bool has_keypoints() const = 0;
  // Whether detect() runs tiles of large photos besides the whole photo (then it wants the photo at
  // full resolution: a downscaled decode would shrink the tiles' faces).
  virtual bool tiled() const = 0;
  // The size a w x h photo is resized to inside the model's input (the input size when stretched,
  // the fitted size when letterboxed).
  virtual void resized_size(int w, int h, int* resized_width, int* resized_height) const = 0;

 protected:
  using ModelService::ModelService;
};

StatusOr<std::shared_ptr<const Detector>> create_detector(const models::ModelEntry& entry,
                                                          std::shared_ptr<const runtime::Session> session,
                                                          const DetectorOptions& options);

}  // namespace facelens::detect

// 68-point facial landmark model on a face box, reduced to the five alignment points.
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

namespace facelens::landmarks {

// The five alignment points (eyes, nose tip, mouth corners) from the 68-point iBUG-300W layout by
// the manifest's rule (models::FivePointRule).
FivePoints five_from_68(const std::vector<Point>& points68, models::FivePointRule rule);

class LandmarkModel final : public models::ModelService {
 public:
  static StatusOr<std::shared_ptr<const LandmarkModel>> create(const models::ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Session> session);
  // The 68 points for the face in `box` (the detector's crop_box), in image pixels.
  StatusOr<std::vector<Point>> predict68(const Image& img, const Box& box) const;
  StatusOr<FivePoints> predict(const Image& img, const Box& box) const;

 private:
  LandmarkModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int out)
      : ModelService(e, std::move(s)), output_(out) {}
  int output_;
};

}  // namespace facelens::landmarks

// 68-point facial landmark model on a face box, reduced to the five alignment points.
// Immutable and thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "runtime/session.h"

namespace facelens::landmarks {

// The five alignment points from the 68-point iBUG-300W layout (0-based): eye centres = mean of
// the eyelid points 37,38,40,41 and 43,44,46,47; nose tip 30; mouth corners = mean of the outer and
// inner corner points 48,60 and 54,64.
FivePoints five_from_68(const std::vector<Point>& points68);

class LandmarkModel {
 public:
  static StatusOr<std::shared_ptr<const LandmarkModel>> create(const models::ModelEntry& entry,
                                                               std::shared_ptr<const runtime::Session> session);
  // The 68 points for the face in `box`, in image pixels.
  StatusOr<std::vector<Point>> predict68(const Image& img, const Box& box) const;
  StatusOr<FivePoints> predict(const Image& img, const Box& box) const;
  const runtime::Session& session() const { return *session_; }

 private:
  LandmarkModel(const models::ModelEntry& e, std::shared_ptr<const runtime::Session> s, int out)
      : entry_(e), session_(std::move(s)), output_(out) {}
  models::ModelEntry entry_;
  std::shared_ptr<const runtime::Session> session_;
  int output_;
};

}  // namespace facelens::landmarks

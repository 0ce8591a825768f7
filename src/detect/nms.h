#pragma once

#include <vector>

#include "facelens/types.h"

namespace facelens::detect {

// Score-ordered hard non-maximum suppression: keeps the highest-scoring box, drops every other
// box whose IoU with it is > iou_threshold, repeats. Returns kept indices, best first, at most
// max_keep (0 = no limit).
std::vector<int> nms(const std::vector<Box>& boxes, const std::vector<float>& scores, float iou_threshold,
                     int max_keep);

}  // namespace facelens::detect

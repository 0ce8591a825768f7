#pragma once

#include <vector>

#include "facelens/types.h"

namespace facelens::detect {

// Score-ordered hard non-maximum suppression: keeps the highest-scoring box, drops every other
// box whose IoU with it is > iou_threshold, repeats. Returns kept indices, best first, at most
// max_keep (0 = no limit).
std::vector<int> nms(const std::vector<Box>& boxes, const std::vector<float>& scores, float iou_threshold,
                     int max_keep);

// The faceplugin package's suppression (lib/fr_detect.js cpuNMS; manifest "bottom_first_own_area"):
// boxes of positive width and height, sorted by bottom edge y2 ascending (stable); keeps the first,
// drops every other box whose intersection, each side + pixel_offset, over that box's own area
// (width x height) is >= overlap; repeats. Returns kept indices in the order kept.
std::vector<int> bottom_first_own_area(const std::vector<Box>& boxes, float overlap, float pixel_offset);

// The pairwise test of bottom_first_own_area: whether kept box `k` drops box `b` (their
// intersection, each side + pixel_offset, over b's own area is >= overlap; b of positive size).
bool own_area_drops(const Box& k, const Box& b, float overlap, float pixel_offset);

}  // namespace facelens::detect

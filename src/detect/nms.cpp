#include "detect/nms.h"

#include <algorithm>
#include <numeric>

namespace facelens::detect {

std::vector<int> nms(const std::vector<Box>& boxes, const std::vector<float>& scores, float iou_threshold,
                     int max_keep) {
  std::vector<int> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  std::vector<int> keep;
  std::vector<char> removed(boxes.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    int a = order[i];
    if (removed[a]) continue;
    keep.push_back(a);
    if (max_keep > 0 && static_cast<int>(keep.size()) >= max_keep) break;
    for (size_t j = i + 1; j < order.size(); ++j) {
      int b = order[j];
      if (!removed[b] && iou(boxes[a], boxes[b]) > iou_threshold) removed[b] = 1;
    }
  }
  return keep;
}

bool own_area_drops(const Box& k, const Box& b, float overlap, float pixel_offset) {
  if (b.area() <= 0) return false;
  const float w = std::max(0.f, std::min(b.x2, k.x2) - std::max(b.x1, k.x1) + pixel_offset);
  const float h = std::max(0.f, std::min(b.y2, k.y2) - std::max(b.y1, k.y1) + pixel_offset);
  return w * h / b.area() >= overlap;
}

std::vector<int> bottom_first_own_area(const std::vector<Box>& boxes, float overlap, float pixel_offset) {
  std::vector<int> order;
  for (size_t i = 0; i < boxes.size(); ++i)
    if (boxes[i].width() > 0 && boxes[i].height() > 0) order.push_back(static_cast<int>(i));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return boxes[a].y2 < boxes[b].y2; });
  std::vector<int> keep;
  std::vector<char> removed(boxes.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    const Box& k = boxes[order[i]];
    if (removed[order[i]]) continue;
    keep.push_back(order[i]);
    for (size_t j = i + 1; j < order.size(); ++j) {
      if (!removed[order[j]] && own_area_drops(k, boxes[order[j]], overlap, pixel_offset)) removed[order[j]] = 1;
    }
  }
  return keep;
}

}  // namespace facelens::detect

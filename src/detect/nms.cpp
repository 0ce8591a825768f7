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

}  // namespace facelens::detect

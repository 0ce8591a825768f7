#include "facelens/types.h"

#include <algorithm>

namespace facelens {

float iou(const Box& a, const Box& b) {
  float ix1 = std::max(a.x1, b.x1), iy1 = std::max(a.y1, b.y1);
  float ix2 = std::min(a.x2, b.x2), iy2 = std::min(a.y2, b.y2);
  float inter = Box{ix1, iy1, ix2, iy2}.area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

size_t largest_face(std::span<const Face> faces) {
  size_t best = 0;
  for (size_t i = 1; i < faces.size(); ++i)
    if (faces[best].box.area() < faces[i].box.area()) best = i;
  return best;
}

std::string TensorDesc::shape_string() const {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += "x";
    if (shape[i] >= 0) s += std::to_string(shape[i]);
    else s += (i < dim_names.size() && !dim_names[i].empty()) ? dim_names[i] : "?";
  }
  return s.empty() ? "scalar" : s;
}

}  // namespace facelens

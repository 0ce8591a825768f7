// Drawing on an Image in place (for `--draw`). Coordinates outside the image are clipped.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "facelens/image.h"
#include "facelens/types.h"

namespace facelens::image {

using Rgb = std::array<uint8_t, 3>;

void draw_box(Image& img, const Box& box, Rgb color, int thickness);
void draw_point(Image& img, Point p, Rgb color, int radius);
// Small text label with its top-left corner at `at` (OpenCV Hershey font).
void draw_label(Image& img, Point at, const std::string& text, Rgb color);

}  // namespace facelens::image

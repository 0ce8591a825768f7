// Drawing with OpenCV imgproc on a cv::Mat header over the Image's own pixels (no copy). The
// pixels are RGB, so a colour goes to OpenCV as (R, G, B): channel 0 is red.
#include "image/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

namespace facelens::image {
namespace {

// Coordinates are clamped to +-2^20 before the int conversion; OpenCV clips the rest.
constexpr float kMaxCoordinate = 1 << 20;
// OpenCV refuses thicker lines (MAX_THICKNESS in modules/imgproc/src/drawing.cpp).
constexpr int kMaxThickness = 32767;
constexpr int kMaxRadius = 1 << 16;
constexpr double kLabelFontScale = 0.5;

bool to_pixel(float v, int* out) {
  if (!std::isfinite(v)) return false;
  *out = static_cast<int>(std::lround(std::clamp(v, -kMaxCoordinate, kMaxCoordinate)));
  return true;
}

bool to_pixel(Point p, cv::Point* out) { return to_pixel(p.x, &out->x) && to_pixel(p.y, &out->y); }

// A header over img's pixels; false when img has no pixels or an inconsistent buffer.
bool wrap(Image& img, cv::Mat* mat) {
  if (img.empty() || img.pixels.size() != static_cast<size_t>(img.width) * img.height * 3) {
    return false;
  }
  *mat = cv::Mat(img.height, img.width, CV_8UC3, img.pixels.data());
  return true;
}

cv::Scalar to_scalar(Rgb color) { return cv::Scalar(color[0], color[1], color[2]); }

}  // namespace

void draw_box(Image& img, const Box& box, Rgb color, int thickness) {
  cv::Mat mat;
  cv::Point p1, p2;
  if (!wrap(img, &mat) || !to_pixel(Point{box.x1, box.y1}, &p1) || !to_pixel(Point{box.x2, box.y2}, &p2)) {
    return;
  }
  cv::rectangle(mat, p1, p2, to_scalar(color), std::clamp(thickness, 1, kMaxThickness), cv::LINE_8);
}

void draw_point(Image& img, Point p, Rgb color, int radius) {
  cv::Mat mat;
  cv::Point centre;
  if (!wrap(img, &mat) || !to_pixel(p, &centre)) return;
  cv::circle(mat, centre, std::clamp(radius, 0, kMaxRadius), to_scalar(color), cv::FILLED, cv::LINE_8);
}

void draw_label(Image& img, Point at, const std::string& text, Rgb color) {
  cv::Mat mat;
  cv::Point corner;
  if (text.empty() || !wrap(img, &mat) || !to_pixel(at, &corner)) return;
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, font, kLabelFontScale, /*thickness=*/1, &baseline);
  // putText places the baseline's left end; move it down so the text's top-left is `at`.
  cv::putText(mat, text, cv::Point(corner.x, corner.y + size.height), font, kLabelFontScale, to_scalar(color),
              /*thickness=*/1, cv::LINE_AA);
}

}  // namespace facelens::image

namespace facelens {

void draw_faces(Image& image, std::span<const Face> faces) {
  const int thick = std::max(2, image.width / 400);
  for (const auto& f : faces) {
    image::draw_box(image, f.box, {0, 255, 0}, thick);
    if (f.landmarks)
      for (const auto& p : *f.landmarks) image::draw_point(image, p, {255, 0, 0}, thick + 1);
    char label[32];
    std::snprintf(label, sizeof label, "%.2f", f.score);
    image::draw_label(image, {f.box.x1, std::max(0.f, f.box.y1 - 4.f * thick)}, label, {0, 255, 0});
  }
}

}  // namespace facelens

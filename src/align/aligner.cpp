#include "align/aligner.h"

#include <opencv2/imgproc.hpp>

namespace facelens::align {

Similarity estimate_similarity(const FivePoints& from, const FivePoints& to) {
  double fx = 0, fy = 0, tx = 0, ty = 0;
  for (int i = 0; i < 5; ++i) {
    fx += from[i].x;
    fy += from[i].y;
    tx += to[i].x;
    ty += to[i].y;
  }
  fx /= 5;
  fy /= 5;
  tx /= 5;
  ty /= 5;
  // Closed-form least squares for [a -b; b a]: minimises sum |A*(p - mean_p) - (q - mean_q)|^2.
  double num_a = 0, num_b = 0, den = 0;
  for (int i = 0; i < 5; ++i) {
    double sx = from[i].x - fx, sy = from[i].y - fy;
    double dx = to[i].x - tx, dy = to[i].y - ty;
    num_a += sx * dx + sy * dy;
    num_b += sx * dy - sy * dx;
    den += sx * sx + sy * sy;
  }
  if (den <= 0) return {1, 0, static_cast<float>(tx - fx), 0, 1, static_cast<float>(ty - fy)};
  double a = num_a / den, b = num_b / den;
  return {static_cast<float>(a), static_cast<float>(-b), static_cast<float>(tx - (a * fx - b * fy)),
          static_cast<float>(b), static_cast<float>(a),  static_cast<float>(ty - (b * fx + a * fy))};
}

Image align_face(const Image& img, const FivePoints& points, int size, const FivePoints& template_112) {
  FivePoints dst = template_112;
  const float k = static_cast<float>(size) / 112.f;
  for (auto& p : dst) {
    p.x *= k;
    p.y *= k;
  }
  Similarity m = estimate_similarity(points, dst);
  cv::Mat affine(2, 3, CV_32F, m.data());
  Image out;
  out.width = size;
  out.height = size;
  out.pixels.resize(static_cast<size_t>(size) * size * 3);
  cv::Mat src(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.pixels.data()));
  cv::Mat dstm(size, size, CV_8UC3, out.pixels.data());
  cv::warpAffine(src, dstm, affine, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

}  // namespace facelens::align

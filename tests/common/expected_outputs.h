// Expected outputs of the generated test models (tests/common/onnx_gen.h) computed by hand:
// uniform images, the linear models' arithmetic, softmax, norms, and a box comparison.
//   const auto w = weights(3 * 512, 0.1f), b = weights(512, 2.0f);
//   auto want = linear({m_r, m_g, m_b}, w, b);   // f = m * W + b for per-channel means m
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "facelens/image.h"
#include "facelens/types.h"

namespace facelens::testing {

// Tolerance of box and point coordinates, in pixels.
constexpr float kBoxTol = 1e-4f;

inline Image uniform(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

inline void expect_box(const Box& b, float x1, float y1, float x2, float y2) {
  EXPECT_NEAR(b.x1, x1, kBoxTol);
  EXPECT_NEAR(b.y1, y1, kBoxTol);
  EXPECT_NEAR(b.x2, x2, kBoxTol);
  EXPECT_NEAR(b.y2, y2, kBoxTol);
}

// Deterministic weights for the linear test models.
inline std::vector<float> weights(size_t n, float phase) {
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) w[i] = std::sin(0.37f * static_cast<float>(i) + phase);
  return w;
}

// f = m * W + b for a per-channel mean m (the generated linear models' arithmetic).
inline std::vector<double> linear(const std::array<double, 3>& m, const std::vector<float>& w,
                                  const std::vector<float>& b) {
  const size_t k = b.size();
  std::vector<double> f(k);
  for (size_t j = 0; j < k; ++j) f[j] = b[j] + m[0] * w[j] + m[1] * w[k + j] + m[2] * w[2 * k + j];
  return f;
}

inline std::vector<double> softmax(const std::vector<double>& v) {
  const double mx = *std::max_element(v.begin(), v.end());
  std::vector<double> p(v.size());
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += (p[i] = std::exp(v[i] - mx));
  for (auto& x : p) x /= s;
  return p;
}

inline double norm(const std::vector<double>& v) {
  return std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
}

}  // namespace facelens::testing

// Model-free functions of the face services: similarity estimation and warping (src/align), the
// 68->5 point rule (src/landmarks), the liveness softmax (src/liveness), embedding maths
// (src/recognize).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "align/aligner.h"
#include "facelens/types.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "recognize/recognizer.h"

namespace facelens {
namespace {

TEST(Align, RecoversAKnownSimilarity) {
  // Points = template rotated by 30 degrees, scaled by 2, shifted; the estimate must invert it.
  const float c = std::cos(0.5236f), s = std::sin(0.5236f);
  FivePoints moved;
  for (int i = 0; i < 5; ++i) {
    const auto& p = align::kArcFace112[i];
    moved[i] = {2 * (c * p.x - s * p.y) + 100, 2 * (s * p.x + c * p.y) + 40};
  }
  auto m = align::estimate_similarity(moved, align::kArcFace112);
  for (int i = 0; i < 5; ++i) {
    float x = m[0] * moved[i].x + m[1] * moved[i].y + m[2];
    float y = m[3] * moved[i].x + m[4] * moved[i].y + m[5];
    EXPECT_NEAR(x, align::kArcFace112[i].x, 1e-3);
    EXPECT_NEAR(y, align::kArcFace112[i].y, 1e-3);
  }
  EXPECT_NEAR(std::hypot(m[0], m[3]), 0.5, 1e-5);  // scale 1/2
}

TEST(Align, WarpPutsPointsOnTheTemplate) {
  // A white image with a black dot where the left eye is: after alignment the dot is at the template's left eye.
  Image img;
  img.width = 300;
  img.height = 300;
  img.pixels.assign(300 * 300 * 3, 255);
  FivePoints pts;
  for (int i = 0; i < 5; ++i) pts[i] = {align::kArcFace112[i].x * 2 + 20, align::kArcFace112[i].y * 2 + 30};
  for (int dy = -2; dy <= 2; ++dy)
    for (int dx = -2; dx <= 2; ++dx) {
      int x = static_cast<int>(pts[0].x) + dx, y = static_cast<int>(pts[0].y) + dy;
      for (int k = 0; k < 3; ++k) img.pixels[(y * 300 + x) * 3 + k] = 0;
    }
  Image a = align::align_face(img, pts, 112);
  ASSERT_EQ(a.width, 112);
  int ex = static_cast<int>(std::lround(align::kArcFace112[0].x)),
      ey = static_cast<int>(std::lround(align::kArcFace112[0].y));
  EXPECT_LT(a.row(ey)[ex * 3], 80);          // dark at the template's left eye
  EXPECT_EQ(a.row(ey)[(ex + 30) * 3], 255);  // white elsewhere
}

TEST(Liveness, Softmax) {
  std::vector<float> logits = {1.f, 2.f, 3.f};
  auto p = liveness::softmax(logits);
  EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-6);
  EXPECT_NEAR(p[2] / p[1], std::exp(1.0), 1e-4);
  std::vector<float> huge = {1000.f, 0.f};
  EXPECT_NEAR(liveness::softmax(huge)[0], 1.0, 1e-6);  // no overflow
}

TEST(Landmarks, FiveFrom68) {
  std::vector<Point> p(68);
  for (int i = 0; i < 68; ++i) p[i] = {static_cast<float>(i), static_cast<float>(2 * i)};
  auto five = landmarks::five_from_68(p, models::FivePointRule::kEyelidMean);
  EXPECT_FLOAT_EQ(five[0].x, (37 + 38 + 40 + 41) / 4.f);
  EXPECT_FLOAT_EQ(five[1].x, (43 + 44 + 46 + 47) / 4.f);
  EXPECT_FLOAT_EQ(five[2].y, 60.f);
  EXPECT_FLOAT_EQ(five[3].x, 54.f);
  EXPECT_FLOAT_EQ(five[4].x, 59.f);
}

TEST(Embedding, NormalizeAndCosine) {
  std::vector<float> a = {3, 4}, b = {4, 3}, z = {0, 0};
  recognize::l2_normalize(a);
  recognize::l2_normalize(b);
  recognize::l2_normalize(z);
  EXPECT_NEAR(a[0], 0.6f, 1e-6);
  EXPECT_NEAR(recognize::cosine(a, b), 0.96f, 1e-6);
  EXPECT_NEAR(recognize::cosine(a, a), 1.f, 1e-6);
  EXPECT_FLOAT_EQ(z[0], 0.f);
}

}  // namespace
}  // namespace facelens

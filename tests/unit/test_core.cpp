// Unit tests of the model-free building blocks: status, geometry, NMS, alignment, normalisation,
// softmax, crops, 68->5 points, embeddings' maths.
#include <gtest/gtest.h>

#include <cmath>

#include "align/aligner.h"
#include "detect/nms.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "image/tensor.h"
#include "landmarks/landmarks.h"
#include "liveness/liveness.h"
#include "recognize/recognizer.h"

namespace facelens {
namespace {

StatusOr<int> half(int x) {
  if (x % 2) return invalid_argument("odd: " + std::to_string(x));
  return x / 2;
}

StatusOr<int> quarter(int x) {
  FACELENS_ASSIGN_OR_RETURN(int h, half(x));
  FACELENS_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = data_loss("bad hash");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.to_string(), "DATA_LOSS: bad hash");
  EXPECT_EQ(s.with_context("fr_detect.onnx").message(), "fr_detect.onnx: bad hash");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, MacrosPropagate) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);  // 6 -> 3 is odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
}

TEST(Geometry, Iou) {
  Box a{0, 0, 10, 10}, b{5, 0, 15, 10};
  EXPECT_NEAR(iou(a, b), 50.f / 150.f, 1e-6);
  EXPECT_FLOAT_EQ(iou(a, a), 1.f);
  EXPECT_FLOAT_EQ(iou(a, Box{20, 20, 30, 30}), 0.f);
  EXPECT_FLOAT_EQ(iou(a, Box{5, 5, 5, 5}), 0.f);
}

TEST(Nms, KeepsBestAndDropsOverlaps) {
  std::vector<Box> boxes = {{0, 0, 10, 10}, {1, 1, 11, 11}, {50, 50, 60, 60}, {0, 0, 10, 9}};
  std::vector<float> scores = {0.8f, 0.9f, 0.7f, 0.95f};
  auto keep = detect::nms(boxes, scores, 0.3f, 0);
  // 3 (0.95) suppresses 0 (IoU .9) and 1 (IoU ~.66); 2 is far away.
  ASSERT_EQ(keep.size(), 2u);
  EXPECT_EQ(keep[0], 3);
  EXPECT_EQ(keep[1], 2);
  EXPECT_EQ(detect::nms(boxes, scores, 0.3f, 1).size(), 1u);
  EXPECT_EQ(detect::nms(boxes, scores, 0.99f, 0).size(), 4u);
}

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
  int ex = static_cast<int>(std::lround(align::kArcFace112[0].x)), ey = static_cast<int>(std::lround(align::kArcFace112[0].y));
  EXPECT_LT(a.row(ey)[ex * 3], 80);       // dark at the template's left eye
  EXPECT_EQ(a.row(ey)[(ex + 30) * 3], 255);  // white elsewhere
}

TEST(Tensor, PlanarNormalisationAndColourOrder) {
  Image img;
  img.width = 2;
  img.height = 1;
  img.pixels = {255, 0, 127, 1, 2, 3};
  image::Normalization rgb{image::ChannelOrder::kRGB, {127, 127, 127}, {128, 128, 128}};
  std::vector<float> out(6);
  image::to_planar(img, rgb, out.data());
  EXPECT_FLOAT_EQ(out[0], 1.0f);                 // R of pixel 0
  EXPECT_FLOAT_EQ(out[2], -127.f / 128.f);       // G of pixel 0
  EXPECT_FLOAT_EQ(out[4], 0.f);                  // B of pixel 0
  image::Normalization bgr{image::ChannelOrder::kBGR, {0, 0, 0}, {1, 1, 1}};
  image::to_planar(img, bgr, out.data());
  EXPECT_FLOAT_EQ(out[0], 127.f);  // first plane is B
  EXPECT_FLOAT_EQ(out[1], 3.f);
  EXPECT_FLOAT_EQ(out[4], 255.f);  // last plane is R
  image::Normalization gray{image::ChannelOrder::kGray, {0, 0, 0}, {256, 1, 1}};
  image::to_planar(img, gray, out.data());
  EXPECT_NEAR(out[0], std::nearbyint(0.299f * 255 + 0.114f * 127) / 256.f, 1e-6);
}

TEST(Tensor, CropResizeClipsAndScales) {
  Image img;
  img.width = 4;
  img.height = 4;
  img.pixels.assign(4 * 4 * 3, 10);
  std::vector<float> out(3 * 8 * 8, -1);
  image::crop_resize_planar(img, -2, -2, 4, 4, 8, 8, {}, out.data());  // clipped to the 2x2 corner
  for (float v : out) EXPECT_FLOAT_EQ(v, 10.f);
  image::crop_resize_planar(img, 10, 10, 4, 4, 8, 8, {}, out.data());  // fully outside -> zeros
  for (float v : out) EXPECT_FLOAT_EQ(v, 0.f);
}

TEST(Liveness, ScaledCropStaysInside) {
  auto r = image::scaled_crop({100, 100, 200, 200}, 2.7f, 1000, 1000);
  EXPECT_EQ(r.w, 270);
  EXPECT_EQ(r.x, 15);  // centre 150 - 135
  auto edge = image::scaled_crop({0, 0, 100, 100}, 2.7f, 1000, 1000);
  EXPECT_EQ(edge.x, 0);
  EXPECT_EQ(edge.y, 0);
  EXPECT_EQ(edge.w, 270);
  auto big = image::scaled_crop({10, 10, 90, 90}, 4.0f, 100, 100);  // scale limited by the image
  EXPECT_LE(big.x + big.w, 100);
  EXPECT_GE(big.x, 0);
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

TEST(LargestFace, FirstOfTheLargestBoxes) {
  std::vector<Face> faces(4);
  faces[0].box = {0, 0, 10, 10};
  faces[1].box = {0, 0, 20, 20};
  faces[2].box = {5, 5, 25, 25};  // as large as faces[1]: the first one wins
  faces[3].box = {0, 0, 15, 15};
  EXPECT_EQ(largest_face(faces), 1u);
  faces[3].box = {0, 0, 30, 30};
  EXPECT_EQ(largest_face(faces), 3u);
  EXPECT_EQ(largest_face(std::span<const Face>(faces.data(), 1)), 0u);
}

}  // namespace
}  // namespace facelens

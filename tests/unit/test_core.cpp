// The core module (src/core): statuses and their macros, box geometry.
#include <gtest/gtest.h>

#include "facelens/status.h"
#include "facelens/types.h"

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

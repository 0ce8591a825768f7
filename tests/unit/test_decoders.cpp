// The decoders of every detector family and the deepfake head: hand-made tensors through the pure
// decoders, and generated ONNX models (tests/common/onnx_gen.h) with known outputs through the real
// loading code (family recognition, manifest entry, session, service). Expected values are
// computed here from each family's published contract. Family recognition itself is in
// test_families.cpp, the Engine on generated models in test_engine.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/expected_outputs.h"
#include "common/onnx_gen.h"
#include "common/test_env.h"
#include "deepfake/deepfake.h"
#include "detect/decoders.h"
#include "detect/nms.h"
#include "liveness/liveness.h"
#include "models/family.h"
#include "recognize/recognizer.h"
#include "runtime/environment.h"
#include "runtime/session.h"

namespace facelens {
namespace {

using testing::expect_box;
using testing::GenDir;
using testing::kBoxTol;
using testing::linear;
using testing::LinearHead;
using testing::norm;
using testing::softmax;
using testing::uniform;
using testing::weights;

// ---------------------------------------------------------------------------------------------
// Pure decoders on hand-made tensors.

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

TEST(Placement, DownOnlyNeverEnlarges) {
  // A 150x150 crop in a 640x640 input: "fit" enlarges it to 640x640; "down_only" keeps it at
  // 150x150 in the top-left corner (OpenCV's FaceDetectorYN pads, never upscales).
  auto fit =
      detect::place(150, 150, 640, 640, models::ResizeRule::kLetterbox, "top_left", detect::LetterboxScale::kFit);
  EXPECT_EQ(fit.resized_width, 640);
  EXPECT_NEAR(fit.map.to_original({640, 640}).x, 150, kBoxTol);
  auto keep =
      detect::place(150, 150, 640, 640, models::ResizeRule::kLetterbox, "top_left", detect::LetterboxScale::kDownOnly);
  EXPECT_EQ(keep.resized_width, 150);
  EXPECT_EQ(keep.resized_height, 150);
  EXPECT_EQ(keep.offset_x, 0);
  EXPECT_FLOAT_EQ(keep.map.scale_x, 1.f);
  EXPECT_NEAR(keep.map.to_original({75, 75}).y, 75, kBoxTol);
  // Larger than the input: both shrink it the same way.
  auto big_fit =
      detect::place(1137, 910, 640, 640, models::ResizeRule::kLetterbox, "top_left", detect::LetterboxScale::kFit);
  auto big_keep =
      detect::place(1137, 910, 640, 640, models::ResizeRule::kLetterbox, "top_left", detect::LetterboxScale::kDownOnly);
  EXPECT_EQ(big_keep.resized_width, big_fit.resized_width);
  EXPECT_EQ(big_keep.resized_height, big_fit.resized_height);
  // One side larger, one smaller: shrunk to fit the larger side.
  auto wide =
      detect::place(1280, 300, 640, 640, models::ResizeRule::kLetterbox, "top_left", detect::LetterboxScale::kDownOnly);
  EXPECT_EQ(wide.resized_width, 640);
  EXPECT_EQ(wide.resized_height, 150);
  ASSERT_TRUE(detect::parse_letterbox_scale("down_only").ok());
  EXPECT_EQ(*detect::parse_letterbox_scale("fit"), detect::LetterboxScale::kFit);
  EXPECT_STREQ(detect::letterbox_scale_name(*detect::parse_letterbox_scale("down_only")), "down_only");
  EXPECT_FALSE(detect::parse_letterbox_scale("never").ok());
}

TEST(Placement, LetterboxCentreAndTopLeftAndStretch) {
  auto c = detect::place(1280, 960, 640, 640, models::ResizeRule::kLetterbox, "center");
  EXPECT_EQ(c.resized_width, 640);
  EXPECT_EQ(c.resized_height, 480);
  EXPECT_EQ(c.offset_x, 0);
  EXPECT_EQ(c.offset_y, 80);
  Point p = c.map.to_original({100, 180});
  EXPECT_NEAR(p.x, 200, kBoxTol);
  EXPECT_NEAR(p.y, 200, kBoxTol);
  auto t = detect::place(1280, 960, 640, 640, models::ResizeRule::kLetterbox, "top_left");
  EXPECT_EQ(t.offset_y, 0);
  EXPECT_NEAR(t.map.to_original({100, 180}).y, 360, kBoxTol);
  auto s = detect::place(1280, 960, 320, 240, models::ResizeRule::kStretch, "");
  EXPECT_NEAR(s.map.scale_x, 0.25f, 1e-7);
  EXPECT_NEAR(s.map.scale_y, 0.25f, 1e-7);
  // insightface rounds the resized size down and maps back with the rounded scale.
  auto r = detect::place(1137, 910, 640, 640, models::ResizeRule::kLetterbox, "top_left");
  EXPECT_EQ(r.resized_width, 640);
  EXPECT_EQ(r.resized_height, 512);
  EXPECT_NEAR(r.map.scale_y, 512.f / 910.f, 1e-7);
}

TEST(Decoders, ScrfdLevel) {
  // 2x2 cells, stride 8, 2 anchors: 8 anchors; anchor 5 = cell 2 (row 1, col 0), second anchor.
  std::vector<float> scores(8, 0.1f), boxes(32, 0.f), kps(80, 0.f);
  scores[5] = 0.8f;
  const float d[4] = {1, 2, 3, 4};
  for (int k = 0; k < 4; ++k) boxes[5 * 4 + k] = d[k];
  for (int k = 0; k < 10; ++k) kps[5 * 10 + k] = 0.5f * static_cast<float>(k);
  std::vector<detect::Candidate> out;
  detect::decode_scrfd_level(scores, boxes, kps, 8, 2, 2, 2, 0.5f, &out);
  ASSERT_EQ(out.size(), 1u);
  // Centre (0, 8): x1 = 0 - 8, y1 = 8 - 16, x2 = 0 + 24, y2 = 8 + 32.
  expect_box(out[0].box, -8, -8, 24, 40);
  EXPECT_FLOAT_EQ(out[0].score, 0.8f);
  ASSERT_TRUE(out[0].keypoints);
  EXPECT_NEAR((*out[0].keypoints)[2].x, 0 + 2.0f * 8, kBoxTol);  // k = 4 -> 2.0 strides
  EXPECT_NEAR((*out[0].keypoints)[2].y, 8 + 2.5f * 8, kBoxTol);
  std::vector<detect::Candidate> none;
  detect::decode_scrfd_level(scores, boxes, {}, 8, 2, 2, 2, 0.5f, &none);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_FALSE(none[0].keypoints);
}

TEST(Decoders, YuNetLevel) {
  // 1x2 cells, stride 16; prior 1 (col 1): cls 0.81, obj 1 -> sqrt 0.9.
  std::vector<float> cls = {0.5f, 0.81f}, obj = {0.5f, 1.0f}, boxes(8, 0.f), kps(20, 0.f);
  boxes[4] = 0.5f;
  boxes[5] = 0.25f;
  boxes[6] = std::log(2.0f);
  boxes[7] = 0.f;
  kps[10] = 1.f;
  kps[11] = -1.f;
  std::vector<detect::Candidate> out;
  detect::decode_yunet_level(cls, obj, boxes, kps, 16, 1, 2, /*sqrt_score=*/true, 0.6f, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NEAR(out[0].score, 0.9f, 1e-6);
  // cx = (1 + 0.5) * 16 = 24, cy = 0.25 * 16 = 4, w = 32, h = 16.
  expect_box(out[0].box, 8, -4, 40, 12);
  EXPECT_NEAR((*out[0].keypoints)[0].x, 32, kBoxTol);
  EXPECT_NEAR((*out[0].keypoints)[0].y, -16, kBoxTol);
  std::vector<detect::Candidate> product;
  detect::decode_yunet_level(cls, obj, boxes, kps, 16, 1, 2, /*sqrt_score=*/false, 0.6f, &product);
  ASSERT_EQ(product.size(), 1u);
  EXPECT_NEAR(product[0].score, 0.81f, 1e-6);
}

TEST(Decoders, YoloRows) {
  std::vector<float> v5(32, 0.f);
  const float row[16] = {50, 60, 20, 40, 0.9f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0.8f};
  std::copy(row, row + 16, v5.begin() + 16);
  auto c5 = detect::decode_yolov5face(v5, 0.5f);
  ASSERT_EQ(c5.size(), 1u);
  expect_box(c5[0].box, 40, 40, 60, 80);
  EXPECT_NEAR(c5[0].score, 0.72f, 1e-6);
  EXPECT_NEAR((*c5[0].keypoints)[4].x, 9, kBoxTol);
  EXPECT_NEAR((*c5[0].keypoints)[4].y, 10, kBoxTol);

  // v8: channel-major [20, 3].
  std::vector<float> v8(60, 0.f);
  auto set = [&](int ch, int i, float x) { v8[static_cast<size_t>(ch) * 3 + i] = x; };
  set(0, 2, 100);
  set(1, 2, 50);
  set(2, 2, 10);
  set(3, 2, 20);
  set(4, 2, 0.7f);
  set(5 + 3 * 1, 2, 11);
  set(6 + 3 * 1, 2, 12);
  set(7 + 3 * 1, 2, 0.99f);
  set(4, 0, 0.4f);
  auto c8 = detect::decode_yolov8face(v8, 3, 0.5f);
  ASSERT_EQ(c8.size(), 1u);
  expect_box(c8[0].box, 95, 40, 105, 60);
  EXPECT_NEAR((*c8[0].keypoints)[1].x, 11, kBoxTol);
  EXPECT_NEAR((*c8[0].keypoints)[1].y, 12, kBoxTol);

  std::vector<float> v10 = {1, 2, 3, 4, 0.9f, 0, 5, 6, 7, 8, 0.95f, 1, 9, 9, 9, 9, 0.1f, 0};
  auto c10 = detect::decode_yolov10(v10, 6, /*face_class=*/0, 0.5f);
  ASSERT_EQ(c10.size(), 1u);
  expect_box(c10[0].box, 1, 2, 3, 4);
  EXPECT_FALSE(c10[0].keypoints);
}

TEST(Decoders, FinishMapsClipsAndSuppresses) {
  detect::InputMap map;
  map.scale_x = map.scale_y = 0.5f;
  map.offset_y = 80;
  std::vector<detect::Candidate> c(3);
  c[0].box = {100, 180, 300, 380};
  c[0].score = 0.9f;
  c[1].box = {102, 182, 302, 382};  // IoU with c[0] ~0.98
  c[1].score = 0.8f;
  c[2].box = {-50, 100, 50, 200};  // clipped at x = 0
  c[2].score = 0.7f;
  auto nms = detect::finish(c, map, 1280, 960, models::DetectorContract{}, 0.5f, 10);
  ASSERT_EQ(nms.size(), 2u);
  expect_box(nms[0].box, 200, 200, 600, 600);
  expect_box(nms[1].box, 0, 40, 100, 240);
  auto all = detect::finish(c, map, 1280, 960, models::DetectorContract{}, -1.f, 10);
  EXPECT_EQ(all.size(), 3u);
  auto one = detect::finish(c, map, 1280, 960, models::DetectorContract{}, -1.f, 1);
  EXPECT_EQ(one.size(), 1u);
}

// The faceplugin package's selection (lib/fr_detect.js): bottom edge first, overlap over the other
// box's own area with +1 px, then the square crop box from the unclipped box.
TEST(Decoders, BottomFirstOwnAreaAndSquareBox) {
  // Sorted by y2: b, c (tie, kept in input order), a. b is kept first; c overlaps b by
  // 21 x 81 px = 17 % of c's own area: kept; b covers 81 x 81 px = 66 % of a's area: a is dropped,
  // whatever the scores (a score-ordered NMS would keep a if it scored higher).
  const Box a{10, 10, 110, 110}, b{20, 20, 100, 100}, c{80, 0, 180, 100};
  std::vector<int> keep = detect::bottom_first_own_area({a, b, c}, 0.4f, 1.f);
  ASSERT_EQ(keep.size(), 2u);
  EXPECT_EQ(keep[0], 1) << "b has the smallest y2 and comes first";
  EXPECT_EQ(keep[1], 2);
  // Without b: c comes first and covers 31 x 91 px = 28 % of a: both kept.
  keep = detect::bottom_first_own_area({a, c}, 0.4f, 1.f);
  EXPECT_EQ(keep.size(), 2u);
  // The +1 px decides a borderline case: 39 x 100 over 100 x 100 is 0.39, (39+1) x (100+1) is 0.404.
  const Box p{0, 0, 100, 100}, q{61, 0, 161, 100};
  EXPECT_EQ(detect::bottom_first_own_area({p, q}, 0.4f, 0.f).size(), 2u);
  EXPECT_EQ(detect::bottom_first_own_area({p, q}, 0.4f, 1.f).size(), 1u);

  models::DetectorContract pkg;
  pkg.suppression = models::Suppression::kBottomFirstOwnArea;
  pkg.box_shape = models::BoxShape::kSquareHeight;
  pkg.max_candidates = 1;
  detect::InputMap map;  // identity
  std::vector<detect::Candidate> cand(2);
  cand[0] = {{-20, 10, 40, 110}, 0.9f, std::nullopt};   // cut by the left edge
  cand[1] = {{200, 10, 260, 110}, 0.8f, std::nullopt};  // beyond the candidate cap
  auto out = detect::finish(cand, map, 300, 200, pkg, 0.4f, 10);
  ASSERT_EQ(out.size(), 1u);
  expect_box(out[0].box, 0, 10, 40, 110);
  // Square of side 100 about the unclipped centre (10, 60), clipped to [0, 299] x [0, 199].
  expect_box(out[0].crop_box, 0, 10, 60, 110);
  // Default contract: the crop box is the box.
  auto plain = detect::finish(cand, map, 300, 200, models::DetectorContract{}, 0.4f, 10);
  ASSERT_EQ(plain.size(), 2u);
  expect_box(plain[0].crop_box, 0, 10, 40, 110);
}

TEST(Deepfake, MarginCropFollowsFaceForensics) {
  auto r = deepfake::margin_crop({100, 100, 200, 180}, 1.3f, 1000, 1000);
  EXPECT_EQ(r.size, 130);
  EXPECT_EQ(r.x, 85);
  EXPECT_EQ(r.y, 75);
  auto corner = deepfake::margin_crop({0, 0, 100, 100}, 1.3f, 1000, 1000);
  EXPECT_EQ(corner.x, 0);
  EXPECT_EQ(corner.y, 0);
  EXPECT_EQ(corner.size, 130);
  auto edge = deepfake::margin_crop({950, 950, 1000, 1000}, 1.3f, 1000, 1000);
  EXPECT_EQ(edge.x, 943);
  EXPECT_EQ(edge.size, 57);
  auto wide = deepfake::margin_crop({100, 100, 200, 180}, 2.0f, 1000, 1000);
  EXPECT_EQ(wide.size, 200);
}

TEST(Deepfake, Probabilities) {
  const float logits[2] = {0.f, std::log(3.f)};
  auto p = deepfake::probabilities(logits, "softmax");
  EXPECT_NEAR(p[1], 0.75f, 1e-6);
  const float zero[1] = {0.f};
  EXPECT_NEAR(deepfake::probabilities(zero, "sigmoid")[1], 0.5f, 1e-6);
  const float prob[1] = {0.8f};
  auto q = deepfake::probabilities(prob, "none");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_NEAR(q[0], 0.2f, 1e-6);
  EXPECT_NEAR(q[1], 0.8f, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Generated models through the real loading code.

class Generated : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto e = runtime::Environment::create({});
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    env_ = new std::shared_ptr<const runtime::Environment>(*e);
    dir_ = new GenDir("decoders");
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete env_;
  }

  static std::string path(const std::string& f) { return dir_->path(f); }

  // The family entry for a generated file (no manifests: recognised from its signature).
  static models::ModelEntry entry(const std::string& file, const std::string& task, const std::string& family = "",
                                  const std::string& want_family = "") {
    models::FileModelOptions o;
    auto t = models::parse_task(task);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    if (t.ok()) o.task = *t;
    if (!family.empty()) {
      auto f = models::parse_file_family(family);
      EXPECT_TRUE(f.ok()) << f.status().to_string();
      if (f.ok()) o.family = *f;
    }
    auto fm = models::entry_for_file(file, o);
    EXPECT_TRUE(fm.ok()) << fm.status().to_string();
    if (!fm.ok()) return {};
    if (!want_family.empty()) {
      EXPECT_EQ(models::name(fm->entry.family), want_family);
    }
    return fm->entry;
  }
  static std::shared_ptr<const runtime::Session> session(const std::string& file) {
    runtime::SessionOptions so;
    so.service.provider = Provider::kCpu;
    auto s = runtime::Session::create(*env_, file, so);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? *s : nullptr;
  }

  static std::shared_ptr<const runtime::Environment>* env_;
  static GenDir* dir_;
};

std::shared_ptr<const runtime::Environment>* Generated::env_ = nullptr;
GenDir* Generated::dir_ = nullptr;

// YOLOv10 end-to-end [1,300,6]: constant rows in input pixels; row 0's score also carries 0.05 x
// the mean of the normalised input, which checks the letterbox (resized area, pad 114) and /255
// (a pad of 0 would lower the score by 0.0056). ORT sums the 1.2M values in float: 1e-4.
TEST_F(Generated, Yolov10EndToEnd) {
  std::vector<float> head(300 * 6, 0.f), gain(300 * 6, 0.f);
  const float rows[5][6] = {{100, 180, 300, 380, 0.85f, 0},  // score 0.85 + 0.05 * mean
                            {110, 190, 310, 390, 0.8f, 0},   // overlaps row 0: kept (no NMS)
                            {400, 200, 500, 300, 0.95f, 1},  // another class: dropped
                            {400, 300, 500, 400, 0.3f, 0},   // under the threshold
                            {600, 500, 700, 600, 0.6f, 0}};  // partly outside the image: clipped
  for (int r = 0; r < 5; ++r) std::copy(rows[r], rows[r] + 6, head.begin() + r * 6);
  gain[4] = 0.05f;
  const std::string f = path("yolov10.onnx");
  ASSERT_TRUE(testing::write_detector_head(f, {1, 3, 640, 640}, {1, 300, 6}, head, gain));
  auto e = entry(f, "detector", "", "yolov10");
  auto det = detect::create_detector(e, session(f), {});
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  EXPECT_FALSE((*det)->has_keypoints());
  // 1280x960 into 640x640: scale 0.5, 640x480 centred at y = 80; the rest padded with 114.
  const uint8_t v = 200;
  auto faces = (*det)->detect(uniform(1280, 960, v, v, v));
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  ASSERT_EQ(faces->size(), 3u);
  const double mean = (0.75 * v + 0.25 * 114) / 255.0;
  EXPECT_NEAR((*faces)[0].score, 0.85 + 0.05 * mean, 1e-4);
  expect_box((*faces)[0].box, 200, 200, 600, 600);
  EXPECT_NEAR((*faces)[1].score, 0.8f, 1e-6);
  expect_box((*faces)[1].box, 220, 220, 620, 620);
  EXPECT_NEAR((*faces)[2].score, 0.6f, 1e-6);
  expect_box((*faces)[2].box, 1200, 840, 1280, 960);
}

// YOLOv10 face variant [1,300,6+15]: boxes and five keypoints, portrait image (centred in x).
TEST_F(Generated, Yolov10FaceKeypoints) {
  std::vector<float> head(300 * 21, 0.f);
  const float row[21] = {180, 100, 380, 300, 0.9f, 0, 220, 160, 1, 340, 160, 1, 280, 200, 1, 230, 250, 1, 330, 250, 1};
  std::copy(row, row + 21, head.begin());
  const std::string f = path("yolov10face.onnx");
  ASSERT_TRUE(testing::write_detector_head(f, {1, 3, 640, 640}, {1, 300, 21}, head));
  auto e = entry(f, "detector", "", "yolov10face");
  auto det = detect::create_detector(e, session(f), {});
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  EXPECT_TRUE((*det)->has_keypoints());
  // 960x1280 into 640x640: scale 0.5, 480x640 centred at x = 80.
  auto faces = (*det)->detect(uniform(960, 1280, 90, 90, 90));
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  ASSERT_EQ(faces->size(), 1u);
  EXPECT_NEAR((*faces)[0].score, 0.9f, 1e-6);
  expect_box((*faces)[0].box, 200, 200, 600, 600);
  ASSERT_TRUE((*faces)[0].keypoints);
  const float want[5][2] = {{280, 320}, {520, 320}, {400, 400}, {300, 500}, {500, 500}};
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR((*(*faces)[0].keypoints)[k].x, want[k][0], kBoxTol) << k;
    EXPECT_NEAR((*(*faces)[0].keypoints)[k].y, want[k][1], kBoxTol) << k;
  }
}

// YOLOv8-face [1,20,8400]: candidates in columns, NMS applies.
TEST_F(Generated, Yolov8FaceWithNms) {
  const int n = 8400;
  std::vector<float> head(20 * n, 0.f);
  auto set = [&](int ch, int i, float x) { head[static_cast<size_t>(ch) * n + i] = x; };
  auto cand = [&](int i, float cx, float cy, float w, float h, float s) {
    set(0, i, cx);
    set(1, i, cy);
    set(2, i, w);
    set(3, i, h);
    set(4, i, s);
    for (int k = 0; k < 5; ++k) {
      set(5 + 3 * k, i, cx - 40 + 20 * k);
      set(6 + 3 * k, i, cy + 10 * k);
      set(7 + 3 * k, i, 0.9f);
    }
  };
  cand(10, 320, 240, 200, 240, 0.9f);
  cand(4000, 325, 245, 200, 240, 0.7f);  // suppressed by the first
  cand(8399, 100, 150, 80, 100, 0.6f);
  cand(77, 500, 500, 50, 50, 0.3f);  // under the threshold
  const std::string f = path("yolov8face.onnx");
  ASSERT_TRUE(testing::write_detector_head(f, {1, 3, 640, 640}, {1, 20, n}, head));
  auto e = entry(f, "detector", "", "yolov8face");
  auto det = detect::create_detector(e, session(f), {});
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  // 320x240 into 640x640: scale 2, 640x480 centred at y = 80.
  auto faces = (*det)->detect(uniform(320, 240, 10, 20, 30));
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  ASSERT_EQ(faces->size(), 2u);
  EXPECT_NEAR((*faces)[0].score, 0.9f, 1e-6);
  expect_box((*faces)[0].box, 110, 20, 210, 140);
  EXPECT_NEAR((*(*faces)[0].keypoints)[3].x, (320 - 40 + 60) / 2.f, kBoxTol);
  EXPECT_NEAR((*(*faces)[0].keypoints)[3].y, (240 + 30 - 80) / 2.f, kBoxTol);
  EXPECT_NEAR((*faces)[1].score, 0.6f, 1e-6);
  expect_box((*faces)[1].box, 30, 10, 70, 60);
}

// YOLOv5-face [1,6300,16] at 320 (as the real 500M model): score = obj * cls.
TEST_F(Generated, Yolov5Face) {
  std::vector<float> head(6300 * 16, 0.f);
  const float row[16] = {160, 120, 100, 80, 0.9f, 130, 110, 190, 110, 160, 130, 140, 150, 180, 150, 0.8f};
  std::copy(row, row + 16, head.begin() + 16 * 1234);
  const std::string f = path("yolov5face.onnx");
  ASSERT_TRUE(testing::write_detector_head(f, {1, 3, 320, 320}, {1, 6300, 16}, head, {}, "output"));
  auto e = entry(f, "detector", "", "yolov5face");
  auto det = detect::create_detector(e, session(f), {});
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  // 640x480 into 320x320: scale 0.5, 320x240 centred at y = 40.
  auto faces = (*det)->detect(uniform(640, 480, 0, 0, 0));
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  ASSERT_EQ(faces->size(), 1u);
  EXPECT_NEAR((*faces)[0].score, 0.72f, 1e-6);
  expect_box((*faces)[0].box, 220, 80, 420, 240);
  EXPECT_NEAR((*(*faces)[0].keypoints)[2].x, 320, kBoxTol);
  EXPECT_NEAR((*(*faces)[0].keypoints)[2].y, 180, kBoxTol);
}

// ArcFace-R50-shaped recognizer [N,3,112,112] -> [N,512]: RGB, (x-127.5)/127.5; batched.
TEST_F(Generated, ArcFaceRecognizer) {
  const auto w = weights(3 * 512, 0.1f), b = weights(512, 2.0f);
  const std::string f = path("arcface_r50.onnx");
  ASSERT_TRUE(testing::write_linear_model(f, 112, w, b, LinearHead::kLinear));
  auto e = entry(f, "recognizer", "", "arcface");
  auto rec = recognize::Recognizer::create(e, session(f));
  ASSERT_TRUE(rec.ok()) << rec.status().to_string();
  EXPECT_TRUE((*rec)->batched());
  EXPECT_FALSE((*rec)->has_quality());
  const Image faces[2] = {uniform(112, 112, 200, 100, 50), uniform(112, 112, 10, 250, 127)};
  std::vector<float> quality = {1.f};
  auto emb = (*rec)->embed(faces, &quality);
  ASSERT_TRUE(emb.ok()) << emb.status().to_string();
  ASSERT_EQ(emb->size(), 2u);
  EXPECT_TRUE(quality.empty());
  const std::array<std::array<double, 3>, 2> rgb = {{{200, 100, 50}, {10, 250, 127}}};
  for (int i = 0; i < 2; ++i) {
    std::array<double, 3> m;
    for (int c = 0; c < 3; ++c) m[c] = (rgb[i][c] - 127.5) / 127.5;
    auto want = linear(m, w, b);
    const double len = norm(want);
    ASSERT_EQ((*emb)[i].size(), 512u);
    for (int k = 0; k < 512; ++k) ASSERT_NEAR((*emb)[i][k], want[k] / len, 1e-5) << i << " " << k;
  }
  // Named as MobileFaceNet instead, the same file is read with std 128: another embedding.
  auto mfn = entry(f, "recognizer", "mobilefacenet", "mobilefacenet");
  EXPECT_FLOAT_EQ(mfn.input.norm.std[0], 128.f);
}

// AdaFace [N,3,112,112] -> feature [N,512] (normalised) + norm [N,1]: BGR input; the norm is the
// face quality.
TEST_F(Generated, AdaFaceRecognizerWithQuality) {
  const auto w = weights(3 * 512, 0.7f), b = weights(512, 1.3f);
  const std::string f = path("adaface.onnx");
  ASSERT_TRUE(testing::write_linear_model(f, 112, w, b, LinearHead::kAdaFace));
  auto e = entry(f, "recognizer", "", "adaface");
  EXPECT_EQ(e.outputs.at("embedding"), "feature");
  EXPECT_EQ(e.outputs.at("norm"), "norm");
  EXPECT_EQ(e.input.norm.order, image::ChannelOrder::kBGR);
  auto rec = recognize::Recognizer::create(e, session(f));
  ASSERT_TRUE(rec.ok()) << rec.status().to_string();
  ASSERT_TRUE((*rec)->has_quality());
  const Image face = uniform(112, 112, 200, 100, 50);
  std::vector<float> quality;
  auto emb = (*rec)->embed({&face, 1}, &quality);
  ASSERT_TRUE(emb.ok()) << emb.status().to_string();
  ASSERT_EQ(quality.size(), 1u);
  const std::array<double, 3> bgr = {(50 - 127.5) / 127.5, (100 - 127.5) / 127.5, (200 - 127.5) / 127.5};
  auto want = linear(bgr, w, b);
  const double len = norm(want);
  EXPECT_NEAR(quality[0], len, 1e-4 * len);
  for (int k = 0; k < 512; ++k) ASSERT_NEAR((*emb)[0][k], want[k] / len, 1e-5) << k;
  // The RGB reading would give another feature: the colour order is really applied.
  const std::array<double, 3> rgb = {bgr[2], bgr[1], bgr[0]};
  auto other = linear(rgb, w, b);
  EXPECT_GT(std::abs((*emb)[0][0] - other[0] / norm(other)), 1e-3);
}

// Xception-style deepfake classifiers at 299x299 (mean = std = 127.5): logits [N,2] with softmax,
// and a sigmoid [N,1] (recognised as already a probability); several faces in one batch. Colours
// 0 and 255 normalise to exactly -1 and 1, so that the model's float mean is exact.
TEST_F(Generated, XceptionLogitsAndSigmoid) {
  const Image img = uniform(800, 600, 255, 0, 255);
  const Box boxes[2] = {{100, 100, 300, 340}, {500, 200, 600, 300}};
  const std::array<double, 3> m = {1, -1, 1};
  {
    const auto w = weights(6, 0.3f), b = std::vector<float>{0.1f, -0.2f};
    const std::string f = path("xception_logits.onnx");
    ASSERT_TRUE(testing::write_linear_model(f, 299, w, b, LinearHead::kLinear));
    auto e = entry(f, "deepfake", "", "xception");
    EXPECT_EQ(e.string("activation", ""), "softmax");
    EXPECT_FLOAT_EQ(e.input.crop_scale, 1.3f);
    auto df = deepfake::DeepfakeModel::create(e, session(f), {});
    ASSERT_TRUE(df.ok()) << df.status().to_string();
    auto v = (*df)->score(img, boxes);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    ASSERT_EQ(v->size(), 2u);
    const double want = softmax(linear(m, w, b))[1];
    for (const auto& d : *v) {
      EXPECT_NEAR(d.score, want, 1e-5);
      EXPECT_EQ(d.fake, want >= 0.5);
      EXPECT_FLOAT_EQ(d.threshold, 0.5f);
    }
    deepfake::DeepfakeOptions strict;
    strict.threshold = 0.0f;
    strict.margin = 1.5f;
    auto df2 = deepfake::DeepfakeModel::create(e, session(f), strict);
    ASSERT_TRUE(df2.ok());
    EXPECT_FLOAT_EQ((*df2)->margin(), 1.5f);
    EXPECT_TRUE((*(*df2)->score(img, boxes))[0].fake);
  }
  {
    const auto w = weights(3, 1.1f), b = std::vector<float>{0.05f};
    const std::string f = path("xception_sigmoid.onnx");
    ASSERT_TRUE(testing::write_linear_model(f, 299, w, b, LinearHead::kSigmoid));
    auto e = entry(f, "deepfake", "", "xception");
    EXPECT_EQ(e.string("activation", ""), "none");
    auto df = deepfake::DeepfakeModel::create(e, session(f), {});
    ASSERT_TRUE(df.ok()) << df.status().to_string();
    auto v = (*df)->score(img, boxes);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    const double want = 1.0 / (1.0 + std::exp(-linear(m, w, b)[0]));
    EXPECT_NEAR((*v)[0].score, want, 1e-5);
    EXPECT_NEAR((*v)[1].score, want, 1e-5);
  }
}

// Two MiniFASNet-shaped models fused: the mean of their softmax outputs.
TEST_F(Generated, FusedLiveness) {
  const auto w1 = weights(9, 0.2f), b1 = std::vector<float>{0.1f, 0.3f, -0.2f};
  const auto w2 = weights(9, 2.2f), b2 = std::vector<float>{-0.4f, 0.2f, 0.0f};
  // Raw 0..255 inputs make large logits: scale the weights down to keep both softmaxes soft.
  auto small = [](std::vector<float> w) {
    for (auto& x : w) x *= 0.01f;
    return w;
  };
  const std::string f1 = path("2.7_80x80_MiniFASNetV2.onnx"), f2 = path("4_0_0_80x80_MiniFASNetV1SE.onnx");
  ASSERT_TRUE(testing::write_linear_model(f1, 80, small(w1), b1, LinearHead::kLinear, /*dynamic_batch=*/false));
  ASSERT_TRUE(testing::write_linear_model(f2, 80, small(w2), b2, LinearHead::kLinear, /*dynamic_batch=*/false));
  auto e1 = entry(f1, "liveness", "", "minifasnet"), e2 = entry(f2, "liveness", "", "minifasnet");
  EXPECT_FLOAT_EQ(e1.input.crop_scale, 2.7f);
  EXPECT_FLOAT_EQ(e2.input.crop_scale, 4.0f);
  auto m1 = liveness::LivenessModel::create(e1, session(f1));
  auto m2 = liveness::LivenessModel::create(e2, session(f2));
  ASSERT_TRUE(m1.ok() && m2.ok());
  auto fused = liveness::FusedLiveness::create({*m1, *m2});
  ASSERT_TRUE(fused.ok()) << fused.status().to_string();
  const Image img = uniform(640, 480, 40, 120, 200);
  auto l = (*fused)->score(img, {250, 150, 350, 270});
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  const std::array<double, 3> bgr = {200, 120, 40};  // BGR, raw 0..255
  auto p1 = softmax(linear(bgr, small(w1), b1)), p2 = softmax(linear(bgr, small(w2), b2));
  ASSERT_EQ(l->probabilities.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(l->probabilities[k], (p1[k] + p2[k]) / 2, 1e-5) << k;
  EXPECT_NEAR(l->score, (p1[1] + p2[1]) / 2, 1e-5);  // class 1 = live
  EXPECT_EQ(l->live, l->score >= 0.5f);
  // One model alone: exactly that model's softmax.
  auto single = liveness::FusedLiveness::create({*m1});
  EXPECT_NEAR((*(*single)->score(img, {250, 150, 350, 270})).score, p1[1], 1e-5);
}

}  // namespace
}  // namespace facelens

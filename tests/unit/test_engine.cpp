// The Engine (src/pipeline) on generated ONNX models with known outputs (tests/common/onnx_gen.h):
// every service given as a file, analyze and verify checked against values computed here.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "common/expected_outputs.h"
#include "common/onnx_gen.h"
#include "facelens/engine.h"

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

// A temporary folder for the generated files of this program.
class Generated : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new GenDir("engine"); }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const std::string& f) { return dir_->path(f); }
  static GenDir* dir_;
};

GenDir* Generated::dir_ = nullptr;

// The Engine with every service given as a file (no manifest entry, no hash): detector with
// keypoints (no landmark model needed), AdaFace quality, fused liveness, deepfake in analyze and
// verify.
TEST_F(Generated, EngineWithModelFiles) {
  const std::string det = path("engine_yolov10face.onnx"), rec = path("engine_adaface.onnx"),
                    live1 = path("engine_live1.onnx"), live2 = path("engine_live2.onnx"),
                    fake = path("engine_xception.onnx");
  // One face, box 200..600 in a 1280x960 image (input 100..300, 180..380), eyes and mouth as on
  // the ArcFace template so that the aligned crop stays inside the image.
  std::vector<float> head(300 * 21, 0.f);
  const float row[21] = {100, 180, 300, 380, 0.9f, 0, 160, 250, 1, 240, 250, 1, 200, 290, 1, 165, 330, 1, 235, 330, 1};
  std::copy(row, row + 21, head.begin());
  ASSERT_TRUE(testing::write_detector_head(det, {1, 3, 640, 640}, {1, 300, 21}, head));
  const auto wr = weights(3 * 64, 0.4f), br = weights(64, 0.9f);
  ASSERT_TRUE(testing::write_linear_model(rec, 112, wr, br, LinearHead::kAdaFace));
  ASSERT_TRUE(testing::write_linear_model(live1, 80, weights(9, 0.5f), {0, 0, 0}, LinearHead::kLinear, false));
  ASSERT_TRUE(testing::write_linear_model(live2, 80, weights(9, 1.5f), {0, 0, 0}, LinearHead::kLinear, false));
  const auto wf = weights(6, 0.8f), bf = std::vector<float>{0.3f, -0.1f};
  ASSERT_TRUE(testing::write_linear_model(fake, 299, wf, bf, LinearHead::kLinear));

  // An empty manifest: every service comes from a file.
  {
    std::ofstream m(path("manifest.json"));
    m << R"({"models": []})";
  }
  EngineOptions o;
  o.models_dir = dir_->dir();
  o.runtime.provider = Provider::kCpu;
  o.detector_file = det;
  o.recognizer_file = rec;
  o.liveness_files = {live1, live2};
  o.deepfake_file = fake;
  o.deepfake_margin = 1.2f;
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const Image img = uniform(1280, 960, 120, 140, 160);
  AnalyzeOptions what;
  what.embedding = what.liveness = what.deepfake = true;
  auto r = (*engine)->analyze(img, what);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->faces.size(), 1u);
  const Face& f = r->faces[0];
  expect_box(f.box, 200, 200, 600, 600);
  ASSERT_TRUE(f.landmarks);
  EXPECT_NEAR((*f.landmarks)[0].x, 320, kBoxTol);
  EXPECT_NEAR((*f.landmarks)[0].y, 340, kBoxTol);
  const std::array<double, 3> bgr = {(160 - 127.5) / 127.5, (140 - 127.5) / 127.5, (120 - 127.5) / 127.5};
  auto feat = linear(bgr, wr, br);
  ASSERT_TRUE(f.quality);
  EXPECT_NEAR(*f.quality, norm(feat), 1e-4 * norm(feat));
  ASSERT_EQ(f.embedding.size(), 64u);
  EXPECT_NEAR(f.embedding[5], feat[5] / norm(feat), 1e-5);
  ASSERT_TRUE(f.liveness);
  auto p1 = softmax(linear({160, 140, 120}, weights(9, 0.5f), {0, 0, 0}));
  auto p2 = softmax(linear({160, 140, 120}, weights(9, 1.5f), {0, 0, 0}));
  EXPECT_NEAR(f.liveness->score, (p1[1] + p2[1]) / 2, 1e-5);
  ASSERT_TRUE(f.deepfake);
  const std::array<double, 3> rgb = {(120 - 127.5) / 127.5, (140 - 127.5) / 127.5, (160 - 127.5) / 127.5};
  EXPECT_NEAR(f.deepfake->score, softmax(linear(rgb, wf, bf))[1], 1e-5);

  auto v = (*engine)->verify(img, img);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_NEAR(v->similarity, 1.0f, 1e-5);
  EXPECT_TRUE(v->match);
  EXPECT_TRUE(v->face_a.deepfake);
  EXPECT_TRUE(v->face_b.quality);

  std::map<std::string, std::string> family;
  for (const auto& s : (*engine)->services())
    if (s.loaded) family[s.service] = s.family;
  EXPECT_EQ(family["detector"], "yolov10face");
  EXPECT_EQ(family["recognizer"], "adaface");
  EXPECT_EQ(family["liveness"], "minifasnet");
  EXPECT_EQ(family["deepfake"], "xception");
  EXPECT_EQ(family.count("landmarks"), 0u);  // the detector's keypoints made it unnecessary

  // Without a deepfake model, asking for one changes nothing.
  o.deepfake_file.clear();
  auto plain = Engine::create(o);
  ASSERT_TRUE(plain.ok());
  auto r2 = (*plain)->analyze(img, what);
  ASSERT_TRUE(r2.ok()) << r2.status().to_string();
  EXPECT_FALSE(r2->faces[0].deepfake);

  // A file of the wrong task is refused with the families listed.
  o.recognizer_file = det;
  auto bad = Engine::create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("arcface"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace facelens

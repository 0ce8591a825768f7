// The synthetic reference-design models (facelens/synth.h) in ONNX Runtime: each loads and runs at
// batch 1 and 2 with finite, non-degenerate outputs (a batch row equal to its single run), and the
// facelens decoder of its family reads it (YOLOv10 end-to-end detector, ArcFace and AdaFace
// recognizers, Xception deepfake classifier). The Engine refuses them (detection and recognition
// answers); `models convert` accepts them and keeps the marker. Prints the CPU time of one
// batch-1 run (no timing asserts: the benchmark measures speed).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/onnx_gen.h"
#include "common/test_env.h"
#include "deepfake/deepfake.h"
#include "detect/detector.h"
#include "facelens/convert.h"
#include "facelens/engine.h"
#include "facelens/synth.h"
#include "models/family.h"
#include "recognize/recognizer.h"
#include "runtime/environment.h"
#include "runtime/session.h"

namespace facelens {
namespace {

using testing::GenDir;

// A textured RGB image (pseudo-random pixels, fixed seed).
Image noise_image(int w, int h, uint32_t seed) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<size_t>(w) * h * 3);
  uint32_t s = seed;
  for (auto& p : img.pixels) {
    s = s * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(s >> 24);
  }
  return img;
}

class SynthRun : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok()) << env.status().to_string();
    env_ = *env;
  }

  std::string make(SynthArch arch, uint64_t seed = 1) {
    SynthOptions o;
    o.arch = arch;
    o.output = dir_.path(std::string(synth_arch_name(arch)) + ".onnx");
    o.seed = seed;
    auto r = synth_model(o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return o.output;
  }
  std::shared_ptr<const runtime::Session> session(const std::string& file) {
    runtime::SessionOptions so;
    so.service.provider = Provider::kCpu;
    auto s = runtime::Session::create(env_, file, so);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? *s : nullptr;
  }
  models::ModelEntry entry(const std::string& file, models::Task task, const std::string& want_family) {
    models::FileModelOptions o;
    o.task = task;
    auto fm = models::entry_for_file(file, o);
    EXPECT_TRUE(fm.ok()) << fm.status().to_string();
    if (!fm.ok()) return {};
    EXPECT_EQ(models::name(fm->entry.family), want_family);
    return fm->entry;
  }

  // Runs `s` at batch 1 and 2 on inputs uniform in [lo, hi): every output finite, with a largest
  // magnitude in (1e-4, 1e4) (activations neither vanish nor explode), batch row 0 = the single run
  // when `rows_match`. Prints the time of a second batch-1 run.
  void run_batches(const runtime::Session& s, const std::string& arch, float lo, float hi, bool rows_match,
                   std::vector<runtime::Tensor>* single = nullptr) {
    std::vector<int64_t> shape = s.inputs()[0].shape;
    shape[0] = 1;
    int64_t n = 1;
    for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    std::vector<float> x(static_cast<size_t>(2 * n));
    uint32_t r = 12345;
    for (float& v : x) {
      r = r * 1664525u + 1013904223u;
      v = lo + (hi - lo) * static_cast<float>(r >> 8) / 16777216.f;
    }
    runtime::TensorRef one{{x.data(), static_cast<size_t>(n)}, shape};
    auto y1 = s.run({&one, 1});
    ASSERT_TRUE(y1.ok()) << y1.status().to_string();
    const auto t0 = std::chrono::steady_clock::now();
    auto again = s.run({&one, 1});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(again.ok());
    std::printf("[synth] %s: ORT CPU batch 1 run %.1f ms (second run)\n", arch.c_str(), ms);
    shape[0] = 2;
    runtime::TensorRef two{x, shape};
    auto y2 = s.run({&two, 1});
    ASSERT_TRUE(y2.ok()) << y2.status().to_string();
    EXPECT_EQ(y2->size(), y1->size());
    for (size_t o = 0; o < y1->size() && o < y2->size(); ++o) {
      const auto& a = (*y1)[o];
      const auto& b = (*y2)[o];
      EXPECT_EQ(a.shape[0], 1);
      EXPECT_EQ(b.shape[0], 2);
      ASSERT_EQ(b.data.size(), 2 * a.data.size());
      float biggest = 0;
      for (float v : b.data) {
        ASSERT_TRUE(std::isfinite(v)) << arch << " output " << o;
        biggest = std::max(biggest, std::abs(v));
      }
      EXPECT_GT(biggest, 1e-4f) << arch << " output " << o;
      EXPECT_LT(biggest, 1e4f) << arch << " output " << o;
      if (!rows_match) continue;
      for (size_t i = 0; i < a.data.size(); ++i)
        ASSERT_NEAR(a.data[i], b.data[i], 1e-3f * std::max(1.f, biggest)) << arch << " output " << o << " at " << i;
    }
    if (single) *single = std::move(*y1);
  }

  GenDir dir_{"synth-run"};
  std::shared_ptr<const runtime::Environment> env_;
};

// YOLOv10n: [B,300,6] rows x1,y1,x2,y2,score,class; the yolov10 decoder gives boxes in the image.
TEST_F(SynthRun, Yolov10nDetector) {
  const std::string f = make(SynthArch::kYolov10n);
  auto s = session(f);
  ASSERT_TRUE(s);
  // The top-k can order near-equal scores differently in a batch: rows are not compared.
  std::vector<runtime::Tensor> y;
  run_batches(*s, "yolov10n", 0.f, 1.f, /*rows_match=*/false, &y);
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0].shape, (std::vector<int64_t>{1, 300, 6}));
  for (int r = 0; r < 300; ++r) {
    const float* row = y[0].data.data() + r * 6;
    EXPECT_LE(row[0], row[2]);
    EXPECT_LE(row[1], row[3]);
    EXPECT_GE(row[4], 0.f);
    EXPECT_LE(row[4], 1.f);
    EXPECT_EQ(row[5], std::floor(row[5]));
    EXPECT_GE(row[5], 0.f);
    EXPECT_LT(row[5], 80.f);
    if (r > 0) {
      EXPECT_LE(row[4], row[4 - 6]) << "scores sorted";
    }
  }
  auto e = entry(f, models::Task::kDetector, "yolov10");
  // A face model has one class (0); the COCO head's best row is of any class: name that one the
  // face class, so that the decoder keeps the rows of that class.
  e.numbers["face_class"] = y[0].data[5];
  auto det = detect::create_detector(e, s, {});
  ASSERT_TRUE(det.ok()) << det.status().to_string();
  const Image img = noise_image(800, 600, 1);
  auto faces = (*det)->detect(img);
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  EXPECT_GT(faces->size(), 0u);
  EXPECT_LE(faces->size(), 300u);
  for (const auto& d : *faces) {
    EXPECT_GE(d.score, 0.5f);
    EXPECT_LE(d.score, 1.f);
    EXPECT_GE(d.box.x1, 0.f);
    EXPECT_GE(d.box.y1, 0.f);
    EXPECT_LE(d.box.x2, 800.f);
    EXPECT_LE(d.box.y2, 600.f);
  }
}

// ArcFace IResNet-50: the arcface recognizer's embeddings are 512-d, unit length, input-dependent.
TEST_F(SynthRun, ArcfaceR50Recognizer) {
  const std::string f = make(SynthArch::kArcfaceR50);
  auto s = session(f);
  ASSERT_TRUE(s);
  run_batches(*s, "arcface-r50", -1.f, 1.f, true);
  auto e = entry(f, models::Task::kRecognizer, "arcface");
  auto rec = recognize::Recognizer::create(e, s);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string();
  EXPECT_TRUE((*rec)->batched());
  const Image faces[2] = {noise_image(112, 112, 1), noise_image(112, 112, 2)};
  auto emb = (*rec)->embed(faces);
  ASSERT_TRUE(emb.ok()) << emb.status().to_string();
  ASSERT_EQ(emb->size(), 2u);
  double dot = 0, n0 = 0;
  for (size_t k = 0; k < 512; ++k) {
    ASSERT_EQ((*emb)[0].size(), 512u);
    dot += (*emb)[0][k] * (*emb)[1][k];
    n0 += (*emb)[0][k] * (*emb)[0][k];
  }
  EXPECT_NEAR(n0, 1.0, 1e-4);
  EXPECT_LT(dot, 0.9999) << "two faces, one embedding: the input does not reach the output";
}

// AdaFace IR-101: feature + norm; the recognizer reads the norm as the face quality.
TEST_F(SynthRun, AdafaceIr101RecognizerWithNorm) {
  const std::string f = make(SynthArch::kAdafaceIr101);
  auto s = session(f);
  ASSERT_TRUE(s);
  std::vector<runtime::Tensor> y;
  run_batches(*s, "adaface-ir101", -1.f, 1.f, true, &y);
  ASSERT_EQ(y.size(), 2u);
  double len = 0;
  for (float v : y[0].data) len += v * v;
  EXPECT_NEAR(len, 1.0, 1e-4);  // feature = x / |x|
  EXPECT_GT(y[1].data[0], 0.f);
  auto e = entry(f, models::Task::kRecognizer, "adaface");
  auto rec = recognize::Recognizer::create(e, s);
  ASSERT_TRUE(rec.ok()) << rec.status().to_string();
  ASSERT_TRUE((*rec)->has_quality());
  const Image face = noise_image(112, 112, 3);
  std::vector<float> quality;
  auto emb = (*rec)->embed({&face, 1}, &quality);
  ASSERT_TRUE(emb.ok()) << emb.status().to_string();
  ASSERT_EQ(quality.size(), 1u);
  EXPECT_TRUE(std::isfinite(quality[0]));
  EXPECT_GT(quality[0], 0.f);
  EXPECT_EQ((*emb)[0].size(), 512u);
}

// Xception: logits [B,2]; the deepfake decoder gives a probability per face box.
TEST_F(SynthRun, XceptionDeepfake) {
  const std::string f = make(SynthArch::kXception);
  auto s = session(f);
  ASSERT_TRUE(s);
  run_batches(*s, "xception", -1.f, 1.f, true);
  auto e = entry(f, models::Task::kDeepfake, "xception");
  EXPECT_EQ(e.string("activation", ""), "softmax");
  auto df = deepfake::DeepfakeModel::create(e, s, {});
  ASSERT_TRUE(df.ok()) << df.status().to_string();
  const Image img = noise_image(640, 480, 4);
  const Box boxes[2] = {{100, 100, 300, 340}, {400, 150, 520, 290}};
  auto v = (*df)->score(img, boxes);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  ASSERT_EQ(v->size(), 2u);
  for (const auto& d : *v) {
    EXPECT_GT(d.score, 0.f);
    EXPECT_LT(d.score, 1.f);
  }
}

// The Engine refuses a synthetic detector and a synthetic recognizer with a status that says what
// the file is; the same Engine setup with ordinary generated models answers.
TEST_F(SynthRun, EngineRefusesSyntheticModels) {
  const std::string synth_det = make(SynthArch::kYolov10n);
  const std::string synth_rec = make(SynthArch::kArcfaceR50);
  const std::string det = dir_.path("plain_yolov10.onnx"), rec = dir_.path("plain_arcface.onnx");
  std::vector<float> head(300 * 6, 0.f);
  const float row[6] = {100, 180, 300, 380, 0.9f, 0};
  std::copy(row, row + 6, head.begin());
  ASSERT_TRUE(testing::write_detector_head(det, {1, 3, 640, 640}, {1, 300, 6}, head));
  ASSERT_TRUE(testing::write_linear_model(rec, 112, std::vector<float>(3 * 64, 0.5f), std::vector<float>(64, 0.1f),
                                          testing::LinearHead::kLinear));
  {
    std::ofstream m(dir_.path("manifest.json"));
    m << R"({"models": []})";
  }
  EngineOptions o;
  o.models_dir = dir_.dir();
  o.runtime.provider = Provider::kCpu;
  o.detector_file = det;
  o.recognizer_file = rec;
  const Image aligned = noise_image(112, 112, 5);
  {
    auto engine = Engine::create(o);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    auto emb = (*engine)->embed_aligned({&aligned, 1});
    ASSERT_TRUE(emb.ok()) << emb.status().to_string();
  }
  o.recognizer_file = synth_rec;
  {
    auto engine = Engine::create(o);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    auto emb = (*engine)->embed_aligned({&aligned, 1});
    ASSERT_FALSE(emb.ok());
    EXPECT_EQ(emb.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(emb.status().message().find("synthetic arcface-r50 benchmark model with random weights"),
              std::string::npos)
        << emb.status().message();
    EXPECT_NE(emb.status().message().find("facelens bench"), std::string::npos);
  }
  o.recognizer_file = rec;
  o.detector_file = synth_det;
  {
    auto engine = Engine::create(o);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    auto r = (*engine)->analyze(noise_image(320, 240, 6), AnalyzeOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("synthetic yolov10n"), std::string::npos) << r.status().message();
  }
}

// `models convert` accepts a synthetic model; the float16 file keeps the marker.
TEST_F(SynthRun, ConvertKeepsTheMarker) {
  if (!std::filesystem::exists(testing::models_dir() + "/manifest.json"))
    GTEST_SKIP() << "no models/manifest.json: test skipped";
  const std::string f = make(SynthArch::kYolov10n, 5);
  ConvertOptions o;
  o.input = f;
  o.output = dir_.path("yolov10n.fp16.onnx");
  o.models_dir = testing::models_dir();
  o.precision = ConvertPrecision::kFp16;
  o.check_drift = false;
  auto r = convert_model(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->refused) << r->refusal;
  EXPECT_TRUE(r->written);
  auto meta = model_metadata(o.output);
  ASSERT_TRUE(meta.ok()) << meta.status().to_string();
  EXPECT_EQ(meta->at(kSyntheticMetadataKey), "true");
  EXPECT_EQ(meta->at(kSyntheticArchMetadataKey), "yolov10n");
  auto s = session(o.output);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->metadata().at(kSyntheticMetadataKey), "true");
  run_batches(*s, "yolov10n fp16", 0.f, 1.f, false);
}

}  // namespace
}  // namespace facelens

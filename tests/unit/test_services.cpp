// The vocabularies of the manifest and options (parse/name pairs) and the service factory: every
// task builds its service class from a generated model, the typed access refuses another task's
// service, and the Engine refuses to start without a models folder.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/onnx_gen.h"
#include "facelens/engine.h"
#include "facelens/runtime_options.h"
#include "models/family.h"
#include "models/manifest.h"
#include "runtime/environment.h"
#include "runtime/providers.h"
#include "runtime/session.h"
#include "services/factory.h"

namespace facelens {
namespace {

using models::CropRule;
using models::Family;
using models::Precision;
using models::ResizeRule;
using models::Task;

// Every value parses back from its name, and an unknown name is an InvalidArgument that lists
// every valid name.
template <typename E, typename Parse>
void check_vocabulary(const std::vector<E>& values, Parse parse, const std::vector<std::string>& names) {
  ASSERT_EQ(values.size(), names.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::string(name(values[i])), names[i]);
    auto back = parse(names[i]);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, values[i]) << names[i];
  }
  auto bad = parse("no_such_name");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("no_such_name"), std::string::npos) << bad.status().message();
  for (const auto& n : names) EXPECT_NE(bad.status().message().find(n), std::string::npos) << bad.status().message();
}

TEST(Vocabulary, Task) {
  check_vocabulary<Task>(
      {Task::kDetector, Task::kLandmarks, Task::kRecognizer, Task::kLiveness, Task::kDeepfake, Task::kAttribute},
      models::parse_task, {"detector", "landmarks", "recognizer", "liveness", "deepfake", "attribute"});
  EXPECT_EQ(models::kTaskCount, 6u);
}

TEST(Vocabulary, Family) {
  check_vocabulary<Family>(
      {Family::kUltraface, Family::kScrfd, Family::kYunet, Family::kYolov5Face, Family::kYolov8Face, Family::kYolov10,
       Family::kYolov10Face, Family::kArcface, Family::kAdaface, Family::kMobileFaceNet, Family::kMiniFasNet,
       Family::kXception, Family::kLandmark68, Family::kAge, Family::kGender, Family::kExpression, Family::kPose,
       Family::kEye},
      models::parse_family,
      {"ultraface", "scrfd", "yunet", "yolov5face", "yolov8face", "yolov10", "yolov10face", "arcface", "adaface",
       "mobilefacenet", "minifasnet", "xception", "landmark68", "age", "gender", "expression", "pose", "eye"});
  EXPECT_EQ(models::kFamilyCount, 18u);
  EXPECT_EQ(models::name(std::optional<Family>()), "");  // an entry that names no family
  // Every family the file table recognises has a name, and parse_file_family takes exactly those.
  for (const auto& f : models::known_families()) {
    auto back = models::parse_file_family(models::name(f.family));
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, f.family);
  }
  auto attribute = models::parse_file_family("pose");
  ASSERT_FALSE(attribute.ok());
  EXPECT_NE(attribute.status().message().find("scrfd"), std::string::npos) << attribute.status().message();
}

TEST(Vocabulary, Precision) {
  check_vocabulary<Precision>({Precision::kFp32, Precision::kFp16, Precision::kInt8}, models::parse_precision,
                              {"fp32", "fp16", "int8"});
  EXPECT_FALSE(models::parse_precision("auto").ok());  // "auto" is a choice of the engine, not a precision
}

TEST(Vocabulary, ResizeRule) {
  check_vocabulary<ResizeRule>({ResizeRule::kStretch, ResizeRule::kLetterbox, ResizeRule::kAlign5},
                               models::parse_resize_rule, {"stretch", "letterbox", "align5"});
}

TEST(Vocabulary, CropRule) {
  check_vocabulary<CropRule>({CropRule::kBox, CropRule::kScaledBox, CropRule::kMarginBox, CropRule::kAnchoredBox,
                              CropRule::kExpandedBox, CropRule::kEyeSquare},
                             models::parse_crop_rule,
                             {"box", "scaled_box", "margin_box", "anchored_box", "expanded_box", "eye_square"});
}

TEST(Vocabulary, Provider) {
  check_vocabulary<Provider>({Provider::kAuto, Provider::kCuda, Provider::kDirectML, Provider::kCpu},
                             [](const std::string& n) { return parse_provider(n); },
                             {"auto", "cuda", "directml", "cpu"});
}

// The manifest is the boundary: its task, resize and crop come in as enums, and an unknown name is
// an error naming the entry and the key.
TEST(Vocabulary, ManifestParsesTheEnums) {
  auto m = models::parse_manifest(R"({"models": [{"id": "a", "file": "a.onnx", "task": "landmarks",
      "input": {"shape": [1, 3, 8, 8], "resize": "letterbox", "crop": "scaled_box"}}]})",
                                  "test");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->models[0].task, Task::kLandmarks);
  EXPECT_EQ(m->models[0].input.resize, ResizeRule::kLetterbox);
  EXPECT_EQ(m->models[0].input.crop, CropRule::kScaledBox);
  EXPECT_FALSE(m->models[0].family.has_value());  // the entry names no family
  auto named = models::parse_manifest(R"({"models": [{"id": "a", "file": "a.onnx", "task": "detector",
      "family": "yolov10face"}]})",
                                      "test");
  ASSERT_TRUE(named.ok()) << named.status().to_string();
  EXPECT_EQ(named->models[0].family, Family::kYolov10Face);
  auto defaults = models::parse_manifest(R"({"models": [{"id": "a", "file": "a.onnx", "task": "detector",
      "input": {"shape": [1, 3, 8, 8]}}]})",
                                         "test");
  ASSERT_TRUE(defaults.ok()) << defaults.status().to_string();
  EXPECT_EQ(defaults->models[0].input.resize, ResizeRule::kStretch);
  EXPECT_EQ(defaults->models[0].input.crop, CropRule::kBox);
  for (const char* bad :
       {R"({"models": [{"id": "a", "file": "a.onnx", "task": "detektor"}]})",
        R"({"models": [{"id": "a", "file": "a.onnx", "task": "detector", "input": {"resize": "fill"}}]})",
        R"({"models": [{"id": "a", "file": "a.onnx", "task": "detector", "input": {"crop": "oval"}}]})",
        R"({"models": [{"id": "a", "file": "a.onnx", "task": "detector", "family": "retinaface"}]})"}) {
    auto r = models::parse_manifest(bad, "test");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("entry \"a\""), std::string::npos) << r.status().message();
  }
}

TEST(EngineOptions, NoModelsFolderIsAClearError) {
  EngineOptions o;
  auto e = Engine::create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("models_dir"), std::string::npos) << e.status().message();
}

class Factory : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::GenDir("factory");
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok()) << env.status().to_string();
    env_ = new std::shared_ptr<const runtime::Environment>(std::move(*env));
  }
  static void TearDownTestSuite() {
    delete env_;
    delete dir_;
  }
  static std::string path(const std::string& f) { return dir_->path(f); }
  // The family entry of a generated file (recognised from its signature).
  static models::ModelEntry entry(const std::string& file, Task task) {
    models::FileModelOptions o;
    o.task = task;
    auto fm = models::entry_for_file(file, o);
    EXPECT_TRUE(fm.ok()) << fm.status().to_string();
    return fm.ok() ? fm->entry : models::ModelEntry{};
  }
  static std::shared_ptr<const runtime::Session> session(const std::string& file) {
    runtime::SessionOptions so;
    so.service.provider = Provider::kCpu;
    auto s = runtime::Session::create(*env_, file, so);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? *s : nullptr;
  }
  static std::vector<float> weights(size_t n, float scale) {
    std::vector<float> w(n);
    for (size_t i = 0; i < n; ++i) w[i] = scale * static_cast<float>((i * 7) % 11) / 11.f - scale / 2;
    return w;
  }
  static std::shared_ptr<const runtime::Environment>* env_;
  static testing::GenDir* dir_;
};
std::shared_ptr<const runtime::Environment>* Factory::env_ = nullptr;
testing::GenDir* Factory::dir_ = nullptr;

// One generated model per task: make_service gives the task's class, with the entry and session
// it was given.
TEST_F(Factory, EachTaskBuildsItsService) {
  struct Case {
    Task task;
    std::string file;
    models::ModelEntry entry;
  };
  std::vector<Case> cases;
  {
    const std::string f = path("yolov10.onnx");
    ASSERT_TRUE(testing::write_detector_head(f, {1, 3, 640, 640}, {1, 300, 6}, std::vector<float>(300 * 6, 0.f)));
    cases.push_back({Task::kDetector, f, entry(f, Task::kDetector)});
  }
  {
    const std::string f = path("landmark68.onnx");
    ASSERT_TRUE(testing::write_detector_head(f, {1, 1, 64, 64}, {1, 136}, std::vector<float>(136, 0.5f)));
    cases.push_back({Task::kLandmarks, f, entry(f, Task::kLandmarks)});
  }
  {
    const std::string f = path("arcface.onnx");
    ASSERT_TRUE(
        testing::write_linear_model(f, 112, weights(3 * 64, 0.1f), weights(64, 1.f), testing::LinearHead::kLinear));
    cases.push_back({Task::kRecognizer, f, entry(f, Task::kRecognizer)});
  }
  {
    const std::string f = path("2.7_80x80_MiniFASNetV2.onnx");
    ASSERT_TRUE(testing::write_linear_model(f, 80, weights(9, 0.01f), {0, 0, 0}, testing::LinearHead::kLinear,
                                            /*dynamic_batch=*/false));
    cases.push_back({Task::kLiveness, f, entry(f, Task::kLiveness)});
  }
  {
    const std::string f = path("xception.onnx");
    ASSERT_TRUE(testing::write_linear_model(f, 299, weights(6, 0.3f), {0.1f, -0.2f}, testing::LinearHead::kLinear));
    cases.push_back({Task::kDeepfake, f, entry(f, Task::kDeepfake)});
  }
  {
    // No family template for attributes: an entry as the manifest writes one.
    const std::string f = path("expression.onnx");
    ASSERT_TRUE(testing::write_detector_head(f, {1, 3, 64, 64}, {1, 7}, std::vector<float>(7, 0.f)));
    auto m = models::parse_manifest(R"({"models": [{"id": "expr", "file": "expression.onnx", "task": "attribute",
        "family": "expression", "input": {"name": "images", "shape": [1, 3, 64, 64]},
        "outputs": {"logits": "output0"},
        "labels": ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]}]})",
                                    "test");
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    cases.push_back({Task::kAttribute, f, m->models[0]});
  }
  ASSERT_EQ(cases.size(), models::kTaskCount);
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(models::name(c.task)));
    ASSERT_EQ(c.entry.task, c.task);
    auto s = session(c.file);
    ASSERT_TRUE(s);
    auto made = services::make_service(c.entry, s);
    ASSERT_TRUE(made.ok()) << made.status().to_string();
    const models::ModelService& svc = **made;
    EXPECT_EQ(svc.task(), c.task);
    EXPECT_EQ(svc.entry().id, c.entry.id);
    EXPECT_EQ(&svc.session(), s.get());
    ASSERT_EQ(svc.sessions().size(), 1u);
    EXPECT_EQ(svc.sessions()[0], s.get());
    EXPECT_EQ(svc.provider(), runtime::kCpuEpName);
    switch (c.task) {
      case Task::kDetector:
        EXPECT_TRUE(services::service_as<Task::kDetector>(*made).ok());
        EXPECT_FALSE(services::service_as<Task::kRecognizer>(*made).ok());
        break;
      case Task::kLandmarks:
        EXPECT_TRUE(services::service_as<Task::kLandmarks>(*made).ok());
        EXPECT_FALSE(services::service_as<Task::kDetector>(*made).ok());
        break;
      case Task::kRecognizer:
        EXPECT_TRUE(services::service_as<Task::kRecognizer>(*made).ok());
        EXPECT_FALSE(services::service_as<Task::kLiveness>(*made).ok());
        break;
      case Task::kLiveness:
        EXPECT_TRUE(services::service_as<Task::kLiveness>(*made).ok());
        EXPECT_FALSE(services::service_as<Task::kDeepfake>(*made).ok());
        break;
      case Task::kDeepfake:
        EXPECT_TRUE(services::service_as<Task::kDeepfake>(*made).ok());
        EXPECT_FALSE(services::service_as<Task::kAttribute>(*made).ok());
        break;
      case Task::kAttribute:
        EXPECT_TRUE(services::service_as<Task::kAttribute>(*made).ok());
        EXPECT_FALSE(services::service_as<Task::kLandmarks>(*made).ok());
        break;
    }
    // The typed factory agrees, and refuses an entry of another task.
    EXPECT_TRUE(services::make<Task::kDetector>(c.entry, s).ok() == (c.task == Task::kDetector));
  }
}

// Liveness models are fused into one service with every session; other tasks take one model; a
// missing session is an error, not a crash.
TEST_F(Factory, SeveralModelsOnlyForLiveness) {
  const std::string f1 = path("2.7_80x80_MiniFASNetV2.onnx"), f2 = path("4_0_0_80x80_MiniFASNetV1SE.onnx");
  ASSERT_TRUE(testing::write_linear_model(f1, 80, weights(9, 0.01f), {0, 0, 0}, testing::LinearHead::kLinear, false));
  ASSERT_TRUE(testing::write_linear_model(f2, 80, weights(9, 0.02f), {0, 0, 0}, testing::LinearHead::kLinear, false));
  const auto e1 = entry(f1, Task::kLiveness), e2 = entry(f2, Task::kLiveness);
  auto s1 = session(f1), s2 = session(f2);
  const std::vector<services::ServiceModel> both = {{&e1, s1}, {&e2, s2}};
  auto fused = services::make_service(both);
  ASSERT_TRUE(fused.ok()) << fused.status().to_string();
  EXPECT_EQ((*fused)->entry().id, e1.id);
  EXPECT_EQ((*fused)->sessions(), (std::vector<const runtime::Session*>{s1.get(), s2.get()}));
  auto typed = services::service_as<Task::kLiveness>(*fused);
  ASSERT_TRUE(typed.ok());
  EXPECT_EQ((*typed)->models().size(), 2u);

  const std::string d = path("yolov10_two.onnx");
  ASSERT_TRUE(testing::write_detector_head(d, {1, 3, 640, 640}, {1, 300, 6}, std::vector<float>(300 * 6, 0.f)));
  const auto det = entry(d, Task::kDetector);
  auto sd = session(d);
  const std::vector<services::ServiceModel> two_detectors = {{&det, sd}, {&det, sd}};
  auto refused = services::make_service(two_detectors);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  const std::vector<services::ServiceModel> mixed = {{&e1, s1}, {&det, sd}};
  EXPECT_FALSE(services::make_service(mixed).ok());
  EXPECT_FALSE(services::make_service(det, nullptr).ok());
}

// The engine logs a CPU fallback under provider auto at INFO only when this install has no CUDA
// provider at all: a structured fact of the session (Environment::cuda_absent), not a search of
// the fallback message.
TEST_F(Factory, CudaAbsentIsRecordedOnTheSession) {
  const std::string f = path("absent.onnx");
  ASSERT_TRUE(testing::write_linear_model(f, 16, weights(3 * 4, 0.1f), weights(4, 1.f), testing::LinearHead::kLinear));
  runtime::SessionOptions cpu;
  cpu.service.provider = Provider::kCpu;
  auto on_cpu = runtime::Session::create(*env_, f, cpu);
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.status().to_string();
  EXPECT_FALSE((*on_cpu)->cuda_absent());  // CUDA was not asked for
  runtime::SessionOptions automatic;
  automatic.service.provider = Provider::kAuto;
  auto s = runtime::Session::create(*env_, f, automatic);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const bool usable = (*env_)->cuda_devices("").ok();
  EXPECT_EQ((*s)->cuda_absent(), !usable && (*env_)->cuda_absent());
  if ((*s)->provider() == runtime::kCudaEpName) {
    EXPECT_FALSE((*s)->cuda_absent());
  }
  // Without a CUDA core or provider library (this CPU build), the reason says so and the flag agrees.
  const std::string& why = (*s)->fallback_reason();
  if (why.find("build without CUDA") != std::string::npos || why.find("was not found") != std::string::npos) {
    EXPECT_TRUE((*s)->cuda_absent()) << why;
  }
}

}  // namespace
}  // namespace facelens

// FP16 and INT8 of every default model and every model in ../shared/data/models, each measured
// against its original on the shared face photos (the converter's drift report):
// - FP16: every model within its bounds (embedding cosine >= 0.999, box IoU >= 0.9, no decision
//   flips on the recognizers) and about half the file size;
// - INT8: every model converts, loads and runs in ONNX Runtime and gets a drift report; the
//   recognizers are within the INT8 bounds (cosine >= 0.98, no same/different flips) at about a
//   third of the size or less. A model whose INT8 drift breaks a bound is refused and nothing is
//   written (the test checks that contract); which ones are refused is printed.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "common/test_env.h"
#include "convert/converter.h"
#include "convert/samples.h"
#include "models/manifest.h"
#include "models/registry.h"
#include "runtime/environment.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

// Sizes are checked on models of 1 MB and more: in the small attribute models (200-350 kB) the
// graph and the integer tensors weigh as much as the float weights (fr_gender FP16: 75 %).
constexpr int64_t kSizeCheckedFrom = 1'000'000;

struct Model {
  models::ModelEntry entry;
  std::string path;
};

class ConvertEvery : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    FACELENS_REQUIRE_DATA();
    auto reg = models::ModelRegistry::open(testing::models_dir());
    ASSERT_TRUE(reg.ok()) << reg.status().to_string();
    registry_ = *reg;
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok());
    env_ = *env;
    for (const auto& e : registry_->manifest().models) models_.push_back({e, registry_->path_of(e)});
    const std::string shared = testing::data_dir() + "/models";
    auto extra = models::load_manifest(std::string(FACELENS_SOURCE_DIR) + "/models/extra.json");
    ASSERT_TRUE(extra.ok()) << extra.status().to_string();
    for (const auto& e : extra->models) {
      const std::string path = shared + "/" + fs::path(e.file).filename().string();
      if (fs::exists(path)) models_.push_back({e, path});
    }
    const models::ModelEntry* det = registry_->manifest().default_for("detector");
    const models::ModelEntry* lm = registry_->manifest().default_for("landmarks");
    ASSERT_TRUE(det && lm);
    optimize::Reference ref{*det, registry_->path_of(*det), *lm, registry_->path_of(*lm)};
    auto files = optimize::list_images(testing::data_dir() + "/faces/face_recognition", 32);
    ASSERT_TRUE(files.ok()) << files.status().to_string();
    auto set = optimize::build_sample_set(*files, ref, env_);
    ASSERT_TRUE(set.ok()) << set.status().to_string();
    set_ = std::move(*set);
    dir_ = fs::temp_directory_path() / ("facelens_convert_every_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  StatusOr<optimize::ConvertResult> convert(const Model& m, bool int8) {
    optimize::ConvertRequest r;
    r.input = m.path;
    r.output = (dir_ / (m.entry.id + (int8 ? ".int8.onnx" : ".fp16.onnx"))).string();
    r.entry = m.entry;
    r.precision = int8 ? models::Precision::kInt8 : models::Precision::kFp16;
    r.samples = &set_;
    r.max_calibration_samples = 32;
    return optimize::convert_model(r, env_);
  }
  static double ratio(const models::DriftReport& d) {
    return static_cast<double>(d.converted_bytes) / static_cast<double>(d.original_bytes);
  }
  static std::string summary(const Model& m, const optimize::ConvertResult& r) {
    const auto& d = *r.drift;
    std::string s = m.entry.id + " " + r.precision + ": size " + std::to_string(ratio(d)).substr(0, 5);
    if (!d.embedding_cosine.empty())
      s += ", embedding cosine min " + std::to_string(d.embedding_cosine.min).substr(0, 6);
    if (!d.box_iou.empty()) s += ", box IoU min " + std::to_string(d.box_iou.min).substr(0, 6);
    s += r.refused ? ", REFUSED: " + r.refusal : ", within bounds";
    return s;
  }

  std::shared_ptr<models::ModelRegistry> registry_;
  std::shared_ptr<const runtime::Environment> env_;
  std::vector<Model> models_;
  optimize::SampleSet set_;
  fs::path dir_;
};

TEST_F(ConvertEvery, Fp16OfEveryModelIsWithinBoundsAtHalfTheSize) {
  ASSERT_GE(models_.size(), 9u);
  for (const auto& m : models_) {
    SCOPED_TRACE(m.entry.id);
    auto r = convert(m, false);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_TRUE(r->drift.has_value());
    std::cout << summary(m, *r) << "\n";
    EXPECT_FALSE(r->refused) << r->refusal;
    EXPECT_TRUE(r->written);
    const auto& d = *r->drift;
    if (d.original_bytes >= kSizeCheckedFrom) {
      EXPECT_LT(ratio(d), 0.6);
      EXPECT_GT(ratio(d), 0.4);
    }
    if (m.entry.task == models::Task::kRecognizer) {
      EXPECT_GE(d.embedding_cosine.min, 0.999);
      EXPECT_EQ(d.decision_flips, 0);
    }
    if (m.entry.task == models::Task::kDetector) {
      EXPECT_GE(d.box_iou.min, 0.9);
    }
  }
}

TEST_F(ConvertEvery, Int8OfEveryModelRunsAndRecognizersAreWithinBounds) {
  int refused = 0;
  for (const auto& m : models_) {
    SCOPED_TRACE(m.entry.id);
    auto r = convert(m, true);
    ASSERT_TRUE(r.ok()) << r.status().to_string();  // converted, loaded and run by ONNX Runtime
    ASSERT_TRUE(r->drift.has_value());
    std::cout << summary(m, *r) << "\n";
    const auto& d = *r->drift;
    EXPECT_GT(d.output_cosine.n, 0);  // the converted model ran on the samples
    if (d.original_bytes >= kSizeCheckedFrom) {
      EXPECT_LT(ratio(d), 0.45);
    }
    // Refused = nothing written; within bounds = the file is there.
    EXPECT_EQ(r->written, !r->refused);
    EXPECT_EQ(fs::exists(dir_ / (m.entry.id + ".int8.onnx")), !r->refused);
    if (r->refused) ++refused;
    if (m.entry.task == models::Task::kRecognizer) {
      EXPECT_FALSE(r->refused) << r->refusal;
      EXPECT_GE(d.embedding_cosine.min, 0.98);
      EXPECT_EQ(d.decision_flips, 0);
      EXPECT_LT(ratio(d), 0.4);
    }
  }
  std::cout << refused << " of " << models_.size() << " INT8 conversions refused by their drift bounds\n";
}

}  // namespace
}  // namespace facelens

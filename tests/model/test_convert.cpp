// Model conversion on the real default models: --dynamic-batch on the recognizer (batch N equals
// N single runs), and the automatic precision cache (made once, reused on the next start, made
// again when the model file changes). FP16/INT8 of every model: test_convert_slow.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_env.h"
#include "convert/auto_precision.h"
#include "convert/convert.h"
#include "core/sha256.h"
#include "models/registry.h"
#include "runtime/environment.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class Convert : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    auto reg = models::ModelRegistry::open(testing::models_dir());
    ASSERT_TRUE(reg.ok()) << reg.status().to_string();
    registry_ = *reg;
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok());
    env_ = *env;
    dir_ = fs::temp_directory_path() / ("facelens_convert_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::shared_ptr<models::ModelRegistry> registry_;
  std::shared_ptr<const runtime::Environment> env_;
  fs::path dir_;
};

TEST_F(Convert, DynamicBatchRecognizerBatchOfEightEqualsEightSingleRuns) {
  const models::ModelEntry* rec = registry_->manifest().default_for("recognizer");
  ASSERT_NE(rec, nullptr);
  const std::string original = registry_->path_of(*rec);
  auto converted = models::make_batch_dynamic(read_bytes(original));
  ASSERT_TRUE(converted.ok()) << converted.status().to_string();
  const std::string out = (dir_ / "fr_feature.dynamic.onnx").string();
  write_bytes(out, converted->model);
  auto check = models::check_dynamic_batch(original, out, 8, env_);
  ASSERT_TRUE(check.ok()) << check.status().to_string();
  EXPECT_EQ(check->batch, 8);
  EXPECT_LE(check->max_abs_diff_batch1, 1e-5);
  EXPECT_LE(check->max_abs_diff_batchn, 1e-5);
}

// The precision cache with a cheap conversion (FP16 of the detector): converted on the first
// resolve, taken from the cache on the second, converted again once the file's bytes change.
TEST_F(Convert, AutomaticPrecisionCacheIsReusedAndInvalidatedByAChangedModel) {
  FACELENS_REQUIRE_DATA();
  const models::ModelEntry* det = registry_->manifest().default_for("detector");
  const models::ModelEntry* lm = registry_->manifest().default_for("landmarks");
  ASSERT_NE(det, nullptr);
  const std::string model = (dir_ / "detector.onnx").string();
  fs::copy_file(registry_->path_of(*det), model);
  optimize::PrecisionRequest r;
  r.precision = models::Precision::kFp16;
  r.provider = Provider::kCpu;
  r.entry = *det;
  r.model_path = model;
  auto sha = core::sha256_file(model);
  ASSERT_TRUE(sha.ok());
  r.model_sha256 = *sha;
  optimize::Reference ref{*det, registry_->path_of(*det), std::nullopt, ""};
  if (lm) {
    ref.landmarks = *lm;
    ref.landmarks_path = registry_->path_of(*lm);
  }
  r.reference = ref;
  r.calibration_dir = testing::data_dir() + "/faces/face_recognition";
  r.max_images = 8;
  r.cache_dir = (dir_ / "cache").string();

  auto first = optimize::resolve_precision(r, env_);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->precision, models::Precision::kFp16);
  EXPECT_EQ(first->source, "converted");
  EXPECT_EQ(first->conversions, 1);
  ASSERT_TRUE(fs::exists(first->path));
  EXPECT_NE(first->path, model);
  EXPECT_LT(fs::file_size(first->path), fs::file_size(model) * 6 / 10);  // about half

  auto second = optimize::resolve_precision(r, env_);  // "the next start"
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->source, "cache");
  EXPECT_EQ(second->conversions, 0);
  EXPECT_EQ(second->path, first->path);

  // Another file: a protobuf field appended (ModelProto.doc_string, field 6) keeps the model
  // valid but changes its bytes and so its sha256.
  write_bytes(model, read_bytes(model) + std::string("\x32\x07"
                                                     "changed",
                                                     9));
  auto sha2 = core::sha256_file(model);
  ASSERT_TRUE(sha2.ok());
  ASSERT_NE(*sha2, *sha);
  r.model_sha256 = *sha2;
  auto third = optimize::resolve_precision(r, env_);
  ASSERT_TRUE(third.ok()) << third.status().to_string();
  EXPECT_EQ(third->source, "converted");
  EXPECT_EQ(third->conversions, 1);
  EXPECT_NE(third->path, first->path);
}

}  // namespace
}  // namespace facelens

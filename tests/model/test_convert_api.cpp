// The public conversion API (facelens/convert.h) against the converter it wraps: the same bytes
// as models::convert_fp16 on the default recognizer, the report's steps and JSON, the refusals
// and errors of `facelens models convert`, and the enums' parse/name pairs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_env.h"
#include "convert/convert.h"
#include "facelens/convert.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

class ConvertApi : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    dir_ = fs::temp_directory_path() / ("facelens_convert_api_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    recognizer_ = testing::models_dir() + "/fr_feature.onnx";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ConvertOptions fp16_options(const std::string& out) const {
    ConvertOptions o;
    o.input = recognizer_;
    o.output = out;
    o.models_dir = testing::models_dir();
    o.precision = ConvertPrecision::kFp16;
    o.check_drift = false;
    return o;
  }
  fs::path dir_;
  std::string recognizer_;
};

TEST_F(ConvertApi, Fp16WritesTheConvertersBytesAndReportsItsSteps) {
  const std::string out = (dir_ / "fr_feature.fp16.onnx").string();
  auto r = convert_model(fp16_options(out));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto reference = models::convert_fp16(read_bytes(recognizer_), {});
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();

  EXPECT_TRUE(r->written);
  EXPECT_FALSE(r->refused);
  EXPECT_FALSE(r->drift_measured);
  EXPECT_EQ(r->precision, "fp16");
  ASSERT_TRUE(fs::exists(out));
  EXPECT_EQ(read_bytes(out), reference->model);
  ASSERT_EQ(r->steps.size(), 1u);
  const ConvertStep& s = r->steps[0];
  EXPECT_EQ(s.kind, reference->info.kind);
  EXPECT_EQ(s.n_nodes, reference->info.n_nodes);
  EXPECT_EQ(s.n_nodes_converted, reference->info.n_nodes_converted);
  EXPECT_EQ(s.n_casts, reference->info.n_casts);
  EXPECT_EQ(s.kept_ops, reference->info.kept_ops);
  EXPECT_EQ(s.notes, reference->info.notes);

  const std::string text = convert_report_text(*r);
  EXPECT_EQ(
      text.rfind(
          "fp16: " + std::to_string(s.n_nodes) + " nodes, " + std::to_string(s.n_nodes_converted) + " in float16", 0),
      0u)
      << text;
  EXPECT_NE(text.find("drift not measured (--no-drift)\n"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(convert_report_json(*r));
  EXPECT_EQ(j["input"], recognizer_);
  EXPECT_EQ(j["output"], out);
  EXPECT_EQ(j["precision"], "fp16");
  ASSERT_EQ(j["steps"].size(), 1u);
  EXPECT_EQ(j["steps"][0]["nodes"], s.n_nodes);
  EXPECT_EQ(j["steps"][0]["casts"], s.n_casts);
  EXPECT_TRUE(j["drift"].is_null());
  EXPECT_EQ(j["written"], true);
  EXPECT_FALSE(j.contains("refusal"));
}

TEST_F(ConvertApi, DynamicBatchIsCheckedAgainstSingleRuns) {
  ConvertOptions o = fp16_options((dir_ / "fr_feature.dynamic.onnx").string());
  o.precision = ConvertPrecision::kKeep;
  o.dynamic_batch = true;
  o.batch_check = 4;
  auto r = convert_model(o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->precision, "dynamic-batch");
  ASSERT_TRUE(r->batch.has_value());
  EXPECT_EQ(r->batch->batch, 4);
  EXPECT_LE(r->batch->max_abs_diff_batchn, 1e-4);
  EXPECT_TRUE(r->written);
  EXPECT_NE(convert_report_text(*r).find(" at batch 4 vs single runs\n"), std::string::npos);
}

TEST_F(ConvertApi, RefusesWhatTheCommandRefuses) {
  const std::string out = (dir_ / "x.onnx").string();
  ConvertOptions o = fp16_options(out);
  o.precision = ConvertPrecision::kKeep;  // nothing to do
  EXPECT_EQ(convert_model(o).status().code(), StatusCode::kInvalidArgument);

  o = fp16_options(recognizer_);  // OUT = IN
  EXPECT_EQ(convert_model(o).status().code(), StatusCode::kInvalidArgument);

  o = fp16_options(out);
  o.input = (dir_ / "missing.onnx").string();
  EXPECT_EQ(convert_model(o).status().code(), StatusCode::kNotFound);

  o = fp16_options(out);
  o.precision = ConvertPrecision::kInt8;  // int8 without calibration images
  EXPECT_EQ(convert_model(o).status().code(), StatusCode::kInvalidArgument);

  o = fp16_options(out);
  o.check_drift = true;  // drift without images
  EXPECT_EQ(convert_model(o).status().code(), StatusCode::kInvalidArgument);

  o = fp16_options(out);
  o.model_id = "no_such_model";
  EXPECT_EQ(convert_model(o).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(out));
}

TEST(ConvertEnums, ParseNamePairsRoundTrip) {
  for (ConvertPrecision p :
       {ConvertPrecision::kKeep, ConvertPrecision::kFp16, ConvertPrecision::kInt8, ConvertPrecision::kInt8WeightOnly}) {
    auto back = parse_convert_precision(convert_precision_name(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  for (ConvertCalibration c :
       {ConvertCalibration::kMinMax, ConvertCalibration::kPercentile, ConvertCalibration::kMse}) {
    auto back = parse_convert_calibration(convert_calibration_name(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
  }
  EXPECT_STREQ(convert_precision_name(ConvertPrecision::kInt8WeightOnly), "int8-weight-only");
  EXPECT_STREQ(convert_calibration_name(ConvertCalibration::kMse), "mse");
  EXPECT_EQ(parse_convert_precision("int4").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_convert_calibration("entropy").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace facelens

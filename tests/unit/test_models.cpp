// Manifest parsing, the registry's hash checks, and model inspection on files written here.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "core/sha256.h"
#include "facelens/models.h"
#include "models/manifest.h"
#include "models/registry.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ =
        fs::temp_directory_path() / ("facelens-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

void write(const std::string& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }

TEST(Manifest, ParsesContract) {
  auto m = models::parse_manifest(R"({"defaults": {"detector": "d"}, "models": [
    {"id": "d", "file": "d.onnx", "sha256": "ab", "task": "detector", "family": "ultraface",
     "input": {"name": "input", "shape": [1,3,240,320], "color": "BGR", "mean": [1,2,3], "std": [4,5,6]},
     "outputs": {"scores": "s"}, "thresholds": {"score": 0.7}, "embedding_size": 512, "activation": "softmax",
     "labels": ["a", "b"]}]})",
                                  "test");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto* e = m->default_for("detector");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->input.width(), 320);
  EXPECT_EQ(e->input.height(), 240);
  EXPECT_EQ(e->input.norm.order, image::ChannelOrder::kBGR);
  EXPECT_FLOAT_EQ(e->input.norm.mean[2], 3.f);
  EXPECT_FLOAT_EQ(e->input.norm.std[1], 5.f);
  EXPECT_DOUBLE_EQ(e->threshold("score", 0), 0.7);
  EXPECT_DOUBLE_EQ(e->number("embedding_size", 0), 512);
  EXPECT_EQ(e->string("activation", ""), "softmax");
  EXPECT_EQ(e->labels.size(), 2u);
  EXPECT_EQ(e->outputs.at("scores"), "s");
}

// The pipeline vocabulary of issue 14: every name parses to its value and back; absent keys keep
// today's behaviour; an unknown name is refused with the known ones listed.
TEST(Manifest, PipelineVocabulary) {
  for (auto s : {models::Suppression::kHardNmsIou, models::Suppression::kBottomFirstOwnArea})
    EXPECT_EQ(*models::parse_suppression(models::suppression_name(s)), s);
  for (auto s : {models::BoxShape::kAsDetected, models::BoxShape::kSquareHeight})
    EXPECT_EQ(*models::parse_box_shape(models::box_shape_name(s)), s);
  for (auto r : {models::Rounding::kNone, models::Rounding::kTruncate})
    EXPECT_EQ(*models::parse_rounding(models::rounding_name(r)), r);
  for (auto r : {models::FivePointRule::kEyelidMean, models::FivePointRule::kEyeContourMean})
    EXPECT_EQ(*models::parse_five_point_rule(models::five_point_rule_name(r)), r);

  auto m = models::parse_manifest(R"({"models": [
    {"id": "plain", "file": "p", "task": "detector"},
    {"id": "pkg", "file": "d", "task": "detector", "suppression": "bottom_first_own_area",
     "suppression_pixel_offset": 1, "max_candidates": 750, "box_shape": "square_height"},
    {"id": "lm", "file": "l", "task": "landmarks", "input": {"shape": [1,1,64,64], "color": "GRAY",
     "crop_rounding": "truncate"}, "gray_source": "BGR", "points_rounding": "truncate",
     "five_points": "eye_contour_mean"}]})",
                                  "t");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto& plain = *m->find("plain");
  EXPECT_EQ(plain.detector.suppression, models::Suppression::kHardNmsIou);
  EXPECT_EQ(plain.detector.box_shape, models::BoxShape::kAsDetected);
  EXPECT_EQ(plain.detector.max_candidates, 0);
  EXPECT_EQ(plain.input.crop_rounding, models::Rounding::kNone);
  EXPECT_EQ(plain.input.norm.gray_source, image::GraySource::kRGB);
  const auto& pkg = *m->find("pkg");
  EXPECT_EQ(pkg.detector.suppression, models::Suppression::kBottomFirstOwnArea);
  EXPECT_FLOAT_EQ(pkg.detector.suppression_pixel_offset, 1.f);
  EXPECT_EQ(pkg.detector.max_candidates, 750);
  EXPECT_EQ(pkg.detector.box_shape, models::BoxShape::kSquareHeight);
  const auto& lm = *m->find("lm");
  EXPECT_EQ(lm.input.crop_rounding, models::Rounding::kTruncate);
  EXPECT_EQ(lm.input.norm.gray_source, image::GraySource::kBGR);
  EXPECT_EQ(lm.landmarks.points_rounding, models::Rounding::kTruncate);
  EXPECT_EQ(lm.landmarks.five_points, models::FivePointRule::kEyeContourMean);

  auto bad = models::parse_manifest(
      R"({"models": [{"id": "x", "file": "x", "task": "detector", "suppression": "soft_nms"}]})", "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bottom_first_own_area"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("suppression"), std::string::npos);
  EXPECT_FALSE(
      models::parse_manifest(R"({"models": [{"id": "x", "file": "x", "task": "detector", "max_candidates": -1}]})", "t")
          .ok());
}

// A recognizer's match threshold is its entry's thresholds.match; the one code fallback
// (models::kFallbackMatchThreshold) is never needed by the shipped manifest.
TEST(Manifest, MatchThresholdComesFromTheEntry) {
  auto m = models::parse_manifest(R"({"models": [
      {"id": "a", "file": "a", "task": "recognizer", "thresholds": {"match": 0.33}},
      {"id": "b", "file": "b", "task": "recognizer"}]})",
                                  "t");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_DOUBLE_EQ(m->find("a")->match_threshold(), 0.33);
  EXPECT_DOUBLE_EQ(m->find("b")->match_threshold(), models::kFallbackMatchThreshold);
  auto shipped = models::load_manifest(std::string(FACELENS_SOURCE_DIR) + "/models/manifest.json");
  ASSERT_TRUE(shipped.ok()) << shipped.status().to_string();
  int n_recognizers = 0;
  for (const auto& e : shipped->models) {
    if (e.task != models::Task::kRecognizer) continue;
    ++n_recognizers;
    EXPECT_TRUE(e.thresholds.count("match")) << e.id << " has no thresholds.match";
  }
  EXPECT_GT(n_recognizers, 0);
}

TEST(Manifest, RejectsBadEntries) {
  EXPECT_EQ(models::parse_manifest("not json", "t").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(models::parse_manifest(R"({"models": [{"id": "x"}]})", "t").ok());  // no file/task
  auto bad_color = models::parse_manifest(
      R"({"models": [{"id": "x", "file": "x", "task": "detector", "input": {"color": "CMYK"}}]})", "t");
  ASSERT_FALSE(bad_color.ok());
  EXPECT_NE(bad_color.status().message().find("CMYK"), std::string::npos);
  auto zero_std = models::parse_manifest(
      R"({"models": [{"id": "x", "file": "x", "task": "detector", "input": {"std": [1, 0, 1]}}]})", "t");
  EXPECT_FALSE(zero_std.ok());
  auto dangling = models::parse_manifest(R"({"defaults": {"detector": "nope"}, "models": []})", "t");
  EXPECT_FALSE(dangling.ok());
  auto dup = models::parse_manifest(
      R"({"models": [{"id": "x", "file": "x", "task": "detector"}, {"id": "x", "file": "y", "task": "detector"}]})",
      "t");
  EXPECT_FALSE(dup.ok());
}

TEST(Sha256, KnownVector) {
  TempDir d;
  write(d.file("abc"), "abc");
  auto h = core::sha256_file(d.file("abc"));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2 example
  EXPECT_EQ(core::sha256_file(d.file("missing")).status().code(), StatusCode::kNotFound);
}

TEST(Registry, ReportsMissingMismatchAndOk) {
  TempDir d;
  write(d.file("good.onnx"), "abc");
  write(d.file("bad.onnx"), "abd");
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  write(d.file("manifest.json"), R"({"models": [
    {"id": "good", "file": "good.onnx", "sha256": ")" +
                                     abc + R"(", "task": "detector"},
    {"id": "bad", "file": "bad.onnx", "sha256": ")" +
                                     abc + R"(", "task": "detector"},
    {"id": "gone", "file": "gone.onnx", "sha256": ")" +
                                     abc + R"(", "task": "detector", "package": "pkg@1"}]})");
  auto reg = models::ModelRegistry::open(d.str());
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  const auto& m = (*reg)->manifest();
  EXPECT_EQ((*reg)->check(*m.find("good")).state, models::FileState::kOk);
  auto bad = (*reg)->check(*m.find("bad"));
  EXPECT_EQ(bad.state, models::FileState::kHashMismatch);
  EXPECT_EQ(bad.status.code(), StatusCode::kDataLoss);
  for (const std::string& want : {std::string("bad.onnx"), abc, bad.actual_sha256, std::string("setup.sh")})
    EXPECT_NE(bad.status.message().find(want), std::string::npos) << want << " not in: " << bad.status.message();
  auto gone = (*reg)->check(*m.find("gone"));
  EXPECT_EQ(gone.state, models::FileState::kMissing);
  EXPECT_NE(gone.status.message().find("pkg@1"), std::string::npos);
  EXPECT_TRUE((*reg)->verified_path("good").ok());
  EXPECT_EQ((*reg)->verified_path("nope").status().code(), StatusCode::kNotFound);
}

TEST(Registry, MissingManifestSaysWhatToDo) {
  auto reg = models::ModelRegistry::open("/nonexistent-facelens-dir");
  ASSERT_FALSE(reg.ok());
  EXPECT_EQ(reg.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reg.status().message().find("--models"), std::string::npos);
}

TEST(Inspect, DescribesAWrittenModel) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("facelens-test");
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(17);
  auto* g = model.mutable_graph();
  g->set_name("g");
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  w->add_dims(3);
  for (int i = 0; i < 12; ++i) w->add_float_data(1.f);
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  tt->mutable_shape()->add_dim()->set_dim_value(4);
  auto* node = g->add_node();
  node->set_op_type("MatMul");
  node->add_input("x");
  node->add_input("w");
  node->add_output("y");
  auto* out = g->add_output();
  out->set_name("y");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  TempDir d;
  {
    std::ofstream f(d.file("m.onnx"), std::ios::binary);
    ASSERT_TRUE(model.SerializeToOstream(&f));
  }
  auto desc = inspect_model(d.file("m.onnx"));
  ASSERT_TRUE(desc.ok()) << desc.status().to_string();
  EXPECT_EQ(desc->producer_name, "facelens-test");
  EXPECT_EQ(desc->n_parameters, 12);
  EXPECT_EQ(desc->n_nodes, 1);
  ASSERT_EQ(desc->opsets.size(), 1u);
  EXPECT_EQ(desc->opsets[0].second, 17);
  ASSERT_EQ(desc->inputs.size(), 1u);  // the initializer is not an input
  EXPECT_EQ(desc->inputs[0].shape_string(), "batchx4");
  EXPECT_EQ(desc->inputs[0].element_type, "float32");
}

TEST(Inspect, RefusesFilesThatAreNotOnnx) {
  TempDir d;
  write(d.file("text.onnx"), "this is not a model at all\n");
  auto r = inspect_model(d.file("text.onnx"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not an ONNX model"), std::string::npos);
  write(d.file("empty.onnx"), "");
  EXPECT_FALSE(inspect_model(d.file("empty.onnx")).ok());
  EXPECT_EQ(inspect_model(d.file("missing.onnx")).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace facelens

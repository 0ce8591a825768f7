// The synthetic reference-design models (facelens/synth.h): parameter counts and MACs against the
// published figures (within 2 %), the counter against a closed-form count, the marker, seeds.
// Running them in ONNX Runtime and through the family decoders is in tests/model/test_synth_run.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "common/onnx_gen.h"
#include "facelens/synth.h"

namespace facelens {
namespace {

using testing::GenDir;

StatusOr<SynthReport> make(SynthArch arch, const std::string& path, uint64_t seed = 1) {
  SynthOptions o;
  o.arch = arch;
  o.output = path;
  o.seed = seed;
  return synth_model(o);
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void expect_within(double got, double want, double rel, const std::string& what) {
  EXPECT_LE(std::abs(got - want), rel * want) << what << ": " << got << " vs " << want;
}

// MACs of an IResNet / IR (insightface iresnet.py, AdaFace net.py) at 112x112, from the layer
// table: the stem, per stage its first unit (3x3 conv at the stage's input resolution, strided 3x3,
// the 1x1 shortcut unless AdaFace keeps the width) and the other units, then the FC.
double ir_macs(const std::vector<int>& layers, bool adaface) {
  const double widths[4] = {64, 128, 256, 512};
  double r = 112, in = 64;
  double macs = r * r * 64 * 3 * 9;
  for (int s = 0; s < 4; ++s) {
    const double w = widths[s], h = r / 2;
    macs += r * r * w * in * 9 + h * h * w * w * 9;
    if (!(adaface && in == w)) macs += h * h * w * in;
    macs += (layers[s] - 1) * 2 * h * h * w * w * 9;
    r = h;
    in = w;
  }
  return macs + 512.0 * 7 * 7 * 512;
}

TEST(Synth, ArchNames) {
  ASSERT_EQ(synth_archs().size(), 4u);
  for (SynthArch a : synth_archs()) {
    auto p = parse_synth_arch(synth_arch_name(a));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, a);
  }
  auto bad = parse_synth_arch("resnet18");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("arcface-r50"), std::string::npos);
}

// IResNet-50: 43.6 M parameters, 6.3 GMACs (insightface model zoo); counted from the written file.
TEST(Synth, ArcfaceR50Cost) {
  GenDir dir("synth-r50");
  auto r = make(SynthArch::kArcfaceR50, dir.path("r50.onnx"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto c = count_model_cost(r->output);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->n_parameters, r->cost.n_parameters);
  EXPECT_EQ(c->macs, r->cost.macs);
  std::printf("[synth] arcface-r50: %.3f M parameters, %.3f GMACs\n", c->n_parameters / 1e6, c->macs / 1e9);
  expect_within(c->n_parameters, 43.6e6, 0.02, "parameters");
  expect_within(c->macs, 6.3e9, 0.02, "MACs");
  expect_within(c->macs, ir_macs({3, 4, 14, 3}, false), 1e-9, "MACs against the layer table");
  EXPECT_EQ(r->family, "arcface");
  EXPECT_EQ(r->input_shape, (std::vector<int64_t>{-1, 3, 112, 112}));
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0], "embedding [batch,512]");
}

// AdaFace IR-101: about 65 M parameters; its MACs from the layer table (no published figure).
TEST(Synth, AdafaceIr101Cost) {
  GenDir dir("synth-ir101");
  auto r = make(SynthArch::kAdafaceIr101, dir.path("ir101.onnx"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::printf("[synth] adaface-ir101: %.3f M parameters, %.3f GMACs\n", r->cost.n_parameters / 1e6, r->cost.macs / 1e9);
  expect_within(r->cost.n_parameters, 65e6, 0.02, "parameters");
  expect_within(r->cost.macs, ir_macs({3, 13, 30, 3}, true), 1e-9, "MACs against the layer table");
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0], "feature [batch,512]");
  EXPECT_EQ(r->outputs[1], "norm [batch,1]");
}

// Xception: 8.4 GMACs at 299; 22.9 M parameters with ImageNet's 1000-way FC, of which the graph's
// 2-way FC (FaceForensics) keeps 2048 x 2 + 2.
TEST(Synth, XceptionCost) {
  GenDir dir("synth-xception");
  auto r = make(SynthArch::kXception, dir.path("xception.onnx"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::printf("[synth] xception: %.3f M parameters, %.3f GMACs\n", r->cost.n_parameters / 1e6, r->cost.macs / 1e9);
  const double fc_difference = 2049.0 * (1000 - 2);
  expect_within(r->cost.n_parameters + fc_difference, 22.9e6, 0.02, "parameters with a 1000-way FC");
  expect_within(r->cost.macs, 8.4e9, 0.02, "MACs");
  EXPECT_EQ(r->outputs[0], "logits [batch,2]");
  EXPECT_FALSE(r->reference.note.empty());
}

// YOLOv10n: 2.3 M parameters, 6.7 GFLOPs = 3.35 GMACs at 640 (one-to-one head). The attention's
// two MatMuls (PSA at 20x20) are counted too: 30.7 M MACs.
TEST(Synth, Yolov10nCostAndSeed) {
  GenDir dir("synth-yolo");
  auto r = make(SynthArch::kYolov10n, dir.path("a.onnx"), 7);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::printf("[synth] yolov10n: %.3f M parameters, %.3f GMACs\n", r->cost.n_parameters / 1e6, r->cost.macs / 1e9);
  expect_within(r->cost.n_parameters, 2.3e6, 0.02, "parameters");
  expect_within(r->cost.macs, 6.7e9 / 2, 0.02, "MACs");
  EXPECT_EQ(r->cost.macs_by_op.at("MatMul"), 2 * (400 * 400 * 32) + 2 * (64 * 400 * 400));
  EXPECT_EQ(r->outputs[0], "output0 [batch,300,6]");
  EXPECT_EQ(r->input_shape, (std::vector<int64_t>{-1, 3, 640, 640}));
  // The same seed writes the same file; another seed other weights of the same graph.
  auto same = make(SynthArch::kYolov10n, dir.path("b.onnx"), 7);
  auto other = make(SynthArch::kYolov10n, dir.path("c.onnx"), 8);
  ASSERT_TRUE(same.ok() && other.ok());
  const std::string a = read_all(dir.path("a.onnx")), b = read_all(dir.path("b.onnx")),
                    c = read_all(dir.path("c.onnx"));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.size(), static_cast<size_t>(r->file_bytes));
  EXPECT_EQ(other->cost.n_parameters, r->cost.n_parameters);
}

TEST(Synth, FilesCarryTheMarker) {
  GenDir dir("synth-marker");
  auto r = make(SynthArch::kYolov10n, dir.path("y.onnx"), 3);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto meta = model_metadata(r->output);
  ASSERT_TRUE(meta.ok()) << meta.status().to_string();
  EXPECT_EQ(meta->at(kSyntheticMetadataKey), "true");
  EXPECT_EQ(meta->at(kSyntheticArchMetadataKey), "yolov10n");
  EXPECT_EQ(meta->at(kSyntheticSeedMetadataKey), "3");
  // A file of the ordinary test generator has none.
  ASSERT_TRUE(testing::write_unsupported_model(dir.path("plain.onnx")));
  auto plain = model_metadata(dir.path("plain.onnx"));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->empty());
  // The report says what it is.
  EXPECT_NE(synth_report_text(*r).find("synthetic"), std::string::npos);
  EXPECT_NE(synth_report_json(*r).find("\"macs\""), std::string::npos);
  SynthOptions none;
  EXPECT_FALSE(synth_model(none).ok());  // no output file
}

}  // namespace
}  // namespace facelens

// Static int8 quantization of PRelu networks (issue 19): the float32 graph the quantizer works on
// (BatchNormalization folded into its Conv, PRelu rewritten into Mul/Relu/Add or LeakyRelu) gives
// the original's outputs within 1e-4, and the quantized graph has no float PRelu between int8 ops
// (no DequantizeLinear -> PRelu -> QuantizeLinear chain), on a generated Conv-BN-PRelu model and on
// the default recognizer (MobileFaceNet: a PRelu after every convolution but the linear ones).
// Channel equalization (Conv -> PRelu -> depthwise Conv) keeps the float outputs and lowers the
// int8 error, on a generated model and on the default recognizer with face photos.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>

#include "common/onnx_build.h"
#include "common/test_env.h"
#include "convert/convert.h"
#include "convert/converter.h"
#include "convert/samples.h"
#include "models/registry.h"
#include "runtime/environment.h"
#include "runtime/session.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;
using testing::add_value;
using testing::float_tensor;
using testing::new_graph;
using testing::random_values;

void add_node(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& in, const std::string& out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(op + "_" + out);
  for (const auto& s : in) n->add_input(s);
  n->add_output(out);
}

// input [1,4,16,16] -> Conv 3x3 (8) -> BatchNormalization -> PRelu (per-channel slopes, one above
// 1 and some negative) -> Conv 1x1 (8) -> PRelu (one slope for all) -> Conv 1x1 (4) -> output.
std::string conv_bn_prelu_model() {
  onnx::ModelProto m;
  auto* g = new_graph(m, "conv_bn_prelu", {1, 4, 16, 16});
  add_value(g->mutable_output(), "output", {1, 4, 16, 16});
  auto* a = g->add_node();
  *g->add_initializer() = float_tensor("w1", {8, 4, 3, 3}, random_values(8 * 4 * 9, -0.5f, 0.5f, 1));
  *g->add_initializer() = float_tensor("b1", {8}, random_values(8, -0.2f, 0.2f, 2));
  a->set_op_type("Conv");
  a->set_name("conv1");
  a->add_input("input");
  a->add_input("w1");
  a->add_input("b1");
  a->add_output("c1");
  auto* pads = a->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int k = 0; k < 4; ++k) pads->add_ints(1);
  *g->add_initializer() = float_tensor("bn_scale", {8}, random_values(8, 0.5f, 1.5f, 3));
  *g->add_initializer() = float_tensor("bn_bias", {8}, random_values(8, -0.3f, 0.3f, 4));
  *g->add_initializer() = float_tensor("bn_mean", {8}, random_values(8, -0.2f, 0.2f, 5));
  *g->add_initializer() = float_tensor("bn_var", {8}, random_values(8, 0.5f, 2.f, 6));
  add_node(g, "BatchNormalization", {"c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, "bn1");
  *g->add_initializer() = float_tensor("slope1", {8, 1, 1}, {0.25f, -0.4f, 1.3f, 0.01f, 0.7f, -0.05f, 0.5f, 0.f});
  add_node(g, "PRelu", {"bn1", "slope1"}, "p1");
  *g->add_initializer() = float_tensor("w2", {8, 8, 1, 1}, random_values(64, -0.5f, 0.5f, 7));
  add_node(g, "Conv", {"p1", "w2"}, "c2");
  *g->add_initializer() = float_tensor("slope2", {8, 1, 1}, std::vector<float>(8, 0.2f));
  add_node(g, "PRelu", {"c2", "slope2"}, "p2");
  *g->add_initializer() = float_tensor("w3", {4, 8, 1, 1}, random_values(32, -0.5f, 0.5f, 8));
  add_node(g, "Conv", {"p2", "w3"}, "output");
  return m.SerializeAsString();
}

// input [1,4,16,16] -> Conv 3x3 (8) -> PRelu -> depthwise Conv 3x3 (8) -> output. Output channel c
// of the first Conv is scaled by 4^(c-4) (ranges 1/256 .. 64 of each other) and channel c of the
// depthwise Conv by the inverse, so the output channels have like ranges: quantized per tensor,
// the small channels of the middle activation get a few int8 steps unless equalized.
std::string conv_prelu_depthwise_model() {
  onnx::ModelProto m;
  auto* g = new_graph(m, "conv_prelu_depthwise", {1, 4, 16, 16});
  add_value(g->mutable_output(), "output", {1, 8, 16, 16});
  std::vector<float> w1 = random_values(8 * 4 * 9, -0.5f, 0.5f, 31), b1 = random_values(8, -0.2f, 0.2f, 32);
  std::vector<float> w2 = random_values(8 * 9, -0.5f, 0.5f, 33);
  for (int c = 0; c < 8; ++c) {
    const float k = std::pow(4.f, static_cast<float>(c - 4));
    for (int j = 0; j < 36; ++j) w1[c * 36 + j] *= k;
    b1[c] *= k;
    for (int j = 0; j < 9; ++j) w2[c * 9 + j] /= k;
  }
  *g->add_initializer() = float_tensor("w1", {8, 4, 3, 3}, w1);
  *g->add_initializer() = float_tensor("b1", {8}, b1);
  *g->add_initializer() = float_tensor("slope", {8, 1, 1}, {0.25f, 0.1f, 0.5f, 0.01f, 0.7f, 0.05f, 0.3f, 0.2f});
  *g->add_initializer() = float_tensor("w2", {8, 1, 3, 3}, w2);
  *g->add_initializer() = float_tensor("b2", {8}, random_values(8, -0.2f, 0.2f, 34));
  auto pads = [](onnx::NodeProto* n) {
    auto* a = n->add_attribute();
    a->set_name("pads");
    a->set_type(onnx::AttributeProto::INTS);
    for (int k = 0; k < 4; ++k) a->add_ints(1);
  };
  add_node(g, "Conv", {"input", "w1", "b1"}, "c1");
  pads(g->mutable_node(g->node_size() - 1));
  add_node(g, "PRelu", {"c1", "slope"}, "p1");
  add_node(g, "Conv", {"p1", "w2", "b2"}, "output");
  auto* dw = g->mutable_node(g->node_size() - 1);
  pads(dw);
  auto* group = dw->add_attribute();
  group->set_name("group");
  group->set_type(onnx::AttributeProto::INT);
  group->set_i(8);
  return m.SerializeAsString();
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// sqrt(sum (a-b)^2 / sum a^2)
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    n += static_cast<double>(a[i]) * a[i];
  }
  return n > 0 ? std::sqrt(d / n) : 0;
}

// Nodes by op type, and DequantizeLinear -> op -> QuantizeLinear chains around `op`.
struct GraphCounts {
  std::map<std::string, int> ops;
  int dq_op_q = 0;
};

GraphCounts count(const std::string& bytes, const std::string& op) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  GraphCounts c;
  std::map<std::string, const onnx::NodeProto*> producer;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers;
  for (const auto& n : m.graph().node()) {
    ++c.ops[n.op_type()];
    for (const auto& o : n.output()) producer[o] = &n;
    for (const auto& i : n.input()) consumers[i].push_back(&n);
  }
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != op) continue;
    auto p = producer.find(n.input(0));
    const bool from_dq = p != producer.end() && p->second->op_type() == "DequantizeLinear";
    bool to_q = false;
    for (const auto* k : consumers[n.output(0)]) to_q = to_q || k->op_type() == "QuantizeLinear";
    if (from_dq && to_q) ++c.dq_op_q;
  }
  return c;
}

class ConvertInt8 : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok()) << env.status().to_string();
    env_ = *env;
    dir_ = fs::temp_directory_path() / ("facelens_convert_int8_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs a model (bytes) on `input`; the first output.
  std::vector<float> run(const std::string& bytes, const runtime::Tensor& input, const std::string& tag) {
    const std::string path = (dir_ / (tag + ".onnx")).string();
    Status written = models::write_model_file(path, bytes);
    EXPECT_TRUE(written.ok()) << written.to_string();
    runtime::SessionOptions so;
    so.service.provider = Provider::kCpu;
    auto s = runtime::Session::create(env_, path, so);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    if (!s.ok()) return {};
    std::vector<runtime::Tensor> in = {input};
    auto out = (*s)->run(runtime::refs_of(in));
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    return out.ok() ? (*out)[0].data : std::vector<float>{};
  }
  static runtime::Tensor random_input(std::vector<int64_t> shape, uint32_t seed) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    return {std::move(shape), random_values(n, -1.f, 1.f, seed)};
  }
  // The float graph of every PRelu mode against the original, on a few random inputs.
  void expect_same_float_outputs(const std::string& model, const std::vector<int64_t>& shape) {
    for (auto mode : {models::PreluRewrite::kKeep, models::PreluRewrite::kAuto, models::PreluRewrite::kReluFirst}) {
      SCOPED_TRACE(static_cast<int>(mode));
      models::Int8Options o;
      o.prelu = mode;
      auto g = models::int8_float_graph(model, o);
      ASSERT_TRUE(g.ok()) << g.status().to_string();
      const GraphCounts c = count(*g, "PRelu");
      EXPECT_EQ(c.ops.count("BatchNormalization"), 0u);
      if (mode != models::PreluRewrite::kKeep) {
        EXPECT_EQ(c.ops.count("PRelu"), 0u);
      }
      for (uint32_t seed = 10; seed < 13; ++seed) {
        const runtime::Tensor in = random_input(shape, seed);
        const auto a = run(model, in, "original");
        const auto b = run(*g, in, "rewritten");
        ASSERT_EQ(a.size(), b.size());
        ASSERT_FALSE(a.empty());
        double diff = 0;
        for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
        EXPECT_LE(diff, 1e-4);
      }
    }
  }
  // Quantizes with `mode`, calibrated on random inputs (only the graph is looked at).
  GraphCounts quantized_counts(const std::string& model, const std::vector<int64_t>& shape, models::PreluRewrite mode) {
    std::vector<models::CalibrationSample> samples;
    for (uint32_t seed = 20; seed < 24; ++seed) samples.push_back({random_input(shape, seed)});
    models::Int8Options o;
    o.prelu = mode;
    o.method = models::CalibrationMethod::kMinMax;
    auto q = models::quantize_int8_static(model, samples, o, env_);
    EXPECT_TRUE(q.ok()) << q.status().to_string();
    if (!q.ok()) return {};
    // ONNX Runtime loads and runs it.
    EXPECT_FALSE(run(q->model, samples[0][0], "quantized").empty());
    return count(q->model, "PRelu");
  }

  // The equalized graph against the original on random inputs (calibrated on other random inputs):
  // the same outputs up to float32 rounding (1e-4 of the largest output).
  std::string expect_equalized_same_float_outputs(const std::string& model, const std::vector<int64_t>& shape,
                                                  int expected_pairs) {
    std::vector<models::CalibrationSample> samples;
    for (uint32_t seed = 40; seed < 44; ++seed) samples.push_back({random_input(shape, seed)});
    auto e = models::equalize_channels(model, samples, env_);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    if (!e.ok()) return {};
    EXPECT_EQ(e->info.n_nodes_converted, 2 * expected_pairs);
    for (uint32_t seed = 50; seed < 53; ++seed) {
      const runtime::Tensor in = random_input(shape, seed);
      const auto a = run(model, in, "original");
      const auto b = run(e->model, in, "equalized");
      EXPECT_EQ(a.size(), b.size());
      double diff = 0;
      for (size_t i = 0; i < a.size() && i < b.size(); ++i)
        diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
      EXPECT_LE(diff, 1e-4 * max_abs(a)) << "seed " << seed;
    }
    return e->model;
  }

  std::shared_ptr<const runtime::Environment> env_;
  fs::path dir_;
};

TEST_F(ConvertInt8, BatchNormFoldAndPreluRewriteKeepTheFloatOutputsOfAGeneratedModel) {
  expect_same_float_outputs(conv_bn_prelu_model(), {1, 4, 16, 16});
}

TEST_F(ConvertInt8, QuantizedGeneratedModelHasNoFloatPreluBetweenInt8Ops) {
  const std::string model = conv_bn_prelu_model();
  // The reference path: PRelu kept, computed in float32 between DequantizeLinear and QuantizeLinear.
  const GraphCounts kept = quantized_counts(model, {1, 4, 16, 16}, models::PreluRewrite::kKeep);
  EXPECT_EQ(kept.dq_op_q, 2);
  for (auto mode : {models::PreluRewrite::kAuto, models::PreluRewrite::kReluFirst}) {
    const GraphCounts c = quantized_counts(model, {1, 4, 16, 16}, mode);
    EXPECT_EQ(c.dq_op_q, 0);
    EXPECT_EQ(c.ops.count("PRelu"), 0u);
    EXPECT_EQ(c.ops.at("LeakyRelu"), 1);  // the PRelu with one slope for all channels
  }
}

TEST_F(ConvertInt8, DefaultRecognizerFloatGraphAndQuantizedGraph) {
  FACELENS_REQUIRE_MODELS();
  auto read = models::read_model_file(testing::models_dir() + "/fr_feature.onnx");
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  const std::string& model = *read;
  ASSERT_FALSE(model.empty());
  expect_same_float_outputs(model, {1, 3, 112, 112});
  const GraphCounts kept = quantized_counts(model, {1, 3, 112, 112}, models::PreluRewrite::kKeep);
  EXPECT_EQ(kept.dq_op_q, 33);  // MobileFaceNet: 33 PRelu
  const GraphCounts c = quantized_counts(model, {1, 3, 112, 112}, models::PreluRewrite::kAuto);
  EXPECT_EQ(c.dq_op_q, 0);
  EXPECT_EQ(c.ops.count("PRelu"), 0u);
}

TEST_F(ConvertInt8, ChannelEqualizationKeepsTheFloatOutputsAndHalvesTheInt8ErrorOfAGeneratedModel) {
  const std::string model = conv_prelu_depthwise_model();
  const std::vector<int64_t> shape = {1, 4, 16, 16};
  const std::string equalized = expect_equalized_same_float_outputs(model, shape, 1);
  ASSERT_FALSE(equalized.empty());
  // Int8 of both (the same calibration inputs), against the float32 outputs on other inputs.
  std::vector<models::CalibrationSample> samples;
  for (uint32_t seed = 40; seed < 44; ++seed) samples.push_back({random_input(shape, seed)});
  models::Int8Options o;
  o.method = models::CalibrationMethod::kMinMax;
  auto q_plain = models::quantize_int8_static(model, samples, o, env_);
  auto q_equalized = models::quantize_int8_static(equalized, samples, o, env_);
  ASSERT_TRUE(q_plain.ok()) << q_plain.status().to_string();
  ASSERT_TRUE(q_equalized.ok()) << q_equalized.status().to_string();
  double e_plain = 0, e_equalized = 0;
  for (uint32_t seed = 60; seed < 63; ++seed) {
    const runtime::Tensor in = random_input(shape, seed);
    const auto ref = run(model, in, "original");
    e_plain += relative_error(ref, run(q_plain->model, in, "plain_int8"));
    e_equalized += relative_error(ref, run(q_equalized->model, in, "equalized_int8"));
  }
  EXPECT_LT(e_equalized, 0.5 * e_plain) << "relative error " << e_equalized << " equalized, " << e_plain << " not";
}

TEST_F(ConvertInt8, DefaultRecognizerChannelEqualizationKeepsTheFloatOutputs) {
  FACELENS_REQUIRE_MODELS();
  auto read = models::read_model_file(testing::models_dir() + "/fr_feature.onnx");
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  // MobileFaceNet: 17 Conv -> PRelu -> depthwise Conv pairs (the first layers, each bottleneck's
  // expansion, the last 1x1 conv before the global depthwise conv).
  expect_equalized_same_float_outputs(*read, {1, 3, 112, 112}, 17);
}

// The converter on face photos (issue 19): fully int8 (no mixed-precision fallback), the
// equalized default recognizer drifts less from float32 than the plain one, and the converter's
// result (with its fallbacks) holds the int8 bounds with no decision changed.
TEST_F(ConvertInt8, DefaultRecognizerEqualizedInt8DriftsLessOnFaces) {
  FACELENS_REQUIRE_MODELS();
  FACELENS_REQUIRE_DATA();
  auto reg = models::ModelRegistry::open(testing::models_dir());
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  const auto& man = (*reg)->manifest();
  const models::ModelEntry* det = man.default_for("detector");
  const models::ModelEntry* lm = man.default_for("landmarks");
  const models::ModelEntry* fr = man.find("fr_feature");
  ASSERT_TRUE(det && lm && fr);
  optimize::Reference ref{*det, (*reg)->path_of(*det), *lm, (*reg)->path_of(*lm)};
  auto files = optimize::list_images(testing::data_dir() + "/faces/face_recognition", 32);
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  auto set = optimize::build_sample_set(*files, ref, env_);
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  auto convert = [&](bool equalize, bool mixed) {
    optimize::ConvertRequest r;
    r.input = (*reg)->path_of(*fr);
    r.entry = *fr;
    r.precision = models::Precision::kInt8;
    r.samples = &*set;
    r.max_calibration_samples = 32;
    r.mixed_precision = mixed;
    r.int8_options.method = models::CalibrationMethod::kMse;
    r.int8_options.equalize_channels = equalize;
    return optimize::convert_model(r, env_);
  };
  auto plain = convert(false, false);
  auto equalized = convert(true, false);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  ASSERT_TRUE(equalized.ok()) << equalized.status().to_string();
  ASSERT_TRUE(plain->drift && equalized->drift);
  const auto& dp = plain->drift->embedding_cosine;
  const auto& de = equalized->drift->embedding_cosine;
  std::cout << "fully int8 embedding cosine: plain min " << dp.min << " mean " << dp.mean() << ", equalized min "
            << de.min << " mean " << de.mean() << "\n";
  ASSERT_FALSE(de.empty());
  EXPECT_GT(de.mean(), dp.mean());
  EXPECT_GT(de.min, dp.min);
  auto best = convert(true, true);
  ASSERT_TRUE(best.ok()) << best.status().to_string();
  ASSERT_TRUE(best->drift);
  EXPECT_FALSE(best->refused) << best->refusal;
  EXPECT_GE(best->drift->embedding_cosine.min, 0.98);
  EXPECT_GE(best->drift->embedding_cosine.mean(), 0.99);
  EXPECT_EQ(best->drift->decision_flips, 0);
}

}  // namespace
}  // namespace facelens

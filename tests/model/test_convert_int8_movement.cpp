// Static int8 quantization keeps data movement and BatchNorm on uint8 (issue 19): a Split's parts
// and a nearest Resize's output share their input's quantization parameters, a Concat's inputs of
// alike ranges share one with its output (QLinearConcat then copies), and a BatchNorm that
// no Conv before it absorbs (IResNet's BN on the residual sum) becomes a depthwise 1x1 Conv, so
// ONNX Runtime runs them between int8 ops without DequantizeLinear/QuantizeLinear around them; a
// BatchNorm after a Gemm is folded into it. Checked on a generated model: the float32 graph the
// quantizer works on gives the original's outputs within 1e-5 (the rewrites are exact), the
// quantized model's outputs stay close to the float ones, and ONNX Runtime's optimised graph of
// the quantized model has no float Split/Resize/BatchNormalization left.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "common/onnx_build.h"
#include "convert/convert.h"
#include "runtime/environment.h"
#include "runtime/session.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;
using testing::add_value;
using testing::new_graph;
using testing::random_values;

class Builder {
 public:
  explicit Builder(onnx::GraphProto* g) : g_(g) {}
  std::string init(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    *g_->add_initializer() = testing::float_tensor(name, dims, v);
    return name;
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in,
                        const std::vector<std::string>& out) {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out[0]);
    for (const auto& s : in) n->add_input(s);
    for (const auto& s : out) n->add_output(s);
    return n;
  }
  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void integer(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void text(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  void bn(const std::string& x, const std::string& out, int64_t c, uint32_t seed) {
    node("BatchNormalization",
         {x, init(out + "_scale", {c}, random_values(c, 0.5f, 1.5f, seed)),
          init(out + "_bias", {c}, random_values(c, -0.3f, 0.3f, seed + 1)),
          init(out + "_mean", {c}, random_values(c, -0.2f, 0.2f, seed + 2)),
          init(out + "_var", {c}, random_values(c, 0.5f, 2.f, seed + 3))},
         {out});
  }

 private:
  onnx::GraphProto* g_;
};

// input [1,4,16,16] -> Conv 3x3 (8) -> Split (2 x 4 channels; the second -> Conv 1x1) -> Resize x2
// nearest each -> Concat [1,8,32,32] -> x = Concat + Conv 1x1 (8) -> BatchNormalization (reads the sum: no Conv before
// it)
// -> Conv 3x3 (4) -> GlobalAveragePool -> Flatten -> Gemm (16, transB) -> BatchNormalization -> output [1,16].
std::string movement_model() {
  onnx::ModelProto m;
  auto* g = new_graph(m, "movement", {1, 4, 16, 16});
  add_value(g->mutable_output(), "output", {1, 16});
  Builder b(g);
  auto* c1 = b.node("Conv",
                    {"input", b.init("w1", {8, 4, 3, 3}, random_values(8 * 4 * 9, -0.5f, 0.5f, 1)),
                     b.init("b1", {8}, random_values(8, -0.2f, 0.2f, 2))},
                    {"c1"});
  Builder::ints(c1, "pads", {1, 1, 1, 1});
  Builder::integer(b.node("Split", {"c1"}, {"s0", "s1"}), "axis", 1);
  // s1 -> Conv 1x1 (about 1.2 x identity): a range of its own, alike to s0's.
  std::vector<float> w1c = random_values(16, -0.05f, 0.05f, 7);
  for (int c = 0; c < 4; ++c) w1c[c * 4 + c] += 1.2f;
  b.node("Conv", {"s1", b.init("w1c", {4, 4, 1, 1}, w1c)}, {"s1c"});
  const std::string scales = b.init("scales", {4}, {1.f, 1.f, 2.f, 2.f});
  for (const char* s : {"s0", "s1c"}) {
    auto* r = b.node("Resize", {s, "", scales}, {std::string(s) + "_up"});
    Builder::text(r, "mode", "nearest");
    Builder::text(r, "coordinate_transformation_mode", "asymmetric");
    Builder::text(r, "nearest_mode", "floor");
  }
  Builder::integer(b.node("Concat", {"s0_up", "s1c_up"}, {"cat"}), "axis", 1);
  b.node("Conv", {"cat", b.init("w2", {8, 8, 1, 1}, random_values(64, -0.5f, 0.5f, 3))}, {"c2"});
  b.node("Add", {"cat", "c2"}, {"sum"});
  b.bn("sum", "bn", 8, 10);
  auto* c3 = b.node("Conv", {"bn", b.init("w3", {4, 8, 3, 3}, random_values(4 * 8 * 9, -0.3f, 0.3f, 4))}, {"c3"});
  Builder::ints(c3, "pads", {1, 1, 1, 1});
  b.node("GlobalAveragePool", {"c3"}, {"gap"});
  b.node("Flatten", {"gap"}, {"flat"});
  auto* fc = b.node("Gemm",
                    {"flat", b.init("wfc", {16, 4}, random_values(64, -1.f, 1.f, 5)),
                     b.init("bfc", {16}, random_values(16, -0.1f, 0.1f, 6))},
                    {"fc"});
  Builder::integer(fc, "transB", 1);
  b.bn("fc", "output", 16, 20);
  return m.SerializeAsString();
}

std::map<std::string, int> ops_of(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  std::map<std::string, int> ops;
  for (const auto& n : m.graph().node()) ++ops[n.op_type()];
  return ops;
}

// The (scale, zero point) initializer values of the QuantizeLinear of `tensor` in a QDQ model.
std::pair<float, int> qparams_of(const onnx::ModelProto& m, const std::string& tensor) {
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : m.graph().initializer()) inits[t.name()] = &t;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "QuantizeLinear" || n.input(0) != tensor) continue;
    const auto* s = inits.at(n.input(1));
    const auto* z = inits.at(n.input(2));
    float scale = 0;
    EXPECT_EQ(s->raw_data().size(), sizeof(float));
    std::memcpy(&scale, s->raw_data().data(), sizeof(float));
    EXPECT_EQ(z->raw_data().size(), 1u);
    return {scale, static_cast<int>(static_cast<uint8_t>(z->raw_data()[0]))};
  }
  ADD_FAILURE() << "no QuantizeLinear of " << tensor;
  return {0.f, -1};
}

class ConvertInt8Movement : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok()) << env.status().to_string();
    env_ = *env;
    dir_ = fs::temp_directory_path() / ("facelens_convert_int8_movement_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A CPU session at ONNX Runtime's full optimisation; `optimized` (when given) gets the graph it runs.
  std::shared_ptr<const runtime::Session> session(const std::string& bytes, const std::string& tag,
                                                  const std::string& optimized = "") {
    const std::string path = (dir_ / (tag + ".onnx")).string();
    Status written = models::write_model_file(path, bytes);
    EXPECT_TRUE(written.ok()) << written.to_string();
    runtime::SessionOptions so;
    so.service.provider = Provider::kCpu;
    so.graph_optimization = runtime::GraphOptimization::kAll;
    so.optimized_model_path = optimized;
    auto s = runtime::Session::create(env_, path, so);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static std::vector<float> run(const runtime::Session& s, const runtime::Tensor& input) {
    std::vector<runtime::Tensor> in = {input};
    auto out = s.run(runtime::refs_of(in));
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    return out.ok() ? (*out)[0].data : std::vector<float>{};
  }
  static std::vector<runtime::Tensor> run_all(const runtime::Session& s, const runtime::Tensor& input) {
    std::vector<runtime::Tensor> in = {input};
    auto out = s.run(runtime::refs_of(in));
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    return out.ok() ? std::move(*out) : std::vector<runtime::Tensor>{};
  }
  // The model quantized (min/max calibration on 8 random inputs).
  StatusOr<models::Converted> quantize(const std::string& model) {
    std::vector<models::CalibrationSample> samples;
    for (uint32_t seed = 20; seed < 28; ++seed) samples.push_back({random_input(seed)});
    models::Int8Options o;
    o.method = models::CalibrationMethod::kMinMax;
    return models::quantize_int8_static(model, samples, o, env_);
  }
  static runtime::Tensor random_input(uint32_t seed) {
    return {{1, 4, 16, 16}, random_values(4 * 16 * 16, -1.f, 1.f, seed)};
  }

  std::shared_ptr<const runtime::Environment> env_;
  fs::path dir_;
};

TEST_F(ConvertInt8Movement, BatchNormRewritesKeepTheFloatOutputs) {
  const std::string model = movement_model();
  auto g = models::int8_float_graph(model, {});
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const auto ops = ops_of(*g);
  EXPECT_EQ(ops.count("BatchNormalization"), 0u);
  EXPECT_EQ(ops.at("Conv"), 5);  // four Conv and the BatchNorm on the sum as a depthwise 1x1 Conv
  EXPECT_EQ(ops.at("Gemm"), 1);  // the last BatchNorm folded into it
  auto original = session(model, "original");
  auto rewritten = session(*g, "rewritten");
  ASSERT_TRUE(original && rewritten);
  for (uint32_t seed = 10; seed < 13; ++seed) {
    const auto a = run(*original, random_input(seed));
    const auto b = run(*rewritten, random_input(seed));
    ASSERT_EQ(a.size(), 16u);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f * std::max(1.f, std::fabs(a[i])));
  }
}

TEST_F(ConvertInt8Movement, SplitResizeAndBatchNormRunOnUint8InAQuantizedGeneratedModel) {
  const std::string model = movement_model();
  std::vector<models::CalibrationSample> samples;
  for (uint32_t seed = 20; seed < 28; ++seed) samples.push_back({random_input(seed)});
  models::Int8Options o;
  o.method = models::CalibrationMethod::kMinMax;
  auto q = models::quantize_int8_static(model, samples, o, env_);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  onnx::ModelProto qm;
  ASSERT_TRUE(qm.ParseFromString(q->model));
  // The converter's side: Split's parts and the Resize outputs share the parameters of their
  // input, and the Concat's inputs (ranges alike) share one with its output.
  const auto c1 = qparams_of(qm, "c1");
  for (const char* t : {"s0", "s1", "s0_up", "s1c", "s1c_up", "cat"}) {
    SCOPED_TRACE(t);
    const auto p = qparams_of(qm, t);
    EXPECT_EQ(p.first, c1.first);
    EXPECT_EQ(p.second, c1.second);
  }
  EXPECT_EQ(ops_of(q->model).count("BatchNormalization"), 0u);
  // ONNX Runtime's side: in its optimised graph Split and Resize run on the uint8 data and no
  // DequantizeLinear/QuantizeLinear is left inside the network (one QuantizeLinear of the input;
  // the Gemm's output is the model's float output).
  const std::string optimized_path = (dir_ / "quantized_optimized.onnx").string();
  auto quantized = session(q->model, "quantized", optimized_path);
  auto original = session(model, "original");
  ASSERT_TRUE(quantized && original);
  auto optimized = models::read_model_file(optimized_path);
  ASSERT_TRUE(optimized.ok()) << optimized.status().to_string();
  const auto placed = ops_of(*optimized);
  std::string listing;
  for (const auto& [op, n] : placed) listing += op + " " + std::to_string(n) + ", ";
  SCOPED_TRACE("optimised graph: " + listing);
  auto n_of = [&](const std::string& op) { return placed.count(op) ? placed.at(op) : 0; };
  EXPECT_EQ(n_of("Split"), 1);
  EXPECT_EQ(n_of("Resize"), 2);
  EXPECT_EQ(n_of("BatchNormalization"), 0);
  EXPECT_EQ(n_of("DequantizeLinear"), 0);
  EXPECT_LE(n_of("QuantizeLinear"), 1);
  EXPECT_EQ(n_of("QLinearConv"), 5);
  EXPECT_EQ(n_of("QLinearConcat"), 1);
  // Outputs within tolerance of float32: cosine and max difference against the output's range.
  for (uint32_t seed = 40; seed < 43; ++seed) {
    const auto a = run(*original, random_input(seed));
    const auto b = run(*quantized, random_input(seed));
    ASSERT_EQ(a.size(), 16u);
    ASSERT_EQ(a.size(), b.size());
    double dot = 0, na = 0, nb = 0, diff = 0, range = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
      diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
      range = std::max(range, static_cast<double>(std::fabs(a[i])));
    }
    EXPECT_GE(dot / std::sqrt(na * nb), 0.99);
    EXPECT_LE(diff, 0.1 * range);
  }
}

// A detector head in the shape of YOLOv10's: Concat(boxes in pixels, sigmoid scores) -> Flatten ->
// Transpose -> Split into boxes [256,6] and scores [256,6] (both graph outputs).
std::string mixed_concat_model() {
  onnx::ModelProto m;
  auto* g = new_graph(m, "mixed_concat", {1, 4, 16, 16});
  add_value(g->mutable_output(), "boxes", {256, 6});
  add_value(g->mutable_output(), "scores", {256, 6});
  Builder b(g);
  b.node("Conv",
         {"input", b.init("wbox", {6, 4, 1, 1}, random_values(24, -20.f, 20.f, 31)),
          b.init("bbox", {6}, random_values(6, 250.f, 400.f, 32))},
         {"dbox"});
  b.node("Conv",
         {"input", b.init("wcls", {6, 4, 1, 1}, random_values(24, -1.5f, 1.5f, 33)),
          b.init("bcls", {6}, random_values(6, -0.5f, 0.5f, 34))},
         {"logits"});
  b.node("Sigmoid", {"logits"}, {"sig"});
  Builder::integer(b.node("Concat", {"dbox", "sig"}, {"cat"}), "axis", 1);
  Builder::integer(b.node("Flatten", {"cat"}, {"flat"}), "axis", 2);  // [12, 256]
  Builder::ints(b.node("Transpose", {"flat"}, {"preds"}), "perm", {1, 0});
  Builder::integer(b.node("Split", {"preds"}, {"boxes", "scores"}), "axis", 1);
  return m.SerializeAsString();
}

TEST_F(ConvertInt8Movement, ConcatOfBoxesAndScoresKeepsTheScores) {
  const std::string model = mixed_concat_model();
  auto q = quantize(model);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  // One scale for pixels and scores (about 1.5) would round every score to 0 or 1.5: the Concat's
  // output gets no QuantizeLinear (its inputs keep theirs).
  onnx::ModelProto qm;
  ASSERT_TRUE(qm.ParseFromString(q->model));
  for (const auto& n : qm.graph().node()) {
    if (n.op_type() == "QuantizeLinear") {
      EXPECT_NE(n.input(0), "cat");
    }
  }
  auto quantized = session(q->model, "quantized");
  auto original = session(model, "original");
  ASSERT_TRUE(quantized && original);
  for (uint32_t seed = 40; seed < 43; ++seed) {
    const auto a = run_all(*original, random_input(seed));
    const auto b = run_all(*quantized, random_input(seed));
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    ASSERT_EQ(a[1].data.size(), b[1].data.size());
    double score_err = 0, box_err = 0, score_max = 0;
    for (size_t i = 0; i < a[1].data.size(); ++i) {
      score_err = std::max(score_err, static_cast<double>(std::fabs(a[1].data[i] - b[1].data[i])));
      score_max = std::max(score_max, static_cast<double>(b[1].data[i]));
    }
    for (size_t i = 0; i < a[0].data.size(); ++i)
      box_err = std::max(box_err, static_cast<double>(std::fabs(a[0].data[i] - b[0].data[i])));
    EXPECT_LT(score_err, 0.05);
    EXPECT_GT(score_max, 0.5);  // not all rounded to 0
    EXPECT_LT(box_err, 5.0);    // pixels: a few int8 steps of a 0..~500 range
  }
}

// Conv -> Relu (folded into the Conv's QuantizeLinear) and a raw Conv output with negatives, of
// alike ranges, Concat'ed; a 1x1 Conv after it copies the Relu branch's channels to the output.
std::string relu_concat_model() {
  onnx::ModelProto m;
  auto* g = new_graph(m, "relu_concat", {1, 4, 16, 16});
  add_value(g->mutable_output(), "output", {1, 4, 16, 16});
  Builder b(g);
  const std::vector<float> w = random_values(16, -0.5f, 0.5f, 41);
  std::vector<float> w09 = w;
  for (auto& x : w09) x *= 0.9f;
  b.node("Conv", {"input", b.init("wa", {4, 4, 1, 1}, w), b.init("ba", {4}, {0.3f, 0.3f, 0.3f, 0.3f})}, {"ca"});
  b.node("Relu", {"ca"}, {"ra"});
  b.node("Conv", {"input", b.init("wb", {4, 4, 1, 1}, w09), b.init("bb", {4}, {0.3f, 0.3f, 0.3f, 0.3f})}, {"cb"});
  Builder::integer(b.node("Concat", {"ra", "cb"}, {"cat"}), "axis", 1);
  std::vector<float> pick(32, 0.f);
  for (int c = 0; c < 4; ++c) pick[c * 8 + c] = 1.f;
  b.node("Conv", {"cat", b.init("wpick", {4, 8, 1, 1}, pick)}, {"output"});
  return m.SerializeAsString();
}

TEST_F(ConvertInt8Movement, ConcatSharingKeepsAFoldedReluClipping) {
  const std::string model = relu_concat_model();
  auto q = quantize(model);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(ops_of(q->model).count("Relu"), 0u);  // folded
  onnx::ModelProto qm;
  ASSERT_TRUE(qm.ParseFromString(q->model));
  EXPECT_EQ(qparams_of(qm, "ra").second, 0);  // uint8 zero point 0: the quantization clips at 0
  auto quantized = session(q->model, "quantized");
  ASSERT_TRUE(quantized);
  for (uint32_t seed = 40; seed < 43; ++seed) {
    const auto b = run(*quantized, random_input(seed));
    ASSERT_EQ(b.size(), 4u * 16 * 16);
    EXPECT_GE(*std::min_element(b.begin(), b.end()), -1e-5f);
  }
}

// Conv -> Add (with the input) -> BatchNormalization (no Conv before it absorbs it) whose channel
// 1 has gamma 0 and channel 2 gamma 1e-7: as a depthwise Conv that channel's int32 bias would
// overflow (weight scale about 1e-7 / 63).
std::string tiny_batchnorm_model() {
  onnx::ModelProto m;
  auto* g = new_graph(m, "tiny_batchnorm", {1, 4, 16, 16});
  add_value(g->mutable_output(), "output", {1, 4, 16, 16});
  Builder b(g);
  auto* c1 = b.node("Conv",
                    {"input", b.init("w1", {4, 4, 3, 3}, random_values(4 * 4 * 9, -0.3f, 0.3f, 51)),
                     b.init("b1", {4}, random_values(4, -0.2f, 0.2f, 52))},
                    {"c1"});
  Builder::ints(c1, "pads", {1, 1, 1, 1});
  b.node("Add", {"c1", "input"}, {"sum"});
  b.node("BatchNormalization",
         {"sum", b.init("gamma", {4}, {1.2f, 0.f, 1e-7f, 0.8f}), b.init("beta", {4}, {0.1f, 0.5f, -0.4f, 0.2f}),
          b.init("mean", {4}, {0.05f, -0.1f, 0.1f, 0.f}), b.init("var", {4}, {1.f, 0.5f, 0.8f, 1.5f})},
         {"output"});
  return m.SerializeAsString();
}

TEST_F(ConvertInt8Movement, BatchNormWithAZeroScaleChannelStaysWithinTolerance) {
  const std::string model = tiny_batchnorm_model();
  auto q = quantize(model);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(ops_of(q->model).count("BatchNormalization"), 1u);  // left in float32, with a note
  bool noted = false;
  for (const auto& n : q->info.notes) noted |= n.find("BatchNormalization nodes left in float32") != std::string::npos;
  EXPECT_TRUE(noted);
  auto quantized = session(q->model, "quantized");
  auto original = session(model, "original");
  ASSERT_TRUE(quantized && original);
  for (uint32_t seed = 40; seed < 43; ++seed) {
    const auto a = run(*original, random_input(seed));
    const auto b = run(*quantized, random_input(seed));
    ASSERT_EQ(a.size(), 4u * 16 * 16);
    ASSERT_EQ(a.size(), b.size());
    double range = 0, diff = 0, flat_diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const size_t c = i / 256;
      const double d = std::fabs(a[i] - b[i]);
      range = std::max(range, static_cast<double>(std::fabs(a[i])));
      diff = std::max(diff, d);
      if (c == 1 || c == 2) flat_diff = std::max(flat_diff, d);  // beta: the output of a zero scale
    }
    EXPECT_LE(diff, 0.05 * range);
    EXPECT_LT(flat_diff, 1e-3);
  }
}

}  // namespace
}  // namespace facelens

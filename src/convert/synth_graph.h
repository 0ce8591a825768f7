// Building ONNX graphs layer by layer with random weights (for the synthetic reference-design
// models of facelens/synth.h), and counting a graph's parameters and MACs. Private to
// src/convert/ (includes the ONNX protobuf headers).
//
//   synth::GraphBuilder b("tiny", /*seed=*/1);
//   std::string x = b.input("input", {-1, 3, 112, 112});       // -1: the symbolic "batch"
//   x = b.prelu(b.bn(b.conv(x, {.cin = 3, .cout = 64, .k = 3, .pad = 1}), 64), 64);
//   b.output(x, "embedding", {-1, 64, 112, 112});
//   onnx::ModelProto m = b.finish();
//
// A builder is used by one thread; count_cost is a pure function.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "facelens/status.h"
#include "facelens/synth.h"

namespace facelens::models::synth {

// The opset the synthetic graphs use (ultralytics and insightface exports use 11..17).
inline constexpr int64_t kOpset = 17;

// SplitMix64 (Steele, Lea, Flood 2014): the same stream for a seed on every platform (the standard
// library's distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  float uniform(float lo, float hi);  // [lo, hi)

 private:
  uint64_t state_;
};

struct ConvSpec {
  int64_t cin = 0;
  int64_t cout = 0;
  int64_t k = 1;
  int64_t stride = 1;
  int64_t pad = 0;
  int64_t groups = 1;
  bool bias = false;
  // Weights uniform in +-gain*sqrt(3/fan_in): output variance = gain^2 x the input's mean square
  // (He: gain sqrt(2) after a ReLU).
  float gain = 1.41421356f;
};

class GraphBuilder {
 public:
  GraphBuilder(const std::string& graph_name, uint64_t seed);

  // A float graph input; dims of -1 are the symbolic "batch".
  std::string input(const std::string& name, const std::vector<int64_t>& dims);
  // Makes `value` a graph output called `name` (an Identity when the names differ).
  void output(const std::string& value, const std::string& name, const std::vector<int64_t>& dims);

  // Initializers.
  std::string uniform(const std::string& base, const std::vector<int64_t>& dims, float lo, float hi);
  std::string floats(const std::string& base, const std::vector<int64_t>& dims, const std::vector<float>& values);
  std::string int64s(const std::string& base, const std::vector<int64_t>& values);  // 1-D
  std::string scalar(const std::string& base, float value);                         // 0-D

  // A node of `op` with one output (a new name from `op` unless `out` is given).
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& out = "");
  // A node with several outputs (new names), returned through `outs`.
  onnx::NodeProto* node_n(const std::string& op, const std::vector<std::string>& inputs, int n_outputs,
                          std::vector<std::string>* outs);
  static std::string out(const onnx::NodeProto* n) { return n->output(0); }

  // Layers (NCHW).
  std::string conv(const std::string& x, const ConvSpec& s);
  // BatchNormalization in inference form: scale near `gamma`, shift and mean near 0, variance near 1.
  std::string bn(const std::string& x, int64_t c, float gamma = 1.f);
  std::string prelu(const std::string& x, int64_t c);  // slopes 0.25 (PyTorch's default), [C,1,1]
  std::string relu(const std::string& x);
  std::string silu(const std::string& x);  // x * sigmoid(x), as PyTorch exports nn.SiLU
  std::string add(const std::string& a, const std::string& b);
  std::string concat(const std::vector<std::string>& xs, int64_t axis);
  std::vector<std::string> split(const std::string& x, const std::vector<int64_t>& sizes, int64_t axis);
  std::string max_pool(const std::string& x, int64_t k, int64_t stride, int64_t pad);
  std::string reshape(const std::string& x, const std::vector<int64_t>& shape);  // 0 copies the dim
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm);
  // Fully connected y = x W^T + b (Gemm transB=1), x [B,in]; weights of fan_in `in`.
  std::string linear(const std::string& x, int64_t in, int64_t out, float gain = 1.f);

  // The model: opset kOpset, IR version 8, `metadata` as metadata_props.
  onnx::ModelProto finish(const std::vector<std::pair<std::string, std::string>>& metadata);

  Rng& rng() { return rng_; }

 private:
  std::string fresh(const std::string& base);
  onnx::ModelProto model_;
  onnx::GraphProto* g_;
  Rng rng_;
  std::set<std::string> used_;
  int64_t serial_ = 0;
};

// Attribute setters.
void set_attr(onnx::NodeProto* n, const std::string& name, int64_t v);
void set_attr(onnx::NodeProto* n, const std::string& name, float v);
void set_attr(onnx::NodeProto* n, const std::string& name, const std::string& v);
void set_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v);

// facelens::count_model_cost on a parsed model.
StatusOr<ModelCost> count_cost(const onnx::ModelProto& model);

}  // namespace facelens::models::synth

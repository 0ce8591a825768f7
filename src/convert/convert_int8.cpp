// Int8 quantization of an ONNX graph: static QDQ with calibrated activation ranges, and
// weight-only.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <set>

#include "convert/convert.h"
#include "convert/onnx_graph.h"

namespace facelens::models {

namespace {

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

// Ops whose activation inputs and float outputs get QuantizeLinear/DequantizeLinear pairs:
// ONNX Runtime fuses these with their pairs into integer kernels (QLinearConv, QGemm,
// QLinearMatMul, QLinearAdd/Mul/Concat, QLinearAveragePool/GlobalAveragePool, QLinearLeakyRelu,
// QLinearSigmoid; MaxPool runs on int8 directly). A Sigmoid is quantized only where an int8 op
// reads its result (SiLU = x * Sigmoid(x) then runs as QLinearSigmoid + QLinearMul); elsewhere
// (scores a detector's head ranks) it stays float32.
const std::set<std::string> kQuantOps = {
    "Conv",      "Gemm",   "MatMul", "Add", "Mul", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool",
    "LeakyRelu", "Sigmoid"};
// Data-movement ops: their output reuses their input's quantization parameters (ORT then runs
// them on int8 and drops the pairs around them).
const std::set<std::string> kPassOps = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "MaxPool"};

struct QParams {
  float scale = 1;
  int32_t zero_point = 0;  // in [0, 255] (uint8) or [-128, 127] (int8)
};

// Asymmetric 8-bit parameters for values in [lo, hi] (the range always includes 0 so that zero
// padding is exact): uint8 (0..255) or int8 (-128..127).
QParams activation_params(float lo, float hi, bool as_uint8) {
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  QParams p;
  const float qmin = as_uint8 ? 0.f : -128.f;
  if (!(hi - lo > 1e-12f) || !std::isfinite(hi - lo)) {
    p.zero_point = static_cast<int32_t>(qmin);
    return p;
  }
  p.scale = (hi - lo) / 255.f;
  const float zp = std::nearbyint(qmin - lo / p.scale);
  p.zero_point = static_cast<int32_t>(std::clamp(zp, qmin, qmin + 255.f));
  return p;
}

struct QuantizedWeight {
  std::vector<int8_t> values;
  std::vector<float> scales;  // one per channel (or one)
  int64_t axis = 0;
  bool per_channel = false;
};

// Symmetric int8 (-127..127), one scale per slice along `axis` or one for the whole tensor.
QuantizedWeight quantize_weight(std::span<const float> w, const std::vector<int64_t>& dims, int64_t axis,
                                bool per_channel, float qmax) {
  QuantizedWeight q;
  q.axis = axis;
  q.per_channel = per_channel && !dims.empty();
  const int64_t channels = q.per_channel ? dims[axis] : 1;
  int64_t inner = 1;
  if (q.per_channel)
    for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  auto channel_of = [&](size_t i) -> int64_t {
    return q.per_channel ? (static_cast<int64_t>(i) / inner) % channels : 0;
  };
  std::vector<float> amax(static_cast<size_t>(channels), 0.f);
  for (size_t i = 0; i < w.size(); ++i) amax[channel_of(i)] = std::max(amax[channel_of(i)], std::fabs(w[i]));
  q.scales.resize(amax.size());
  for (size_t c = 0; c < amax.size(); ++c) q.scales[c] = amax[c] > 0 ? amax[c] / qmax : 1.f;
  q.values.resize(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const float v = std::nearbyint(w[i] / q.scales[channel_of(i)]);
    q.values[i] = static_cast<int8_t>(std::clamp(v, -qmax, qmax));
  }
  return q;
}

std::vector<int64_t> dims_of(const onnx::TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

// Builds QuantizeLinear / DequantizeLinear nodes in the domain the model's opset allows.
class QdqBuilder {
 public:
  QdqBuilder(onnx::ModelProto& model, graph::NameMaker& names) : model_(model), names_(names) {
    if (graph::opset_version(model, "") >= 13) {
      domain_ = "";
    } else {
      domain_ = "com.microsoft";
      graph::ensure_opset(model, domain_, 1);
    }
  }
  const std::string& domain() const { return domain_; }

  std::string scalar_float(const std::string& base, float v) {
    onnx::TensorProto t;
    t.set_name(names_.make(base));
    graph::set_floats(t, std::span<const float>(&v, 1));
    *model_.mutable_graph()->add_initializer() = t;
    return t.name();
  }
  // A zero point: uint8 or int8.
  std::string scalar_zero_point(const std::string& base, int32_t v, bool as_uint8) {
    onnx::TensorProto t;
    t.set_name(names_.make(base));
    if (as_uint8) {
      const uint8_t u = static_cast<uint8_t>(v);
      graph::set_uint8s(t, std::span<const uint8_t>(&u, 1));
    } else {
      const int8_t i = static_cast<int8_t>(v);
      graph::set_int8s(t, std::span<const int8_t>(&i, 1));
    }
    *model_.mutable_graph()->add_initializer() = t;
    return t.name();
  }
  std::string tensor(onnx::TensorProto t, const std::string& base) {
    t.set_name(names_.make(base));
    std::string name = t.name();
    *model_.mutable_graph()->add_initializer() = std::move(t);
    return name;
  }

  onnx::NodeProto node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                       int64_t axis, bool with_axis) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_domain(domain_);
    n.set_name(names_.make(op + "_" + output));
    for (const auto& s : inputs) n.add_input(s);
    n.add_output(output);
    if (with_axis) {
      auto* a = n.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(axis);
    }
    return n;
  }

 private:
  onnx::ModelProto& model_;
  graph::NameMaker& names_;
  std::string domain_;
};

bool is_weighted(const onnx::NodeProto& n, const graph::GraphIndex& ix, const onnx::GraphProto& g) {
  if (n.op_type() != "Conv" && n.op_type() != "Gemm" && n.op_type() != "MatMul") return false;
  if (!(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 2) return false;
  auto it = ix.initializer.find(n.input(1));
  if (it == ix.initializer.end()) return false;
  const auto& w = g.initializer(it->second);
  if (w.data_type() != kFloat) return false;
  if (n.op_type() == "Conv") return w.dims_size() >= 3;
  return w.dims_size() == 2;
}

// Output-channel axis of the weight of a weighted node.
int64_t weight_axis(const onnx::NodeProto& n) {
  if (n.op_type() == "Conv") return 0;
  if (n.op_type() == "Gemm") return graph::attr_int(n, "transB", 0) ? 0 : 1;
  return 1;  // MatMul [K, N]
}

// Folds BatchNormalization nodes that follow a Conv (whose output feeds only them) into the Conv.
int fold_batchnorm(onnx::ModelProto& model) {
  onnx::GraphProto* g = model.mutable_graph();
  int folded = 0;
  std::set<int> removed;
  graph::GraphIndex ix = graph::index_graph(*g);
  graph::NameMaker names(*g);
  for (int i = 0; i < g->node_size(); ++i) {
    const onnx::NodeProto& bn = g->node(i);
    if (bn.op_type() != "BatchNormalization" || bn.input_size() != 5 || bn.output_size() != 1) continue;
    auto p = ix.producer.find(bn.input(0));
    if (p == ix.producer.end()) continue;
    onnx::NodeProto* conv = g->mutable_node(p->second);
    if (conv->op_type() != "Conv" || !is_weighted(*conv, ix, *g)) continue;
    if (ix.consumers.at(bn.input(0)).size() != 1 || ix.graph_outputs.count(bn.input(0))) continue;
    std::vector<std::vector<float>> bnp;
    bool ok = true;
    for (int k = 1; k < 5 && ok; ++k) {
      auto it = ix.initializer.find(bn.input(k));
      if (it == ix.initializer.end()) {
        ok = false;
        break;
      }
      auto v = graph::read_floats(g->initializer(it->second));
      ok = v.ok();
      if (ok) bnp.push_back(*v);
    }
    if (!ok) continue;
    const onnx::TensorProto& w = g->initializer(ix.initializer.at(conv->input(1)));
    const int64_t m = w.dims(0);
    if (static_cast<int64_t>(bnp[0].size()) != m) continue;
    auto wv = graph::read_floats(w);
    if (!wv.ok()) continue;
    std::vector<float> bias(static_cast<size_t>(m), 0.f);
    if (conv->input_size() > 2 && !conv->input(2).empty()) {
      auto it = ix.initializer.find(conv->input(2));
      if (it == ix.initializer.end()) continue;
      auto b = graph::read_floats(g->initializer(it->second));
      if (!b.ok() || static_cast<int64_t>(b->size()) != m) continue;
      bias = *b;
    }
    const float eps = graph::attr_float(bn, "epsilon", 1e-5f);
    const size_t per = wv->size() / static_cast<size_t>(m);
    for (int64_t c = 0; c < m; ++c) {
      const float k = bnp[0][c] / std::sqrt(bnp[3][c] + eps);
      for (size_t j = 0; j < per; ++j) (*wv)[c * per + j] *= k;
      bias[c] = (bias[c] - bnp[2][c]) * k + bnp[1][c];
    }
    // New initializers (the originals may be shared with other nodes).
    onnx::TensorProto nw = graph::make_float_tensor(names.make(conv->input(1) + "_bnfold"), dims_of(w), *wv);
    onnx::TensorProto nb = graph::make_float_tensor(names.make(conv->name() + "_bias_bnfold"), {m}, bias);
    conv->set_input(1, nw.name());
    if (conv->input_size() > 2) conv->set_input(2, nb.name());
    else conv->add_input(nb.name());
    *g->add_initializer() = std::move(nw);
    *g->add_initializer() = std::move(nb);
    conv->set_output(0, bn.output(0));
    removed.insert(i);
    ++folded;
  }
  if (folded) {
    google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
    for (int i = 0; i < g->node_size(); ++i)
      if (!removed.count(i)) *kept.Add() = g->node(i);
    g->mutable_node()->Swap(&kept);
  }
  return folded;
}

void drop_unused_initializers(onnx::GraphProto* g);

// The four constant inputs of a BatchNormalization (scale, bias, mean, var) as k = scale /
// sqrt(var + eps) and shift = bias - mean * k (y = x * k + shift per channel); nullopt when one is
// not a float initializer of `channels` values (channels < 0: any count).
struct BnAffine {
  std::vector<float> k, shift;
};
std::optional<BnAffine> bn_affine(const onnx::NodeProto& bn, const graph::GraphIndex& ix, const onnx::GraphProto& g,
                                  int64_t channels) {
  if (bn.op_type() != "BatchNormalization" || bn.input_size() != 5 || bn.output_size() != 1) return std::nullopt;
  std::vector<std::vector<float>> p;
  for (int k = 1; k < 5; ++k) {
    auto it = ix.initializer.find(bn.input(k));
    if (it == ix.initializer.end() || g.initializer(it->second).data_type() != kFloat) return std::nullopt;
    auto v = graph::read_floats(g.initializer(it->second));
    if (!v.ok() || v->empty() || (!p.empty() && v->size() != p[0].size())) return std::nullopt;
    p.push_back(std::move(*v));
  }
  if (channels >= 0 && static_cast<int64_t>(p[0].size()) != channels) return std::nullopt;
  const float eps = graph::attr_float(bn, "epsilon", 1e-5f);
  BnAffine a;
  a.k.resize(p[0].size());
  a.shift.resize(p[0].size());
  for (size_t c = 0; c < p[0].size(); ++c) {
    a.k[c] = p[0][c] / std::sqrt(p[3][c] + eps);
    a.shift[c] = p[1][c] - p[2][c] * a.k[c];
  }
  return a;
}

// Drops the nodes at `removed` (indexes into g's nodes).
void erase_nodes(onnx::GraphProto* g, const std::set<int>& removed) {
  if (removed.empty()) return;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < g->node_size(); ++i)
    if (!removed.count(i)) *kept.Add() = g->node(i);
  g->mutable_node()->Swap(&kept);
}

// Folds a BatchNormalization that follows a Gemm with a constant B (whose output feeds only it;
// alpha = beta = 1, transA = 0, C absent or one value per output column) into the Gemm: the
// BatchNorm1d after the FC layer of ArcFace/AdaFace's IResNet. Exact in real arithmetic.
int fold_batchnorm_into_gemm(onnx::ModelProto& model) {
  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  graph::NameMaker names(*g);
  std::set<int> removed;
  for (int i = 0; i < g->node_size(); ++i) {
    const onnx::NodeProto& bn = g->node(i);
    if (bn.op_type() != "BatchNormalization" || bn.input_size() != 5 || bn.output_size() != 1) continue;
    auto p = ix.producer.find(bn.input(0));
    if (p == ix.producer.end()) continue;
    onnx::NodeProto* gemm = g->mutable_node(p->second);
    if (gemm->op_type() != "Gemm" || !is_weighted(*gemm, ix, *g) || gemm->output_size() != 1) continue;
    if (ix.consumers.at(bn.input(0)).size() != 1 || ix.graph_outputs.count(bn.input(0))) continue;
    if (graph::attr_float(*gemm, "alpha", 1.f) != 1.f || graph::attr_float(*gemm, "beta", 1.f) != 1.f ||
        graph::attr_int(*gemm, "transA", 0) != 0)
      continue;
    const onnx::TensorProto& w = g->initializer(ix.initializer.at(gemm->input(1)));
    const bool trans_b = graph::attr_int(*gemm, "transB", 0) != 0;
    const int64_t n_out = trans_b ? w.dims(0) : w.dims(1);
    const auto affine = bn_affine(bn, ix, *g, n_out);
    if (!affine) continue;
    auto wv = graph::read_floats(w);
    if (!wv.ok()) continue;
    std::vector<float> bias(static_cast<size_t>(n_out), 0.f);
    if (gemm->input_size() > 2 && !gemm->input(2).empty()) {
      auto it = ix.initializer.find(gemm->input(2));
      if (it == ix.initializer.end()) continue;
      auto b = graph::read_floats(g->initializer(it->second));
      if (!b.ok()) continue;
      if (b->size() == 1) b->assign(static_cast<size_t>(n_out), (*b)[0]);
      const auto& bt = g->initializer(it->second);
      if (static_cast<int64_t>(b->size()) != n_out || (bt.dims_size() == 2 && bt.dims(0) != 1)) continue;
      bias = *b;
    }
    const int64_t n_in = static_cast<int64_t>(wv->size()) / n_out;
    for (int64_t r = 0; r < n_in; ++r)
      for (int64_t c = 0; c < n_out; ++c) (*wv)[trans_b ? c * n_in + r : r * n_out + c] *= affine->k[c];
    for (int64_t c = 0; c < n_out; ++c) bias[c] = bias[c] * affine->k[c] + affine->shift[c];
    onnx::TensorProto nw = graph::make_float_tensor(names.make(gemm->input(1) + "_bnfold"), dims_of(w), *wv);
    onnx::TensorProto nb = graph::make_float_tensor(names.make(gemm->name() + "_bias_bnfold"), {n_out}, bias);
    gemm->set_input(1, nw.name());
    while (gemm->input_size() < 3) gemm->add_input("");
    gemm->set_input(2, nb.name());
    *g->add_initializer() = std::move(nw);
    *g->add_initializer() = std::move(nb);
    gemm->set_output(0, bn.output(0));
    removed.insert(i);
  }
  erase_nodes(g, removed);
  return static_cast<int>(removed.size());
}

// Rewrites every BatchNormalization left (one that no Conv before it absorbed: in IResNet the BN
// that opens each residual branch reads the block's sum, which the shortcut reads too) on an
// input of rank 3 or more into a depthwise 1x1 Conv (group = channels, weight k, bias shift).
// Exact in real arithmetic; quantized, each channel's single weight is exact in int8 and ONNX
// Runtime runs it as a QLinearConv, so the int8 chain (and its NHWC layout) goes on through it
// instead of dequantizing around a float BatchNormalization.
// A BatchNorm with a channel of (nearly) no scale (|k_c| < 1e-4 of the largest |k|; gamma = 0) stays
// as it is: that channel's int8 weight scale would be about |k_c| / 127, and its int32 bias,
// shift / (input scale x weight scale), would overflow 2^31. `kept_tiny` counts those.
int batchnorm_to_depthwise_conv(onnx::ModelProto& model, int* kept_tiny) {
  onnx::GraphProto* g = model.mutable_graph();
  bool any = false;
  for (const auto& n : g->node()) any |= n.op_type() == "BatchNormalization";
  if (!any) return 0;
  // Ranks of the BatchNorm inputs, by shape inference on a copy.
  std::map<std::string, int> rank;
  {
    onnx::ModelProto copy = model;
    if (!graph::refresh_value_info(copy)) return 0;
    auto note = [&](const auto& values) {
      for (const auto& v : values)
        if (v.type().tensor_type().has_shape()) rank[v.name()] = v.type().tensor_type().shape().dim_size();
    };
    note(copy.graph().input());
    note(copy.graph().value_info());
    note(copy.graph().output());
  }
  const graph::GraphIndex ix = graph::index_graph(*g);
  graph::NameMaker names(*g);
  int rewritten = 0;
  std::vector<onnx::TensorProto> added;
  for (auto& n : *g->mutable_node()) {
    if (n.op_type() != "BatchNormalization" || !(n.domain().empty() || n.domain() == "ai.onnx")) continue;
    if (graph::attr_int(n, "training_mode", 0) != 0) continue;
    auto r = rank.find(n.input(0));
    if (r == rank.end() || r->second < 3) continue;
    const auto affine = bn_affine(n, ix, *g, -1);
    if (!affine) continue;
    float kmax = 0;
    for (float k : affine->k) kmax = std::max(kmax, std::fabs(k));
    if (std::any_of(affine->k.begin(), affine->k.end(), [&](float k) { return !(std::fabs(k) >= 1e-4f * kmax); })) {
      if (kept_tiny) ++*kept_tiny;
      continue;
    }
    const int64_t c = static_cast<int64_t>(affine->k.size());
    std::vector<int64_t> wdims(static_cast<size_t>(r->second), 1);
    wdims[0] = c;
    onnx::TensorProto w = graph::make_float_tensor(names.make(n.name() + "_dw_weight"), wdims, affine->k);
    onnx::TensorProto b = graph::make_float_tensor(names.make(n.name() + "_dw_bias"), {c}, affine->shift);
    onnx::NodeProto conv;
    conv.set_op_type("Conv");
    conv.set_name(names.make(n.name() + "_dwconv"));
    conv.add_input(n.input(0));
    conv.add_input(w.name());
    conv.add_input(b.name());
    conv.add_output(n.output(0));
    auto* group = conv.add_attribute();
    group->set_name("group");
    group->set_type(onnx::AttributeProto::INT);
    group->set_i(c);
    auto* ks = conv.add_attribute();
    ks->set_name("kernel_shape");
    ks->set_type(onnx::AttributeProto::INTS);
    for (int d = 2; d < r->second; ++d) ks->add_ints(1);
    n = std::move(conv);
    added.push_back(std::move(w));
    added.push_back(std::move(b));
    ++rewritten;
  }
  for (auto& t : added) *g->add_initializer() = std::move(t);
  drop_unused_initializers(g);
  return rewritten;
}

// Rewrites PRelu nodes with a constant slope into ops that ONNX Runtime runs in int8 (it has no
// int8 PRelu kernel, so a quantized PRelu goes back to float32 around it):
// - one slope for every channel: LeakyRelu(alpha) (QLinearLeakyRelu);
// - else PRelu(y) = y * s + Relu(y) * (1 - s), exact in real arithmetic; Mul and Add become
//   QLinearMul/QLinearAdd, and the Relu moves into the Mul's QuantizeLinear: Relu(y) * c =
//   Relu(y * c) when c >= 0 (every channel), otherwise Relu(y) is its own quantized tensor.
// The slope broadcasts to y the same way in PRelu (unidirectional) and Mul.
int rewrite_prelu(onnx::ModelProto& model, PreluRewrite mode) {
  if (mode == PreluRewrite::kKeep) return 0;
  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  graph::NameMaker names(*g);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  std::vector<onnx::TensorProto> added;
  auto make_node = [&](const std::string& op, const std::vector<std::string>& in, const std::string& out,
                       const std::string& base) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(names.make(base));
    for (const auto& s : in) n.add_input(s);
    n.add_output(out);
    return n;
  };
  int rewritten = 0;
  for (auto& n : *g->mutable_node()) {
    auto it = n.op_type() == "PRelu" && n.input_size() == 2 && (n.domain().empty() || n.domain() == "ai.onnx")
                  ? ix.initializer.find(n.input(1))
                  : ix.initializer.end();
    std::optional<std::vector<float>> slope;
    if (it != ix.initializer.end() && g->initializer(it->second).data_type() == kFloat) {
      auto v = graph::read_floats(g->initializer(it->second));
      if (v.ok() && !v->empty()) slope = std::move(*v);
    }
    if (!slope) {
      *nodes.Add() = std::move(n);
      continue;
    }
    const onnx::TensorProto& st = g->initializer(it->second);
    const std::string& y = n.input(0);
    const std::string& out = n.output(0);
    const std::string base = n.name();
    if (std::all_of(slope->begin(), slope->end(), [&](float v) { return v == (*slope)[0]; })) {
      onnx::NodeProto lr = make_node("LeakyRelu", {y}, out, base + "_leaky");
      auto* a = lr.add_attribute();
      a->set_name("alpha");
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f((*slope)[0]);
      *nodes.Add() = std::move(lr);
      ++rewritten;
      continue;
    }
    std::vector<float> c(slope->size());
    for (size_t i = 0; i < c.size(); ++i) c[i] = 1.f - (*slope)[i];
    const bool relu_after_mul = std::all_of(c.begin(), c.end(), [](float v) { return v >= 0.f; });
    onnx::TensorProto tc = graph::make_float_tensor(names.make(st.name() + "_complement"), dims_of(st), c);
    const std::string ys = names.make(base + "_neg_slope");
    const std::string pos = names.make(base + "_pos");
    *nodes.Add() = make_node("Mul", {y, n.input(1)}, ys, base + "_mul_slope");
    if (relu_after_mul && mode == PreluRewrite::kAuto) {
      const std::string yc = names.make(base + "_pos_scaled");
      *nodes.Add() = make_node("Mul", {y, tc.name()}, yc, base + "_mul_complement");
      *nodes.Add() = make_node("Relu", {yc}, pos, base + "_relu");
    } else {
      const std::string r = names.make(base + "_relu_out");
      *nodes.Add() = make_node("Relu", {y}, r, base + "_relu");
      *nodes.Add() = make_node("Mul", {r, tc.name()}, pos, base + "_mul_complement");
    }
    *nodes.Add() = make_node("Add", {ys, pos}, out, base + "_add");
    added.push_back(std::move(tc));
    ++rewritten;
  }
  g->mutable_node()->Swap(&nodes);
  for (auto& t : added) *g->add_initializer() = std::move(t);
  return rewritten;
}

// Removes initializers no node uses any more.
void drop_unused_initializers(onnx::GraphProto* g) {
  std::set<std::string> used;
  for (const auto& n : g->node())
    for (const auto& s : n.input()) used.insert(s);
  for (const auto& o : g->output()) used.insert(o.name());
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  for (auto& t : *g->mutable_initializer())
    if (used.count(t.name())) *kept.Add() = std::move(t);
  g->mutable_initializer()->Swap(&kept);
}

// True when `t` has no consumer, or only data-movement ops whose results go nowhere but to graph
// outputs: quantizing such a tensor would only round the model's outputs, so it stays float32.
bool feeds_only_outputs(const graph::GraphIndex& ix, const onnx::GraphProto& g, const std::string& t) {
  auto it = ix.consumers.find(t);
  if (it == ix.consumers.end()) return true;
  for (int c : it->second) {
    const auto& n = g.node(c);
    if (!kPassOps.count(n.op_type()) || n.op_type() == "MaxPool" || n.output_size() != 1) return false;
    if (!feeds_only_outputs(ix, g, n.output(0))) return false;
  }
  return true;
}

// What stays in float32 (Int8Options::keep_fp32_*), and which nodes compute in int8.
struct KeepRules {
  std::set<std::string> ops, nodes, tensors, weight_only;
  bool round_before_float_ops = true;
  // The node gets int8 weights (if it has any).
  bool quantizable(const onnx::NodeProto& n) const {
    return (n.domain().empty() || n.domain() == "ai.onnx") && kQuantOps.count(n.op_type()) && !ops.count(n.op_type()) &&
           !kPassOps.count(n.op_type()) && !nodes.count(n.name());
  }
  // The node also computes in int8 (its activations are quantized).
  bool int8_compute(const onnx::NodeProto& n) const { return quantizable(n) && !weight_only.count(n.name()); }
};

// True when some consumer of `t` computes in int8: a quantized op, or a data-movement op whose
// result reaches one.
// With `by_type`, a consumer counts when its op type can compute in int8 (even if it was made
// weight-only).
bool feeds_int8(const graph::GraphIndex& ix, const onnx::GraphProto& g, const std::string& t, const KeepRules& keep,
                bool by_type = false) {
  auto it = ix.consumers.find(t);
  if (it == ix.consumers.end()) return false;
  for (int c : it->second) {
    const auto& n = g.node(c);
    if (by_type ? keep.quantizable(n) : keep.int8_compute(n)) return true;
    // Data-movement ops pass the int8 data on; a Relu after an int8 op is absorbed into it.
    const bool through =
        (kPassOps.count(n.op_type()) && !keep.ops.count(n.op_type())) || n.op_type() == "Relu" || n.op_type() == "Clip";
    if (through && n.output_size() == 1 && feeds_int8(ix, g, n.output(0), keep, by_type)) return true;
  }
  return false;
}

// Whether the output `t` of a quantized op gets a QuantizeLinear/DequantizeLinear pair.
bool quantize_output(const graph::GraphIndex& ix, const onnx::GraphProto& g, const std::string& t,
                     const KeepRules& keep) {
  if (feeds_only_outputs(ix, g, t) || keep.tensors.count(t)) return false;
  return keep.round_before_float_ops || feeds_int8(ix, g, t, keep);
}

// A nearest-neighbour Resize (it only copies values, so it is exact on uint8; YOLOv10n's neck
// upsamples twice): true when its output is quantized (an int8 op reads it).
bool is_quantized_nearest_resize(const onnx::NodeProto& n, const KeepRules& keep,
                                 const std::set<std::string>& quantized) {
  if (n.op_type() != "Resize" || !(n.domain().empty() || n.domain() == "ai.onnx") || keep.ops.count("Resize") ||
      keep.nodes.count(n.name()) || n.input_size() < 1 || n.output_size() != 1)
    return false;
  const auto* mode = graph::find_attr(n, "mode");
  return (!mode || mode->s() == "nearest") && quantized.count(n.output(0)) && !keep.tensors.count(n.output(0));
}

// The input of such a Resize is quantized too (calibrated like any other tensor), also where no
// int8 op reads it directly (a Split's part that only the Resize reads), so that the Split before
// it can run on uint8 as well.
void quantize_resize_inputs(const onnx::GraphProto& g, const KeepRules& keep,
                            const std::function<void(const std::string&)>& add,
                            const std::set<std::string>& quantized) {
  for (const auto& n : g.node())
    if (is_quantized_nearest_resize(n, keep, quantized)) add(n.input(0));
}

// The tensor whose quantization parameters `t` shares (`shared_from`: tensor -> that tensor);
// `t` itself when it has its own.
std::string shared_root(const std::map<std::string, std::string>& shared_from, const std::string& t) {
  auto it = shared_from.find(t);
  return it == shared_from.end() ? t : it->second;
}

// Its output then shares its input's parameters: ONNX Runtime drops the pair around it and
// resizes the uint8 data.
void share_qparams_through_resize(const onnx::GraphProto& g, const KeepRules& keep,
                                  const std::set<std::string>& quantized,
                                  std::map<std::string, std::string>& shared_from) {
  for (const auto& n : g.node()) {
    if (!is_quantized_nearest_resize(n, keep, quantized) || !quantized.count(n.input(0))) continue;
    const std::string& in = n.input(0);
    shared_from[n.output(0)] = shared_root(shared_from, in);
  }
}

// True when the calibrated ranges (each widened to include 0) of `a` and `b` are alike: their
// union is at most twice the narrower one (one bit lost at most). The rule for Concat below.
bool ranges_alike(std::pair<float, float> a, std::pair<float, float> b) {
  const float alo = std::min(a.first, 0.f), ahi = std::max(a.second, 0.f);
  const float blo = std::min(b.first, 0.f), bhi = std::max(b.second, 0.f);
  const float lo = std::min(alo, blo), hi = std::max(ahi, bhi);
  return hi - lo <= 2.f * std::min(ahi - alo, bhi - blo);
}

// A Concat whose inputs' ranges are not alike (YOLOv10's head: boxes in pixels, 0..640, beside
// scores in [0, 1]) and whose output no int8 op reads: the output gets no QuantizeLinear (one scale
// of about 2.5 would round every score to 0, and ONNX Runtime would fuse it into a QLinearConcat
// that does so). The Concat then runs in float32 on its dequantized inputs; the tensors that share
// the output's parameters (data movement, Split parts after it) stay float32 too, except those
// calibrated on their own (an int8 op reads them), which keep their own parameters. Returns how
// many Concat outputs were left in float32.
int unquantize_mixed_concat_outputs(const onnx::GraphProto& g, const graph::GraphIndex& ix, const KeepRules& keep,
                                    const std::vector<std::string>& order, const ActivationRanges& ranges,
                                    std::set<std::string>& quantized, std::map<std::string, std::string>& shared_from) {
  auto root = [&](const std::string& t) { return shared_root(shared_from, t); };
  const std::set<std::string> calibrated(order.begin(), order.end());
  int n_mixed = 0;
  for (const auto& n : g.node()) {
    if (n.op_type() != "Concat" || !keep.int8_compute(n) || n.output_size() != 1 || !quantized.count(n.output(0)) ||
        shared_from.count(n.output(0)) || feeds_int8(ix, g, n.output(0), keep))
      continue;
    std::vector<std::pair<float, float>> in_ranges;
    for (const auto& in : n.input()) {
      auto it = ranges.find(root(in));
      if (quantized.count(in) && it != ranges.end()) in_ranges.push_back(it->second);
    }
    bool alike = true;
    for (size_t i = 0; i < in_ranges.size() && alike; ++i)
      for (size_t j = i + 1; j < in_ranges.size() && alike; ++j) alike = ranges_alike(in_ranges[i], in_ranges[j]);
    if (alike) continue;
    const std::string out = n.output(0);
    quantized.erase(out);
    for (auto it = shared_from.begin(); it != shared_from.end();) {
      if (it->second != out) {
        ++it;
        continue;
      }
      if (!calibrated.count(it->first)) quantized.erase(it->first);
      it = shared_from.erase(it);
    }
    ++n_mixed;
  }
  return n_mixed;
}

// A Concat between quantized tensors whose ranges are alike: its inputs and output take one
// quantization (the union of their calibrated ranges), so that ONNX Runtime's QLinearConcat copies
// the inputs instead of requantizing every byte through a lookup table (YOLOv10n's C2f blocks and
// neck). Tensors that share parameters (Split parts, data movement) move together; a merge that
// would widen any member's range more than 2x (losing more than one bit; e.g. boxes in pixels
// beside scores in [0, 1]) is not made. Nor is one that would move a tensor whose QuantizeLinear
// does a folded Relu's or Clip's clipping (`clipped`: tensor -> clip maximum, fold_relu) out of
// [0, max]: its negatives (or values above the Clip's max) would pass. Overwrites `params` of the
// merged tensors.
void share_qparams_through_concat(const onnx::GraphProto& g, const KeepRules& keep,
                                  const std::set<std::string>& quantized,
                                  const std::map<std::string, std::string>& shared_from, const ActivationRanges& ranges,
                                  const std::map<std::string, float>& clipped, bool as_uint8,
                                  std::map<std::string, QParams>& params) {
  auto root = [&](const std::string& t) { return shared_root(shared_from, t); };
  struct Group {
    float lo = 0, hi = 0, min_width = 0;
    bool clips = false;  // a member's quantization does a folded Relu/Clip: lo must stay 0, hi <= clip_hi
    float clip_hi = std::numeric_limits<float>::infinity();
  };
  std::map<std::string, std::string> parent;
  std::map<std::string, Group> group;
  auto find = [&](std::string x) {
    while (parent.at(x) != x) x = parent.at(x);
    return x;
  };
  auto make = [&](const std::string& t) -> bool {
    if (parent.count(t)) return true;
    auto it = ranges.find(t);
    if (it == ranges.end()) return false;
    const float lo = std::min(it->second.first, 0.f), hi = std::max(it->second.second, 0.f);
    if (!(hi - lo > 1e-12f) || !std::isfinite(hi - lo)) return false;
    parent[t] = t;
    group[t] = {lo, hi, hi - lo};
    if (auto c = clipped.find(t); c != clipped.end()) {
      group[t].clips = true;
      group[t].clip_hi = c->second;
    }
    return true;
  };
  for (const auto& n : g.node()) {
    if (n.op_type() != "Concat" || !keep.int8_compute(n) || n.output_size() != 1 || !quantized.count(n.output(0)))
      continue;
    const std::string out = root(n.output(0));
    if (!make(out)) continue;
    for (const auto& in : n.input()) {
      if (!quantized.count(in) || !make(root(in))) continue;
      const std::string a = find(out), b = find(root(in));
      if (a == b) continue;
      const Group& ga = group.at(a);
      const Group& gb = group.at(b);
      Group m{std::min(ga.lo, gb.lo), std::max(ga.hi, gb.hi), std::min(ga.min_width, gb.min_width),
              ga.clips || gb.clips, std::min(ga.clip_hi, gb.clip_hi)};
      if (m.hi - m.lo > 2.f * m.min_width) continue;
      if (m.clips && (m.lo < 0.f || m.hi > m.clip_hi)) continue;
      parent[b] = a;
      group[a] = m;
    }
  }
  std::set<std::string> merged;  // groups of more than one root (a root left alone keeps its parameters)
  for (const auto& [k, p] : parent)
    if (p != k) merged.insert(find(k));
  for (const auto& t : quantized) {
    const std::string r = root(t);
    if (!parent.count(r) || !merged.count(find(r))) continue;
    const Group& m = group.at(find(r));
    params[t] = activation_params(m.lo, m.hi, as_uint8);
  }
}

// Clip at 0 from below (Relu6 and the like) in any opset.
// A Clip's bound: the attribute `name` before opset 11, else its input `input` from 11; nullopt
// when it has none, -infinity when it is not a constant scalar (nothing then passes it as a
// maximum, nor equals 0 as a minimum).
std::optional<float> clip_bound(const onnx::NodeProto& n, const graph::GraphIndex& ix, const onnx::GraphProto& g,
                                const char* name, int input) {
  if (const auto* a = graph::find_attr(n, name)) return a->f();
  if (n.input_size() <= input || n.input(input).empty()) return std::nullopt;
  auto it = ix.initializer.find(n.input(input));
  const float unknown = -std::numeric_limits<float>::infinity();
  if (it == ix.initializer.end()) return unknown;
  auto v = graph::read_floats(g.initializer(it->second));
  return v.ok() && v->size() == 1 ? (*v)[0] : unknown;
}

bool is_clip_at_zero(const onnx::NodeProto& n, const graph::GraphIndex& ix, const onnx::GraphProto& g) {
  if (n.op_type() != "Clip") return false;
  const std::optional<float> min = clip_bound(n, ix, g, "min", 1);
  return min && *min == 0.f;
}

// The upper bound of a Clip (attribute before opset 11, input 2 from 11); +infinity when it has none.
float clip_max(const onnx::NodeProto& n, const graph::GraphIndex& ix, const onnx::GraphProto& g) {
  const float none = std::numeric_limits<float>::infinity();
  if (n.op_type() != "Clip") return none;
  return clip_bound(n, ix, g, "max", 2).value_or(none);
}

// Absorbs a Relu (or Clip at 0) that follows a quantized op into the op's QuantizeLinear: the
// op writes the activation's output directly; the int8 range [0, max] does the clipping.
// `clipped` receives each such output with the Clip's maximum (+infinity for Relu): its
// quantization parameters must keep the range within [0, max] (share_qparams_through_concat).
int fold_relu(onnx::ModelProto& model, const KeepRules& keep, std::map<std::string, float>& clipped) {
  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  std::set<int> removed;
  for (int i = 0; i < g->node_size(); ++i) {
    const onnx::NodeProto& r = g->node(i);
    if (r.op_type() != "Relu" && !is_clip_at_zero(r, ix, *g)) continue;
    if (keep.ops.count(r.op_type())) continue;
    const std::string& t = r.input(0);
    auto p = ix.producer.find(t);
    if (p == ix.producer.end()) continue;
    onnx::NodeProto* prod = g->mutable_node(p->second);
    if (!keep.int8_compute(*prod)) continue;
    if (ix.consumers.at(t).size() != 1 || ix.graph_outputs.count(t) || ix.graph_outputs.count(r.output(0))) continue;
    // The QuantizeLinear that does the clipping must exist: the same rule as for any output.
    if (!quantize_output(ix, *g, r.output(0), keep)) continue;
    for (auto& o : *prod->mutable_output())
      if (o == t) o = r.output(0);
    clipped[r.output(0)] = clip_max(r, ix, *g);
    removed.insert(i);
  }
  if (!removed.empty()) {
    google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
    for (int i = 0; i < g->node_size(); ++i)
      if (!removed.count(i)) *kept.Add() = g->node(i);
    g->mutable_node()->Swap(&kept);
  }
  return static_cast<int>(removed.size());
}

// ONNX Runtime's QDQ fusion makes QLinearConv and QLinearMatMul (ai.onnx opset 10) and, for a
// float bias next to quantized inputs, Round (opset 11): an older model is moved to opset 11.
// Between 9 and 11 only these ops turned attributes into inputs: Slice (starts/ends/axes, 10),
// TopK (k, 10), Pad (pads/value, 11), Clip (min/max, 11); Upsample was replaced by Resize. The
// other ops of opsets 7-10 keep their meaning at 11.
Status upgrade_to_opset11(onnx::ModelProto& model, ConversionInfo& info) {
  const int64_t v = graph::opset_version(model, "");
  if (v >= 11) return Status::Ok();
  if (v < 7)
    return unimplemented("int8 quantization needs ai.onnx opset 7 or later, the model has " + std::to_string(v));
  onnx::GraphProto* g = model.mutable_graph();
  graph::NameMaker names(*g);
  auto ints_input = [&](const std::string& base, const google::protobuf::RepeatedField<int64_t>& v) {
    onnx::TensorProto t;
    t.set_name(names.make(base));
    t.add_dims(v.size());
    std::vector<int64_t> values(v.begin(), v.end());
    graph::set_int64s(t, values);
    *g->add_initializer() = t;
    return t.name();
  };
  int changed = 0;
  for (auto& n : *g->mutable_node()) {
    if (!(n.domain().empty() || n.domain() == "ai.onnx")) continue;
    if (n.op_type() == "Slice" && n.input_size() == 1) {
      const auto* starts = graph::find_attr(n, "starts");
      const auto* ends = graph::find_attr(n, "ends");
      if (!starts || !ends) return invalid_argument("Slice node '" + n.name() + "' has no starts/ends");
      const auto* axes = graph::find_attr(n, "axes");
      n.add_input(ints_input(n.name() + "_starts", starts->ints()));
      n.add_input(ints_input(n.name() + "_ends", ends->ints()));
      if (axes) n.add_input(ints_input(n.name() + "_axes", axes->ints()));
      google::protobuf::RepeatedPtrField<onnx::AttributeProto> none;
      n.mutable_attribute()->Swap(&none);
      ++changed;
    } else if (n.op_type() == "TopK" && n.input_size() == 1) {
      const auto* k = graph::find_attr(n, "k");
      if (!k) return invalid_argument("TopK node '" + n.name() + "' has no k");
      google::protobuf::RepeatedField<int64_t> kv;
      kv.Add(k->i());
      n.add_input(ints_input(n.name() + "_k", kv));
      google::protobuf::RepeatedPtrField<onnx::AttributeProto> kept;
      for (const auto& a : n.attribute())
        if (a.name() != "k") *kept.Add() = a;
      n.mutable_attribute()->Swap(&kept);
      ++changed;
    } else if (n.op_type() == "Pad" && n.input_size() == 1) {
      const auto* pads = graph::find_attr(n, "pads");
      if (!pads) return invalid_argument("Pad node '" + n.name() + "' has no pads");
      n.add_input(ints_input(n.name() + "_pads", pads->ints()));
      const float value = graph::attr_float(n, "value", 0.f);
      onnx::TensorProto t;
      t.set_name(names.make(n.name() + "_value"));
      graph::set_floats(t, std::span<const float>(&value, 1));
      *g->add_initializer() = t;
      n.add_input(t.name());
      google::protobuf::RepeatedPtrField<onnx::AttributeProto> kept;
      for (const auto& a : n.attribute())
        if (a.name() == "mode") *kept.Add() = a;
      n.mutable_attribute()->Swap(&kept);
      ++changed;
    } else if (n.op_type() == "Clip" && n.input_size() == 1 && n.attribute_size() > 0) {
      for (const char* bound : {"min", "max"}) {
        const auto* a = graph::find_attr(n, bound);
        if (!a) {
          n.add_input("");
          continue;
        }
        const float value = a->f();
        onnx::TensorProto t;
        t.set_name(names.make(n.name() + "_" + bound));
        graph::set_floats(t, std::span<const float>(&value, 1));
        *g->add_initializer() = t;
        n.add_input(t.name());
      }
      while (n.input_size() > 1 && n.input(n.input_size() - 1).empty()) n.mutable_input()->RemoveLast();
      n.clear_attribute();
      ++changed;
    } else if (n.op_type() == "Upsample" || (n.op_type() == "Resize" && v < 11)) {
      return unimplemented(n.op_type() + " of opset " + std::to_string(v) +
                           ": int8 quantization needs opset 11; re-export the model with opset 11 or later");
    }
  }
  for (auto& o : *model.mutable_opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") o.set_version(11);
  info.notes.push_back("ai.onnx opset " + std::to_string(v) + " -> 11 (ONNX Runtime's int8 kernels need it); " +
                       std::to_string(changed) + " Slice/TopK/Pad/Clip nodes moved to their opset-11 form");
  return Status::Ok();
}

// Activation ranges from running the calibration samples through the model.
struct Range {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
};

// The clipping range that minimises the expected squared error of int8 quantization of the
// values in `h` (a histogram over `full`): values outside are clipped, values inside get the
// rounding error of a uniform quantizer (step^2 / 12). Searched over a grid of shrink factors of
// each end (the "MSE" range of the post-training quantization literature, e.g. Banner et al.
// 2019, "Post training 4-bit quantization of convolutional networks for rapid-deployment").
Range mse_range(const std::vector<double>& h, const Range& full) {
  const int bins = static_cast<int>(h.size());
  const double width = (static_cast<double>(full.hi) - full.lo) / bins;
  const double lo0 = std::min(0.0, static_cast<double>(full.lo)), hi0 = std::max(0.0, static_cast<double>(full.hi));
  constexpr int kSteps = 40;
  double best = std::numeric_limits<double>::infinity();
  Range out = full;
  for (int a = 0; a < kSteps; ++a) {
    const double lo = lo0 * (1.0 - a / static_cast<double>(kSteps));
    if (a > 0 && lo0 == 0.0) break;
    for (int b = 0; b < kSteps; ++b) {
      const double hi = hi0 * (1.0 - b / static_cast<double>(kSteps));
      if (b > 0 && hi0 == 0.0) break;
      if (!(hi - lo > 0)) continue;
      const double step = (hi - lo) / 255.0;
      const double inside = step * step / 12.0;
      double err = 0;
      for (int i = 0; i < bins && err < best; ++i) {
        if (h[i] == 0) continue;
        const double x = full.lo + (i + 0.5) * width;
        const double e = x < lo ? (x - lo) * (x - lo) : x > hi ? (x - hi) * (x - hi) : inside;
        err += h[i] * e;
      }
      if (err < best) {
        best = err;
        out.lo = static_cast<float>(lo);
        out.hi = static_cast<float>(hi);
      }
    }
  }
  return out;
}

class Calibrator {
 public:
  Calibrator(const onnx::ModelProto& model, std::vector<std::string> tensors,
             std::shared_ptr<const runtime::Environment> env)
      : model_(model), tensors_(std::move(tensors)), env_(std::move(env)) {}

  StatusOr<std::map<std::string, Range>> run(std::span<const CalibrationSample> samples, const Int8Options& o) {
    namespace fs = std::filesystem;
    // Graph inputs are observed directly; everything else becomes an extra model output.
    std::vector<std::string> input_names;
    std::set<std::string> inits;
    for (const auto& t : model_.graph().initializer()) inits.insert(t.name());
    for (const auto& in : model_.graph().input())
      if (!inits.count(in.name())) input_names.push_back(in.name());
    onnx::ModelProto aug = model_;
    std::set<std::string> outs;
    for (const auto& v : aug.graph().output()) outs.insert(v.name());
    for (const auto& t : tensors_) {
      if (outs.count(t) || std::find(input_names.begin(), input_names.end(), t) != input_names.end()) continue;
      auto* v = aug.mutable_graph()->add_output();
      v->set_name(t);
      v->mutable_type()->mutable_tensor_type()->set_elem_type(kFloat);
      outs.insert(t);
    }
    aug.mutable_graph()->clear_value_info();
    FACELENS_ASSIGN_OR_RETURN(std::string bytes, graph::serialize_model(aug));
    std::random_device rd;
    const fs::path tmp = fs::temp_directory_path() / ("facelens-calib-" + std::to_string(rd()) + ".onnx");
    FACELENS_RETURN_IF_ERROR(write_model_file(tmp.string(), bytes));
    runtime::SessionOptions so;
    so.graph_optimization = runtime::GraphOptimization::kBasic;
    so.service.provider = Provider::kCpu;
    auto session = runtime::Session::create(env_, tmp.string(), so);
    std::error_code ec;
    fs::remove(tmp, ec);
    if (!session.ok()) return session.status().with_context("calibration model");
    const runtime::Session& s = **session;

    std::map<std::string, Range> ranges;
    std::map<std::string, std::vector<double>> hist;
    constexpr int kBins = 2048;
    auto observe = [&](int pass, const std::string& name, std::span<const float> v) {
      Range& r = ranges[name];
      if (pass == 0) {
        for (float x : v) {
          if (!std::isfinite(x)) continue;
          r.lo = std::min(r.lo, x);
          r.hi = std::max(r.hi, x);
        }
        return;
      }
      auto& h = hist[name];
      if (h.empty()) h.assign(kBins, 0.0);
      const float width = r.hi - r.lo;
      if (!(width > 0)) return;
      for (float x : v) {
        if (!std::isfinite(x)) continue;
        int b = static_cast<int>((x - r.lo) / width * kBins);
        h[std::clamp(b, 0, kBins - 1)] += 1;
      }
    };
    const int passes = o.method == CalibrationMethod::kMinMax ? 1 : 2;
    for (int pass = 0; pass < passes; ++pass) {
      for (const auto& sample : samples) {
        if (sample.size() != input_names.size()) {
          return invalid_argument("calibration sample has " + std::to_string(sample.size()) + " tensors, the model " +
                                  std::to_string(input_names.size()) + " inputs");
        }
        FACELENS_ASSIGN_OR_RETURN(auto result, s.run(runtime::refs_of(sample)));
        for (size_t k = 0; k < input_names.size(); ++k)
          if (std::find(tensors_.begin(), tensors_.end(), input_names[k]) != tensors_.end())
            observe(pass, input_names[k], sample[k].data);
        for (size_t k = 0; k < result.size(); ++k) {
          const std::string& name = s.outputs()[k].name;
          if (std::find(tensors_.begin(), tensors_.end(), name) != tensors_.end()) observe(pass, name, result[k].data);
        }
      }
    }
    if (o.method == CalibrationMethod::kMse) {
      for (auto& [name, r] : ranges) {
        auto it = hist.find(name);
        if (it != hist.end() && r.hi > r.lo) r = mse_range(it->second, r);
      }
    } else if (passes == 2) {
      const double tail = std::clamp(1.0 - o.percentile / 100.0, 0.0, 0.5);
      for (auto& [name, r] : ranges) {
        auto it = hist.find(name);
        if (it == hist.end() || !(r.hi > r.lo)) continue;
        const auto& h = it->second;
        double total = 0;
        for (double c : h) total += c;
        const double cut = total * tail;
        const float width = (r.hi - r.lo) / kBins;
        double acc = 0;
        int lo_bin = 0;
        while (lo_bin < kBins - 1 && acc + h[lo_bin] <= cut) acc += h[lo_bin++];
        acc = 0;
        int hi_bin = kBins - 1;
        while (hi_bin > 0 && acc + h[hi_bin] <= cut) acc += h[hi_bin--];
        const float lo = r.lo + lo_bin * width, hi = r.lo + (hi_bin + 1) * width;
        r.lo = lo;
        r.hi = hi;
      }
    }
    for (auto& [name, r] : ranges) {
      if (r.lo > r.hi) r.lo = r.hi = 0;  // never observed a finite value
    }
    return ranges;
  }

 private:
  const onnx::ModelProto& model_;
  std::vector<std::string> tensors_;
  std::shared_ptr<const runtime::Environment> env_;
};

// Replaces the weight of a weighted node by int8 + DequantizeLinear; returns the per-channel
// scales (needed for the bias). Weights shared by several nodes are quantized once.
struct WeightDq {
  std::string dq_output;
  std::vector<float> scales;
  bool per_channel = false;
};

StatusOr<WeightDq> quantize_weight_input(const onnx::TensorProto& w, int64_t axis, bool per_channel, float qmax,
                                         QdqBuilder& qdq, std::vector<onnx::NodeProto>& front,
                                         graph::NameMaker& names) {
  FACELENS_ASSIGN_OR_RETURN(auto values, graph::read_floats(w));
  const auto dims = dims_of(w);
  QuantizedWeight q = quantize_weight(values, dims, axis, per_channel, qmax);
  onnx::TensorProto tq;
  for (int64_t d : dims) tq.add_dims(d);
  graph::set_int8s(tq, q.values);
  const std::string q_name = qdq.tensor(std::move(tq), w.name() + "_quantized");
  onnx::TensorProto ts, tz;
  if (q.per_channel) {
    ts.add_dims(static_cast<int64_t>(q.scales.size()));
    tz.add_dims(static_cast<int64_t>(q.scales.size()));
  }
  graph::set_floats(ts, q.scales);
  std::vector<int8_t> zeros(q.scales.size(), 0);
  graph::set_int8s(tz, zeros);
  const std::string s_name = qdq.tensor(std::move(ts), w.name() + "_scale");
  const std::string z_name = qdq.tensor(std::move(tz), w.name() + "_zero_point");
  WeightDq out;
  out.dq_output = names.make(w.name() + "_dequantized");
  out.scales = q.scales;
  out.per_channel = q.per_channel;
  front.push_back(qdq.node("DequantizeLinear", {q_name, s_name, z_name}, out.dq_output, axis, q.per_channel));
  return out;
}

std::set<std::string> op_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

}  // namespace

const char* calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kPercentile: return "percentile";
    case CalibrationMethod::kMse: return "mse";
    case CalibrationMethod::kMinMax: break;
  }
  return "minmax";
}

StatusOr<Converted> quantize_int8_weights(const std::string& bytes, const Int8Options& options) {
  FACELENS_ASSIGN_OR_RETURN(onnx::ModelProto model, graph::parse_model(bytes, "model"));
  Converted out;
  out.info.kind = "int8-weight-only";
  graph::normalize_constants(model);
  graph::name_nodes(model);
  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  graph::NameMaker names(*g);
  QdqBuilder qdq(model, names);
  const std::set<std::string> skip = op_set(options.keep_fp32_ops);
  const std::set<std::string> skip_nodes = op_set(options.keep_fp32_nodes);
  std::vector<onnx::NodeProto> front;
  std::map<std::string, std::string> done;  // weight -> dequantized name
  for (int i = 0; i < g->node_size(); ++i) {
    onnx::NodeProto* n = g->mutable_node(i);
    if (skip.count(n->op_type()) || skip_nodes.count(n->name()) || !is_weighted(*n, ix, *g)) continue;
    const std::string w = n->input(1);
    const int64_t axis = weight_axis(*n);
    const std::string key = w + "@" + std::to_string(axis);
    if (!done.count(key)) {
      FACELENS_ASSIGN_OR_RETURN(auto dq, quantize_weight_input(g->initializer(ix.initializer.at(w)), axis,
                                                               options.per_channel, 127.f, qdq, front, names));
      done[key] = dq.dq_output;
      ++out.info.n_quantized_weights;
    }
    n->set_input(1, done[key]);
    ++out.info.n_nodes_converted;
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& n : front) *nodes.Add() = std::move(n);
  for (auto& n : *g->mutable_node()) *nodes.Add() = std::move(n);
  g->mutable_node()->Swap(&nodes);
  drop_unused_initializers(g);
  out.info.n_nodes = g->node_size();
  if (!graph::refresh_value_info(model)) out.info.notes.push_back("shape inference failed: value_info left empty");
  FACELENS_ASSIGN_OR_RETURN(out.model, graph::serialize_model(model));
  return out;
}

namespace {

// The model as quantization sees it: constants as initializers, every node named, BatchNorm
// folded, opset 10 or later. `calibration_model` is a copy before the Relu folding, in which every
// tensor of the final graph exists.
struct Prepared {
  onnx::ModelProto model;
  ConversionInfo info;
};

// Gemm with transB=1 and a constant B gets B transposed (transB=0): ONNX Runtime's QGemm reads a
// per-channel B scale as one per column of B as stored, which is the output channel only then.
void transpose_gemm_weights(onnx::ModelProto& model) {
  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  graph::NameMaker names(*g);
  for (auto& n : *g->mutable_node()) {
    if (n.op_type() != "Gemm" || graph::attr_int(n, "transB", 0) == 0 || !is_weighted(n, ix, *g)) continue;
    const onnx::TensorProto& w = g->initializer(ix.initializer.at(n.input(1)));
    auto v = graph::read_floats(w);
    if (!v.ok()) continue;
    const int64_t rows = w.dims(0), cols = w.dims(1);
    std::vector<float> t(v->size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = (*v)[r * cols + c];
    onnx::TensorProto tw = graph::make_float_tensor(names.make(w.name() + "_t"), {cols, rows}, t);
    n.set_input(1, tw.name());
    *g->add_initializer() = std::move(tw);
    for (auto& a : *n.mutable_attribute())
      if (a.name() == "transB") a.set_i(0);
  }
  drop_unused_initializers(g);
}

StatusOr<Prepared> prepare_int8(const std::string& bytes, PreluRewrite prelu) {
  Prepared p;
  FACELENS_ASSIGN_OR_RETURN(p.model, graph::parse_model(bytes, "model"));
  p.info.kind = "int8";
  graph::normalize_constants(p.model);
  graph::name_nodes(p.model);
  const int n_bn = fold_batchnorm(p.model);
  if (n_bn) p.info.notes.push_back(std::to_string(n_bn) + " BatchNormalization nodes folded into their Conv");
  const int n_bn_gemm = fold_batchnorm_into_gemm(p.model);
  if (n_bn_gemm) p.info.notes.push_back(std::to_string(n_bn_gemm) + " BatchNormalization nodes folded into their Gemm");
  int n_bn_tiny = 0;
  const int n_bn_dw = batchnorm_to_depthwise_conv(p.model, &n_bn_tiny);
  if (n_bn_dw) {
    p.info.notes.push_back(std::to_string(n_bn_dw) +
                           " BatchNormalization nodes rewritten as depthwise 1x1 Conv (int8 in ONNX Runtime)");
  }
  if (n_bn_tiny) {
    p.info.notes.push_back(std::to_string(n_bn_tiny) +
                           " BatchNormalization nodes left in float32: a channel's scale is below 1e-4 of the largest "
                           "(its int32 bias as a depthwise Conv would overflow)");
  }
  const int n_prelu = rewrite_prelu(p.model, prelu);
  if (n_prelu) {
    p.info.notes.push_back(
        std::to_string(n_prelu) +
        " PRelu nodes rewritten as LeakyRelu or Mul/Relu/Add (ONNX Runtime has int8 kernels for those)");
  }
  FACELENS_RETURN_IF_ERROR(upgrade_to_opset11(p.model, p.info));
  transpose_gemm_weights(p.model);
  return p;
}

// Calibrates (when `samples` is given) or takes `given` ranges, then quantizes.
StatusOr<Converted> quantize_static(const std::string& bytes, std::span<const CalibrationSample> samples,
                                    const ActivationRanges* given, const Int8Options& options,
                                    std::shared_ptr<const runtime::Environment> env, ActivationRanges* calibrated) {
  FACELENS_ASSIGN_OR_RETURN(Prepared prep, prepare_int8(bytes, options.prelu));
  onnx::ModelProto& model = prep.model;
  Converted out;
  out.info = prep.info;
  const onnx::ModelProto calibration_model = model;  // every tensor name of the final graph exists here

  KeepRules keep;
  keep.ops = op_set(options.keep_fp32_ops);
  keep.nodes = op_set(options.keep_fp32_nodes);
  keep.tensors = op_set(options.keep_fp32_tensors);
  keep.round_before_float_ops = options.round_before_float_ops;
  keep.weight_only = op_set(options.weight_only_nodes);
  {
    const graph::GraphIndex pre = graph::index_graph(model.graph());
    for (const auto& n : model.graph().node())
      if (n.op_type() == "Sigmoid" && !n.name().empty() && keep.quantizable(n) && n.output_size() == 1 &&
          !feeds_int8(pre, model.graph(), n.output(0), keep, /*by_type=*/true))
        keep.nodes.insert(n.name());
  }
  if (!keep.round_before_float_ops) {
    // An op whose result only ops without int8 kernels read (PRelu, Softmax...) would end in a
    // DequantizeLinear: it keeps int8 weights but computes in float32.
    const graph::GraphIndex pre = graph::index_graph(model.graph());
    std::set<std::string> float_out;
    for (const auto& n : model.graph().node()) {
      if (keep.int8_compute(n) && n.output_size() >= 1 &&
          !feeds_int8(pre, model.graph(), n.output(0), keep, /*by_type=*/true))
        float_out.insert(n.name());
    }
    keep.weight_only.insert(float_out.begin(), float_out.end());
  }
  std::map<std::string, float> clipped;  // outputs whose QuantizeLinear does a folded Relu/Clip
  const int n_relu = fold_relu(model, keep, clipped);
  if (n_relu) out.info.notes.push_back(std::to_string(n_relu) + " Relu/Clip nodes absorbed into QuantizeLinear");

  onnx::GraphProto* g = model.mutable_graph();
  std::string inference_error;
  const std::map<std::string, int32_t> types = graph::value_types(model, &inference_error);
  if (!inference_error.empty()) out.info.notes.push_back("shape inference failed: " + inference_error);
  auto is_float = [&](const std::string& v) {
    auto it = types.find(v);
    return it != types.end() && it->second == kFloat;
  };
  const graph::GraphIndex ix = graph::index_graph(*g);

  auto only_outputs = [&](const std::string& t) { return feeds_only_outputs(ix, *g, t); };

  // Tensors to quantize, with a source for tensors that share their input's parameters.
  std::vector<std::string> order;  // calibrated tensors
  std::set<std::string> quantized;
  std::map<std::string, std::string> shared_from;
  auto add = [&](const std::string& t) {
    if (t.empty() || ix.initializer.count(t) || !is_float(t) || quantized.count(t) || keep.tensors.count(t)) return;
    quantized.insert(t);
    order.push_back(t);
  };
  for (const auto& n : g->node()) {
    if (!keep.int8_compute(n)) continue;
    const bool weighted = is_weighted(n, ix, *g);
    for (int k = 0; k < n.input_size(); ++k) {
      if (weighted && k > 0) continue;
      add(n.input(k));
    }
    if (n.output_size() >= 1 && quantize_output(ix, *g, n.output(0), keep)) add(n.output(0));
  }
  // Data-movement ops (and MaxPool) after a quantized tensor share its parameters.
  for (const auto& n : g->node()) {
    if (!kPassOps.count(n.op_type()) || keep.ops.count(n.op_type()) || n.input_size() < 1 || n.output_size() != 1)
      continue;
    const std::string& in = n.input(0);
    const std::string& o = n.output(0);
    if (!quantized.count(in) || !is_float(o) || quantized.count(o) || only_outputs(o) || keep.tensors.count(o))
      continue;
    quantized.insert(o);
    shared_from[o] = shared_root(shared_from, in);
  }
  quantize_resize_inputs(*g, keep, add, quantized);
  // A Split of a quantized tensor: its parts share the tensor's parameters (also where an int8
  // op's input made them calibrated on their own), so that ONNX Runtime splits the int8 data.
  for (const auto& n : g->node()) {
    if (n.op_type() != "Split" || keep.ops.count("Split") || keep.nodes.count(n.name()) || n.input_size() < 1 ||
        !quantized.count(n.input(0)))
      continue;
    bool all = true;
    for (const auto& o : n.output()) all &= quantized.count(o) > 0 && !keep.tensors.count(o);
    if (!all) continue;  // a part left float32 would leave the Split in float32 anyway
    const std::string& in = n.input(0);
    for (const auto& o : n.output()) shared_from[o] = shared_root(shared_from, in);
  }
  share_qparams_through_resize(*g, keep, quantized, shared_from);
  for (auto& [t, src] : shared_from)  // a part that a data-movement op passed on: to the root
    src = shared_root(shared_from, src);
  if (quantized.empty()) {
    return failed_precondition(
        "the model has no op that int8 quantization applies to" +
        (inference_error.empty() ? std::string() : " (shape inference failed: " + inference_error + ")"));
  }

  ActivationRanges ranges;
  if (given) {
    ranges = *given;
  } else {
    Calibrator calibrator(calibration_model, order, env);
    FACELENS_ASSIGN_OR_RETURN(auto measured, calibrator.run(samples, options));
    for (const auto& [name, r] : measured) ranges[name] = {r.lo, r.hi};
    if (calibrated) *calibrated = ranges;
  }
  const bool u8 = options.activations == ActivationType::kUint8;
  const float weight_qmax = options.reduce_range ? 63.f : 127.f;
  std::map<std::string, QParams> params;
  for (const auto& t : order) {
    auto it = ranges.find(t);
    if (it == ranges.end()) {
      return invalid_argument("no calibrated range for tensor '" + t +
                              "': calibrate with the same keep_fp32 "
                              "options or fewer kept nodes");
    }
    params[t] = activation_params(it->second.first, it->second.second, u8);
  }
  const int n_mixed = unquantize_mixed_concat_outputs(*g, ix, keep, order, ranges, quantized, shared_from);
  if (n_mixed) {
    out.info.notes.push_back(std::to_string(n_mixed) +
                             " Concat outputs of unlike input ranges left in float32 (e.g. boxes beside scores)");
  }
  for (const auto& [t, src] : shared_from) params[t] = params[src];
  share_qparams_through_concat(*g, keep, quantized, shared_from, ranges, clipped, u8, params);

  graph::NameMaker names(*g);
  QdqBuilder qdq(model, names);
  std::vector<onnx::NodeProto> front;          // weight DequantizeLinear nodes and graph-input pairs
  std::map<std::string, std::string> dq_name;  // tensor -> its DequantizeLinear output
  std::map<std::string, std::pair<onnx::NodeProto, onnx::NodeProto>> pairs;
  for (const auto& t : quantized) {
    const QParams& p = params[t];
    const std::string s = qdq.scalar_float(t + "_scale", p.scale);
    const std::string z = qdq.scalar_zero_point(t + "_zero_point", p.zero_point, u8);
    const std::string tq = names.make(t + "_quantized");
    const std::string tdq = names.make(t + "_dequantized");
    dq_name[t] = tdq;
    pairs[t] = {qdq.node("QuantizeLinear", {t, s, z}, tq, 0, false),
                qdq.node("DequantizeLinear", {tq, s, z}, tdq, 0, false)};
  }
  out.info.n_quantized_tensors = static_cast<int>(quantized.size());

  // Weights (int8 per channel) and biases (int32 at input scale x weight scale).
  std::map<std::string, WeightDq> weights;
  for (int i = 0; i < g->node_size(); ++i) {
    onnx::NodeProto* n = g->mutable_node(i);
    if (!keep.quantizable(*n) || !is_weighted(*n, ix, *g)) continue;
    const std::string w = n->input(1);
    const int64_t axis = weight_axis(*n);
    const std::string key = w + "@" + std::to_string(axis);
    if (!weights.count(key)) {
      // Gemm: one scale per tensor. ONNX Runtime's fused QGemm gave wrong outputs with per-column
      // scales in our tests (fr_age: output cosine 0.08); weight-only Gemm keeps them (its
      // DequantizeLinear runs as is).
      const bool per_channel = options.per_channel && (n->op_type() != "Gemm" || !keep.int8_compute(*n));
      FACELENS_ASSIGN_OR_RETURN(weights[key], quantize_weight_input(g->initializer(ix.initializer.at(w)), axis,
                                                                    per_channel, weight_qmax, qdq, front, names));
      ++out.info.n_quantized_weights;
    }
    const WeightDq& wq = weights[key];
    n->set_input(1, wq.dq_output);
    ++out.info.n_nodes_converted;
    // Bias: Conv input 2, or Gemm C when it is one value per output channel and alpha = beta = 1.
    if (n->input_size() < 3 || n->input(2).empty() || !quantized.count(n->input(0))) continue;
    auto bit = ix.initializer.find(n->input(2));
    if (bit == ix.initializer.end() || g->initializer(bit->second).data_type() != kFloat) continue;
    if (n->op_type() == "Gemm" &&
        (graph::attr_float(*n, "alpha", 1.f) != 1.f || graph::attr_float(*n, "beta", 1.f) != 1.f))
      continue;
    const onnx::TensorProto& bt = g->initializer(bit->second);
    FACELENS_ASSIGN_OR_RETURN(auto b, graph::read_floats(bt));
    const size_t channels = wq.scales.size();
    if (bt.dims_size() != 1 || (wq.per_channel && b.size() != channels)) continue;
    const float sx = params[n->input(0)].scale;
    std::vector<float> bscale(b.size());
    std::vector<int32_t> bq(b.size());
    bool overflow = false;
    for (size_t c = 0; c < b.size(); ++c) {
      bscale[c] = sx * wq.scales[wq.per_channel ? c : 0];
      const double v = std::nearbyint(static_cast<double>(b[c]) / bscale[c]);
      overflow |= !(std::fabs(v) <= 2147483647.0);
      bq[c] = static_cast<int32_t>(std::clamp(v, -2147483647.0, 2147483647.0));
    }
    if (overflow) {
      // A channel of (nearly) zero weights beside a bias (a Conv folded with a BatchNorm of gamma
      // about 0): int32 cannot hold the bias at that scale, and it is clamped. A float32 bias is no
      // way out: ONNX Runtime quantizes it itself (WeightBiasQuantization), with a DequantizeLinear
      // that opset 11 rejects. Reported, so that the drift check's figures can be read with it.
      out.info.notes.push_back("node '" + n->name() + "': int32 bias clamped (a channel's weight scale is ~0)");
    }
    onnx::TensorProto tq, ts, tz;
    tq.add_dims(static_cast<int64_t>(b.size()));
    graph::set_int32s(tq, bq);
    ts.add_dims(static_cast<int64_t>(b.size()));
    graph::set_floats(ts, bscale);
    tz.add_dims(static_cast<int64_t>(b.size()));
    std::vector<int32_t> zeros(b.size(), 0);
    graph::set_int32s(tz, zeros);
    const std::string qn = qdq.tensor(std::move(tq), n->input(2) + "_quantized");
    const std::string sn = qdq.tensor(std::move(ts), n->input(2) + "_scale");
    const std::string zn = qdq.tensor(std::move(tz), n->input(2) + "_zero_point");
    const std::string dq = names.make(n->input(2) + "_dequantized");
    front.push_back(qdq.node("DequantizeLinear", {qn, sn, zn}, dq, 0, true));
    n->set_input(2, dq);
  }

  // Constant operands of quantized Add/Mul/Concat: per-tensor int8 with a DequantizeLinear.
  std::map<std::string, std::string> const_dq;
  for (int i = 0; i < g->node_size(); ++i) {
    onnx::NodeProto* n = g->mutable_node(i);
    if (!keep.int8_compute(*n) || (n->op_type() != "Add" && n->op_type() != "Mul" && n->op_type() != "Concat"))
      continue;
    for (int k = 0; k < n->input_size(); ++k) {
      const std::string c = n->input(k);
      auto it = ix.initializer.find(c);
      if (it == ix.initializer.end() || g->initializer(it->second).data_type() != kFloat) continue;
      if (!const_dq.count(c)) {
        FACELENS_ASSIGN_OR_RETURN(auto v, graph::read_floats(g->initializer(it->second)));
        float lo = 0, hi = 0;
        for (float x : v) {
          lo = std::min(lo, x);
          hi = std::max(hi, x);
        }
        // The same 8-bit type as the activations (QLinearAdd/Mul/Concat take one type).
        const QParams p = activation_params(lo, hi, u8);
        const float qmin = u8 ? 0.f : -128.f;
        std::vector<float> q(v.size());
        for (size_t j = 0; j < v.size(); ++j)
          q[j] = std::clamp(std::nearbyint(v[j] / p.scale) + static_cast<float>(p.zero_point), qmin, qmin + 255.f);
        onnx::TensorProto tq;
        for (int64_t d : g->initializer(it->second).dims()) tq.add_dims(d);
        if (u8) {
          std::vector<uint8_t> b(q.begin(), q.end());
          graph::set_uint8s(tq, b);
        } else {
          std::vector<int8_t> b(q.begin(), q.end());
          graph::set_int8s(tq, b);
        }
        const std::string qn = qdq.tensor(std::move(tq), c + "_quantized");
        const std::string sn = qdq.scalar_float(c + "_scale", p.scale);
        const std::string zn = qdq.scalar_zero_point(c + "_zero_point", p.zero_point, u8);
        const std::string dq = names.make(c + "_dequantized");
        front.push_back(qdq.node("DequantizeLinear", {qn, sn, zn}, dq, 0, false));
        const_dq[c] = dq;
      }
      n->set_input(k, const_dq[c]);
    }
  }

  // Rewire consumers to the dequantized tensors and place each pair after its producer.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& n : front) *nodes.Add() = std::move(n);
  for (const auto& t : ix.graph_inputs) {
    if (!pairs.count(t)) continue;
    *nodes.Add() = pairs[t].first;
    *nodes.Add() = pairs[t].second;
  }
  for (auto& n : *g->mutable_node()) {
    for (auto& in : *n.mutable_input()) {
      auto it = dq_name.find(in);
      if (it != dq_name.end()) in = it->second;
    }
    std::vector<std::string> outs(n.output().begin(), n.output().end());
    *nodes.Add() = std::move(n);
    for (const auto& o : outs) {
      if (!pairs.count(o)) continue;
      *nodes.Add() = pairs[o].first;
      *nodes.Add() = pairs[o].second;
    }
  }
  g->mutable_node()->Swap(&nodes);
  drop_unused_initializers(g);
  out.info.n_nodes = g->node_size();
  if (!given) {
    out.info.notes.push_back(std::string("activation ranges: ") + calibration_method_name(options.method) +
                             (options.method == CalibrationMethod::kPercentile
                                  ? " " + std::to_string(options.percentile).substr(0, 6) + "%"
                                  : "") +
                             " over " + std::to_string(samples.size()) + " calibration samples");
  }
  if (!options.keep_fp32_nodes.empty()) {
    std::string kept;
    for (const auto& n : options.keep_fp32_nodes) kept += (kept.empty() ? "" : ", ") + n;
    out.info.notes.push_back("kept in float32: " + kept);
  }
  if (!options.weight_only_nodes.empty()) {
    std::string kept;
    for (const auto& n : options.weight_only_nodes) kept += (kept.empty() ? "" : ", ") + n;
    out.info.notes.push_back("int8 weights, float32 activations: " + kept);
  }
  out.info.notes.push_back(std::string("QuantizeLinear/DequantizeLinear domain: ") +
                           (qdq.domain().empty() ? "ai.onnx" : qdq.domain()));
  if (!graph::refresh_value_info(model)) out.info.notes.push_back("shape inference failed: value_info left empty");
  FACELENS_ASSIGN_OR_RETURN(out.model, graph::serialize_model(model));
  return out;
}

}  // namespace

StatusOr<Converted> quantize_int8_static(const std::string& bytes, std::span<const CalibrationSample> samples,
                                         const Int8Options& options, std::shared_ptr<const runtime::Environment> env,
                                         ActivationRanges* calibrated) {
  if (samples.empty()) {
    return invalid_argument(
        "static int8 quantization needs calibration samples: pass a folder of face images "
        "(--calibrate DIR) or use --int8-dynamic");
  }
  return quantize_static(bytes, samples, nullptr, options, std::move(env), calibrated);
}

StatusOr<Converted> quantize_int8_static(const std::string& bytes, const ActivationRanges& ranges,
                                         const Int8Options& options) {
  return quantize_static(bytes, {}, &ranges, options, nullptr, nullptr);
}

StatusOr<std::string> int8_float_graph(const std::string& bytes, const Int8Options& options) {
  FACELENS_ASSIGN_OR_RETURN(Prepared prep, prepare_int8(bytes, options.prelu));
  return graph::serialize_model(prep.model);
}

StatusOr<std::vector<std::string>> int8_sensitivity_order(const std::string& bytes) {
  FACELENS_ASSIGN_OR_RETURN(Prepared prep, prepare_int8(bytes, PreluRewrite::kAuto));
  const onnx::GraphProto& g = prep.model.graph();
  const graph::GraphIndex ix = graph::index_graph(g);
  const int n = g.node_size();
  std::vector<char> weighted(n, 0);
  for (int i = 0; i < n; ++i) weighted[i] = is_weighted(g.node(i), ix, g);
  // Weighted nodes on the longest path from the inputs (before) and to the outputs (after).
  std::map<std::string, int> depth_in, depth_out;
  std::vector<int> before(n, 0), after(n, 0);
  for (int i = 0; i < n; ++i) {
    int d = 0;
    for (const auto& v : g.node(i).input()) d = std::max(d, depth_in.count(v) ? depth_in[v] : 0);
    before[i] = d;
    for (const auto& v : g.node(i).output()) depth_in[v] = d + weighted[i];
  }
  for (int i = n - 1; i >= 0; --i) {
    int d = 0;
    for (const auto& v : g.node(i).output()) d = std::max(d, depth_out.count(v) ? depth_out[v] : 0);
    after[i] = d;
    for (const auto& v : g.node(i).input())
      depth_out[v] = std::max(depth_out.count(v) ? depth_out[v] : 0, d + weighted[i]);
  }
  std::vector<int> idx;
  for (int i = 0; i < n; ++i)
    if (weighted[i]) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    const int ea = std::min(before[a], after[a]), eb = std::min(before[b], after[b]);
    if (ea != eb) return ea < eb;
    return (after[a] <= before[a]) > (after[b] <= before[b]);  // the output end first
  });
  std::vector<std::string> names;
  for (int i : idx) names.push_back(g.node(i).name());
  return names;
}

}  // namespace facelens::models

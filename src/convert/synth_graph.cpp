#include "convert/synth_graph.h"

#include <cmath>
#include <map>

#include "convert/onnx_graph.h"

namespace facelens::models::synth {

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float Rng::uniform(float lo, float hi) {
  // 24 random bits: every float in [0, 1) with a step of 2^-24.
  const float u = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
  return lo + (hi - lo) * u;
}

void set_attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void set_attr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void set_attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

void set_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

namespace {

void set_value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* s = t->mutable_shape();
  for (int64_t d : dims) {
    if (d >= 0) s->add_dim()->set_dim_value(d);
    else s->add_dim()->set_dim_param("batch");
  }
}

int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace

GraphBuilder::GraphBuilder(const std::string& graph_name, uint64_t seed) : rng_(seed) {
  g_ = model_.mutable_graph();
  g_->set_name(graph_name);
}

std::string GraphBuilder::fresh(const std::string& base) {
  std::string name = base + "_" + std::to_string(serial_++);
  while (used_.count(name)) name = base + "_" + std::to_string(serial_++);
  used_.insert(name);
  return name;
}

std::string GraphBuilder::input(const std::string& name, const std::vector<int64_t>& dims) {
  used_.insert(name);
  set_value_info(g_->add_input(), name, dims);
  return name;
}

void GraphBuilder::output(const std::string& value, const std::string& name, const std::vector<int64_t>& dims) {
  if (value != name) node("Identity", {value}, name);
  set_value_info(g_->add_output(), name, dims);
}

std::string GraphBuilder::uniform(const std::string& base, const std::vector<int64_t>& dims, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(product(dims)));
  for (float& x : v) x = rng_.uniform(lo, hi);
  return floats(base, dims, v);
}

std::string GraphBuilder::floats(const std::string& base, const std::vector<int64_t>& dims,
                                 const std::vector<float>& values) {
  const std::string name = fresh(base);
  *g_->add_initializer() = graph::make_float_tensor(name, dims, values);
  return name;
}

std::string GraphBuilder::int64s(const std::string& base, const std::vector<int64_t>& values) {
  const std::string name = fresh(base);
  auto* t = g_->add_initializer();
  t->set_name(name);
  t->add_dims(static_cast<int64_t>(values.size()));
  graph::set_int64s(*t, values);
  return name;
}

std::string GraphBuilder::scalar(const std::string& base, float value) { return floats(base, {}, {value}); }

onnx::NodeProto* GraphBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                    const std::string& out) {
  auto* n = g_->add_node();
  n->set_op_type(op);
  const std::string o = out.empty() ? fresh(op) : out;
  used_.insert(o);
  n->set_name(o);
  for (const auto& s : inputs) n->add_input(s);
  n->add_output(o);
  return n;
}

onnx::NodeProto* GraphBuilder::node_n(const std::string& op, const std::vector<std::string>& inputs, int n_outputs,
                                      std::vector<std::string>* outs) {
  auto* n = g_->add_node();
  n->set_op_type(op);
  n->set_name(fresh(op));
  for (const auto& s : inputs) n->add_input(s);
  outs->clear();
  for (int i = 0; i < n_outputs; ++i) {
    outs->push_back(fresh(op + "_out"));
    n->add_output(outs->back());
  }
  return n;
}

std::string GraphBuilder::conv(const std::string& x, const ConvSpec& s) {
  const int64_t fan_in = s.cin / s.groups * s.k * s.k;
  const float bound = s.gain * std::sqrt(3.f / static_cast<float>(fan_in));
  std::vector<std::string> in = {x, uniform("conv_w", {s.cout, s.cin / s.groups, s.k, s.k}, -bound, bound)};
  if (s.bias) in.push_back(uniform("conv_b", {s.cout}, -0.05f, 0.05f));
  auto* n = node("Conv", in);
  set_attr(n, "kernel_shape", std::vector<int64_t>{s.k, s.k});
  set_attr(n, "strides", std::vector<int64_t>{s.stride, s.stride});
  set_attr(n, "pads", std::vector<int64_t>{s.pad, s.pad, s.pad, s.pad});
  if (s.groups != 1) set_attr(n, "group", s.groups);
  return out(n);
}

std::string GraphBuilder::bn(const std::string& x, int64_t c, float gamma) {
  const std::string scale = uniform("bn_scale", {c}, 0.9f * gamma, 1.1f * gamma);
  const std::string shift = uniform("bn_bias", {c}, -0.05f, 0.05f);
  const std::string mean = uniform("bn_mean", {c}, -0.05f, 0.05f);
  const std::string var = uniform("bn_var", {c}, 0.9f, 1.1f);
  auto* n = node("BatchNormalization", {x, scale, shift, mean, var});
  set_attr(n, "epsilon", 1e-5f);
  return out(n);
}

std::string GraphBuilder::prelu(const std::string& x, int64_t c) {
  return out(node("PRelu", {x, floats("prelu_slope", {c, 1, 1}, std::vector<float>(static_cast<size_t>(c), 0.25f))}));
}

std::string GraphBuilder::relu(const std::string& x) { return out(node("Relu", {x})); }

std::string GraphBuilder::silu(const std::string& x) { return out(node("Mul", {x, out(node("Sigmoid", {x}))})); }

std::string GraphBuilder::add(const std::string& a, const std::string& b) { return out(node("Add", {a, b})); }

std::string GraphBuilder::concat(const std::vector<std::string>& xs, int64_t axis) {
  auto* n = node("Concat", xs);
  set_attr(n, "axis", axis);
  return out(n);
}

std::vector<std::string> GraphBuilder::split(const std::string& x, const std::vector<int64_t>& sizes, int64_t axis) {
  std::vector<std::string> outs;
  auto* n = node_n("Split", {x, int64s("split", sizes)}, static_cast<int>(sizes.size()), &outs);
  set_attr(n, "axis", axis);
  return outs;
}

std::string GraphBuilder::max_pool(const std::string& x, int64_t k, int64_t stride, int64_t pad) {
  auto* n = node("MaxPool", {x});
  set_attr(n, "kernel_shape", std::vector<int64_t>{k, k});
  set_attr(n, "strides", std::vector<int64_t>{stride, stride});
  set_attr(n, "pads", std::vector<int64_t>{pad, pad, pad, pad});
  return out(n);
}

std::string GraphBuilder::reshape(const std::string& x, const std::vector<int64_t>& shape) {
  return out(node("Reshape", {x, int64s("shape", shape)}));
}

std::string GraphBuilder::transpose(const std::string& x, const std::vector<int64_t>& perm) {
  auto* n = node("Transpose", {x});
  set_attr(n, "perm", perm);
  return out(n);
}

std::string GraphBuilder::linear(const std::string& x, int64_t in, int64_t out_features, float gain) {
  const float bound = gain * std::sqrt(3.f / static_cast<float>(in));
  auto* n = node(
      "Gemm", {x, uniform("fc_w", {out_features, in}, -bound, bound), uniform("fc_b", {out_features}, -0.05f, 0.05f)});
  set_attr(n, "transB", int64_t{1});
  return out(n);
}

onnx::ModelProto GraphBuilder::finish(const std::vector<std::pair<std::string, std::string>>& metadata) {
  model_.set_ir_version(8);
  model_.set_producer_name("facelens");
  model_.set_producer_version("synth");
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(kOpset);
  for (const auto& [k, v] : metadata) {
    auto* p = model_.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  return std::move(model_);
}

namespace {

// Shapes of every value ONNX shape inference can infer, with every symbolic dim of the graph
// inputs set to 1 (one sample).
std::map<std::string, std::vector<int64_t>> shapes_at_batch1(const onnx::ModelProto& model, std::string* error) {
  onnx::ModelProto copy = model;
  auto* g = copy.mutable_graph();
  for (auto& in : *g->mutable_input()) {
    if (!in.type().has_tensor_type()) continue;
    for (auto& d : *in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim())
      if (!d.has_dim_value()) d.set_dim_value(1);
  }
  // Outputs declared with a symbolic batch would conflict with the inferred 1: inference fills them.
  for (auto& out : *g->mutable_output()) out.mutable_type()->mutable_tensor_type()->clear_shape();
  graph::refresh_value_info(copy, error);
  std::map<std::string, std::vector<int64_t>> shapes;
  auto take = [&](const onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) {
      if (!d.has_dim_value()) return;
      dims.push_back(d.dim_value());
    }
    shapes[v.name()] = dims;
  };
  for (const auto& v : g->input()) take(v);
  for (const auto& v : g->value_info()) take(v);
  for (const auto& v : g->output()) take(v);
  for (const auto& t : g->initializer()) shapes[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
  return shapes;
}

}  // namespace

StatusOr<ModelCost> count_cost(const onnx::ModelProto& model) {
  std::string error;
  const auto shapes = shapes_at_batch1(model, &error);
  const auto& g = model.graph();
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : g.initializer()) inits[t.name()] = &t;
  ModelCost c;
  std::set<std::string> counted;
  auto count_param = [&](const onnx::NodeProto& n, int i) {
    if (i >= n.input_size()) return;
    auto it = inits.find(n.input(i));
    if (it == inits.end() || !counted.insert(it->first).second) return;
    c.n_parameters += graph::element_count(*it->second);
  };
  auto shape_of = [&](const std::string& name, const onnx::NodeProto& n) -> StatusOr<std::vector<int64_t>> {
    auto it = shapes.find(name);
    if (it == shapes.end()) {
      return invalid_argument("the shape of '" + name + "' (" + n.op_type() + " node '" + n.name() +
                              "') could not be inferred" + (error.empty() ? std::string() : ": " + error));
    }
    return it->second;
  };
  for (const auto& n : g.node()) {
    const std::string& op = n.op_type();
    int64_t macs = 0;
    if (op == "Conv" || op == "ConvTranspose") {
      for (int i = 1; i < n.input_size(); ++i) count_param(n, i);
      FACELENS_ASSIGN_OR_RETURN(auto w, shape_of(n.input(1), n));
      int64_t per_output = 1;  // Conv: (C_in / group) x kernel per output element
      for (size_t i = 1; i < w.size(); ++i) per_output *= w[i];
      if (op == "Conv") {
        FACELENS_ASSIGN_OR_RETURN(auto y, shape_of(n.output(0), n));
        macs = product(y) * per_output;
      } else {
        // ConvTranspose: every input element meets (C_out / group) x kernel weights.
        FACELENS_ASSIGN_OR_RETURN(auto x, shape_of(n.input(0), n));
        macs = product(x) * per_output;
      }
    } else if (op == "Gemm" || op == "MatMul") {
      for (int i = 0; i < n.input_size(); ++i) count_param(n, i);
      FACELENS_ASSIGN_OR_RETURN(auto a, shape_of(n.input(0), n));
      FACELENS_ASSIGN_OR_RETURN(auto y, shape_of(n.output(0), n));
      if (a.empty()) return invalid_argument(op + " node '" + n.name() + "' has a scalar input");
      int64_t k = a.back();
      if (op == "Gemm" && graph::attr_int(n, "transA", 0) != 0) k = a.front();
      macs = product(y) * k;
    } else if (op == "BatchNormalization") {
      count_param(n, 1);
      count_param(n, 2);
    } else if (op == "PRelu") {
      count_param(n, 1);
    }
    if (macs > 0) {
      c.macs += macs;
      c.macs_by_op[op] += macs;
    }
  }
  return c;
}

}  // namespace facelens::models::synth

#include "convert/onnx_graph.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <cstring>
#include <exception>

namespace facelens::models::graph {

StatusOr<onnx::ModelProto> parse_model(const std::string& bytes, const std::string& origin) {
  onnx::ModelProto m;
  if (bytes.empty() || !m.ParseFromString(bytes) || !m.has_graph()) {
    return invalid_argument("'" + origin + "' is not an ONNX model (protobuf ModelProto with a graph)");
  }
  return m;
}

StatusOr<std::string> serialize_model(const onnx::ModelProto& model) {
  std::string out;
  if (!model.SerializeToString(&out)) {
    return internal_error("could not serialize the converted model (over 2 GiB?)");
  }
  return out;
}

int64_t opset_version(const onnx::ModelProto& model, const std::string& domain) {
  for (const auto& o : model.opset_import()) {
    const std::string d = o.domain() == "ai.onnx" ? "" : o.domain();
    if (d == domain) return o.version();
  }
  return 0;
}

void ensure_opset(onnx::ModelProto& model, const std::string& domain, int64_t version) {
  if (opset_version(model, domain) > 0) return;
  auto* o = model.add_opset_import();
  o->set_domain(domain);
  o->set_version(version);
}

int64_t element_count(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= d;
  return n;
}

StatusOr<std::vector<float>> read_floats(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT) {
    return invalid_argument("tensor '" + t.name() + "' is not float32");
  }
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    return unimplemented("tensor '" + t.name() +
                         "' keeps its data in an external file; convert models with "
                         "embedded weights");
  }
  const int64_t n = element_count(t);
  std::vector<float> v(static_cast<size_t>(n));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != v.size() * sizeof(float)) {
      return invalid_argument("tensor '" + t.name() + "' has " + std::to_string(t.raw_data().size()) +
                              " bytes of data for " + std::to_string(n) + " floats");
    }
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  } else {
    if (t.float_data_size() != n) {
      return invalid_argument("tensor '" + t.name() + "' has " + std::to_string(t.float_data_size()) + " values for " +
                              std::to_string(n) + " elements");
    }
    for (int64_t i = 0; i < n; ++i) v[i] = t.float_data(static_cast<int>(i));
  }
  return v;
}

StatusOr<std::vector<int64_t>> read_ints(const onnx::TensorProto& t) {
  const int64_t n = element_count(t);
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (t.data_type() == onnx::TensorProto::INT64) {
    if (t.has_raw_data()) {
      if (t.raw_data().size() != v.size() * sizeof(int64_t))
        return invalid_argument("tensor '" + t.name() + "': bad size");
      std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
    } else {
      if (t.int64_data_size() != n) return invalid_argument("tensor '" + t.name() + "': bad size");
      for (int64_t i = 0; i < n; ++i) v[i] = t.int64_data(static_cast<int>(i));
    }
    return v;
  }
  if (t.data_type() == onnx::TensorProto::INT32) {
    if (t.has_raw_data()) {
      if (t.raw_data().size() != v.size() * sizeof(int32_t))
        return invalid_argument("tensor '" + t.name() + "': bad size");
      for (int64_t i = 0; i < n; ++i) {
        int32_t x;
        std::memcpy(&x, t.raw_data().data() + i * sizeof(int32_t), sizeof(x));
        v[i] = x;
      }
    } else {
      if (t.int32_data_size() != n) return invalid_argument("tensor '" + t.name() + "': bad size");
      for (int64_t i = 0; i < n; ++i) v[i] = t.int32_data(static_cast<int>(i));
    }
    return v;
  }
  return invalid_argument("tensor '" + t.name() + "' is not an integer tensor");
}

static void clear_data(onnx::TensorProto& t) {
  t.clear_float_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_double_data();
  t.clear_uint64_data();
  t.clear_string_data();
  t.clear_raw_data();
  t.clear_external_data();
  t.clear_data_location();
}

template <typename T>
static void set_raw(onnx::TensorProto& t, int32_t type, std::span<const T> values) {
  clear_data(t);
  t.set_data_type(type);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

void set_floats(onnx::TensorProto& t, std::span<const float> values) { set_raw(t, onnx::TensorProto::FLOAT, values); }
void set_int64s(onnx::TensorProto& t, std::span<const int64_t> values) { set_raw(t, onnx::TensorProto::INT64, values); }
void set_int8s(onnx::TensorProto& t, std::span<const int8_t> values) { set_raw(t, onnx::TensorProto::INT8, values); }
void set_uint8s(onnx::TensorProto& t, std::span<const uint8_t> values) { set_raw(t, onnx::TensorProto::UINT8, values); }
void set_int32s(onnx::TensorProto& t, std::span<const int32_t> values) { set_raw(t, onnx::TensorProto::INT32, values); }

int set_float16s(onnx::TensorProto& t, std::span<const float> values) {
  std::vector<uint16_t> h(values.size());
  int clamped = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i]) && std::fabs(values[i]) > 65504.0f) ++clamped;
    h[i] = float_to_half(values[i]);
  }
  set_raw(t, onnx::TensorProto::FLOAT16, std::span<const uint16_t>(h));
  return clamped;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint16_t>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (a >= 0x477fe000u) return static_cast<uint16_t>(sign | 0x7bffu);  // >= 65504: saturate
  if (a < 0x38800000u) {
    // Below the smallest normal (2^-14): a subnormal step is 2^-24; nearbyint rounds half to even.
    float af;
    std::memcpy(&af, &a, sizeof(af));
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(af * 16777216.0f)));
  }
  const uint32_t mant = a & 0x7fffffu;
  const uint32_t exp = (a >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  float out;
  if (exp == 0) {
    out = std::ldexp(static_cast<float>(mant), -24);
    if (sign) out = -out;
    return out;
  }
  uint32_t x;
  if (exp == 31) x = sign | 0x7f800000u | (mant << 13);
  else x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  std::memcpy(&out, &x, sizeof(out));
  return out;
}

onnx::TensorProto make_float_tensor(const std::string& name, std::vector<int64_t> dims, std::span<const float> values) {
  onnx::TensorProto t;
  t.set_name(name);
  for (int64_t d : dims) t.add_dims(d);
  set_floats(t, values);
  return t;
}

GraphIndex index_graph(const onnx::GraphProto& g) {
  GraphIndex ix;
  for (int i = 0; i < g.initializer_size(); ++i) ix.initializer[g.initializer(i).name()] = i;
  for (const auto& in : g.input())
    if (!ix.initializer.count(in.name())) ix.graph_inputs.insert(in.name());
  for (const auto& out : g.output()) ix.graph_outputs.insert(out.name());
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    for (const auto& o : n.output())
      if (!o.empty()) ix.producer[o] = i;
    std::set<std::string> seen;
    for (const auto& in : n.input())
      if (!in.empty() && seen.insert(in).second) ix.consumers[in].push_back(i);
  }
  return ix;
}

NameMaker::NameMaker(const onnx::GraphProto& g) {
  for (const auto& t : g.initializer()) used_.insert(t.name());
  for (const auto& v : g.input()) used_.insert(v.name());
  for (const auto& v : g.output()) used_.insert(v.name());
  for (const auto& v : g.value_info()) used_.insert(v.name());
  for (const auto& n : g.node()) {
    for (const auto& s : n.input()) used_.insert(s);
    for (const auto& s : n.output()) used_.insert(s);
    if (!n.name().empty()) used_.insert(n.name());
  }
}

std::string NameMaker::make(const std::string& base) {
  std::string name = base;
  for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
  used_.insert(name);
  return name;
}

int normalize_constants(onnx::ModelProto& model) {
  auto* g = model.mutable_graph();
  int moved = 0;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (auto& n : *g->mutable_node()) {
    const bool plain = n.op_type() == "Constant" && (n.domain().empty() || n.domain() == "ai.onnx") &&
                       n.output_size() == 1 && n.attribute_size() == 1;
    if (plain) {
      const auto& a = n.attribute(0);
      onnx::TensorProto t;
      bool ok = true;
      if (a.name() == "value" && a.has_t()) {
        t = a.t();
      } else if (a.name() == "value_float") {
        const float v = a.f();
        set_floats(t, std::span<const float>(&v, 1));
      } else if (a.name() == "value_floats") {
        std::vector<float> v(a.floats().begin(), a.floats().end());
        t.add_dims(static_cast<int64_t>(v.size()));
        set_floats(t, v);
      } else if (a.name() == "value_int") {
        const int64_t v = a.i();
        set_int64s(t, std::span<const int64_t>(&v, 1));
      } else if (a.name() == "value_ints") {
        std::vector<int64_t> v(a.ints().begin(), a.ints().end());
        t.add_dims(static_cast<int64_t>(v.size()));
        set_int64s(t, v);
      } else {
        ok = false;
      }
      if (ok && t.data_location() != onnx::TensorProto::EXTERNAL) {
        t.set_name(n.output(0));
        *g->add_initializer() = std::move(t);
        ++moved;
        continue;
      }
    }
    *kept.Add() = std::move(n);
  }
  g->mutable_node()->Swap(&kept);
  if (model.ir_version() >= 4) {
    std::set<std::string> inits;
    for (const auto& t : g->initializer()) inits.insert(t.name());
    google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
    for (auto& v : *g->mutable_input())
      if (!inits.count(v.name())) *inputs.Add() = std::move(v);
    g->mutable_input()->Swap(&inputs);
  }
  return moved;
}

void name_nodes(onnx::ModelProto& model) {
  auto* g = model.mutable_graph();
  NameMaker names(*g);
  for (int i = 0; i < g->node_size(); ++i) {
    auto* n = g->mutable_node(i);
    if (n->name().empty()) n->set_name(names.make(n->op_type() + "_" + std::to_string(i)));
  }
}

static void add_types(const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& values,
                      std::map<std::string, int32_t>& out) {
  for (const auto& v : values)
    if (v.type().has_tensor_type() && v.type().tensor_type().elem_type() != 0)
      out[v.name()] = v.type().tensor_type().elem_type();
}

std::map<std::string, int32_t> value_types(const onnx::ModelProto& model, std::string* error) {
  onnx::ModelProto copy = model;
  refresh_value_info(copy, error);
  std::map<std::string, int32_t> types;
  const auto& g = copy.graph();
  add_types(g.input(), types);
  add_types(g.value_info(), types);
  add_types(g.output(), types);
  for (const auto& t : g.initializer()) types[t.name()] = t.data_type();
  return types;
}

bool refresh_value_info(onnx::ModelProto& model, std::string* error) {
  model.mutable_graph()->clear_value_info();
  try {
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type_val=*/false, /*strict_mode_val=*/0,
                                                                   /*data_prop_val=*/false));
    return true;
  } catch (const std::exception& e) {
    model.mutable_graph()->clear_value_info();
    if (error) *error = e.what();
    return false;
  }
}

bool has_subgraph(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return true;
  return false;
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : fallback;
}

float attr_float(const onnx::NodeProto& n, const std::string& name, float fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : fallback;
}

}  // namespace facelens::models::graph

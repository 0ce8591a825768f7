// Float32 -> float16 conversion of an ONNX graph.
#include <algorithm>
#include <set>

#include "convert/convert.h"
#include "convert/onnx_graph.h"

namespace facelens::models {

namespace {

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr int32_t kHalf = onnx::TensorProto::FLOAT16;

bool is_default_domain(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

}  // namespace

const std::vector<std::string>& fp16_block_list() {
  // Resize/Upsample take float32 scales and ORT has no float16 CPU kernel for them;
  // NonMaxSuppression, RoiAlign, Range are float32-only in ORT's CPU provider; random generators
  // pick their type by attribute; these reductions overflow float16 (65504) on ordinary inputs.
  static const std::vector<std::string> kList = {"Resize",
                                                 "Upsample",
                                                 "NonMaxSuppression",
                                                 "RoiAlign",
                                                 "Range",
                                                 "CumSum",
                                                 "TopK",
                                                 "RandomNormal",
                                                 "RandomUniform",
                                                 "RandomNormalLike",
                                                 "RandomUniformLike",
                                                 "Multinomial",
                                                 "EyeLike",
                                                 "ReduceSumSquare",
                                                 "ReduceL2",
                                                 "ReduceLogSumExp",
                                                 "ReduceLogSum",
                                                 "ReduceProd",
                                                 "LpNormalization"};
  return kList;
}

StatusOr<Converted> convert_fp16(const std::string& bytes, const Fp16Options& options) {
  FACELENS_ASSIGN_OR_RETURN(onnx::ModelProto model, graph::parse_model(bytes, "model"));
  if (graph::opset_version(model, "") < 6) {
    return unimplemented(
        "float16 conversion needs ai.onnx opset 6 or later (Cast with an integer 'to'); the model "
        "has opset " +
        std::to_string(graph::opset_version(model, "")));
  }
  Converted out;
  out.info.kind = "fp16";
  const int moved = graph::normalize_constants(model);
  if (moved) out.info.notes.push_back(std::to_string(moved) + " Constant nodes moved into initializers");

  std::set<std::string> blocked(fp16_block_list().begin(), fp16_block_list().end());
  for (const auto& op : options.keep_fp32_ops) blocked.insert(op);

  const std::map<std::string, int32_t> orig = graph::value_types(model);
  auto type_of = [&](const std::string& v) -> int32_t {
    auto it = orig.find(v);
    return it == orig.end() ? 0 : it->second;
  };

  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  const int n_nodes = g->node_size();

  // Which nodes compute in float16: standard-domain nodes that touch a float tensor and are not
  // blocked. Nodes with subgraphs keep their float32 bodies.
  std::vector<char> half(n_nodes, 0);
  for (int i = 0; i < n_nodes; ++i) {
    const auto& n = g->node(i);
    bool touches_float = false;
    for (const auto& v : n.input()) touches_float = touches_float || (!v.empty() && type_of(v) == kFloat);
    for (const auto& v : n.output()) touches_float = touches_float || (!v.empty() && type_of(v) == kFloat);
    if (!touches_float) continue;
    const bool keep = !is_default_domain(n) || blocked.count(n.op_type()) || graph::has_subgraph(n);
    if (keep) {
      ++out.info.n_nodes_kept_fp32;
      ++out.info.kept_ops[n.op_type()];
    } else {
      half[i] = 1;
      ++out.info.n_nodes_converted;
    }
  }

  // Float initializers become float16 when every consumer computes in float16.
  std::set<std::string> half_init;
  for (const auto& t : g->initializer()) {
    if (t.data_type() != kFloat || ix.graph_outputs.count(t.name())) continue;
    auto it = ix.consumers.find(t.name());
    if (it == ix.consumers.end()) continue;
    bool all = true;
    for (int c : it->second) all = all && half[c];
    if (all) half_init.insert(t.name());
  }

  auto new_type = [&](const std::string& v) -> int32_t {
    const int32_t t = type_of(v);
    if (t != kFloat) return t;
    if (ix.graph_inputs.count(v)) return kFloat;
    if (ix.initializer.count(v)) return half_init.count(v) ? kHalf : kFloat;
    auto p = ix.producer.find(v);
    if (p != ix.producer.end() && half[p->second]) return kHalf;
    return kFloat;
  };

  graph::NameMaker names(*g);
  std::map<std::pair<std::string, int32_t>, std::string> casts;  // (value, to) -> cast output
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  auto cast_of = [&](const std::string& v, int32_t to) -> std::string {
    auto key = std::make_pair(v, to);
    auto it = casts.find(key);
    if (it != casts.end()) return it->second;
    const std::string suffix = to == kHalf ? "_fp16" : "_fp32";
    std::string o = names.make(v + suffix);
    onnx::NodeProto* c = nodes.Add();
    c->set_op_type("Cast");
    c->set_name(names.make("Cast_" + v + suffix));
    c->add_input(v);
    c->add_output(o);
    auto* a = c->add_attribute();
    a->set_name("to");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(to);
    ++out.info.n_casts;
    casts[key] = o;
    return o;
  };

  for (int i = 0; i < n_nodes; ++i) {
    onnx::NodeProto n = g->node(i);
    const int32_t want = half[i] ? kHalf : kFloat;
    for (auto& in : *n.mutable_input()) {
      if (in.empty() || type_of(in) != kFloat) continue;
      if (new_type(in) != want) in = cast_of(in, want);
    }
    if (half[i]) {
      if (n.op_type() == "Cast") {
        for (auto& a : *n.mutable_attribute())
          if (a.name() == "to" && a.i() == kFloat) a.set_i(kHalf);
      } else if (n.op_type() == "ConstantOfShape" && type_of(n.output(0)) == kFloat) {
        onnx::AttributeProto* value = nullptr;
        for (auto& a : *n.mutable_attribute())
          if (a.name() == "value") value = &a;
        if (!value) {
          value = n.add_attribute();
          value->set_name("value");
          value->set_type(onnx::AttributeProto::TENSOR);
          value->mutable_t()->add_dims(1);
          const float zero = 0;
          graph::set_floats(*value->mutable_t(), std::span<const float>(&zero, 1));
        }
        if (value->t().data_type() == kFloat) {
          FACELENS_ASSIGN_OR_RETURN(auto v, graph::read_floats(value->t()));
          out.info.n_clamped += graph::set_float16s(*value->mutable_t(), v);
        }
      }
    }
    *nodes.Add() = std::move(n);
  }

  for (auto& t : *g->mutable_initializer()) {
    if (!half_init.count(t.name())) continue;
    FACELENS_ASSIGN_OR_RETURN(auto v, graph::read_floats(t));
    out.info.n_clamped += graph::set_float16s(t, v);
  }

  // Graph outputs keep their float32 type: the float16 value is renamed and cast back.
  std::map<std::string, std::string> rename;
  for (const auto& o : g->output()) {
    if (type_of(o.name()) == kFloat && new_type(o.name()) == kHalf && ix.producer.count(o.name())) {
      rename[o.name()] = names.make(o.name() + "_fp16");
    }
  }
  if (!rename.empty()) {
    for (auto& n : nodes) {
      for (auto& s : *n.mutable_input()) {
        auto it = rename.find(s);
        if (it != rename.end()) s = it->second;
      }
      for (auto& s : *n.mutable_output()) {
        auto it = rename.find(s);
        if (it != rename.end()) s = it->second;
      }
    }
    for (const auto& [orig_name, half_name] : rename) {
      onnx::NodeProto* c = nodes.Add();
      c->set_op_type("Cast");
      c->set_name(names.make("Cast_" + orig_name + "_out"));
      c->add_input(half_name);
      c->add_output(orig_name);
      auto* a = c->add_attribute();
      a->set_name("to");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(kFloat);
      ++out.info.n_casts;
    }
  }
  g->mutable_node()->Swap(&nodes);
  out.info.n_nodes = g->node_size();
  if (out.info.n_clamped) {
    out.info.notes.push_back(std::to_string(out.info.n_clamped) +
                             " weights beyond +-65504 clamped to the float16 range");
  }
  if (!graph::refresh_value_info(model)) out.info.notes.push_back("shape inference failed: value_info left empty");
  FACELENS_ASSIGN_OR_RETURN(out.model, graph::serialize_model(model));
  return out;
}

}  // namespace facelens::models

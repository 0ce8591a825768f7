// Channel equalization before static int8 quantization (see convert.h, equalize_channels).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "convert/convert.h"
#include "convert/onnx_graph.h"

namespace facelens::models {

namespace {

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

// A channel whose range is below this share of the tensor's largest is scaled as if it were at
// this share: a dead channel (range ~0) would otherwise get its producing weights multiplied
// without bound.
constexpr float kMinChannelShare = 1e-2f;

// Conv `first` -> (PRelu | Relu)? -> depthwise Conv `second`: `tensor` is first's output.
struct EqualizePair {
  int first = -1;
  int second = -1;
  std::string tensor;
};

bool plain(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

const onnx::TensorProto* float_initializer(const graph::GraphIndex& ix, const onnx::GraphProto& g,
                                           const std::string& name) {
  auto it = ix.initializer.find(name);
  if (it == ix.initializer.end() || g.initializer(it->second).data_type() != kFloat) return nullptr;
  return &g.initializer(it->second);
}

// The only consumer of `t`, when `t` is not a graph output.
std::optional<int> single_consumer(const graph::GraphIndex& ix, const std::string& t) {
  auto it = ix.consumers.find(t);
  if (ix.graph_outputs.count(t) || it == ix.consumers.end() || it->second.size() != 1) return std::nullopt;
  return it->second[0];
}

std::vector<EqualizePair> find_pairs(const onnx::GraphProto& g) {
  const graph::GraphIndex ix = graph::index_graph(g);
  std::map<std::string, int> uses;  // initializers rescaled here must belong to one node
  for (const auto& n : g.node())
    for (const auto& in : n.input()) ++uses[in];
  std::vector<EqualizePair> pairs;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& a = g.node(i);
    if (a.op_type() != "Conv" || !plain(a) || a.input_size() < 2 || a.output_size() != 1) continue;
    const onnx::TensorProto* wa = float_initializer(ix, g, a.input(1));
    if (!wa || wa->dims_size() < 3 || uses[a.input(1)] != 1) continue;
    const int64_t channels = wa->dims(0);
    if (a.input_size() > 2 && !a.input(2).empty()) {
      const onnx::TensorProto* ba = float_initializer(ix, g, a.input(2));
      if (!ba || graph::element_count(*ba) != channels || uses[a.input(2)] != 1) continue;
    }
    std::string u = a.output(0);
    std::optional<int> c = single_consumer(ix, u);
    if (!c) continue;
    // PRelu and Relu are positively homogeneous per channel: f(y * k) = f(y) * k for k > 0.
    const onnx::NodeProto& act = g.node(*c);
    if ((act.op_type() == "PRelu" || act.op_type() == "Relu") && plain(act) && act.input(0) == u &&
        act.output_size() == 1) {
      u = act.output(0);
      c = single_consumer(ix, u);
      if (!c) continue;
    }
    const onnx::NodeProto& b = g.node(*c);
    if (b.op_type() != "Conv" || !plain(b) || b.input_size() < 2 || b.input(0) != u) continue;
    const onnx::TensorProto* wb = float_initializer(ix, g, b.input(1));
    if (!wb || wb->dims_size() < 3 || uses[b.input(1)] != 1) continue;
    if (graph::attr_int(b, "group", 1) != channels || wb->dims(0) != channels || wb->dims(1) != 1) continue;
    pairs.push_back({i, *c, a.output(0)});
  }
  return pairs;
}

// Largest |value| of each channel (axis 1) of `tensors`, over the samples.
StatusOr<std::map<std::string, std::vector<float>>> channel_ranges(const onnx::ModelProto& model,
                                                                   const std::vector<std::string>& tensors,
                                                                   std::span<const CalibrationSample> samples,
                                                                   std::shared_ptr<const runtime::Environment> env) {
  namespace fs = std::filesystem;
  onnx::ModelProto aug = model;
  for (const auto& t : tensors) {
    auto* v = aug.mutable_graph()->add_output();
    v->set_name(t);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(kFloat);
  }
  aug.mutable_graph()->clear_value_info();
  FACELENS_ASSIGN_OR_RETURN(std::string bytes, graph::serialize_model(aug));
  std::random_device rd;
  const fs::path tmp = fs::temp_directory_path() / ("facelens-equalize-" + std::to_string(rd()) + ".onnx");
  FACELENS_RETURN_IF_ERROR(write_model_file(tmp.string(), bytes));
  runtime::SessionOptions so;
  so.graph_optimization = runtime::GraphOptimization::kBasic;
  so.service.provider = Provider::kCpu;
  auto session = runtime::Session::create(env, tmp.string(), so);
  std::error_code ec;
  fs::remove(tmp, ec);
  if (!session.ok()) return session.status().with_context("channel equalization model");
  const std::set<std::string> wanted(tensors.begin(), tensors.end());
  std::map<std::string, std::vector<float>> ranges;
  for (const auto& sample : samples) {
    FACELENS_ASSIGN_OR_RETURN(auto result, (*session)->run(runtime::refs_of(sample)));
    for (size_t k = 0; k < result.size(); ++k) {
      const std::string& name = (*session)->outputs()[k].name;
      const runtime::Tensor& out = result[k];
      if (!wanted.count(name) || out.shape.size() < 2) continue;
      const int64_t channels = out.shape[1];
      int64_t inner = 1;
      for (size_t d = 2; d < out.shape.size(); ++d) inner *= out.shape[d];
      auto& r = ranges[name];
      if (r.empty()) r.assign(static_cast<size_t>(channels), 0.f);
      if (static_cast<int64_t>(r.size()) != channels) continue;
      for (size_t i = 0; i < out.data.size(); ++i) {
        const size_t c = (i / static_cast<size_t>(inner)) % static_cast<size_t>(channels);
        if (std::isfinite(out.data[i])) r[c] = std::max(r[c], std::fabs(out.data[i]));
      }
    }
  }
  return ranges;
}

// Multiplies the slices of an initializer along `axis` (0: the first dimension) by `factor`.
Status scale_slices(onnx::TensorProto& t, const std::vector<float>& factor, bool divide) {
  FACELENS_ASSIGN_OR_RETURN(auto v, graph::read_floats(t));
  const size_t per = v.size() / factor.size();
  for (size_t i = 0; i < v.size(); ++i) v[i] = divide ? v[i] / factor[i / per] : v[i] * factor[i / per];
  t.clear_float_data();
  t.clear_raw_data();
  graph::set_floats(t, v);
  return Status::Ok();
}

}  // namespace

StatusOr<Converted> equalize_channels(const std::string& bytes, std::span<const CalibrationSample> samples,
                                      std::shared_ptr<const runtime::Environment> env) {
  Int8Options keep;
  keep.prelu = PreluRewrite::kKeep;
  FACELENS_ASSIGN_OR_RETURN(std::string prepared, int8_float_graph(bytes, keep));
  FACELENS_ASSIGN_OR_RETURN(onnx::ModelProto model, graph::parse_model(prepared, "model"));
  Converted out;
  out.info.kind = "equalize";
  const std::vector<EqualizePair> pairs = find_pairs(model.graph());
  std::vector<std::string> tensors;
  for (const auto& p : pairs) tensors.push_back(p.tensor);
  std::map<std::string, std::vector<float>> ranges;
  if (!pairs.empty() && !samples.empty()) {
    FACELENS_ASSIGN_OR_RETURN(ranges, channel_ranges(model, tensors, samples, env));
  }
  onnx::GraphProto* g = model.mutable_graph();
  const graph::GraphIndex ix = graph::index_graph(*g);
  int n_equalized = 0;
  for (const auto& p : pairs) {
    auto it = ranges.find(p.tensor);
    if (it == ranges.end()) continue;
    const std::vector<float>& r = it->second;
    const float largest = *std::max_element(r.begin(), r.end());
    if (!(largest > 0) || !std::isfinite(largest)) continue;
    std::vector<float> factor(r.size());
    for (size_t c = 0; c < r.size(); ++c) factor[c] = std::max(r[c] / largest, kMinChannelShare);
    const onnx::NodeProto& a = g->node(p.first);
    const onnx::NodeProto& b = g->node(p.second);
    FACELENS_RETURN_IF_ERROR(scale_slices(*g->mutable_initializer(ix.initializer.at(a.input(1))), factor, true));
    if (a.input_size() > 2 && !a.input(2).empty())
      FACELENS_RETURN_IF_ERROR(scale_slices(*g->mutable_initializer(ix.initializer.at(a.input(2))), factor, true));
    FACELENS_RETURN_IF_ERROR(scale_slices(*g->mutable_initializer(ix.initializer.at(b.input(1))), factor, false));
    ++n_equalized;
  }
  out.info.n_nodes = g->node_size();
  out.info.n_nodes_converted = 2 * n_equalized;
  out.info.notes.push_back(std::to_string(n_equalized) +
                           " Conv -> depthwise Conv channel pairs equalized to the range of their widest channel");
  FACELENS_ASSIGN_OR_RETURN(out.model, graph::serialize_model(model));
  return out;
}

}  // namespace facelens::models

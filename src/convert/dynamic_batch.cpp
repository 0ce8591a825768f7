// A symbolic batch dimension for models exported with a fixed batch of one.
#include <algorithm>
#include <cmath>
#include <random>

#include "convert/convert.h"
#include "convert/onnx_graph.h"

namespace facelens::models {

namespace {

constexpr const char* kBatch = "batch";

onnx::TensorShapeProto* shape_of(onnx::ValueInfoProto& v) {
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return nullptr;
  return v.mutable_type()->mutable_tensor_type()->mutable_shape();
}

// The inferred shape of `name` after refresh_value_info, or nullptr.
const onnx::TensorShapeProto* inferred_shape(const onnx::GraphProto& g, const std::string& name) {
  auto look = [&](const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& vs) -> const onnx::TensorShapeProto* {
    for (const auto& v : vs)
      if (v.name() == name && v.type().has_tensor_type() && v.type().tensor_type().has_shape())
        return &v.type().tensor_type().shape();
    return nullptr;
  };
  if (auto* s = look(g.value_info())) return s;
  if (auto* s = look(g.input())) return s;
  return look(g.output());
}

}  // namespace

StatusOr<Converted> make_batch_dynamic(const std::string& bytes) {
  FACELENS_ASSIGN_OR_RETURN(onnx::ModelProto model, graph::parse_model(bytes, "model"));
  Converted out;
  out.info.kind = "dynamic-batch";
  graph::normalize_constants(model);
  onnx::GraphProto* g = model.mutable_graph();

  int n_changed = 0;
  for (auto& in : *g->mutable_input()) {
    auto* s = shape_of(in);
    if (!s || s->dim_size() == 0) continue;
    auto* d0 = s->mutable_dim(0);
    if (d0->has_dim_param() && !d0->dim_param().empty()) {
      out.info.notes.push_back("input '" + in.name() + "' already has a symbolic batch '" + d0->dim_param() + "'");
      continue;
    }
    if (d0->has_dim_value() && d0->dim_value() != 1) {
      out.info.notes.push_back("input '" + in.name() + "' has a fixed batch of " + std::to_string(d0->dim_value()) +
                               ": made symbolic too");
    }
    d0->clear_dim_value();
    d0->set_dim_param(kBatch);
    ++n_changed;
  }
  for (auto& o : *g->mutable_output()) {
    auto* s = shape_of(o);
    if (!s || s->dim_size() == 0) continue;
    auto* d0 = s->mutable_dim(0);
    if (d0->has_dim_value() && d0->dim_value() == 1) {
      d0->clear_dim_value();
      d0->set_dim_param(kBatch);
    } else if (d0->has_dim_value()) {
      s->Clear();  // not a batch dim we know: leave the shape to inference
      o.mutable_type()->mutable_tensor_type()->clear_shape();
    }
  }
  if (n_changed == 0) out.info.notes.push_back("no input had a fixed batch dimension");

  // Infer with the symbolic batch, then fix Reshape shape constants that pin the batch to 1.
  {
    onnx::ModelProto probe = model;
    for (auto& o : *probe.mutable_graph()->mutable_output()) o.mutable_type()->mutable_tensor_type()->clear_shape();
    graph::refresh_value_info(probe);
    const graph::GraphIndex ix = graph::index_graph(*g);
    graph::NameMaker names(*g);
    for (auto& n : *g->mutable_node()) {
      if (n.op_type() != "Reshape" || n.input_size() < 2) continue;
      auto it = ix.initializer.find(n.input(1));
      if (it == ix.initializer.end()) continue;
      const onnx::TensorProto& shape_t = g->initializer(it->second);
      auto shape = graph::read_ints(shape_t);
      if (!shape.ok() || shape->size() < 2 || (*shape)[0] != 1) continue;
      const auto* data_shape = inferred_shape(probe.graph(), n.input(0));
      const bool batched = data_shape && data_shape->dim_size() > 0 && data_shape->dim(0).has_dim_param() &&
                           data_shape->dim(0).dim_param() == kBatch;
      if (data_shape && !batched) continue;  // the data's first dim is not the batch: leave it
      std::vector<int64_t> fixed = *shape;
      const bool allowzero = graph::attr_int(n, "allowzero", 0) != 0;
      if (allowzero) {
        if (std::count(fixed.begin(), fixed.end(), -1) > 0) {
          out.info.notes.push_back("Reshape '" + n.name() + "' has allowzero=1 and a -1 already: batch left at 1");
          continue;
        }
        fixed[0] = -1;
      } else {
        fixed[0] = 0;  // copy dimension 0 of the data: the batch
      }
      // A shape constant shared with another node gets its own copy.
      const auto users = ix.consumers.at(n.input(1)).size();
      if (users > 1) {
        onnx::TensorProto copy = shape_t;
        copy.set_name(names.make(shape_t.name() + "_batch"));
        graph::set_int64s(copy, fixed);
        n.set_input(1, copy.name());
        *g->add_initializer() = std::move(copy);
      } else {
        graph::set_int64s(*g->mutable_initializer(it->second), fixed);
      }
      ++out.info.n_reshapes_fixed;
      if (!data_shape) {
        out.info.notes.push_back("Reshape '" + n.name() + "': input shape unknown, leading 1 assumed to be the batch");
      }
    }
  }
  if (out.info.n_reshapes_fixed) {
    out.info.notes.push_back(std::to_string(out.info.n_reshapes_fixed) +
                             " Reshape shape(s) with a hard-coded batch of 1 now copy the batch (0)");
  }
  if (!graph::refresh_value_info(model)) out.info.notes.push_back("shape inference failed: value_info left empty");
  out.info.n_nodes = g->node_size();
  FACELENS_ASSIGN_OR_RETURN(out.model, graph::serialize_model(model));
  return out;
}

StatusOr<BatchCheck> check_dynamic_batch(const std::string& original, const std::string& converted, int batch,
                                         std::shared_ptr<const runtime::Environment> env) {
  if (batch < 2) return invalid_argument("the batch check needs a batch of 2 or more");
  runtime::SessionOptions so;
  so.intra_op_threads = 1;
  so.service.provider = Provider::kCpu;  // an exact check: the same CPU kernels for both models
  FACELENS_ASSIGN_OR_RETURN(auto a, runtime::Session::create(env, original, so));
  FACELENS_ASSIGN_OR_RETURN(auto b, runtime::Session::create(env, converted, so));
  if (b->inputs().size() != a->inputs().size()) return internal_error("converted model has other inputs");
  for (const auto& in : b->inputs()) {
    if (in.shape.empty() || in.shape[0] >= 0) {
      return failed_precondition("input '" + in.name + "' of '" + converted + "' has no symbolic batch dimension");
    }
  }
  // Deterministic inputs: one sample of every input per batch item.
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<std::vector<int64_t>> item_shape;
  std::vector<std::vector<float>> data;  // per input: batch items back to back
  for (const auto& in : a->inputs()) {
    std::vector<int64_t> s = in.shape;
    if (s.empty()) return unimplemented("scalar model inputs are not supported by the batch check");
    s[0] = 1;
    for (size_t d = 1; d < s.size(); ++d)
      if (s[d] < 0) s[d] = 64;  // a symbolic spatial dim: any size the model accepts
    int64_t n = 1;
    for (int64_t x : s) n *= x;
    std::vector<float> v(static_cast<size_t>(n * batch));
    for (auto& x : v) x = dist(rng);
    item_shape.push_back(s);
    data.push_back(std::move(v));
  }
  auto run = [&](const runtime::Session& s, int first, int count) -> StatusOr<std::vector<runtime::Tensor>> {
    std::vector<runtime::TensorRef> refs;
    for (size_t i = 0; i < data.size(); ++i) {
      const size_t per = data[i].size() / static_cast<size_t>(batch);
      std::vector<int64_t> shape = item_shape[i];
      shape[0] = count;
      refs.push_back({std::span<const float>(data[i].data() + per * first, per * count), shape});
    }
    return s.run(refs);
  };
  BatchCheck check;
  check.batch = batch;
  FACELENS_ASSIGN_OR_RETURN(auto batched, run(*b, 0, batch));
  for (int k = 0; k < batch; ++k) {
    FACELENS_ASSIGN_OR_RETURN(auto single, run(*a, k, 1));
    if (single.size() != batched.size()) return internal_error("output count differs");
    if (k == 0) {
      FACELENS_ASSIGN_OR_RETURN(auto single_b, run(*b, 0, 1));
      for (size_t o = 0; o < single.size(); ++o) {
        if (single_b[o].data.size() != single[o].data.size()) {
          return internal_error("output '" + a->outputs()[o].name + "' changed size at batch 1");
        }
        for (size_t i = 0; i < single[o].data.size(); ++i)
          check.max_abs_diff_batch1 = std::max(check.max_abs_diff_batch1,
                                               static_cast<double>(std::fabs(single[o].data[i] - single_b[o].data[i])));
      }
    }
    for (size_t o = 0; o < single.size(); ++o) {
      const size_t per = single[o].data.size();
      if (batched[o].data.size() != per * static_cast<size_t>(batch)) {
        return failed_precondition("output '" + a->outputs()[o].name + "' of the converted model has " +
                                   std::to_string(batched[o].data.size()) + " values for a batch of " +
                                   std::to_string(batch) + ", expected " + std::to_string(per * batch) +
                                   ": a node still pins the batch to 1");
      }
      for (size_t i = 0; i < per; ++i)
        check.max_abs_diff_batchn =
            std::max(check.max_abs_diff_batchn,
                     static_cast<double>(std::fabs(batched[o].data[per * k + i] - single[o].data[i])));
    }
  }
  return check;
}

}  // namespace facelens::models

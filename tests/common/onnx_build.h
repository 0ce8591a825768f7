// Pieces for tests that build small ONNX graphs node by node (ONNX protobuf from Debian's
// libonnx-dev): seeded random weights, float initializers and typed graph inputs/outputs.
//
//   *g->add_initializer() = facelens::testing::float_tensor("w", {8, 4, 3, 3}, random_values(288, -1, 1, 1));
//   facelens::testing::add_value(g->mutable_input(), "input", {1, 4, 16, 16});
//   onnx::GraphProto* g = facelens::testing::new_graph(model, "name", {1, 4, 16, 16});  // IR 7, opset 13
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace facelens::testing {

// n values uniform in [lo, hi), the same for the same seed.
inline std::vector<float> random_values(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// A float32 tensor `name` of `dims` holding v (raw data).
inline onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                      const std::vector<float>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  return t;
}

// Appends a float32 value `name` of fixed `dims` to a graph's inputs or outputs.
inline void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                      const std::vector<int64_t>& dims) {
  auto* v = list->Add();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

// Makes `m` an IR 7, opset 13 model whose graph `name` has one float32 input "input" of
// `input_dims`; returns the graph (its outputs and nodes are the caller's).
inline onnx::GraphProto* new_graph(onnx::ModelProto& m, const std::string& name,
                                   const std::vector<int64_t>& input_dims) {
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name(name);
  add_value(g->mutable_input(), "input", input_dims);
  return g;
}

}  // namespace facelens::testing

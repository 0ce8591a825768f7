#include "common/onnx_gen.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

namespace facelens::testing {

namespace {

// Opset 13: ReduceMean/ReduceL2 take `axes` as an attribute there.
constexpr int64_t kOpset = 13;

onnx::ModelProto new_model(const std::string& name) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("facelens-tests");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(kOpset);
  m.mutable_graph()->set_name(name);
  return m;
}

// Dims >= 0 are fixed; -1 becomes the symbolic dim "N".
void set_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& shape) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* s = t->mutable_shape();
  for (int64_t d : shape) {
    if (d >= 0) s->add_dim()->set_dim_value(d);
    else s->add_dim()->set_dim_param("N");
  }
}

void add_initializer(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
                     const std::vector<float>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& in,
                          const std::vector<std::string>& out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(out[0] + "_" + op);
  for (const auto& s : in) n->add_input(s);
  for (const auto& s : out) n->add_output(s);
  return n;
}

void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void set_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

bool save(const onnx::ModelProto& m, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  if (!f || !m.SerializeToOstream(&f)) {
    ADD_FAILURE() << "cannot write generated model " << path;
    return false;
  }
  return true;
}

int64_t count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

GenDir::GenDir(const std::string& tag) {
  static std::atomic<int> serial{0};
  dir_ = (std::filesystem::temp_directory_path() /
          ("facelens-gen-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(serial++)))
             .string();
  std::filesystem::create_directories(dir_);
}

GenDir::~GenDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool write_detector_head(const std::string& path, const std::vector<int64_t>& input_shape,
                         const std::vector<int64_t>& output_shape, const std::vector<float>& values,
                         const std::vector<float>& gain, const std::string& output_name) {
  const int64_t n = count(output_shape);
  if (static_cast<int64_t>(values.size()) != n || (!gain.empty() && static_cast<int64_t>(gain.size()) != n)) {
    ADD_FAILURE() << "write_detector_head: " << values.size() << " values for an output of " << n;
    return false;
  }
  onnx::ModelProto m = new_model("detector_head");
  auto* g = m.mutable_graph();
  set_type(g->add_input(), "images", input_shape);
  add_initializer(g, "head", output_shape, values);
  add_initializer(g, "gain", output_shape, gain.empty() ? std::vector<float>(static_cast<size_t>(n), 0.f) : gain);
  set_int(add_node(g, "ReduceMean", {"images"}, {"mean"}), "keepdims", 0);
  add_node(g, "Mul", {"gain", "mean"}, {"scaled"});
  add_node(g, "Add", {"head", "scaled"}, {output_name});
  set_type(g->add_output(), output_name, output_shape);
  return save(m, path);
}

bool write_linear_model(const std::string& path, int size, const std::vector<float>& weights,
                        const std::vector<float>& bias, LinearHead head, bool dynamic_batch) {
  const int64_t k = static_cast<int64_t>(bias.size());
  if (static_cast<int64_t>(weights.size()) != 3 * k) {
    ADD_FAILURE() << "write_linear_model: weights must be 3 x " << k;
    return false;
  }
  const int64_t batch = dynamic_batch ? -1 : 1;
  onnx::ModelProto m = new_model("linear");
  auto* g = m.mutable_graph();
  set_type(g->add_input(), "input", {batch, 3, size, size});
  add_initializer(g, "weights", {3, k}, weights);
  add_initializer(g, "bias", {k}, bias);
  auto* mean = add_node(g, "ReduceMean", {"input"}, {"channel_mean"});
  set_ints(mean, "axes", {2, 3});
  set_int(mean, "keepdims", 0);
  add_node(g, "MatMul", {"channel_mean", "weights"}, {"product"});
  switch (head) {
    case LinearHead::kLinear:
      add_node(g, "Add", {"product", "bias"}, {"output"});
      set_type(g->add_output(), "output", {batch, k});
      break;
    case LinearHead::kSigmoid:
      add_node(g, "Add", {"product", "bias"}, {"logit"});
      add_node(g, "Sigmoid", {"logit"}, {"output"});
      set_type(g->add_output(), "output", {batch, k});
      break;
    case LinearHead::kAdaFace: {
      add_node(g, "Add", {"product", "bias"}, {"raw"});
      auto* l2 = add_node(g, "ReduceL2", {"raw"}, {"norm"});
      set_ints(l2, "axes", {1});
      set_int(l2, "keepdims", 1);
      add_node(g, "Div", {"raw", "norm"}, {"feature"});
      set_type(g->add_output(), "feature", {batch, k});
      set_type(g->add_output(), "norm", {batch, 1});
      break;
    }
  }
  return save(m, path);
}

bool write_unsupported_model(const std::string& path) {
  return write_detector_head(path, {1, 3, 32, 32}, {1, 7, 7}, std::vector<float>(49, 0.f), {}, "output");
}

}  // namespace facelens::testing

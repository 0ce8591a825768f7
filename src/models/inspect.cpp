#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "facelens/models.h"

namespace facelens {

static const char* onnx_type_name(int32_t t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "float32";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    case onnx::TensorProto::DOUBLE: return "float64";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::STRING: return "string";
    default: return "other";
  }
}

static TensorDesc describe(const onnx::ValueInfoProto& v) {
  TensorDesc d;
  d.name = v.name();
  if (!v.type().has_tensor_type()) {
    d.element_type = "non-tensor";
    return d;
  }
  const auto& t = v.type().tensor_type();
  d.element_type = onnx_type_name(t.elem_type());
  for (const auto& dim : t.shape().dim()) {
    if (dim.has_dim_value()) {
      d.shape.push_back(dim.dim_value());
      d.dim_names.emplace_back();
    } else {
      d.shape.push_back(-1);
      d.dim_names.push_back(dim.has_dim_param() ? dim.dim_param() : "");
    }
  }
  return d;
}

StatusOr<ModelDescription> inspect_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found("'" + path + "' is not a file");
  ModelDescription d;
  d.path = path;
  d.file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open '" + path + "'");
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&f) || !model.has_graph() || model.ir_version() <= 0) {
    return invalid_argument("'" + path +
                            "' is not an ONNX model (no ModelProto with a graph could be "
                            "read from it): check the file, or re-export it with torch.onnx.export / "
                            "tf2onnx");
  }
  d.ir_version = model.ir_version();
  d.producer_name = model.producer_name();
  d.producer_version = model.producer_version();
  const auto& g = model.graph();
  d.graph_name = g.name();
  for (const auto& op : model.opset_import()) d.opsets.emplace_back(op.domain(), op.version());
  d.n_nodes = g.node_size();
  std::set<std::string> init_names;
  for (const auto& t : g.initializer()) {
    init_names.insert(t.name());
    int64_t n = 1;
    for (auto dim : t.dims()) n *= dim;
    d.n_parameters += n;
  }
  for (const auto& in : g.input())
    if (!init_names.count(in.name())) d.inputs.push_back(describe(in));
  for (const auto& out : g.output()) d.outputs.push_back(describe(out));
  return d;
}

}  // namespace facelens

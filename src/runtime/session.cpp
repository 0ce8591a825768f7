#include "runtime/session.h"

#include <onnxruntime_cxx_api.h>
#include <onnxruntime_session_options_config_keys.h>

#include <filesystem>

namespace facelens::runtime {

std::string shape_to_string(std::span<const int64_t> shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += "x";
    s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return s.empty() ? "scalar" : s;
}

static const char* element_type_name(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
    default: return "other";
  }
}

static TensorSpec spec_of(const std::string& name, const Ort::TypeInfo& type) {
  TensorSpec spec;
  spec.name = name;
  if (type.GetONNXType() != ONNX_TYPE_TENSOR) {
    spec.element_type = "non-tensor";
    return spec;
  }
  auto info = type.GetTensorTypeAndShapeInfo();
  spec.element_type = element_type_name(info.GetElementType());
  spec.shape = info.GetShape();
  std::vector<const char*> dims(spec.shape.size(), nullptr);
  info.GetSymbolicDimensions(dims.data(), dims.size());
  for (size_t i = 0; i < dims.size(); ++i) spec.dim_names.emplace_back(dims[i] ? dims[i] : "");
  return spec;
}

Session::~Session() = default;

StatusOr<std::shared_ptr<const Session>> Session::create(std::shared_ptr<const Environment> env,
                                                         const std::string& model_path,
                                                         const SessionOptions& options) {
  if (!std::filesystem::is_regular_file(model_path)) {
    return not_found("model file '" + model_path + "' does not exist: run scripts/setup.sh or fix the path");
  }
  std::shared_ptr<Session> s(new Session());
  s->env_ = env;
  s->path_ = model_path;
  try {
    Ort::SessionOptions so;
    if (options.intra_op_threads > 0) so.SetIntraOpNumThreads(options.intra_op_threads);
    if (options.inter_op_threads > 0) so.SetInterOpNumThreads(options.inter_op_threads);
    so.AddConfigEntry(kOrtSessionOptionsConfigAllowIntraOpSpinning, options.allow_spinning ? "1" : "0");
    so.AddConfigEntry(kOrtSessionOptionsConfigAllowInterOpSpinning, options.allow_spinning ? "1" : "0");
    switch (options.graph_optimization) {
      case GraphOptimization::kDisabled: so.SetGraphOptimizationLevel(ORT_DISABLE_ALL); break;
      case GraphOptimization::kBasic: so.SetGraphOptimizationLevel(ORT_ENABLE_BASIC); break;
      case GraphOptimization::kExtended: so.SetGraphOptimizationLevel(ORT_ENABLE_EXTENDED); break;
      case GraphOptimization::kAll: so.SetGraphOptimizationLevel(ORT_ENABLE_ALL); break;
    }
    s->session_ = std::make_unique<Ort::Session>(env->ort_env(), model_path.c_str(), so);
    s->provider_ = "CPUExecutionProvider";
    s->cpu_memory_ = std::make_unique<Ort::MemoryInfo>(
        Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault));
    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < s->session_->GetInputCount(); ++i) {
      std::string name = s->session_->GetInputNameAllocated(i, alloc).get();
      s->inputs_.push_back(spec_of(name, s->session_->GetInputTypeInfo(i)));
      s->input_names_.push_back(name);
    }
    for (size_t i = 0; i < s->session_->GetOutputCount(); ++i) {
      std::string name = s->session_->GetOutputNameAllocated(i, alloc).get();
      s->outputs_.push_back(spec_of(name, s->session_->GetOutputTypeInfo(i)));
      s->output_names_.push_back(name);
    }
  } catch (const Ort::Exception& e) {
    return invalid_argument("ONNX Runtime could not load '" + model_path + "': " + e.what() +
                            " (check that it is a valid ONNX model: facelens models inspect FILE)");
  }
  return std::shared_ptr<const Session>(std::move(s));
}

int Session::input_index(const std::string& name) const {
  for (size_t i = 0; i < input_names_.size(); ++i)
    if (input_names_[i] == name) return static_cast<int>(i);
  return -1;
}

int Session::output_index(const std::string& name) const {
  for (size_t i = 0; i < output_names_.size(); ++i)
    if (output_names_[i] == name) return static_cast<int>(i);
  return -1;
}

StatusOr<std::vector<Tensor>> Session::run(std::span<const TensorRef> inputs) const {
  if (inputs.size() != inputs_.size()) {
    return invalid_argument("model '" + path_ + "' takes " + std::to_string(inputs_.size()) +
                            " inputs, got " + std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& want = inputs_[i].shape;
    const auto& got = inputs[i].shape;
    bool ok = want.size() == got.size();
    int64_t n = 1;
    for (size_t d = 0; d < got.size(); ++d) {
      n *= got[d];
      if (ok && want[d] >= 0 && want[d] != got[d]) ok = false;
    }
    if (!ok) {
      return invalid_argument("input '" + inputs_[i].name + "' of '" + path_ + "': expected " +
                              inputs_[i].shape_string() + ", got " + shape_to_string(got) +
                              ": check input.shape in the model manifest");
    }
    if (n != static_cast<int64_t>(inputs[i].data.size())) {
      return internal_error("input '" + inputs_[i].name + "': shape " + shape_to_string(got) +
                            " needs " + std::to_string(n) + " values, buffer has " +
                            std::to_string(inputs[i].data.size()));
    }
  }
  try {
    std::vector<Ort::Value> in;
    in.reserve(inputs.size());
    for (const auto& t : inputs) {
      in.push_back(Ort::Value::CreateTensor<float>(*cpu_memory_, const_cast<float*>(t.data.data()),
                                                   t.data.size(), t.shape.data(), t.shape.size()));
    }
    std::vector<const char*> in_names, out_names;
    for (const auto& n : input_names_) in_names.push_back(n.c_str());
    for (const auto& n : output_names_) out_names.push_back(n.c_str());
    auto out = session_->Run(Ort::RunOptions{nullptr}, in_names.data(), in.data(), in.size(),
                             out_names.data(), out_names.size());
    std::vector<Tensor> result(out.size());
    for (size_t i = 0; i < out.size(); ++i) {
      auto info = out[i].GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
        return unimplemented("output '" + output_names_[i] + "' of '" + path_ + "' is " +
                             element_type_name(info.GetElementType()) + ", facelens expects float32 outputs");
      }
      result[i].shape = info.GetShape();
      const float* p = out[i].GetTensorData<float>();
      result[i].data.assign(p, p + info.GetElementCount());
    }
    return result;
  } catch (const Ort::Exception& e) {
    return internal_error("running '" + path_ + "' failed: " + e.what());
  }
}

}  // namespace facelens::runtime

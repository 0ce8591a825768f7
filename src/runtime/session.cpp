#include "runtime/session.h"

#include <onnxruntime_cxx_api.h>
#include <onnxruntime_session_options_config_keys.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "runtime/placement.h"
#include "runtime/providers.h"

namespace facelens::runtime {

std::vector<TensorRef> refs_of(std::span<const Tensor> tensors) {
  std::vector<TensorRef> refs;
  refs.reserve(tensors.size());
  for (const auto& t : tensors) refs.push_back({t.data, t.shape});
  return refs;
}

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

static Ort::SessionOptions base_options(const SessionOptions& options) {
  Ort::SessionOptions so;
  if (options.intra_op_threads > 0) so.SetIntraOpNumThreads(options.intra_op_threads);
  if (options.inter_op_threads > 0) so.SetInterOpNumThreads(options.inter_op_threads);
  so.AddConfigEntry(kOrtSessionOptionsConfigAllowIntraOpSpinning, options.allow_spinning ? "1" : "0");
  so.AddConfigEntry(kOrtSessionOptionsConfigAllowInterOpSpinning, options.allow_spinning ? "1" : "0");
  // Where each node runs, for Session::placement() (facelens info, /health, the bench).
  so.AddConfigEntry(kOrtSessionOptionsRecordEpGraphAssignmentInfo, "1");
  if (!options.optimized_model_path.empty()) so.SetOptimizedModelFilePath(options.optimized_model_path.c_str());
  switch (options.graph_optimization) {
    case GraphOptimization::kDisabled: so.SetGraphOptimizationLevel(ORT_DISABLE_ALL); break;
    case GraphOptimization::kBasic: so.SetGraphOptimizationLevel(ORT_ENABLE_BASIC); break;
    case GraphOptimization::kExtended: so.SetGraphOptimizationLevel(ORT_ENABLE_EXTENDED); break;
    case GraphOptimization::kAll: so.SetGraphOptimizationLevel(ORT_ENABLE_ALL); break;
  }
  return so;
}

struct Session::Replica {
  std::unique_ptr<Ort::Session> session;
  int device_id = -1;  // CUDA device, -1 on the CPU
  bool io_binding = false;
  // Staging of inputs and outputs (pinned host memory on CUDA); null = none.
  OrtAllocator* staging_allocator = nullptr;
  const OrtMemoryInfo* staging_memory = nullptr;
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> served{0};
  std::atomic<bool> shrink_next{false};
};

ConvSearchChoice conv_algo_search_for(const std::string& configured, std::span<const TensorDesc> inputs,
                                      std::span<const std::vector<int64_t>> probe_shapes) {
  if (configured != "EXHAUSTIVE") return {configured, ""};
  // Fixed sizes beyond the batch (a batch dim gives one search per batch size, a bounded set).
  bool probed = !probe_shapes.empty();
  for (const auto& shape : probe_shapes)
    for (size_t d = 1; d < shape.size(); ++d) probed &= shape[d] > 0;
  if (probed) return {configured, ""};
  for (const auto& in : inputs) {
    for (size_t d = 1; d < in.shape.size(); ++d) {
      if (in.shape[d] < 0) {
        return {"HEURISTIC", "input '" + in.name + "' is " + in.shape_string() +
                                 ": EXHAUSTIVE would search again for every new input size, so HEURISTIC is used "
                                 "(give the service fixed input shapes to keep EXHAUSTIVE)"};
      }
    }
  }
  return {configured, ""};
}

std::vector<std::vector<int64_t>> probe_shapes_for(std::span<const TensorDesc> inputs,
                                                   std::span<const std::vector<int64_t>> probe_shapes) {
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int64_t> shape = i < probe_shapes.size() ? probe_shapes[i] : inputs[i].shape;
    for (auto& d : shape) d = d < 0 ? 1 : d;
    out.push_back(std::move(shape));
  }
  return out;
}

std::vector<std::vector<std::vector<int64_t>>> creation_runs(std::span<const TensorDesc> inputs,
                                                             std::span<const std::vector<int64_t>> probe_shapes,
                                                             std::span<const int64_t> warmup_batches) {
  std::vector<std::vector<std::vector<int64_t>>> runs{probe_shapes_for(inputs, probe_shapes)};
  const bool any_batch = std::any_of(inputs.begin(), inputs.end(),
                                     [](const TensorDesc& in) { return !in.shape.empty() && in.shape[0] < 0; });
  if (!any_batch) return runs;
  std::vector<int64_t> done{runs[0].empty() || runs[0][0].empty() ? 1 : runs[0][0][0]};
  for (int64_t b : warmup_batches) {
    if (b <= 1 || std::find(done.begin(), done.end(), b) != done.end()) continue;
    done.push_back(b);
    auto shapes = runs[0];
    for (size_t i = 0; i < inputs.size(); ++i)
      if (!inputs[i].shape.empty() && inputs[i].shape[0] < 0 && !shapes[i].empty()) shapes[i][0] = b;
    runs.push_back(std::move(shapes));
  }
  return runs;
}

static std::vector<TensorSpec> input_specs(const Ort::Session& s) {
  std::vector<TensorSpec> specs;
  Ort::AllocatorWithDefaultOptions alloc;
  for (size_t i = 0; i < s.GetInputCount(); ++i)
    specs.push_back(spec_of(s.GetInputNameAllocated(i, alloc).get(), s.GetInputTypeInfo(i)));
  return specs;
}

// The recorded graph assignment of `s`, summarised; `error` set when ORT has no record.
static std::vector<EpPlacement> read_placement(const Ort::Session& s, std::string* error) {
  try {
    std::vector<AssignedNode> nodes;
    for (const auto& sub : s.GetEpGraphAssignmentInfo()) {
      const std::string ep = sub.GetEpName();
      for (const auto& n : sub.GetNodes()) nodes.push_back({ep, n.GetDomain(), n.GetOperatorType()});
    }
    return summarize_placement(nodes);
  } catch (const Ort::Exception& e) {
    *error = std::string("ONNX Runtime recorded no node placement: ") + e.what();
    return {};
  }
}

// Runs `rep` on `inputs` (shapes already checked) and returns every output in model order.
static std::vector<Ort::Value> run_replica(Session::Replica& rep, const Ort::MemoryInfo& cpu_memory,
                                           std::span<const TensorRef> inputs,
                                           const std::vector<std::string>& input_names,
                                           const std::vector<std::string>& output_names, bool shrink) {
  Ort::RunOptions run_options;
  if (shrink) {
    std::string arenas = "cpu:0";
    if (rep.device_id >= 0) arenas += ";gpu:" + std::to_string(rep.device_id);
    run_options.AddConfigEntry("memory.enable_memory_arena_shrinkage", arenas.c_str());
  }
  std::vector<Ort::Value> in;
  in.reserve(inputs.size());
  for (const auto& t : inputs) {
    if (rep.staging_allocator) {
      // Pinned (page-locked) host memory on CUDA: the copy to the device is one DMA transfer.
      in.push_back(Ort::Value::CreateTensor<float>(rep.staging_allocator, t.shape.data(), t.shape.size()));
      if (!t.data.empty()) std::memcpy(in.back().GetTensorMutableData<float>(), t.data.data(), t.data.size_bytes());
    } else {
      in.push_back(Ort::Value::CreateTensor<float>(cpu_memory, const_cast<float*>(t.data.data()), t.data.size(),
                                                   t.shape.data(), t.shape.size()));
    }
  }
  if (!rep.io_binding) {
    std::vector<const char*> in_names, out_names;
    for (const auto& n : input_names) in_names.push_back(n.c_str());
    for (const auto& n : output_names) out_names.push_back(n.c_str());
    return rep.session->Run(run_options, in_names.data(), in.data(), in.size(), out_names.data(), out_names.size());
  }
  // Inputs are copied to the device once; outputs are bound to host memory (pinned when staged),
  // so they come back once.
  Ort::IoBinding binding(*rep.session);
  for (size_t i = 0; i < in.size(); ++i) binding.BindInput(input_names[i].c_str(), in[i]);
  for (const auto& n : output_names) {
    if (rep.staging_memory) binding.BindOutput(n.c_str(), rep.staging_memory);
    else binding.BindOutput(n.c_str(), cpu_memory);
  }
  binding.SynchronizeInputs();
  rep.session->Run(run_options, binding);
  binding.SynchronizeOutputs();
  return binding.GetOutputValues();
}

// Tries to place the session on CUDA device `device_id` (the ids were checked against the devices
// that exist); returns the replica, or null with `reason` set. The session runs once on zeros of
// the probe shapes before it is accepted: cuDNN and the kernels load lazily, so only a run shows
// that the device really works.
static std::unique_ptr<Session::Replica> try_cuda(const Environment& env, const std::string& path,
                                                  const SessionOptions& options, int device_id,
                                                  const Ort::MemoryInfo& cpu_memory, ConvSearchChoice* search,
                                                  std::string* staging_error, std::string* reason) {
  try {
    const auto* device = static_cast<const OrtEpDevice*>(env.cuda_device_handle(device_id));
    if (!device) {
      *reason = "CUDA device " + std::to_string(device_id) + " has no ONNX Runtime device";
      return nullptr;
    }
    auto create = [&](const std::string& conv_search) {
      Ort::SessionOptions so = base_options(options);
      std::unordered_map<std::string, std::string> kv;
      for (const auto& [k, v] : cuda_ep_options(options.service, device_id)) kv[k] = v;
      kv["cudnn_conv_algo_search"] = conv_search;
      std::vector<Ort::ConstEpDevice> devices{Ort::ConstEpDevice(device)};
      so.AppendExecutionProvider_V2(env.ort_env(), devices, kv);
      return std::make_unique<Ort::Session>(env.ort_env(), path.c_str(), so);
    };
    auto rep = std::make_unique<Session::Replica>();
    *search = conv_algo_search_for(options.service.cudnn_conv_algo_search, {}, options.probe_shapes);
    rep->session = create(search->value);
    const auto inputs = input_specs(*rep->session);
    ConvSearchChoice want = conv_algo_search_for(options.service.cudnn_conv_algo_search, inputs, options.probe_shapes);
    if (want.value != search->value) {
      *search = want;
      rep->session = create(search->value);
    }
    rep->device_id = device_id;
    rep->io_binding = true;
    Ort::ConstMemoryInfo pinned = Ort::ConstEpDevice(device).GetMemoryInfo(OrtDeviceMemoryType_HOST_ACCESSIBLE);
    if (pinned) {
      rep->staging_memory = pinned;
      rep->staging_allocator = env.ort_env().GetSharedAllocator(pinned);
      if (!rep->staging_allocator) {
        rep->staging_memory = nullptr;
        *staging_error = "ONNX Runtime has no shared allocator for the device's pinned host memory";
      }
    } else {
      *staging_error = "the CUDA EP device offers no pinned host memory (OrtDeviceMemoryType_HOST_ACCESSIBLE)";
    }
    std::vector<std::string> in_names, out_names;
    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < rep->session->GetInputCount(); ++i)
      in_names.emplace_back(rep->session->GetInputNameAllocated(i, alloc).get());
    for (size_t i = 0; i < rep->session->GetOutputCount(); ++i)
      out_names.emplace_back(rep->session->GetOutputNameAllocated(i, alloc).get());
    // The probe runs: zeros of every shape the service feeds (and of its warm-up batch sizes).
    for (const auto& shapes : creation_runs(inputs, options.probe_shapes, options.warmup_batches)) {
      std::vector<std::vector<float>> zeros;
      std::vector<TensorRef> refs;
      for (const auto& shape : shapes) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        zeros.emplace_back(static_cast<size_t>(n), 0.0f);
      }
      for (size_t i = 0; i < shapes.size(); ++i) refs.push_back({zeros[i], shapes[i]});
      try {
        try {
          run_replica(*rep, cpu_memory, refs, in_names, out_names, /*shrink=*/false);
        } catch (const Ort::Exception& e) {
          if (!rep->staging_allocator) throw;
          // Without pinned staging the session may still run on CUDA (pageable copies).
          *staging_error = std::string("pinned host memory could not be used: ") + e.what();
          rep->staging_allocator = nullptr;
          rep->staging_memory = nullptr;
          run_replica(*rep, cpu_memory, refs, in_names, out_names, /*shrink=*/false);
        }
      } catch (const Ort::Exception& e) {
        *reason = "the first inference on CUDA device " + std::to_string(device_id) + " (input " +
                  shape_to_string(shapes[0]) + ") failed: " + explain_cuda_registration_error(e.what());
        return nullptr;
      }
    }
    return rep;
  } catch (const Ort::Exception& e) {
    *reason = std::string("creating the CUDA session failed: ") + explain_cuda_registration_error(e.what());
    return nullptr;
  }
}

size_t pick_least_loaded(std::span<const int> depths, size_t start) {
  if (depths.empty()) return 0;
  size_t best = start % depths.size();
  for (size_t k = 1; k < depths.size(); ++k) {
    size_t i = (start + k) % depths.size();
    if (depths[i] < depths[best]) best = i;
  }
  return best;
}

StatusOr<std::shared_ptr<const Session>> Session::create(std::shared_ptr<const Environment> env,
                                                         const std::string& model_path, const SessionOptions& options) {
  if (!std::filesystem::is_regular_file(model_path)) {
    return not_found("model file '" + model_path + "' does not exist: run scripts/setup.sh or fix the path");
  }
  std::shared_ptr<Session> s(new Session());
  s->env_ = env;
  s->path_ = model_path;
  const Provider want = options.service.provider;
  std::string reason;
  s->cpu_memory_ = std::make_unique<Ort::MemoryInfo>(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault));
  if (want == Provider::kCuda || want == Provider::kAuto) {
    std::vector<int> ids = options.service.device_ids.empty() ? std::vector<int>{0} : options.service.device_ids;
    // Checked before ONNX Runtime sees any id: in order, the core, the provider library, the CUDA
    // runtime and driver, the ids against the devices that exist, cuDNN.
    Status usable = env->cuda_devices(options.cuda_ep_path).status();
    s->cuda_absent_ = !usable.ok() && env->cuda_absent();
    if (usable.ok()) usable = env->check_cuda_device_ids(ids);
    if (usable.ok()) usable = env->cudnn_status();
    if (!usable.ok()) reason = usable.message();
    for (size_t k = 0; reason.empty() && k < ids.size(); ++k) {
      auto r =
          try_cuda(*env, model_path, options, ids[k], *s->cpu_memory_, &s->conv_search_, &s->staging_error_, &reason);
      if (r) s->replicas_.push_back(std::move(r));
    }
    // All devices or none: a pool that lost a device is reported, not silently shrunk.
    if (!reason.empty()) s->replicas_.clear();
  } else if (want == Provider::kDirectML) {
    reason = "DirectML is only available in Windows builds";
  }
  if (!s->replicas_.empty()) {
    s->provider_ = kCudaEpName;
  } else {
    s->conv_search_ = {};
    s->staging_error_.clear();
    if (options.require_gpu) {
      return unavailable("'" + model_path + "' must run on the GPU (require_gpu) but " +
                         (reason.empty() ? std::string("the provider is set to cpu") : reason));
    }
    s->fallback_reason_ = reason;
    s->provider_ = kCpuEpName;
    for (int k = 0; k < std::max(1, options.cpu_replicas); ++k) {
      auto r = std::make_unique<Replica>();
      r->io_binding = options.io_binding || options.stage_io;
      try {
        r->session = std::make_unique<Ort::Session>(env->ort_env(), model_path.c_str(), base_options(options));
        if (options.stage_io) {
          r->staging_allocator = Ort::AllocatorWithDefaultOptions();
          r->staging_memory = *s->cpu_memory_;
        }
      } catch (const Ort::Exception& e) {
        return invalid_argument("ONNX Runtime could not load '" + model_path + "': " + e.what() +
                                " (check that it is a valid ONNX model: facelens models inspect FILE)");
      }
      s->replicas_.push_back(std::move(r));
    }
  }
  Ort::Session* first = s->replicas_.front()->session.get();
  s->placement_ = read_placement(*first, &s->placement_error_);
  try {
    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < first->GetInputCount(); ++i) {
      std::string name = first->GetInputNameAllocated(i, alloc).get();
      s->inputs_.push_back(spec_of(name, first->GetInputTypeInfo(i)));
      s->input_names_.push_back(name);
    }
    for (size_t i = 0; i < first->GetOutputCount(); ++i) {
      std::string name = first->GetOutputNameAllocated(i, alloc).get();
      s->outputs_.push_back(spec_of(name, first->GetOutputTypeInfo(i)));
      s->output_names_.push_back(name);
    }
    Ort::ModelMetadata meta = first->GetModelMetadata();
    for (const auto& key : meta.GetCustomMetadataMapKeysAllocated(alloc)) {
      auto value = meta.LookupCustomMetadataMapAllocated(key.get(), alloc);
      s->metadata_[key.get()] = value ? value.get() : "";
    }
  } catch (const Ort::Exception& e) {
    return internal_error("reading the inputs and outputs of '" + model_path + "' failed: " + e.what());
  }
  return std::shared_ptr<const Session>(std::move(s));
}

std::vector<int> Session::device_ids() const {
  std::vector<int> ids;
  for (const auto& r : replicas_)
    if (r->device_id >= 0) ids.push_back(r->device_id);
  return ids;
}

size_t Session::n_replicas() const { return replicas_.size(); }

std::vector<int> Session::queue_depths() const {
  std::vector<int> d;
  for (const auto& r : replicas_) d.push_back(r->in_flight.load());
  return d;
}

std::vector<int64_t> Session::calls_served() const {
  std::vector<int64_t> d;
  for (const auto& r : replicas_) d.push_back(r->served.load());
  return d;
}

void Session::request_arena_shrink() const {
  for (const auto& r : replicas_) r->shrink_next = true;
}

bool Session::uses_io_binding() const { return replicas_.front()->io_binding; }

bool Session::uses_staging() const { return replicas_.front()->staging_allocator != nullptr; }

int Session::output_index(const std::string& name) const {
  for (size_t i = 0; i < output_names_.size(); ++i)
    if (output_names_[i] == name) return static_cast<int>(i);
  return -1;
}

StatusOr<std::vector<Tensor>> Session::run(std::span<const TensorRef> inputs, RunFlags flags) const {
  if (inputs.size() != inputs_.size()) {
    return invalid_argument("model '" + path_ + "' takes " + std::to_string(inputs_.size()) + " inputs, got " +
                            std::to_string(inputs.size()));
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
      return internal_error("input '" + inputs_[i].name + "': shape " + shape_to_string(got) + " needs " +
                            std::to_string(n) + " values, buffer has " + std::to_string(inputs[i].data.size()));
    }
  }
  // The replica (device) with the fewest calls in flight; equal loads rotate.
  Replica* rep = replicas_.front().get();
  if (replicas_.size() > 1) {
    std::vector<int> depths = queue_depths();
    rep = replicas_[pick_least_loaded(depths, next_.fetch_add(1))].get();
  }
  rep->in_flight.fetch_add(1);
  struct Done {
    Replica* r;
    ~Done() {
      r->in_flight.fetch_sub(1);
      r->served.fetch_add(1);
    }
  } done{rep};
  try {
    const bool shrink = flags.shrink_arena || rep->shrink_next.exchange(false);
    std::vector<Ort::Value> out = run_replica(*rep, *cpu_memory_, inputs, input_names_, output_names_, shrink);
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

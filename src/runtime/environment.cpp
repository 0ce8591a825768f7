#include "runtime/environment.h"

#include <onnxruntime_cxx_api.h>

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>

#include "runtime/providers.h"

namespace facelens::runtime {

Environment::Environment(std::unique_ptr<Ort::Env> env) : env_(std::move(env)) {}
Environment::~Environment() = default;

StatusOr<std::shared_ptr<Environment>> Environment::create(const EnvironmentOptions& options) {
  try {
    auto level = static_cast<OrtLoggingLevel>(std::clamp(options.ort_log_level, 0, 4));
    auto env = std::make_unique<Ort::Env>(level, options.log_id.c_str());
    return std::shared_ptr<Environment>(new Environment(std::move(env)));
  } catch (const Ort::Exception& e) {
    return internal_error(std::string("creating the ONNX Runtime environment failed: ") + e.what());
  }
}

std::string Environment::ort_version() { return Ort::GetVersionString(); }

StatusOr<std::vector<std::string>> Environment::available_providers() {
  try {
    return Ort::GetAvailableProviders();
  } catch (const Ort::Exception& e) {
    return internal_error(std::string("listing ONNX Runtime providers failed: ") + e.what());
  }
}

static const char* device_type_name(OrtHardwareDeviceType type) {
  switch (type) {
    case OrtHardwareDeviceType_CPU: return "CPU";
    case OrtHardwareDeviceType_GPU: return "GPU";
    case OrtHardwareDeviceType_NPU: return "NPU";
  }
  return "unknown";
}

StatusOr<std::vector<EpDeviceInfo>> Environment::ep_devices() const {
  try {
    std::vector<EpDeviceInfo> out;
    for (const auto& d : env_->GetEpDevices()) {
      EpDeviceInfo info;
      info.ep_name = d.EpName();
      info.ep_vendor = d.EpVendor();
      auto hw = d.Device();
      info.device_type = device_type_name(hw.Type());
      info.device_vendor = hw.Vendor();
      info.device_id = hw.DeviceId();
      if (info.ep_name == kCudaEpName) {
        auto mem = d.GetMemoryInfo(OrtDeviceMemoryType_DEFAULT);
        auto ordinal = cuda_ordinal_of(d.EpOptions().GetKeyValuePairs(), mem ? mem.GetDeviceId() : -1);
        if (ordinal.ok()) info.cuda_ordinal = *ordinal;
      }
      out.push_back(std::move(info));
    }
    return out;
  } catch (const Ort::Exception& e) {
    return internal_error(std::string("listing ONNX Runtime EP devices failed: ") + e.what());
  }
}

std::string Environment::core_library() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) && info.dli_fname) {
    std::error_code ec;
    auto p = std::filesystem::canonical(info.dli_fname, ec);
    return ec ? std::string(info.dli_fname) : p.string();
  }
  return "";
}

Status Environment::init_cuda(const std::string& configured_path) const {
  // 1. A core built with CUDA: the CUDA provider library is a provider bridge whose kernels call
  //    host functions only such a core has (a CPU-only core registers it, then crashes at run time).
  FACELENS_ASSIGN_OR_RETURN(auto providers, available_providers());
  if (std::find(providers.begin(), providers.end(), kCudaEpName) == providers.end()) {
    std::string have;
    for (const auto& p : providers) have += (have.empty() ? "" : ", ") + p;
    cuda_absent_ = true;
    return unavailable("the loaded ONNX Runtime core " + core_library() +
                       " is a build without CUDA (its providers: " + have +
                       "), which cannot run the CUDA provider: run scripts/setup.sh --gpu and build with "
                       "ONNXRUNTIME_ROOT=.deps/onnxruntime-cuda (see docs/gpu.md)");
  }
  // 2. The provider library.
  std::string path, looked;
  for (const auto& c : cuda_ep_candidates(configured_path)) {
    looked += (looked.empty() ? "" : ", ") + c;
    if (std::filesystem::is_regular_file(c)) {
      path = c;
      break;
    }
  }
  if (path.empty()) {
    cuda_absent_ = true;
    return unavailable(std::string("the CUDA execution provider library ") + kCudaEpLibrary +
                       " was not found (looked at: " + looked +
                       "): run scripts/setup.sh --gpu, or set runtime.cuda_ep_path (FACELENS_CUDA_EP for the tools)");
  }
  cuda_library_ = path;
  // 3. The CUDA runtime and driver count the devices before ONNX Runtime is given any id.
  cuda_libs_ = CudaLibraries::open();
  if (!cuda_libs_->status().ok()) return cuda_libs_->status();
  // 4. Register the provider (once per process: the ORT environment is shared by every Environment).
  try {
    bool registered = false;
    for (const auto& d : env_->GetEpDevices()) registered |= std::string(d.EpName()) == kCudaEpName;
    if (!registered) env_->RegisterExecutionProviderLibrary("facelens_cuda", path);
  } catch (const Ort::Exception& e) {
    return unavailable("the CUDA execution provider " + path +
                       " could not be loaded: " + explain_cuda_registration_error(e.what()));
  }
  // 5. Its devices by CUDA ordinal (its EP options' device_id): ORT's hardware device id is a PCI
  //    device type and its enumeration order need not follow the ordinals.
  try {
    for (const auto& d : env_->GetEpDevices()) {
      if (std::string(d.EpName()) != kCudaEpName || d.Device().Type() != OrtHardwareDeviceType_GPU) continue;
      auto mem = d.GetMemoryInfo(OrtDeviceMemoryType_DEFAULT);
      FACELENS_ASSIGN_OR_RETURN(int ordinal,
                                cuda_ordinal_of(d.EpOptions().GetKeyValuePairs(), mem ? mem.GetDeviceId() : -1));
      const bool seen = std::any_of(cuda_devices_.begin(), cuda_devices_.end(),
                                    [&](const CudaEpDevice& c) { return c.ordinal == ordinal; });
      if (ordinal < cuda_libs_->device_count() && !seen) {
        cuda_devices_.push_back({ordinal, static_cast<const OrtEpDevice*>(d)});
      }
    }
  } catch (const Ort::Exception& e) {
    return internal_error(std::string("listing CUDA devices failed: ") + e.what());
  }
  std::sort(cuda_devices_.begin(), cuda_devices_.end(),
            [](const CudaEpDevice& a, const CudaEpDevice& b) { return a.ordinal < b.ordinal; });
  if (cuda_devices_.empty()) {
    return unavailable("the CUDA execution provider (" + path + ") is loaded and the CUDA runtime counts " +
                       std::to_string(cuda_libs_->device_count()) +
                       " device(s), but ONNX Runtime offers no CUDA device: check the driver with nvidia-smi");
  }
  return Status();
}

bool Environment::cuda_absent() const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  return cuda_tried_ && cuda_absent_;
}

StatusOr<int> Environment::cuda_devices(const std::string& configured_path) const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  if (!cuda_tried_) {
    cuda_tried_ = true;
    cuda_status_ = init_cuda(configured_path);
    if (!cuda_status_.ok()) cuda_devices_.clear();
  }
  if (!cuda_status_.ok()) return cuda_status_;
  return static_cast<int>(cuda_devices_.size());
}

Status Environment::check_cuda_device_ids(std::span<const int> ids) const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  if (!cuda_tried_) return failed_precondition("check_cuda_device_ids before cuda_devices");
  if (!cuda_status_.ok()) return cuda_status_;
  std::vector<int> ordinals;
  for (const auto& d : cuda_devices_) ordinals.push_back(d.ordinal);
  return runtime::check_cuda_device_ids(ids, cuda_libs_->device_count(), ordinals);
}

Status Environment::cudnn_status() const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  if (!cuda_libs_) return failed_precondition("cuDNN is checked after the CUDA runtime (cuda_devices)");
  return cuda_libs_->cudnn_status();
}

const void* Environment::cuda_device_handle(int ordinal) const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  for (const auto& d : cuda_devices_)
    if (d.ordinal == ordinal) return d.device;
  return nullptr;
}

CudaReport Environment::cuda_report() const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  CudaReport r;
  if (!cuda_tried_) {
    r.reason = "CUDA was not probed";
    return r;
  }
  r.available = cuda_status_.ok();
  r.reason = cuda_status_.ok() ? "" : cuda_status_.message();
  r.ep_library = cuda_library_;
  if (cuda_libs_) {
    r.runtime_version = cuda_libs_->runtime_version();
    r.driver_version = cuda_libs_->driver_version();
    r.cudnn_version = cuda_libs_->cudnn_version();
    r.cudnn_reason = cuda_libs_->cudnn_status().ok() ? "" : cuda_libs_->cudnn_status().message();
    r.devices = cuda_libs_->devices();
  }
  return r;
}

const CudaLibraries* Environment::cuda_libraries() const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  return cuda_libs_.get();
}

}  // namespace facelens::runtime

#include "runtime/environment.h"

#include <onnxruntime_cxx_api.h>

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
      out.push_back(std::move(info));
    }
    return out;
  } catch (const Ort::Exception& e) {
    return internal_error(std::string("listing ONNX Runtime EP devices failed: ") + e.what());
  }
}

StatusOr<int> Environment::cuda_devices(const std::string& configured_path) const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  if (cuda_tried_) {
    if (!cuda_status_.ok()) return cuda_status_;
    return static_cast<int>(cuda_devices_.size());
  }
  cuda_tried_ = true;
  std::string path, looked;
  for (const auto& c : cuda_ep_candidates(configured_path)) {
    looked += (looked.empty() ? "" : ", ") + c;
    if (std::filesystem::is_regular_file(c)) {
      path = c;
      break;
    }
  }
  if (path.empty()) {
    cuda_status_ = unavailable(std::string("the CUDA execution provider library ") + kCudaEpLibrary +
                               " was not found (looked at: " + looked +
                               "): run scripts/setup.sh --gpu, or set FACELENS_CUDA_EP or runtime.cuda_ep_path");
    return cuda_status_;
  }
  try {
    env_->RegisterExecutionProviderLibrary("facelens_cuda", path);
  } catch (const Ort::Exception& e) {
    cuda_status_ = unavailable("the CUDA execution provider " + path + " could not be loaded: " +
                               explain_cuda_registration_error(e.what()));
    return cuda_status_;
  }
  cuda_library_ = path;
  try {
    for (const auto& d : env_->GetEpDevices()) {
      if (std::string(d.EpName()) == kCudaEpName && d.Device().Type() == OrtHardwareDeviceType_GPU) {
        cuda_devices_.push_back(static_cast<const OrtEpDevice*>(d));
      }
    }
  } catch (const Ort::Exception& e) {
    cuda_status_ = internal_error(std::string("listing CUDA devices failed: ") + e.what());
    return cuda_status_;
  }
  if (cuda_devices_.empty()) {
    cuda_status_ = unavailable("the CUDA execution provider (" + path +
                               ") is loaded but ONNX Runtime reports no CUDA GPU on this machine (no NVIDIA "
                               "device or driver): run on a GPU host, or use --provider cpu");
    return cuda_status_;
  }
  return static_cast<int>(cuda_devices_.size());
}

const void* Environment::cuda_device_handle(int ordinal) const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  if (ordinal < 0 || ordinal >= static_cast<int>(cuda_devices_.size())) return nullptr;
  return cuda_devices_[ordinal];
}

std::string Environment::cuda_library() const {
  std::lock_guard<std::mutex> lock(cuda_mu_);
  return cuda_library_;
}

}  // namespace facelens::runtime

#include "runtime/environment.h"

#include <onnxruntime_cxx_api.h>

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

}  // namespace facelens::runtime

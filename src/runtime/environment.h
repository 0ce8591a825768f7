// The ONNX Runtime environment: created once per process by its owner (the Engine or a tool) and
// shared by every session. Thread-safe after creation. ORT exceptions never leave src/runtime/.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facelens/status.h"

namespace Ort {
struct Env;
}

namespace facelens::runtime {

struct EpDeviceInfo {
  std::string ep_name;    // e.g. "CPUExecutionProvider"
  std::string ep_vendor;
  std::string device_type;  // "CPU", "GPU", "NPU"
  std::string device_vendor;
  uint32_t device_id = 0;
};

struct EnvironmentOptions {
  std::string log_id = "facelens";
  // ORT's own log level: 0 verbose .. 4 fatal. Warnings from ORT go to stderr.
  int ort_log_level = 3;
};

class Environment {
 public:
  static StatusOr<std::shared_ptr<Environment>> create(const EnvironmentOptions& options);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  Ort::Env& ort_env() const { return *env_; }

  // "1.29.0": the version the loaded library reports (not the header's).
  static std::string ort_version();
  // Providers compiled into the loaded core library (ORT's GetAvailableProviders).
  static StatusOr<std::vector<std::string>> available_providers();
  // Devices of every registered execution provider, as ORT enumerates them.
  StatusOr<std::vector<EpDeviceInfo>> ep_devices() const;

  // The CUDA plugin EP: on the first call the library is looked up (configured path,
  // $FACELENS_CUDA_EP, next to libonnxruntime) and registered with ONNX Runtime. OK with the
  // number of CUDA devices, or the reason CUDA cannot be used. Thread-safe; the result is kept.
  StatusOr<int> cuda_devices(const std::string& configured_path) const;
  // The ORT device handle of CUDA device `ordinal` (after cuda_devices() succeeded), else null.
  const void* cuda_device_handle(int ordinal) const;
  // The CUDA EP library that was registered, or "".
  std::string cuda_library() const;

 private:
  explicit Environment(std::unique_ptr<Ort::Env> env);
  std::unique_ptr<Ort::Env> env_;
  mutable std::mutex cuda_mu_;
  mutable bool cuda_tried_ = false;
  mutable Status cuda_status_;
  mutable std::string cuda_library_;
  mutable std::vector<const void*> cuda_devices_;  // const OrtEpDevice*, owned by ORT
};

}  // namespace facelens::runtime

// The ONNX Runtime environment: created once per process by its owner (the Engine or a tool) and
// shared by every session. Thread-safe after creation. ORT exceptions never leave src/runtime/.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "facelens/runtime_info.h"
#include "facelens/status.h"
#include "runtime/cuda_libraries.h"

namespace Ort {
struct Env;
}

namespace facelens::runtime {

struct EpDeviceInfo {
  std::string ep_name;  // e.g. "CPUExecutionProvider"
  std::string ep_vendor;
  std::string device_type;  // "CPU", "GPU", "NPU"
  std::string device_vendor;
  uint32_t device_id = 0;  // the hardware's id (a PCI device type), not a CUDA ordinal
  int cuda_ordinal = -1;   // CUDA EP devices: the CUDA ordinal (EP options' device_id)
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

  // Path of the loaded ONNX Runtime core library (libonnxruntime.so.1).
  static std::string core_library();

  // The CUDA path, checked once on the first call (thread-safe; the result is kept), in order:
  // the core lists CUDAExecutionProvider (a CPU-only core cannot run the CUDA provider), the
  // provider library is found (configured path, else beside the core), the CUDA runtime counts
  // devices (libcudart.so.13, the driver), the provider library is registered with ONNX Runtime,
  // and each of its devices is matched to its CUDA ordinal. OK with the number of CUDA devices,
  // or the reason CUDA cannot be used and how to fix it.
  StatusOr<int> cuda_devices(const std::string& configured_path) const;
  // After cuda_devices() failed: whether it failed because this install has no CUDA provider at
  // all (a core built without CUDA, or no provider library), rather than a CUDA provider that
  // cannot run (driver, devices, registration).
  bool cuda_absent() const;
  // After cuda_devices(): configured device ids against the devices that exist (a device id ORT
  // is given must exist: a wrong one ends the process inside ORT).
  Status check_cuda_device_ids(std::span<const int> ids) const;
  // cuDNN 9 (dlopen): OK, or why convolutions on CUDA would fail.
  Status cudnn_status() const;
  // The ORT device (const OrtEpDevice*) of CUDA ordinal `ordinal` (after cuda_devices()), else null.
  const void* cuda_device_handle(int ordinal) const;
  // Everything known about CUDA after cuda_devices() (devices, versions, reason).
  CudaReport cuda_report() const;
  // The CUDA runtime/driver/cuDNN handles (after cuda_devices(); null before or when the core is
  // CPU-only or the provider library is absent).
  const CudaLibraries* cuda_libraries() const;

 private:
  Status init_cuda(const std::string& configured_path) const;

 private:
  explicit Environment(std::unique_ptr<Ort::Env> env);
  std::unique_ptr<Ort::Env> env_;
  mutable std::mutex cuda_mu_;
  mutable bool cuda_tried_ = false;
  mutable Status cuda_status_;
  mutable bool cuda_absent_ = false;
  mutable std::string cuda_library_;
  mutable std::unique_ptr<CudaLibraries> cuda_libs_;
  struct CudaEpDevice {
    int ordinal;
    const void* device;  // const OrtEpDevice*, owned by ORT
  };
  mutable std::vector<CudaEpDevice> cuda_devices_;  // by ordinal
};

}  // namespace facelens::runtime

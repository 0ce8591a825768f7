// The CUDA runtime, the NVIDIA driver and cuDNN, opened with dlopen: facelens links none of them,
// so it runs on machines without CUDA. Answers, before any ONNX Runtime session exists, how many
// CUDA devices there are (a device id ONNX Runtime is given must be below that count: a larger one
// ends the process inside ORT), what each is, and whether cuDNN can be loaded.
// Created once per Environment; immutable afterwards; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "facelens/runtime_info.h"
#include "facelens/status.h"

namespace facelens::runtime {

// Sonames looked up (CUDA 13 and cuDNN 9: what libonnxruntime_providers_cuda.so 1.29 links).
inline constexpr const char* kCudaRuntimeLibrary = "libcudart.so.13";
inline constexpr const char* kCudaDriverLibrary = "libcuda.so.1";
inline constexpr const char* kCudnnLibrary = "libcudnn.so.9";

class CudaLibraries {
 public:
  // Opens the CUDA runtime and the driver and lists the devices. Never fails: status() says what
  // is missing and how to fix it.
  static std::unique_ptr<CudaLibraries> open();
  ~CudaLibraries();
  CudaLibraries(const CudaLibraries&) = delete;
  CudaLibraries& operator=(const CudaLibraries&) = delete;

  // OK when the CUDA runtime counts at least one device.
  const Status& status() const { return status_; }
  int device_count() const { return static_cast<int>(devices_.size()); }
  const std::vector<CudaDevice>& devices() const { return devices_; }
  int runtime_version() const { return runtime_version_; }
  int driver_version() const { return driver_version_; }
  // cuDNN 9: OK with its version (cudnnGetVersion), or why it cannot be loaded.
  const Status& cudnn_status() const { return cudnn_status_; }
  int cudnn_version() const { return cudnn_version_; }

  // Free and total memory of device `ordinal` in bytes (cudaMemGetInfo on that device's primary
  // context, the one ONNX Runtime uses). For checks of a session's memory against gpu_mem_limit.
  StatusOr<std::pair<uint64_t, uint64_t>> memory_info(int ordinal) const;

 private:
  CudaLibraries() = default;
  struct Api;
  std::unique_ptr<Api> api_;
  void* cudart_ = nullptr;
  void* driver_ = nullptr;
  void* cudnn_ = nullptr;
  Status status_;
  Status cudnn_status_;
  std::vector<CudaDevice> devices_;
  int runtime_version_ = 0;
  int driver_version_ = 0;
  int cudnn_version_ = 0;
};

// The reason cudaGetDeviceCount failed, for a person: `code`/`name`/`text` are the CUDA error,
// `driver_error` the dlerror() of opening libcuda.so.1 ("" when the driver library loaded).
std::string explain_cuda_device_count_error(int code, const std::string& name, const std::string& text,
                                            const std::string& driver_error);

// The CUDA ordinal of an OrtEpDevice of the CUDA provider: its EP options' "device_id", else the
// device id of its default memory info (-1 when it has none). The hardware device id is a PCI
// device type, never an ordinal.
StatusOr<int> cuda_ordinal_of(const std::unordered_map<std::string, std::string>& ep_options, int memory_device_id);

// Configured device ids against the devices the CUDA runtime counts and the ordinals ONNX Runtime
// offers an EP device for: an error naming the bad id and what exists, else OK.
Status check_cuda_device_ids(std::span<const int> ids, int device_count, std::span<const int> ep_ordinals);

}  // namespace facelens::runtime

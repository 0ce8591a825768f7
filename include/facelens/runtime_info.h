// facelens — what ONNX Runtime offers on this machine (for `facelens info` and /health).
// Thread-safe; each call queries ONNX Runtime afresh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "facelens/status.h"

namespace facelens {

struct EpDevice {
  std::string ep_name;        // "CPUExecutionProvider", "CUDAExecutionProvider", ...
  std::string ep_vendor;
  std::string device_type;    // "CPU", "GPU", "NPU"
  std::string device_vendor;
  uint32_t device_id = 0;
};

struct RuntimeInfo {
  std::string onnxruntime_version;           // of the loaded library
  std::vector<std::string> providers;        // compiled into the core library
  std::vector<EpDevice> ep_devices;          // devices of the registered execution providers
};

StatusOr<RuntimeInfo> query_runtime_info();

}  // namespace facelens

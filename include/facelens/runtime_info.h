// facelens — what ONNX Runtime offers on this machine (for `facelens info` and /health): the core
// library and its providers, the CUDA devices by ordinal, and where each model's nodes run.
//
//   RuntimeOptions rt;                        // rt.cuda_ep_path: the CUDA provider library, if not beside the core
//   auto info = facelens::query_runtime_info(rt, /*probe_cuda=*/true);
//   for (const auto& d : info->cuda.devices) use(d.ordinal, d.name, d.total_memory_bytes, d.pci_bus_id);
//   if (!info->cuda.available) show(info->cuda.reason);
//
// Plain values. query_runtime_info is thread-safe; each call queries ONNX Runtime afresh.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "facelens/runtime_options.h"
#include "facelens/status.h"

namespace facelens {

struct EpDevice {
  std::string ep_name;  // "CPUExecutionProvider", "CUDAExecutionProvider", ...
  std::string ep_vendor;
  std::string device_type;  // "CPU", "GPU", "NPU"
  std::string device_vendor;
  uint32_t device_id = 0;  // the hardware's device id (a PCI device type such as 0x2335), not a CUDA ordinal
  int cuda_ordinal = -1;   // CUDA devices: the ordinal ONNX Runtime uses (its EP options' device_id)
};

// One CUDA device as the CUDA runtime numbers it (cudaGetDeviceCount, CUDA_VISIBLE_DEVICES applied).
struct CudaDevice {
  int ordinal = 0;
  std::string name;  // "NVIDIA H200"
  uint64_t total_memory_bytes = 0;
  std::string pci_bus_id;  // "0000:3B:00.0"
};

struct CudaReport {
  bool available = false;    // CUDA sessions can be created
  std::string reason;        // why not, and how to fix it (empty when available)
  std::string ep_library;    // the CUDA provider library found (registered when available)
  int runtime_version = 0;   // CUDA runtime (e.g. 13000), 0 when not loaded
  int driver_version = 0;    // what the driver supports, 0 without a driver
  int cudnn_version = 0;     // 0 when cuDNN 9 is not found
  std::string cudnn_reason;  // why cuDNN cannot be used (empty when it can)
  std::vector<CudaDevice> devices;
};

// Where one execution provider runs a model's nodes (ONNX Runtime's recorded graph assignment).
struct EpPlacement {
  std::string ep;  // "CUDAExecutionProvider", "CPUExecutionProvider"
  int n_nodes = 0;
  std::map<std::string, int> op_types;  // operator type ("Conv", "com.microsoft:FusedConv") -> nodes
};

// "CUDAExecutionProvider 64 nodes (Conv 40, Relu 20, ...), CPUExecutionProvider 2 nodes (Shape 2)":
// operator types by node count, most first.
std::string placement_to_string(std::span<const EpPlacement> placement);

struct RuntimeInfo {
  std::string onnxruntime_version;     // of the loaded library
  std::string core_library;            // path of the loaded libonnxruntime
  std::vector<std::string> providers;  // compiled into the core library (GetAvailableProviders)
  std::vector<EpDevice> ep_devices;    // devices of the registered execution providers
  CudaReport cuda;                     // filled when asked to probe CUDA
};

// probe_cuda: also check the CUDA path (core, CUDA runtime, driver, provider library, cuDNN) and
// list the CUDA devices; `runtime.cuda_ep_path` names the provider library when it is not beside
// the core. Without probe_cuda, `cuda.reason` says it was not probed.
StatusOr<RuntimeInfo> query_runtime_info(const RuntimeOptions& runtime = {}, bool probe_cuda = false);

}  // namespace facelens

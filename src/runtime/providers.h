// Execution providers: the CUDA plugin EP (found, registered once per Environment, its devices
// listed) and the exact options handed to ONNX Runtime for it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "facelens/runtime_options.h"

namespace facelens::runtime {

inline constexpr const char* kCudaEpName = "CUDAExecutionProvider";
inline constexpr const char* kCpuEpName = "CPUExecutionProvider";
inline constexpr const char* kCudaEpLibrary = "libonnxruntime_providers_cuda.so";

// The key/value pairs handed to ONNX Runtime for the CUDA EP of one session, in this order.
// Keys and values are those of ONNX Runtime's CUDA provider options (device_id,
// arena_extend_strategy, gpu_mem_limit, cudnn_conv_algo_search, do_copy_in_default_stream).
std::vector<std::pair<std::string, std::string>> cuda_ep_options(const ResolvedServiceOptions& o, int device_id);

// Places to look for the CUDA EP library, in order: the configured path, the folder of the loaded
// libonnxruntime (where scripts/setup.sh --gpu puts it). Empty entries are skipped.
std::vector<std::string> cuda_ep_candidates(const std::string& configured);

// Turns ONNX Runtime's registration error into the reason a person can act on (names the
// missing CUDA/cuDNN library when the error is a failed dlopen).
std::string explain_cuda_registration_error(const std::string& ort_message);

}  // namespace facelens::runtime

// facelens — where and how models run: execution provider, CUDA options per service, threads,
// model cache. Every field has a default; `facelens.toml` ([runtime], [services.NAME], [cache])
// and the CLI (--provider, --device, --require-gpu) override them.
//
//   facelens::RuntimeOptions rt;
//   rt.provider = facelens::Provider::kCuda;      // CUDA or an error/warning saying why not
//   rt.services["recognizer"].gpu_mem_limit = 1ull << 30;
//
// Plain values; copy freely.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/status.h"

namespace facelens {

// Priority when kAuto: CUDA, then DirectML (Windows builds only), then CPU.
enum class Provider { kAuto, kCuda, kDirectML, kCpu };
const char* provider_option_name(Provider p);  // "auto", "cuda", "directml", "cpu"
inline std::string_view name(Provider p) { return provider_option_name(p); }
// Also takes ONNX Runtime's names ("CUDAExecutionProvider", ...); the error lists the names.
StatusOr<Provider> parse_provider(const std::string& name);

// Options of one service (detector, landmarks, recognizer, liveness, deepfake, attribute). Unset
// fields take the service's defaults (see default_service_options).
struct ServiceRuntimeOptions {
  std::optional<Provider> provider;                   // default: RuntimeOptions::provider
  std::optional<std::vector<int>> device_ids;         // CUDA devices; several = a device pool
  std::optional<uint64_t> gpu_mem_limit;              // bytes, per session
  std::optional<std::string> arena_extend_strategy;   // "kNextPowerOfTwo" | "kSameAsRequested"
  std::optional<std::string> cudnn_conv_algo_search;  // "EXHAUSTIVE" | "HEURISTIC" | "DEFAULT"
  std::optional<bool> do_copy_in_default_stream;
};

// The fully resolved options of one service.
struct ResolvedServiceOptions {
  Provider provider = Provider::kAuto;
  std::vector<int> device_ids{0};
  uint64_t gpu_mem_limit = 2ull << 30;
  std::string arena_extend_strategy = "kNextPowerOfTwo";
  std::string cudnn_conv_algo_search = "EXHAUSTIVE";
  bool do_copy_in_default_stream = true;
};

struct RuntimeOptions {
  Provider provider = Provider::kAuto;
  bool require_gpu = false;  // a service that cannot get CUDA is an error, not a CPU fallback
  std::string cuda_ep_path;  // libonnxruntime_providers_cuda.so; "" = next to the loaded libonnxruntime (the CLI reads
                             // $FACELENS_CUDA_EP)
  int intra_op_threads = 0;  // CPU threads per session; 0 = ONNX Runtime's default
  int inter_op_threads = 1;
  bool allow_spinning = false;  // ORT idle-thread spinning (off: it slows the pre/post-processing on few cores)
  std::map<std::string, ServiceRuntimeOptions> services;  // by service name
  // Model cache: unload a model unused for this long (0 = never) / keep loaded models under this
  // estimate of memory, least recently used first (0 = no budget).
  double idle_unload_seconds = 0;
  uint64_t memory_budget_bytes = 0;

  // Defaults of the reference design for `service` merged with services[service].
  ResolvedServiceOptions resolve(const std::string& service) const;
};

// The reference design's per-service defaults: gpu_mem_limit 2 GiB detector, 2 GiB recognizer,
// 1 GiB deepfake, 512 MiB for the small models (landmarks, liveness, attributes).
ResolvedServiceOptions default_service_options(const std::string& service);

}  // namespace facelens

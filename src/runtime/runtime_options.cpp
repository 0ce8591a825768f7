#include "facelens/runtime_options.h"

namespace facelens {

const char* provider_option_name(Provider p) {
  switch (p) {
    case Provider::kAuto: return "auto";
    case Provider::kCuda: return "cuda";
    case Provider::kDirectML: return "directml";
    case Provider::kCpu: return "cpu";
  }
  return "auto";
}

StatusOr<Provider> parse_provider(const std::string& name) {
  if (name == "auto") return Provider::kAuto;
  if (name == "cuda" || name == "CUDAExecutionProvider") return Provider::kCuda;
  if (name == "directml" || name == "DmlExecutionProvider") return Provider::kDirectML;
  if (name == "cpu" || name == "CPUExecutionProvider") return Provider::kCpu;
  return invalid_argument("provider '" + name + "' is not one of auto, cuda, directml, cpu");
}

ResolvedServiceOptions default_service_options(const std::string& service) {
  ResolvedServiceOptions o;
  // Reference design, "Memory Allocation by Service".
  if (service == "detector" || service == "recognizer") o.gpu_mem_limit = 2ull << 30;
  else if (service == "deepfake") o.gpu_mem_limit = 1ull << 30;
  else o.gpu_mem_limit = 512ull << 20;
  return o;
}

ResolvedServiceOptions RuntimeOptions::resolve(const std::string& service) const {
  ResolvedServiceOptions o = default_service_options(service);
  o.provider = provider;
  auto it = services.find(service);
  if (it == services.end()) return o;
  const auto& s = it->second;
  if (s.provider) o.provider = *s.provider;
  if (s.device_ids && !s.device_ids->empty()) o.device_ids = *s.device_ids;
  if (s.gpu_mem_limit) o.gpu_mem_limit = *s.gpu_mem_limit;
  if (s.arena_extend_strategy) o.arena_extend_strategy = *s.arena_extend_strategy;
  if (s.cudnn_conv_algo_search) o.cudnn_conv_algo_search = *s.cudnn_conv_algo_search;
  if (s.do_copy_in_default_stream) o.do_copy_in_default_stream = *s.do_copy_in_default_stream;
  return o;
}

}  // namespace facelens

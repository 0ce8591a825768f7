#include "facelens/runtime_info.h"

#include "runtime/environment.h"

namespace facelens {

StatusOr<RuntimeInfo> query_runtime_info(const RuntimeOptions& runtime, bool probe_cuda) {
  RuntimeInfo info;
  info.onnxruntime_version = runtime::Environment::ort_version();
  info.core_library = runtime::Environment::core_library();
  FACELENS_ASSIGN_OR_RETURN(info.providers, runtime::Environment::available_providers());
  FACELENS_ASSIGN_OR_RETURN(auto env, runtime::Environment::create({}));
  if (probe_cuda) {
    // The outcome is in the report (available, reason); a failed probe is not an error here.
    (void)env->cuda_devices(runtime.cuda_ep_path);
  }
  info.cuda = env->cuda_report();
  FACELENS_ASSIGN_OR_RETURN(auto devices, env->ep_devices());
  for (const auto& d : devices) {
    info.ep_devices.push_back({d.ep_name, d.ep_vendor, d.device_type, d.device_vendor, d.device_id, d.cuda_ordinal});
  }
  return info;
}

}  // namespace facelens

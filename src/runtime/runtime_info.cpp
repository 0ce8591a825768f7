#include "facelens/runtime_info.h"

#include "runtime/environment.h"

namespace facelens {

StatusOr<RuntimeInfo> query_runtime_info() {
  RuntimeInfo info;
  info.onnxruntime_version = runtime::Environment::ort_version();
  FACELENS_ASSIGN_OR_RETURN(info.providers, runtime::Environment::available_providers());
  FACELENS_ASSIGN_OR_RETURN(auto env, runtime::Environment::create({}));
  FACELENS_ASSIGN_OR_RETURN(auto devices, env->ep_devices());
  for (const auto& d : devices) {
    info.ep_devices.push_back({d.ep_name, d.ep_vendor, d.device_type, d.device_vendor, d.device_id});
  }
  return info;
}

}  // namespace facelens

#include "runtime/providers.h"

#include <dlfcn.h>
#include <onnxruntime_c_api.h>

#include <filesystem>
#include <regex>

namespace facelens::runtime {

std::vector<std::pair<std::string, std::string>> cuda_ep_options(const ResolvedServiceOptions& o, int device_id) {
  return {{"device_id", std::to_string(device_id)},
          {"arena_extend_strategy", o.arena_extend_strategy},
          {"gpu_mem_limit", std::to_string(o.gpu_mem_limit)},
          {"cudnn_conv_algo_search", o.cudnn_conv_algo_search},
          {"do_copy_in_default_stream", o.do_copy_in_default_stream ? "1" : "0"}};
}

std::vector<std::string> cuda_ep_candidates(const std::string& configured) {
  std::vector<std::string> out;
  if (!configured.empty()) out.push_back(configured);
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) && info.dli_fname) {
    out.push_back((std::filesystem::path(info.dli_fname).parent_path() / kCudaEpLibrary).string());
  }
  return out;
}

std::string explain_cuda_registration_error(const std::string& msg) {
  static const std::regex missing(R"((lib[A-Za-z0-9_+\-]+\.so(\.[0-9]+)*): cannot open shared object file)");
  std::smatch m;
  if (std::regex_search(msg, m, missing)) {
    const std::string lib = m[1].str();
    if (lib.rfind("libcuda.so", 0) == 0) {
      return lib +
             " (the NVIDIA driver) is missing: this machine has no NVIDIA GPU driver; run on a GPU host or "
             "use --provider cpu [" +
             msg + "]";
    }
    std::string what = "a CUDA library";
    if (lib.rfind("libcudnn", 0) == 0) what = "cuDNN 9";
    else if (lib.rfind("libcu", 0) == 0 || lib.rfind("libnv", 0) == 0) what = "the CUDA 13 runtime";
    return lib + " (" + what + ") is missing: install it or add its folder to LD_LIBRARY_PATH [" + msg + "]";
  }
  return msg;
}

}  // namespace facelens::runtime

#include "runtime/cuda_libraries.h"

#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <cstddef>

namespace facelens::runtime {

// CUDA runtime error codes (cuda_runtime_api.h, driver_types.h of CUDA 13).
constexpr int kCudaSuccess = 0;
constexpr int kCudaErrorInsufficientDriver = 35;
constexpr int kCudaErrorNoDevice = 100;

// The entry points used, with the C signatures of cuda_runtime_api.h, cuda.h and cudnn.h
// (error codes are plain ints; CUdevice is an int).
struct CudaLibraries::Api {
  int (*cudaGetDeviceCount)(int*) = nullptr;
  int (*cudaRuntimeGetVersion)(int*) = nullptr;
  int (*cudaDriverGetVersion)(int*) = nullptr;
  const char* (*cudaGetErrorName)(int) = nullptr;
  const char* (*cudaGetErrorString)(int) = nullptr;
  int (*cudaDeviceGetPCIBusId)(char*, int, int) = nullptr;
  int (*cudaSetDevice)(int) = nullptr;
  int (*cudaMemGetInfo)(size_t*, size_t*) = nullptr;
  int (*cuInit)(unsigned) = nullptr;
  int (*cuDeviceGet)(int*, int) = nullptr;
  int (*cuDeviceGetName)(char*, int, int) = nullptr;
  int (*cuDeviceTotalMem)(size_t*, int) = nullptr;
  size_t (*cudnnGetVersion)() = nullptr;
};

template <typename F>
static bool bind(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

static std::string last_dlerror() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

std::unique_ptr<CudaLibraries> CudaLibraries::open() {
  std::unique_ptr<CudaLibraries> c(new CudaLibraries());
  c->api_ = std::make_unique<Api>();
  Api& a = *c->api_;

  // The driver first: without it the runtime only says "insufficient driver".
  std::string driver_error;
  c->driver_ = dlopen(kCudaDriverLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!c->driver_) driver_error = last_dlerror();
  else if (!bind(c->driver_, "cuInit", &a.cuInit) || !bind(c->driver_, "cuDeviceGet", &a.cuDeviceGet) ||
           !bind(c->driver_, "cuDeviceGetName", &a.cuDeviceGetName) ||
           !bind(c->driver_, "cuDeviceTotalMem_v2", &a.cuDeviceTotalMem)) {
    driver_error = std::string(kCudaDriverLibrary) + " lacks the driver API entry points: " + last_dlerror();
  }

  c->cudart_ = dlopen(kCudaRuntimeLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!c->cudart_) {
    c->status_ =
        unavailable(std::string(kCudaRuntimeLibrary) + " (the CUDA 13 runtime) cannot be loaded: " + last_dlerror() +
                    ": install CUDA 13 or add its lib folder to LD_LIBRARY_PATH");
  } else if (!bind(c->cudart_, "cudaGetDeviceCount", &a.cudaGetDeviceCount) ||
             !bind(c->cudart_, "cudaRuntimeGetVersion", &a.cudaRuntimeGetVersion) ||
             !bind(c->cudart_, "cudaDriverGetVersion", &a.cudaDriverGetVersion) ||
             !bind(c->cudart_, "cudaGetErrorName", &a.cudaGetErrorName) ||
             !bind(c->cudart_, "cudaGetErrorString", &a.cudaGetErrorString) ||
             !bind(c->cudart_, "cudaDeviceGetPCIBusId", &a.cudaDeviceGetPCIBusId) ||
             !bind(c->cudart_, "cudaSetDevice", &a.cudaSetDevice) ||
             !bind(c->cudart_, "cudaMemGetInfo", &a.cudaMemGetInfo)) {
    c->status_ = unavailable(std::string(kCudaRuntimeLibrary) + " lacks a CUDA runtime entry point: " + last_dlerror());
  } else {
    a.cudaRuntimeGetVersion(&c->runtime_version_);
    a.cudaDriverGetVersion(&c->driver_version_);
    int n = 0;
    const int rc = a.cudaGetDeviceCount(&n);
    if (rc != kCudaSuccess) {
      c->status_ = unavailable(
          explain_cuda_device_count_error(rc, a.cudaGetErrorName(rc), a.cudaGetErrorString(rc), driver_error));
    } else if (n <= 0) {
      c->status_ = unavailable(
          "the CUDA runtime counts no device (CUDA_VISIBLE_DEVICES empty, or a container without "
          "--gpus): run on a GPU host or use --provider cpu");
    } else {
      const bool driver_api = driver_error.empty() && a.cuInit(0) == kCudaSuccess;
      for (int i = 0; i < n; ++i) {
        CudaDevice d;
        d.ordinal = i;
        char bus[64] = {};
        if (a.cudaDeviceGetPCIBusId(bus, sizeof bus, i) == kCudaSuccess) d.pci_bus_id = bus;
        int dev = 0;
        if (driver_api && a.cuDeviceGet(&dev, i) == kCudaSuccess) {
          char name[256] = {};
          if (a.cuDeviceGetName(name, sizeof name, dev) == kCudaSuccess) d.name = name;
          size_t total = 0;
          if (a.cuDeviceTotalMem(&total, dev) == kCudaSuccess) d.total_memory_bytes = total;
        }
        c->devices_.push_back(std::move(d));
      }
    }
  }

  c->cudnn_ = dlopen(kCudnnLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!c->cudnn_) {
    c->cudnn_status_ = unavailable(std::string(kCudnnLibrary) + " (cuDNN 9) cannot be loaded: " + last_dlerror() +
                                   ": install cuDNN 9 for CUDA 13 or add its folder to LD_LIBRARY_PATH (every "
                                   "convolution on CUDA needs it)");
  } else if (!bind(c->cudnn_, "cudnnGetVersion", &a.cudnnGetVersion)) {
    c->cudnn_status_ = unavailable(std::string(kCudnnLibrary) + " lacks cudnnGetVersion: " + last_dlerror());
  } else {
    c->cudnn_version_ = static_cast<int>(a.cudnnGetVersion());
    if (c->cudnn_version_ < 90000) {
      c->cudnn_status_ = unavailable("cuDNN " + std::to_string(c->cudnn_version_) +
                                     " is older than the 9.x the CUDA "
                                     "provider was built with: install cuDNN 9");
    }
  }
  return c;
}

CudaLibraries::~CudaLibraries() {
  if (cudnn_) dlclose(cudnn_);
  if (cudart_) dlclose(cudart_);
  if (driver_) dlclose(driver_);
}

StatusOr<std::pair<uint64_t, uint64_t>> CudaLibraries::memory_info(int ordinal) const {
  if (!status_.ok()) return status_;
  if (ordinal < 0 || ordinal >= device_count()) {
    return invalid_argument("CUDA device " + std::to_string(ordinal) + " does not exist (" +
                            std::to_string(device_count()) + " device(s))");
  }
  int rc = api_->cudaSetDevice(ordinal);
  size_t free = 0, total = 0;
  if (rc == kCudaSuccess) rc = api_->cudaMemGetInfo(&free, &total);
  if (rc != kCudaSuccess) {
    return internal_error(std::string("cudaMemGetInfo on device ") + std::to_string(ordinal) +
                          " failed: " + api_->cudaGetErrorName(rc) + ": " + api_->cudaGetErrorString(rc));
  }
  return std::make_pair(static_cast<uint64_t>(free), static_cast<uint64_t>(total));
}

std::string explain_cuda_device_count_error(int code, const std::string& name, const std::string& text,
                                            const std::string& driver_error) {
  const std::string cuda = "cudaGetDeviceCount: " + name + " (" + std::to_string(code) + "): " + text;
  if (!driver_error.empty()) {
    return std::string(kCudaDriverLibrary) +
           " (the NVIDIA driver) is missing: this machine has no NVIDIA GPU driver; "
           "run on a GPU host or use --provider cpu [" +
           driver_error + "; " + cuda + "]";
  }
  if (code == kCudaErrorInsufficientDriver) {
    return "the NVIDIA driver is older than the CUDA 13 runtime needs: update the driver (580 or newer) [" + cuda + "]";
  }
  if (code == kCudaErrorNoDevice) {
    return "the NVIDIA driver sees no CUDA device (CUDA_VISIBLE_DEVICES, or a container without --gpus) [" + cuda + "]";
  }
  return "the CUDA runtime cannot list the devices [" + cuda + "]";
}

StatusOr<int> cuda_ordinal_of(const std::unordered_map<std::string, std::string>& ep_options, int memory_device_id) {
  auto it = ep_options.find("device_id");
  if (it != ep_options.end()) {
    const std::string& v = it->second;
    int id = -1;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
    if (ec != std::errc() || end != v.data() + v.size() || id < 0) {
      return internal_error("the CUDA EP device's option device_id is '" + v + "', not a CUDA ordinal");
    }
    return id;
  }
  if (memory_device_id >= 0) return memory_device_id;
  return internal_error(
      "the CUDA EP device has neither a device_id option nor a device memory info: cannot tell its "
      "CUDA ordinal");
}

Status check_cuda_device_ids(std::span<const int> ids, int device_count, std::span<const int> ep_ordinals) {
  for (int id : ids) {
    if (id < 0 || id >= device_count) {
      return invalid_argument("CUDA device " + std::to_string(id) + " does not exist: the CUDA runtime counts " +
                              std::to_string(device_count) + " device(s) (ordinals 0.." +
                              std::to_string(device_count - 1) +
                              "; CUDA_VISIBLE_DEVICES renumbers them): fix "
                              "device_ids / --device");
    }
    if (std::find(ep_ordinals.begin(), ep_ordinals.end(), id) == ep_ordinals.end()) {
      std::string have;
      for (int o : ep_ordinals) have += (have.empty() ? "" : ", ") + std::to_string(o);
      return unavailable("ONNX Runtime's CUDA provider offers no device with ordinal " + std::to_string(id) +
                         " (it offers: " + (have.empty() ? std::string("none") : have) + ")");
    }
  }
  return Status();
}

}  // namespace facelens::runtime

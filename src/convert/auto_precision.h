// Precision variants for the Engine's services: "fp16", "int8" or "auto" (FP16 on CUDA; on the
// CPU INT8 when it is faster than FP32 and within the drift bounds, else FP32). The variant is
// made on first load, kept in the precision cache (convert/precision_cache.h) and reused on the
// next start; a changed model file has another sha256, so its variant is made again.
//
//   optimize::PrecisionRequest r;
//   r.precision = std::nullopt;  r.entry = entry;   // nullopt: "auto"  r.model_path = path;  r.model_sha256 = sha;
//   r.reference = reference;  r.calibration_dir = "faces/";
//   FACELENS_ASSIGN_OR_RETURN(auto choice, optimize::resolve_precision(r, env));
//   open(choice.path);  // choice.precision, choice.source ("original", "cache", "converted")
//
// Thread-safety: safe to call from several threads and processes (the cache writes whole files
// atomically); two concurrent first loads may both convert.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "convert/samples.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"
#include "models/manifest.h"
#include "runtime/environment.h"

namespace facelens::optimize {

struct PrecisionRequest {
  // The precision asked for; nullopt = "auto".
  std::optional<models::Precision> precision = models::Precision::kFp32;
  Provider provider = Provider::kCpu;  // the provider the service runs on: kCpu or kCuda
  models::ModelEntry entry;
  std::string model_path;
  std::string model_sha256;            // of model_path (the registry's verified hash)
  std::optional<Reference> reference;  // finds the faces in calibration images
  std::string calibration_dir;         // face images for INT8 calibration and the drift check
  int max_images = 48;
  std::string cache_dir;     // the precision cache (required unless fp32)
  int threads = 0;           // intra-op threads for the latency comparison
  double min_speedup = 1.1;  // auto on CPU: INT8 must be at least this much faster
};

struct PrecisionChoice {
  std::string path;  // the model file to open
  models::Precision precision = models::Precision::kFp32;
  std::string source;   // "original", "cache" or "converted"
  std::string reason;   // why this precision (auto), for logs and `facelens info`
  int conversions = 0;  // conversions this call ran
};

StatusOr<PrecisionChoice> resolve_precision(const PrecisionRequest& request,
                                            std::shared_ptr<const runtime::Environment> env);

}  // namespace facelens::optimize

// Precision variants for the Engine's services: "fp16", "int8" or "auto" (FP16 on CUDA; on the
// CPU INT8 when it is faster than FP32 and within the drift bounds, else FP32). The variant is
// made on first load, kept in the precision cache (convert/precision_cache.h) and reused on the
// next start; a changed model file has another sha256, so its variant is made again.
//
//   optimize::PrecisionRequest r;
//   r.precision = "auto";  r.entry = entry;  r.model_path = path;  r.model_sha256 = sha;
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

#include "facelens/status.h"
#include "models/manifest.h"
#include "convert/samples.h"
#include "runtime/environment.h"

namespace facelens::optimize {

struct PrecisionRequest {
  std::string precision;        // "fp32", "fp16", "int8" or "auto"
  std::string provider = "cpu"; // the provider the service runs on: "cpu" or "cuda"
  models::ModelEntry entry;
  std::string model_path;
  std::string model_sha256;     // of model_path (the registry's verified hash)
  std::optional<Reference> reference;  // finds the faces in calibration images
  std::string calibration_dir;  // face images for INT8 calibration and the drift check
  int max_images = 48;
  std::string cache_dir;        // "" = models::PrecisionCache::default_dir()
  int threads = 0;              // intra-op threads for the latency comparison
  double min_speedup = 1.1;     // auto on CPU: INT8 must be at least this much faster
};

struct PrecisionChoice {
  std::string path;        // the model file to open
  std::string precision;   // "fp32", "fp16", "int8"
  std::string source;      // "original", "cache" or "converted"
  std::string reason;      // why this precision (auto), for logs and `facelens info`
  int conversions = 0;     // conversions this call ran
};

StatusOr<PrecisionChoice> resolve_precision(const PrecisionRequest& request,
                                            std::shared_ptr<const runtime::Environment> env);

}  // namespace facelens::optimize

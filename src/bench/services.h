// The services the benchmark times, each behind one interface: what one timed run does for a
// batch of N items, and whether that is one model call (batched) or N.
//
//   BenchInputs in = ...;                                   // decoded images, faces, aligned crops
//   auto svc = bench::make_service_bench("embed", ctx);     // opens its session(s)
//   FACELENS_RETURN_IF_ERROR((*svc)->prepare(8));           // inputs for batch 8, outside timing
//   FACELENS_RETURN_IF_ERROR((*svc)->run());                // one timed run
//
// A ServiceBench owns its sessions (released with it) and borrows the inputs, which must outlive
// it. run() may be called from one thread at a time (prepare() and run() share buffers).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/variants.h"
#include "facelens/image.h"
#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"
#include "runtime/session.h"

namespace facelens::bench {

// The inputs every service draws its items from, built once on the CPU before any timing.
struct BenchInputs {
  std::vector<std::string> paths;
  std::vector<std::vector<uint8_t>> encoded;  // the files' bytes (for the pipeline's decode)
  std::vector<Image> images;                  // decoded
  struct FaceRef {
    size_t image = 0;  // index into images
    Box box;
    FivePoints five;
  };
  std::vector<FaceRef> faces;  // every face found in every image, best first per image
  std::vector<Image> aligned;  // faces[i] aligned to the recognizer's input size
};

// The services `facelens bench` knows, in report order, and the manifest task each runs.
const std::vector<std::string>& known_services();
// "detect" -> {"detector"}, "pipeline" -> {"detector", "landmarks", "recognizer"}, ...
std::vector<std::string> service_tasks(const std::string& service);

struct ServiceContext {
  const models::Manifest* manifest = nullptr;
  const ModelVariants* variants = nullptr;
  std::string precision = "fp32";
  // Options of the session of each task (provider, CUDA options, threads).
  std::function<runtime::SessionOptions(const std::string& task)> session_options;
  const BenchInputs* inputs = nullptr;
};

class ServiceBench {
 public:
  virtual ~ServiceBench() = default;
  // One model call per run whatever the batch (true), or one call per item (false).
  virtual bool batched() const = 0;
  // "image" or "face": what an item of a batch is.
  virtual const char* item() const = 0;
  // Model calls per run at `batch`, for the results (the pipeline counts its recognizer's).
  virtual int calls_per_run(int batch) const { return batched() ? 1 : batch; }
  // Builds the inputs of a run over `batch` items (cycling over the available ones).
  virtual Status prepare(int batch) = 0;
  // One run over the prepared batch.
  virtual Status run() = 0;
  // The sessions the service runs (to report the provider each really got).
  virtual std::vector<const runtime::Session*> sessions() const = 0;
  // Faces processed by the last run (the pipeline's detections; the batch size otherwise).
  virtual int faces_last_run() const = 0;
};

// Unavailable with a note when the service's model is not configured in the manifest or the
// service is not built into this benchmark yet; FailedPrecondition when it needs faces and the
// images have none.
StatusOr<std::unique_ptr<ServiceBench>> make_service_bench(const std::string& service, const ServiceContext& ctx);

}  // namespace facelens::bench

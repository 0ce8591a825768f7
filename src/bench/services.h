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
//
// "pipeline" is not a composition of its own: it is the service's path, file bytes through
// Engine::analyze_bytes with /v1/embed's options on an Engine built like `facelens serve`'s (see
// PipelineBench), so that its figures are what a request costs without HTTP.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/variants.h"
#include "facelens/engine.h"
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
  // The Engine the pipeline runs on: the bench's models folder, provider, threads and precision,
  // the rest as `facelens serve` sets it (dynamic batching kAuto).
  EngineOptions engine;
};

// Where a service's session runs, for the results (provider_used, fallback, placement, models).
struct SessionFacts {
  std::string provider;  // the execution provider ONNX Runtime really used
  std::string fallback_reason;
  std::string model_path;
  std::string model_id;  // the manifest id when known ("" = found from model_path)
  std::vector<EpPlacement> placement;
};
SessionFacts facts_of(const runtime::Session& session);

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
  virtual std::vector<SessionFacts> sessions() const = 0;
  // Faces processed by the last run (the pipeline's detections; the batch size otherwise).
  virtual int faces_last_run() const = 0;
};

// Unavailable with a note when the service's model is not configured in the manifest or the
// service is not built into this benchmark yet; FailedPrecondition when it needs faces and the
// images have none.
StatusOr<std::unique_ptr<ServiceBench>> make_service_bench(const std::string& service, const ServiceContext& ctx);

// The "pipeline" service: each image's file bytes through Engine::analyze_bytes with the options
// of the /v1/embed handler (src/server/routes_analysis.cpp: AnalyzeOptions::embedding), the call
// the HTTP service makes per request, on an Engine of its own (ServiceContext::engine). A batch of
// N images is N such calls at once, each on its own thread, as N concurrent requests reach the
// service (whose only batch path is the engine's dynamic batcher, merging the faces of concurrent
// calls on CUDA); batch 1 is one request on the calling thread. The engine's models are loaded
// (warm_up) before the timing.
class PipelineBench final : public ServiceBench {
 public:
  PipelineBench(std::unique_ptr<Engine> engine, const BenchInputs& in);
  bool batched() const override { return false; }
  const char* item() const override { return "image"; }
  Status prepare(int batch) override;
  Status run() override;
  std::vector<SessionFacts> sessions() const override;
  int faces_last_run() const override { return faces_; }
  // The answers of the last run, one per image of the batch (for tests: they are the service's).
  const std::vector<ImageResult>& last_results() const { return results_; }
  const Engine& engine() const { return *engine_; }

 private:
  std::unique_ptr<Engine> engine_;
  const BenchInputs& in_;
  std::vector<ImageResult> results_;
  int faces_ = 0;
};

// The pipeline's runner on its own (make_service_bench("pipeline", ctx) returns it): needs
// ctx.engine and ctx.inputs with at least one encoded image.
StatusOr<std::unique_ptr<PipelineBench>> make_pipeline_bench(const ServiceContext& ctx);

}  // namespace facelens::bench

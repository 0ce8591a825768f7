// facelens — the benchmark behind `facelens bench`: every service on every execution provider, at
// every batch size and precision asked; warm-up then timed runs; results.json (the schema is
// docs/bench-results.schema.json), report.md and charts written to a folder.
//
//   facelens::BenchmarkOptions o;
//   o.images = {"photo.jpg"};
//   o.providers = {"cpu", "cuda"};         // CUDA unavailable: marked so, with the reason
//   o.iterations = 50;
//   auto r = facelens::run_benchmark(o, "out");   // out/results.json, out/report.md, out/charts/
//   if (r.ok() && r->n_failed > 0) std::cerr << "see out/report.md";
//
// The photo sweep and the service (issue 17): with `sweep_source` set, the benchmark makes the
// sweep photos (about 0.3, 2, 2.6 and 13 MP, baseline / progressive, with and without restart
// markers) from that photo and measures, for each, the pipeline (file bytes to embedding, as
// /v1/embed runs it) against TurboJPEG's own decode of the file plus the models alone. With
// `server_url` set as well, it posts three of them to a running `facelens serve` (/v1/embed as
// multipart, raw body and JSON base64) and reports the HTTP overhead = service latency - pipeline
// latency, then the throughput of `connections` concurrent connections against one.
//
//   o.images = {};                          // no service matrix, only the sweep and the service
//   o.sweep_source = "obama3.jpg";
//   o.server_url = "http://127.0.0.1:8080";
//   auto r = facelens::run_benchmark(o, "out");   // out/photos/*.jpg too
//
// A service whose model is not configured, a precision that cannot be had and a provider that
// cannot be used are recorded (skipped / unavailable, with why) and never stop the others.
// run_benchmark() takes over the process's resident-set figures (it resets the peak): run one
// benchmark at a time. Units: milliseconds, bytes, items per second.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "facelens/runtime_options.h"
#include "facelens/status.h"

namespace facelens {

// Progress of a running benchmark, for a progress bar.
struct BenchmarkProgress {
  enum class Event { kStep, kRun, kStepDone, kNote };
  Event event = Event::kStep;
  int step = 0;  // 1-based index of the current (service, provider, precision, batch)
  int n_steps = 0;
  int run = 0;  // runs done in this step (warm-up included)
  int n_runs = 0;
  std::string label;    // "embed cpu fp32 batch 8"
  std::string message;  // kStepDone: a one-line summary; kNote: the note
};

struct BenchmarkOptions {
  // Photos of the service matrix (detect, embed, ... at every batch); may be empty when
  // sweep_source is set (then only the sweep and the service bench run).
  std::vector<std::string> images;
  std::vector<std::string> providers = {"cpu", "cuda"};
  std::vector<std::string> services = {"detect", "landmarks", "embed", "liveness", "deepfake", "pipeline"};
  std::vector<int> batches = {1, 8, 32};
  std::vector<std::string> precisions = {"fp32"};  // "fp32", "fp16", "int8"
  int iterations = 50;                             // timed runs per step
  // Untimed runs per step (CUDA's EXHAUSTIVE search happens on the first): at least `warmup`,
  // then more until the median of the last `warmup_window` runs is within `warmup_tolerance`
  // (relative) of the median of the `warmup_window` before them, at most `warmup_max` runs or
  // `warmup_max_s` seconds. warmup_max <= warmup: exactly `warmup` runs.
  int warmup = 5;
  int warmup_max = 50;
  int warmup_window = 3;
  double warmup_tolerance = 0.05;
  double warmup_max_s = 30;
  int threads = 0;         // ONNX Runtime intra-op threads per session; 0 = its default
  std::string models_dir;  // folder with manifest.json and the model files (required; the tool resolves it)
  // The checkout and the commit it was configured at, for the results' commit (the tool passes
  // its build's; the library reads neither the environment nor the build tree).
  std::string source_dir;
  std::string configured_commit;
  RuntimeOptions runtime;  // per-service CUDA options, EP library path (provider is overridden)
  std::string note;        // free text recorded in the results (e.g. "shared machine")

  // The photo sweep: the source photo ("" = no sweep), where its photos go ("" = OUTPUT/photos),
  // and the timed runs per photo (after `warmup` untimed ones).
  std::string sweep_source;
  std::string sweep_photos_dir;
  int sweep_iterations = 15;
  // The service bench (needs sweep_source): base URL "http://HOST:PORT" of a running
  // `facelens serve` ("" = none; plain HTTP only), its API key (sent as X-API-Key; "" = none),
  // timed requests per photo and body format on one keep-alive connection (after
  // server_warmup untimed ones), then the concurrency mode: load_requests requests of the
  // 2.6 MP photo as multipart over 1 and then `connections` connections (0 = no concurrency mode).
  std::string server_url;
  std::string api_key;
  int server_iterations = 20;
  int server_warmup = 2;
  int connections = 16;
  int load_requests = 96;
  double server_ready_timeout_s = 60;  // wait this long for GET /ready to answer 200
  // ONNX Runtime intra-op threads of the service at server_url (`facelens serve --threads`; serve's
  // default is 1). The in-process pipeline the HTTP overhead is measured against runs on an engine
  // set up like the service's, with these threads, so that the overhead is the HTTP layer's alone;
  // 0 = the benchmark's `threads`.
  int server_threads = 0;
  // The service's ONNX Runtime options when the caller knows them exactly (`facelens bench
  // --server` without URL starts the service itself): the in-process pipeline then runs these
  // (provider, threads, spinning) instead of `runtime` with `server_threads`, so that neither a
  // provider nor a spinning difference is counted as HTTP overhead. Unset = the service is taken to
  // run `runtime` on the first of `providers` (cpu when listed, else cuda) with `server_threads`.
  std::optional<RuntimeOptions> server_runtime;
  // The reference design's models (issue 19): YOLOv10n, ArcFace-R50, AdaFace-IR101 and Xception,
  // each timed as one model call on a prepared input at every provider, precision and batch, and
  // compared with the reference design's table (report.md "Against the reference design").
  // Model files: `reference_models_dir`/ARCH.onnx (ARCH = yolov10n, arcface-r50, adaface-ir101,
  // xception) when there, else synthesised once into `reference_cache_dir` (facelens/synth.h:
  // architecture-faithful graphs with random weights, seed 1); fp16/int8 variants are made by the converter
  // (facelens/convert.h, drift not checked: the weights are random) into `reference_cache_dir` and reused while the
  // source's sha256 is the same. int8 needs `calibration_images` (a folder of face photos; the faces are found with the
  // default models of `models_dir`). `images` may be empty.
  bool reference_design = false;
  std::vector<std::string> reference_archs = {"yolov10n", "arcface-r50", "adaface-ir101", "xception"};
  std::string reference_models_dir;
  std::string reference_cache_dir;
  std::string calibration_images;
  int calibration_max_images = 16;
  // Called on the calling thread as the benchmark goes; may be empty.
  std::function<void(const BenchmarkProgress&)> on_progress;
};

struct BenchmarkProviderOutcome {
  std::string name;  // "cpu", "cuda"
  bool available = false;
  std::string reason;  // why not, when unavailable
};

// One photo of the sweep (see sweep_source).
struct SweepPhoto {
  std::string name;  // "13mp-progressive-rst"
  std::string path;
  int width = 0;
  int height = 0;
  double megapixels = 0;
  int64_t bytes = 0;
  bool progressive = false;  // SOF2 (jpeg_simple_progression) or baseline SOF0
  int restart_rows = 0;      // restart markers every N MCU rows; 0 = none
  std::string subsampling;   // "4:2:0" or "4:4:4"
  bool sent_to_server = false;
};

// Makes the sweep photos from `source` into DIR (what `facelens bench --make-photos DIR` does);
// deterministic: the same source and libraries give byte-identical files.
StatusOr<std::vector<SweepPhoto>> make_sweep_photos(const std::string& source, const std::string& dir);

// What run_benchmark wrote; the numbers themselves are in results.json and report.md.
struct BenchmarkOutcome {
  std::vector<std::string> chart_files;  // relative to the output folder (results.json and report.md always)
  std::string charts_note;               // why charts are missing, or what is missing from them
  std::vector<BenchmarkProviderOutcome> providers;
  int n_failed = 0;  // benchmark cells that failed (their errors are in report.md)
  // Requests to the service that got no 2xx answer (their HTTP status and message are in
  // results.json and report.md).
  int n_server_errors = 0;
};

// Checks the options (names, positive counts); InvalidArgument saying which one and why.
Status validate_benchmark_options(const BenchmarkOptions& options);

// Runs the benchmark and writes DIR/results.json, DIR/report.md and DIR/charts/* (creates DIR).
// Errors only for unusable options, images, registry or output folder; everything else is
// recorded in the results.
StatusOr<BenchmarkOutcome> run_benchmark(const BenchmarkOptions& options, const std::string& output_dir);

}  // namespace facelens

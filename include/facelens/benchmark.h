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
// A service whose model is not configured, a precision that cannot be had and a provider that
// cannot be used are recorded (skipped / unavailable, with why) and never stop the others.
// run_benchmark() takes over the process's resident-set figures (it resets the peak): run one
// benchmark at a time. Units: milliseconds, bytes, items per second.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "facelens/runtime_options.h"
#include "facelens/status.h"

namespace facelens {

// Progress of a running benchmark, for a progress bar.
struct BenchmarkProgress {
  enum class Event { kStep, kRun, kStepDone, kNote };
  Event event = Event::kStep;
  int step = 0;        // 1-based index of the current (service, provider, precision, batch)
  int n_steps = 0;
  int run = 0;         // runs done in this step (warm-up included)
  int n_runs = 0;
  std::string label;   // "embed cpu fp32 batch 8"
  std::string message; // kStepDone: a one-line summary; kNote: the note
};

struct BenchmarkOptions {
  std::vector<std::string> images;
  std::vector<std::string> providers = {"cpu", "cuda"};
  std::vector<std::string> services = {"detect", "landmarks", "embed", "liveness", "deepfake", "pipeline"};
  std::vector<int> batches = {1, 8, 32};
  std::vector<std::string> precisions = {"fp32"};  // "fp32", "fp16", "int8"
  int iterations = 50;  // timed runs per step
  int warmup = 5;       // untimed runs per step (CUDA's EXHAUSTIVE search happens on the first)
  int threads = 0;      // ONNX Runtime intra-op threads per session; 0 = its default
  std::string models_dir;   // folder with manifest.json and the model files
  std::string source_dir;         // a git checkout: its commit and dirty state go into the results
  std::string configured_commit;  // the commit to record when source_dir is not a checkout
  RuntimeOptions runtime;   // per-service CUDA options, EP library path (provider is overridden)
  std::string note;         // free text recorded in the results (e.g. "shared machine")
  // Called on the calling thread as the benchmark goes; may be empty.
  std::function<void(const BenchmarkProgress&)> on_progress;
};

struct BenchmarkProviderOutcome {
  std::string name;  // "cpu", "cuda"
  bool available = false;
  std::string reason;  // why not, when unavailable
};

// What run_benchmark wrote; the numbers themselves are in results.json and report.md.
struct BenchmarkOutcome {
  std::vector<std::string> chart_files;  // relative to the output folder (results.json and report.md always)
  std::string charts_note;               // why charts are missing, or what is missing from them
  std::vector<BenchmarkProviderOutcome> providers;
  int n_failed = 0;  // benchmark cells that failed (their errors are in report.md)
};

// Checks the options (names, positive counts); InvalidArgument saying which one and why.
Status validate_benchmark_options(const BenchmarkOptions& options);

// Runs the benchmark and writes DIR/results.json, DIR/report.md and DIR/charts/* (creates DIR).
// Errors only for unusable options, images, registry or output folder; everything else is
// recorded in the results.
StatusOr<BenchmarkOutcome> run_benchmark(const BenchmarkOptions& options, const std::string& output_dir);

}  // namespace facelens

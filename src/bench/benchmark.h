// The benchmark behind `facelens bench`: every service on every execution provider, at every
// batch size and precision asked; warm-up then timed runs; statistics, speedup against the CPU,
// the provider ONNX Runtime really used, memory, and a description of the machine.
//
//   bench::BenchOptions o;
//   o.images = {"photo.jpg"};
//   o.providers = {"cpu", "cuda"};          // CUDA unavailable: marked so, with the reason
//   o.iterations = 50;
//   auto report = bench::run_benchmark(o);
//   if (report.ok()) bench::write_outputs(*report, "out");   // results.json, report.md, charts/
//
// A service whose model is not configured, a precision that cannot be had and a provider that
// cannot be used are recorded (skipped / unavailable, with why) and never stop the others.
// A session placed on the CPU when CUDA was asked is measured, marked fell_back_to_cpu and never
// counted as GPU. Timing is wall-clock (steady_clock) around one run; a run over a batch of N
// items is one model call when the model takes a batch, else N calls.
// run_benchmark() takes over the process's resident-set figures (it resets the peak): run one
// benchmark at a time. Units: milliseconds, bytes, items per second.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/machine.h"
#include "bench/server_bench.h"
#include "bench/stats.h"
#include "bench/sweep.h"
#include "bench/variants.h"
#include "facelens/benchmark.h"
#include "facelens/engine.h"
#include "facelens/runtime_info.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"

namespace facelens::bench {

using Progress = BenchmarkProgress;

// The public options (include/facelens/benchmark.h) and what only the library's own callers set.
struct BenchOptions : BenchmarkOptions {
  // Model files per precision; null = registry_variants (fp32 only).
  std::shared_ptr<const ModelVariants> variants;
};

struct ProviderStatus {
  std::string name;                // "cpu", "cuda"
  std::string execution_provider;  // "CPUExecutionProvider", "CUDAExecutionProvider"
  bool available = false;
  std::string reason;           // why not, when unavailable
  std::vector<int> device_ids;  // CUDA devices used
};

struct ModelRecord {
  std::string task;  // "detector", "recognizer", ...
  std::string id;
  std::string file;
  std::string precision;
  std::string sha256;  // of the file run
  bool sha256_matches_manifest = false;
  std::string input_shape;  // "1x3x240x320", "-1x3x112x112"
  bool dynamic_batch = false;
};

struct MemoryUse {
  std::optional<int64_t> rss_load_delta_bytes;     // RSS after opening the service minus before
  std::optional<int64_t> rss_run_delta_bytes;      // RSS after the timed runs minus after opening
  std::optional<uint64_t> rss_peak_bytes;          // process peak RSS during this step's runs
  std::optional<int64_t> device_load_delta_bytes;  // GPU memory after opening minus before
  std::optional<uint64_t> device_bytes;            // GPU memory in use after the runs
  std::string device_scope;                        // "process" or "device" (nvidia-smi)
  std::string note;                                // what was not measured and why
};

struct Row {
  std::string service;
  std::string provider;  // asked: "cpu", "cuda"
  std::string precision;
  int batch = 1;
  std::string status;  // "ok" or "failed"
  std::string note;
  std::string device;         // CPU model or GPU name
  std::string provider_used;  // the execution provider every session of the service really got
  bool fell_back_to_cpu = false;
  std::string fallback_reason;
  std::vector<EpPlacement> placement;  // nodes per execution provider, over the service's sessions
  bool batched = false;                // one model call per run for the whole batch
  int calls_per_run = 0;
  std::string item;  // "image" or "face"
  int items_per_run = 0;
  int faces_per_run = 0;
  std::vector<std::string> models;  // ids
  // The reference design's row this model is compared with ("Face Detection", ...; "" = none:
  // the default models are other models than the reference design's).
  std::string reference;
  int warmup = 0;           // warm-up runs done
  std::string warmup_stop;  // why the warm-up ended: warmup_state_name() ("stable", "max_runs", ...)
  std::vector<double> warmup_ms;
  Summary summary;
  std::vector<double> samples_ms;
  // CPU mean / this mean, same service/precision/batch; only when a second provider ran the cell
  // (CPU rows then get 1).
  std::optional<double> speedup_vs_cpu;
  MemoryUse memory;
};

struct Skip {
  std::string service;    // "*" = every service
  std::string provider;   // "*" = every provider
  std::string precision;  // "*" = every precision
  std::string reason;
};

// The reference design's table (shared/REFERENCE-DESIGN.md, "Performance Improvements"):
// average time per call, in ms, as ranges.
struct ReferenceFigure {
  std::string name;                // "Face Detection"
  std::string service;             // the facelens service of that task
  std::vector<std::string> archs;  // the reference design's models: only rows of these are compared
  std::array<double, 2> cpu_ms;
  std::array<double, 2> gpu_ms;
  std::array<double, 2> speedup;
  std::string note;
};
const std::vector<ReferenceFigure>& reference_design();

// A reference-design model of a --reference-design run and its precision variants.
struct ReferenceModel {
  std::string arch;    // "yolov10n"
  std::string task;    // "detector", "recognizer", "deepfake"
  std::string figure;  // the reference design's row: "Face Detection"
  std::string file;    // the fp32 file
  std::string source;  // "file" (given) or "synthesised"
  std::string sha256;
  std::optional<bool> synthetic;             // the file's ONNX metadata marks it synthetic (random weights)
  std::map<std::string, std::string> files;  // precision -> file run
  std::string input_shape;                   // "-1x3x640x640"
  bool dynamic_batch = false;
};

struct ChartsInfo {
  bool rendered = false;
  std::string note;                // why not, or what is missing
  std::vector<std::string> files;  // relative to the output folder
};

struct BenchReport {
  BenchOptions options;
  std::string models_dir;
  MachineInfo machine;
  std::string started_at;
  std::string finished_at;
  double duration_s = 0;
  std::optional<std::array<double, 3>> load_start;
  std::optional<std::array<double, 3>> load_end;
  std::vector<ProviderStatus> providers;
  std::vector<ModelRecord> models;
  std::vector<ReferenceModel> reference_models;  // --reference-design
  std::vector<Row> rows;
  std::vector<Skip> skipped;
  std::vector<std::string> input_notes;  // e.g. faces found per image
  ChartsInfo charts;
  // The photo sweep and the service bench (empty / nullopt when not asked for).
  std::vector<SweepRow> sweep;
  std::string sweep_provider;  // the execution provider of the sweep's engine, as asked ("cpu", "cuda")
  int sweep_threads = 0;       // its intra-op threads (0 = ONNX Runtime's default)
  std::optional<ServerReport> server;
  int n_failed() const;  // failed matrix cells and failed sweep photos
  int n_server_errors() const;
};

// One provider's side of a row of the reference-design comparison.
struct ComparisonSide {
  std::optional<double> p50_ms;    // the measured p50 per call; none: see why_not
  std::string precision;           // the precision of that figure
  std::array<double, 2> faster{};  // the reference figure's [lo, hi] / p50: times faster than the reference
  std::string why_not;             // why there is no figure ("cuda unavailable: ...", "not run", ...)
};

// A row of the table "Against the reference design": one of the reference design's models as
// facelens ran it, at the comparison batch (1 when it ran, else the first), beside the reference
// design's figure of the same model. Only --reference-design rows are compared: the default
// models are other models.
struct ComparisonRow {
  const ReferenceFigure* figure = nullptr;
  std::string arch;
  int batch = 1;
  std::string kind;  // "fp32", or "best": the lowest p50 among the precisions run on that provider
  ComparisonSide cpu;
  ComparisonSide cuda;  // GPU figures only from rows that really ran on CUDA
};
std::vector<ComparisonRow> reference_comparison(const BenchReport& report);

// True when some cell ran on a provider other than the CPU (a speedup against the CPU exists).
bool second_provider_ran(const BenchReport& report);

// Checks the options (names, positive counts); InvalidArgument saying which one and why.
Status validate(const BenchOptions& options);

// The engine of the in-process pipeline the service's HTTP overhead is measured against: set up
// like `facelens serve`'s (dynamic batching kAuto), on options.server_runtime when set (exactly the
// service's provider, threads and spinning), else on options.runtime with the first of
// options.providers (cpu when listed, else cuda) and server_threads (0: threads; 0 again: the
// runtime's own).
EngineOptions service_pipeline_engine_options(const BenchOptions& options);

// The warm-up rule of the options (warmup, warmup_max, warmup_window, ...).
WarmupRule warmup_rule(const BenchOptions& options);

// Times one cell: warm-up runs of `run` by warmup_rule(options), then options.iterations timed
// runs; fills r.warmup, r.warmup_stop, r.warmup_ms and r.samples_ms (not r.summary) and reports
// each run as a kRun event of `p`. Stops at the first failing run and returns its status.
Status time_cell(const std::function<Status()>& run, const BenchOptions& options, Row& r, Progress& p,
                 const std::function<void(const Progress&)>& progress);

// Sets speedup_vs_cpu of every row: CPU mean / the row's mean, same service, precision and batch,
// for cells a second provider ran (CPU rows of those cells get 1; nothing when none did).
void set_speedups(std::vector<Row>& rows);

// The reference design's figure whose models include `arch`, or nullptr.
const ReferenceFigure* reference_figure_of(const std::string& arch);

// Runs the benchmark. Errors only for unusable options, images or registry; everything else is
// recorded in the report.
StatusOr<BenchReport> run_benchmark(const BenchOptions& options);

// Writes DIR/results.json, DIR/report.md and DIR/charts/* (creates DIR); fills report.charts.
Status write_outputs(BenchReport& report, const std::string& dir);

// The pieces of write_outputs.
std::string results_json(const BenchReport& report);
std::string report_markdown(const BenchReport& report);
// The pipeline sweep and service tables of report.md ("" when neither ran).
std::string sweep_markdown(const BenchReport& report);
// Renders the charts with gnuplot into DIR/charts (SVG and PNG); when gnuplot is missing, writes
// only the data and scripts and says so.
ChartsInfo render_charts(const BenchReport& report, const std::string& dir);

}  // namespace facelens::bench

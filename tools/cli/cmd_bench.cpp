// facelens bench: every service on CPU and CUDA, batch sweep, results.json, report.md, charts.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "common.h"
#include "facelens/benchmark.h"

namespace facelens::cli {
namespace {

struct BenchArgs {
  std::vector<std::string> images;
  std::string output;
  std::vector<std::string> providers = {"cpu", "cuda"};
  std::vector<std::string> services = {"detect", "landmarks", "embed", "liveness", "deepfake", "pipeline"};
  std::vector<int> batches = {1, 8, 32};
  std::vector<std::string> precisions = {"fp32"};
  int iterations = 50;
  int warmup = 5;
  int threads = 0;
  std::string models_dir;
  std::string config;
  std::string note;
};

// A bar that rewrites one stderr line on a terminal; one plain line per finished step otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool terminal) : terminal_(terminal) {}
  void operator()(const BenchmarkProgress& p) {
    using E = BenchmarkProgress::Event;
    switch (p.event) {
      case E::kNote:
        clear();
        std::cerr << "bench: " << p.message << "\n";
        break;
      case E::kStep:
        if (!terminal_) std::cerr << "bench: [" << p.step << "/" << p.n_steps << "] " << p.label << " ...\n";
        else draw(p);
        break;
      case E::kRun:
        // Redraw at most every 100 ms: a fast service makes thousands of runs.
        if (terminal_ &&
            (p.run == p.n_runs || std::chrono::steady_clock::now() - last_draw_ > std::chrono::milliseconds(100)))
          draw(p);
        break;
      case E::kStepDone:
        clear();
        std::cerr << "bench: [" << p.step << "/" << p.n_steps << "] " << p.message << "\n";
        break;
    }
  }
  void clear() {
    if (terminal_ && drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  void draw(const BenchmarkProgress& p) {
    constexpr int kWidth = 30;
    const double done = p.n_steps > 0 ? (p.step - 1 + (p.n_runs > 0 ? double(p.run) / p.n_runs : 0)) / p.n_steps : 0;
    const int fill = static_cast<int>(done * kWidth + 0.5);
    std::cerr << "\r\033[K[" << std::string(fill, '#') << std::string(kWidth - fill, '.') << "] "
              << static_cast<int>(done * 100) << "%  " << p.step << "/" << p.n_steps << " " << p.label << "  run "
              << p.run << "/" << p.n_runs << std::flush;
    drawn_ = true;
    last_draw_ = std::chrono::steady_clock::now();
  }
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

int cmd_bench(const BenchArgs& a) {
  Common c;
  c.models_dir = a.models_dir;
  c.config = a.config;
  auto eo = engine_options(c);
  if (!eo.ok()) return fail(eo.status());
  BenchmarkOptions o;
  o.images = a.images;
  o.providers = a.providers;
  o.services = a.services;
  o.batches = a.batches;
  o.precisions = a.precisions;
  o.iterations = a.iterations;
  o.warmup = a.warmup;
  o.threads = a.threads;
  o.models_dir = eo->models_dir;
  o.source_dir = FACELENS_SOURCE_DIR;
  o.configured_commit = FACELENS_GIT_COMMIT;
  o.runtime = eo->runtime;
  o.note = a.note;
  if (Status s = validate_benchmark_options(o); !s.ok()) {
    std::cerr << "facelens: " << s.message() << "\n";
    return kExitUsage;
  }
  auto printer = std::make_shared<ProgressPrinter>(isatty(STDERR_FILENO) == 1);
  o.on_progress = [printer](const BenchmarkProgress& p) { (*printer)(p); };
  auto report = run_benchmark(o, a.output);
  printer->clear();
  if (!report.ok()) return fail(report.status());
  std::cout << "wrote " << a.output << "/results.json, " << a.output << "/report.md";
  for (const auto& f : report->chart_files) std::cout << ", " << a.output << "/" << f;
  std::cout << "\n";
  if (!report->charts_note.empty()) std::cerr << "bench: " << report->charts_note << "\n";
  for (const auto& p : report->providers)
    if (!p.available) std::cerr << "bench: " << p.name << " unavailable: " << p.reason << "\n";
  if (const int n = report->n_failed; n > 0) {
    std::cerr << "facelens: " << n << " benchmark cell(s) failed: see " << a.output << "/report.md\n";
    return kExitFailure;
  }
  return 0;
}

}  // namespace

void register_bench_commands(CLI::App& app, Common& /*common*/, std::vector<Runner>& runners) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "time every service on CPU and CUDA: results.json, report.md, charts");
  cmd->add_option("--image", args->images, "photo(s) to run on (repeat --image for several)")->required();
  cmd->add_option("--output", args->output, "folder for results.json, report.md and charts/")->required();
  cmd->add_option("--providers", args->providers, "execution providers, comma-separated: cpu,cuda")
      ->delimiter(',')
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--services", args->services,
                  "services, comma-separated: detect,landmarks,embed,liveness,deepfake,pipeline")
      ->delimiter(',')
      ->check(CLI::IsMember({"detect", "landmarks", "embed", "liveness", "deepfake", "pipeline"}))
      ->capture_default_str();
  cmd->add_option("--batch", args->batches, "batch sizes, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--precision", args->precisions, "precisions, comma-separated: fp32,fp16,int8")
      ->delimiter(',')
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--iterations", args->iterations, "timed runs per cell")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "untimed runs first")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--threads", args->threads, "ONNX Runtime intra-op threads per model (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--models", args->models_dir, "folder with manifest.json and the model files");
  cmd->add_option("--config", args->config, "facelens.toml: per-service CUDA options (default: $FACELENS_CONFIG)");
  cmd->add_option("--note", args->note, "free text kept in the results, e.g. \"shared machine\"");
  runners.push_back([cmd, args]() -> std::optional<int> {
    if (!*cmd) return std::nullopt;
    return cmd_bench(*args);
  });
}

}  // namespace facelens::cli

// facelens bench: every service on CPU and CUDA, batch sweep, results.json, report.md, charts.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
  int warmup_max = 50;
  int warmup_window = 3;
  double warmup_tolerance = 0.05;
  double warmup_max_s = 30;
  int threads = 0;
  bool spin = false;  // ONNX Runtime's idle-thread spinning on (the config's [runtime] allow_spinning)
  // --reference-design (issue 19).
  bool reference_design = false;
  std::vector<std::string> reference_archs = {"yolov10n", "arcface-r50", "adaface-ir101", "xception"};
  std::string reference_models;
  std::string cache;
  std::string calibrate;
  int calibration_max_images = 16;
  std::string models_dir;
  std::string config;
  std::string note;
  // The photo sweep and the service bench (issue 17).
  std::string sweep;        // source photo
  std::string make_photos;  // only write the sweep photos into this folder
  int sweep_iterations = 15;
  bool server = false;     // --server given
  std::string server_url;  // "" with --server: start `facelens serve` on a free loopback port
  std::string api_key;
  int server_threads = 0;  // the service's intra-op threads; 0 = --threads, else serve's default
  int server_iterations = 20;
  int server_warmup = 2;
  int connections = 16;
  int load_requests = 96;
};

// A free TCP port on the loopback interface (the kernel's pick; released before serve binds it).
int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// `facelens serve` started by the bench (--server without URL): this program, on a free loopback
// port, CPU, no gallery, the bench's models and config ("" = none given: serve reads
// $FACELENS_CONFIG as the bench did) and `threads` intra-op threads; its output goes to LOG.
// Stopped with SIGTERM when the object goes.
class ChildServer {
 public:
  ~ChildServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
  }
  std::string start(const std::string& models_dir, const std::string& config, int threads, const std::string& log) {
    const int port = free_loopback_port();
    if (port == 0) return "";
    std::vector<std::string> args = {
        "/proc/self/exe", "serve",      "--host", "127.0.0.1", "--port",  std::to_string(port),
        "--no-gallery",   "--provider", "cpu",    "--models",  models_dir};
    if (!config.empty()) {
      args.push_back("--config");
      args.push_back(config);
    }
    if (threads > 0) {
      args.push_back("--threads");
      args.push_back(std::to_string(threads));
    }
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (pid_ < 0) return "";
    return "http://127.0.0.1:" + std::to_string(port);
  }

 private:
  pid_t pid_ = -1;
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

// Where --reference-design keeps the converted (and synthesised) models: $XDG_CACHE_HOME, else
// $HOME/.cache, else the temp folder; under facelens/reference-design.
std::string default_reference_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/facelens/reference-design";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/facelens/reference-design";
  return (std::filesystem::temp_directory_path() / "facelens-cache" / "reference-design").string();
}

int make_photos(const BenchArgs& a) {
  if (a.sweep.empty()) {
    std::cerr << "facelens: --make-photos needs --sweep PHOTO (the photo the sweep is made from)\n";
    return kExitUsage;
  }
  auto photos = make_sweep_photos(a.sweep, a.make_photos);
  if (!photos.ok()) return fail(photos.status());
  for (const auto& p : *photos)
    std::cout << p.path << "  " << p.width << "x" << p.height << "  " << p.bytes << " bytes  "
              << (p.progressive ? "progressive" : "baseline") << "  "
              << (p.restart_rows > 0 ? "restart every " + std::to_string(p.restart_rows) + " MCU row(s)" : "no restart")
              << "  " << p.subsampling << (p.sent_to_server ? "  (sent by --server)" : "") << "\n";
  return 0;
}

int cmd_bench(const BenchArgs& a) {
  if (!a.make_photos.empty()) return make_photos(a);
  if (a.output.empty()) {
    std::cerr << "facelens: --output DIR is required (or --make-photos DIR)\n";
    return kExitUsage;
  }
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
  o.warmup_max = a.warmup_max;
  o.warmup_window = a.warmup_window;
  o.warmup_tolerance = a.warmup_tolerance;
  o.warmup_max_s = a.warmup_max_s;
  o.reference_design = a.reference_design;
  o.reference_archs = a.reference_archs;
  o.reference_models_dir = a.reference_models;
  o.reference_cache_dir = a.cache.empty() ? default_reference_cache_dir() : a.cache;
  o.calibration_images = a.calibrate;
  o.calibration_max_images = a.calibration_max_images;
  o.threads = a.threads;
  o.models_dir = eo->models_dir;
  o.source_dir = FACELENS_SOURCE_DIR;
  o.configured_commit = FACELENS_GIT_COMMIT;
  o.runtime = eo->runtime;
  if (a.spin) o.runtime.allow_spinning = true;
  o.note = a.note;
  o.sweep_source = a.sweep;
  o.sweep_iterations = a.sweep_iterations;
  o.server_url = a.server_url;
  o.api_key = a.api_key;
  o.server_threads = a.server_threads;
  o.server_iterations = a.server_iterations;
  o.server_warmup = a.server_warmup;
  o.connections = a.connections;
  o.load_requests = a.load_requests;
  // The service's intra-op threads when neither --server-threads nor --threads gives them: serve's
  // own default (the config's [runtime] intra_op_threads, else kServeIntraOpThreads), not ONNX
  // Runtime's (one per core), which would make the in-process pipeline faster than the service's.
  if (o.server_threads == 0 && a.threads == 0)
    o.server_threads = eo->runtime.intra_op_threads > 0 ? eo->runtime.intra_op_threads : kServeIntraOpThreads;
  ChildServer child;
  if (a.server && a.server_url.empty()) {
    std::filesystem::create_directories(a.output);
    const std::string log = a.output + "/serve.log";
    // The service and the in-process pipeline it is compared with run the same runtime: the config's
    // (the child gets the bench's config), on the CPU, with --server-threads, else --threads, else
    // serve's own default, and the config's spinning (serve has no --spin: --spin times the
    // benchmark's other cells only).
    if (o.server_threads == 0) o.server_threads = a.threads;
    RuntimeOptions served = eo->runtime;
    served.provider = Provider::kCpu;
    for (auto& [name, s] : served.services) s.provider.reset();  // serve's --provider is for every service
    served.intra_op_threads = o.server_threads;
    o.server_runtime = served;
    o.server_url = child.start(eo->models_dir, config_path(c), o.server_threads, log);
    if (o.server_url.empty()) return fail(unavailable("could not start facelens serve on a loopback port"));
    std::cerr << "bench: started facelens serve on " << o.server_url << " (log: " << log << ")\n";
  }
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
  int rc = 0;
  if (const int n = report->n_failed; n > 0) {
    std::cerr << "facelens: " << n << " benchmark cell(s) failed: see " << a.output << "/report.md\n";
    rc = kExitFailure;
  }
  if (const int n = report->n_server_errors; n > 0) {
    std::cerr << "facelens: " << n << " request(s) to the service failed: see " << a.output << "/report.md\n";
    rc = kExitFailure;
  }
  return rc;
}

}  // namespace

void register_bench_commands(CLI::App& app, Common& /*common*/, std::vector<Runner>& runners) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "time every service on CPU and CUDA: results.json, report.md, charts");
  cmd->add_option("--image", args->images,
                  "photo(s) of the service matrix (repeat --image for several; may be left out with --sweep)");
  cmd->add_option("--output", args->output, "folder for results.json, report.md, charts/ and photos/");
  cmd->add_option("--providers", args->providers, "execution providers, comma-separated: cpu,cuda")
      ->delimiter(',')
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--services", args->services,
                  "services, comma-separated: detect,landmarks,embed,liveness,deepfake,pipeline")
      ->delimiter(',')
      ->check(CLI::IsMember({"detect", "landmarks", "embed", "liveness", "deepfake", "pipeline"}))
      ->capture_default_str();
  cmd->add_option("--batch,--batches", args->batches, "batch sizes, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  auto* precision = cmd->add_option("--precision,--precisions", args->precisions,
                                    "precisions, comma-separated: fp32,fp16,int8 (--reference-design: all three "
                                    "unless given)")
                        ->delimiter(',')
                        ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
                        ->capture_default_str();
  cmd->add_option("--iterations", args->iterations, "timed runs per cell")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup,
                  "untimed runs first: at least this many, then more until the time per run is stable "
                  "(--warmup-window, --warmup-tolerance), at most --warmup-max runs or --warmup-max-s seconds")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--warmup-max", args->warmup_max, "most warm-up runs per cell (at most --warmup: a fixed count)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--warmup-window", args->warmup_window,
                  "stable = the median of the last N warm-up runs within the tolerance of the N before")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--warmup-tolerance", args->warmup_tolerance, "relative tolerance of the stable rule (0.05 = 5 %)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--warmup-max-s", args->warmup_max_s, "most seconds of warm-up per cell")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--reference-design", args->reference_design,
                "time the reference design's models (YOLOv10n, ArcFace-R50, AdaFace-IR101, Xception) at every "
                "provider, precision and batch, beside its table (--image may then be left out)");
  cmd->add_option("--reference-models", args->reference_models,
                  "folder with the reference design's models as ARCH.onnx (yolov10n, arcface-r50, adaface-ir101, "
                  "xception); those absent are synthesised into --cache (`facelens models synth`)");
  cmd->add_option("--reference-archs", args->reference_archs, "the reference design's models to time, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember({"yolov10n", "arcface-r50", "adaface-ir101", "xception"}))
      ->capture_default_str();
  cmd->add_option("--cache", args->cache,
                  "folder for the reference design's synthesised models and fp16/int8 variants (default: "
                  "$XDG_CACHE_HOME/facelens/reference-design)");
  cmd->add_option("--calibrate", args->calibrate, "face photos for the int8 calibration of --reference-design");
  cmd->add_option("--calibration-max-images", args->calibration_max_images, "photos used at most for calibration")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "ONNX Runtime intra-op threads per model (0 = one per core)")
      ->check(CLI::NonNegativeNumber)
      ->group(kModelOptionsGroup);
  cmd->add_flag("--spin", args->spin,
                "let ONNX Runtime's idle intra-op threads spin between ops (as [runtime] allow_spinning = true): "
                "faster model calls on few cores, at the cost of the cores beside them")
      ->group(kModelOptionsGroup);
  cmd->add_option("--models", args->models_dir, "folder with manifest.json and the model files")
      ->group(kModelOptionsGroup);
  cmd->add_option("--config", args->config, "facelens.toml: per-service CUDA options (default: $FACELENS_CONFIG)")
      ->group(kModelOptionsGroup);
  cmd->add_option("--note", args->note, "free text kept in the results, e.g. \"shared machine\"");
  cmd->add_option("--sweep", args->sweep,
                  "make the 0.3-13 MP sweep photos from PHOTO (into OUTPUT/photos) and time the pipeline on each "
                  "against TurboJPEG's decode + the models");
  cmd->add_option("--sweep-iterations", args->sweep_iterations, "timed runs per sweep photo")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--make-photos", args->make_photos, "only write the sweep photos of --sweep PHOTO into DIR");
  auto* server =
      cmd->add_option("--server", args->server_url,
                      "post the sweep photos to this facelens serve (http://HOST:PORT) as multipart, raw and "
                      "JSON; without URL: start facelens serve on a free loopback port (CPU, no gallery, the "
                      "bench's --models and --config; the in-process pipeline it is compared with then runs on the "
                      "CPU with the serve's threads and the config's spinning, whatever --providers and --spin say)")
          ->expected(0, 1);
  cmd->add_option("--api-key", args->api_key, "X-API-Key for --server (default: $FACELENS_API_KEY)")
      ->envname("FACELENS_API_KEY");
  cmd->add_option("--server-threads", args->server_threads,
                  "intra-op threads of the service (`facelens serve --threads`): the in-process pipeline the HTTP "
                  "overhead is measured against uses them too (default: --threads, else serve's default: the "
                  "config's [runtime] intra_op_threads, else 1; with --server and no URL the bench's serve is "
                  "started with them)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--server-iterations", args->server_iterations, "timed requests per photo and body format")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--server-warmup", args->server_warmup, "untimed rounds first")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--connections", args->connections,
                  "concurrency mode: --load-requests over 1 and over N connections (0 = off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--load-requests", args->load_requests, "requests of each concurrency level")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  runners.push_back([cmd, args, server, precision]() -> std::optional<int> {
    if (!*cmd) return std::nullopt;
    args->server = server->count() > 0;
    if (args->reference_design && precision->count() == 0) args->precisions = {"fp32", "fp16", "int8"};
    return cmd_bench(*args);
  });
}

}  // namespace facelens::cli

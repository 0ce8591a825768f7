// facelens serve: the HTTP service (include/facelens/server.h) until SIGINT/SIGTERM.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <thread>

#include "common.h"
#include "facelens/config.h"
#include "facelens/recognition.h"
#include "facelens/server.h"

namespace facelens::cli {
namespace {

constexpr int kServeAnalysesPerCore = 4;  // [server] max_concurrent under `serve`, per core

// Command-line values; unset ones come from the config's [server], [gallery] and [batching]
// tables, then the built-in defaults.
struct ServeArgs {
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> db;
  bool no_gallery = false;
  std::optional<int> threads;
  std::optional<int> max_concurrent;
  std::optional<int> max_queue;
  std::optional<double> deadline;
  std::optional<int64_t> max_body_mb;
  std::optional<std::string> batching;
  bool no_batching = false;
  std::optional<int> batch_max;
  std::optional<double> batch_wait_ms;
  std::optional<std::string> log_format;
};

int cmd_serve(const Common& c, const ServeArgs& a) {
  // SIGINT/SIGTERM go to a watcher thread that stops the server: in-flight requests finish, then
  // the store is closed and the program exits 0. Blocked here, before the engine starts any
  // thread (ONNX Runtime's pools, the batcher): threads inherit the mask, and one thread with
  // the signals unblocked would take them and end the process at once.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  EngineOptions base;
  base.batching.mode = EngineOptions::Batching::Mode::kAuto;  // the config's [batching] mode may change it
  // The split of the cores between requests and the threads inside one model run, by measurement
  // (README, "Throughput"; scripts/load_test.sh, raw JPEG bodies, 2 cores): one intra-op thread
  // per session and four analyses per core. The models are small: a second intra-op thread
  // shortens one request by ~10 % but 16 clients then got only 1.07-1.64x one client's
  // throughput, against 1.80-1.87x with 1 thread x 4 analyses and 2.04-2.28x with 1 x 8 (93
  // requests/s against 80). --threads N and the config's [runtime] intra_op_threads N (N > 0)
  // override it; 0 there means this default.
  auto opts = engine_options(c, base);
  if (!opts.ok()) return fail(opts.status());
  if (opts->runtime.intra_op_threads <= 0) opts->runtime.intra_op_threads = kServeIntraOpThreads;
  ServiceConfig base_config;
  // Four analyses per core keep the cores busy while others decode, wait on memory or on I/O.
  base_config.server.max_concurrent =
      std::max(2, kServeAnalysesPerCore * static_cast<int>(std::thread::hardware_concurrency()));
  auto cfg = service_config(c, base_config);
  if (!cfg.ok()) return fail(cfg.status());
  ServerOptions so = cfg->server;
  if (a.host) so.host = *a.host;
  if (a.port) so.port = *a.port;
  if (a.threads) so.threads = *a.threads;
  if (a.max_concurrent.value_or(0) > 0) so.max_concurrent = *a.max_concurrent;
  if (a.max_queue) so.max_queue = *a.max_queue;
  if (a.deadline) so.request_deadline_seconds = *a.deadline;
  if (a.max_body_mb) so.max_body_bytes = *a.max_body_mb << 20;
  if (a.log_format) {
    auto f = parse_request_log_format(*a.log_format);
    if (!f.ok()) return fail(f.status().with_context("--log-format"));
    so.request_log = *f;
  }
  if (const char* keys = std::getenv("FACELENS_API_KEYS"); keys && *keys) {
    auto parsed = parse_api_keys(keys);
    if (!parsed.ok()) return fail(parsed.status().with_context("FACELENS_API_KEYS"));
    so.api_keys.insert(so.api_keys.end(), parsed->begin(), parsed->end());
  }
  if (a.batching) {
    auto mode = parse_batching_mode(*a.batching);
    if (!mode.ok()) return fail(mode.status().with_context("--batching"));
    opts->batching.mode = *mode;
  }
  if (a.no_batching) opts->batching.mode = EngineOptions::Batching::Mode::kOff;
  if (a.batch_max) opts->batching.max_batch = *a.batch_max;
  if (a.batch_wait_ms) opts->batching.max_wait_ms = *a.batch_wait_ms;
  auto engine = Engine::create(*opts);
  if (!engine.ok()) return fail(engine.status());
  std::shared_ptr<const Engine> shared_engine = std::move(*engine);
  // Fail fast: every model the routes use is loaded (and hash-checked) before the port opens.
  AnalyzeOptions all;
  all.embedding = all.liveness = all.attributes = true;
  if (Status s = shared_engine->warm_up(all); !s.ok()) return fail(s);
  std::shared_ptr<Gallery> gallery;
  if (!a.no_gallery && cfg->gallery_enabled) {
    GalleryOptions go = cfg->gallery;
    if (a.db)
      if (Status s = set_gallery_database(go, *a.db); !s.ok()) return fail(s);
    auto g = Gallery::open(gallery_options_for(*shared_engine, go));
    if (!g.ok()) return fail(g.status().with_context(go.db_url.empty() ? "gallery " + go.db_path : "gallery"));
    gallery = std::move(*g);
  }
  auto server = Server::create(so, shared_engine, gallery);
  if (!server.ok()) return fail(server.status());
  std::thread watcher([&set, s = server->get()] {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "facelens: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": finishing in-flight requests\n";
    s->stop();
  });
  const std::string url = "http://" + so.host + ":" + std::to_string((*server)->port());
  // The hint works from any folder: the sample photo of the checkout by its absolute path.
  std::error_code ec;
  const std::filesystem::path sample = std::filesystem::path(FACELENS_SOURCE_DIR) / ".deps/samples/astronaut.png";
  const std::string photo = std::filesystem::is_regular_file(sample, ec)
                                ? std::filesystem::absolute(sample, ec).string()
                                : "/path/to/photo.jpg";
  const ThresholdChoice used = match_threshold_choice(c, -1, *opts, *shared_engine);
  std::cout << "facelens serving on " << url << "  (web page: " << url << "/, API: " << url << "/openapi.json)\n"
            << "match threshold " << std::fixed << std::setprecision(4) << used.value << " from " << used.describe()
            << "\n"
            << "try:  curl -s -F image=@" << photo << " " << url << "/v1/detect\n"
            << std::flush;
  Status s = (*server)->run();
  pthread_kill(watcher.native_handle(), SIGTERM);  // wakes the watcher if run() ended by itself
  watcher.join();
  server->reset();
  gallery.reset();
  std::cerr << "facelens: stopped\n";
  return s.ok() ? 0 : fail(s);
}

}  // namespace

void register_serve_commands(CLI::App& app, Common& common, std::vector<Runner>& runners) {
  auto args = std::make_shared<ServeArgs>();
  auto* serve = app.add_subcommand("serve", "the HTTP service (JSON under /v1, web page at /)");
  add_common(serve, common);
  serve->add_option("--host", args->host, "address to bind (without API keys only loopback is allowed)");
  serve->add_option("--port", args->port, "port (0 = any free port; default: [server] port, 8080)");
  serve->add_option("--db", args->db,
                    "gallery database: a SQLite file (folder created) or postgresql://user:password@host:port/db "
                    "(default: [gallery] db_url, else db_path, ./data/gallery.db)");
  serve->add_flag("--no-gallery", args->no_gallery, "serve without a gallery (identify and identities answer 409)");
  serve->add_option("--http-threads", args->threads,
                    "HTTP worker threads (default and least: max-concurrent + max-queue + 8)");
  serve->add_option("--max-concurrent", args->max_concurrent,
                    "analyses at once (default: 4 per core, with 1 intra-op thread each: measured best)");
  serve->add_option("--max-queue", args->max_queue, "analyses waiting; beyond: 503 with Retry-After");
  serve->add_option("--deadline", args->deadline, "per-request deadline in seconds (waiting + running)");
  serve->add_option("--max-body-mb", args->max_body_mb, "largest request body in MiB (413 beyond)");
  serve
      ->add_option("--batching", args->batching,
                   "dynamic batching of the recognizer: auto (on CUDA only, default), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  serve
      ->add_option("--log-format", args->log_format,
                   "request log on stderr, one line per request: json (default), text (for people) or off "
                   "(default: [server] log_format)")
      ->check(CLI::IsMember({"json", "text", "off"}));
  serve->add_flag("--no-batching", args->no_batching, "same as --batching off");
  serve->add_option("--batch-max", args->batch_max, "dynamic batching: most faces per recognizer call");
  serve->add_option("--batch-wait-ms", args->batch_wait_ms, "dynamic batching: longest wait for more faces");
  runners.push_back([serve, args, &common]() -> std::optional<int> {
    if (!*serve) return std::nullopt;
    return cmd_serve(common, *args);
  });
}

}  // namespace facelens::cli

// facelens serve: the HTTP service (include/facelens/server.h) until SIGINT/SIGTERM.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "common.h"
#include "facelens/server.h"

namespace facelens::cli {
namespace {

struct ServeArgs {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string db = "./data/gallery.db";
  bool no_gallery = false;
  int threads = 32;
  int max_concurrent = 0;
  int max_queue = 64;
  double deadline = 10;
  int64_t max_body_mb = 16;
  bool no_batching = false;
  int batch_max = 8;
  double batch_wait_ms = 2;
};

int cmd_serve(const Common& c, const ServeArgs& a) {
  auto opts = engine_options(c);
  if (!opts.ok()) return fail(opts.status());
  ServerOptions so;
  so.host = a.host;
  so.port = a.port;
  so.threads = a.threads;
  // Two analyses per core keep the cores busy while one waits on memory or I/O.
  so.max_concurrent = a.max_concurrent > 0 ? a.max_concurrent
                                           : std::max(2, 2 * static_cast<int>(std::thread::hardware_concurrency()));
  so.max_queue = a.max_queue;
  so.request_deadline_seconds = a.deadline;
  so.max_body_bytes = a.max_body_mb << 20;
  if (const char* keys = std::getenv("FACELENS_API_KEYS"); keys && *keys) {
    auto parsed = parse_api_keys(keys);
    if (!parsed.ok()) return fail(parsed.status().with_context("FACELENS_API_KEYS"));
    so.api_keys = *parsed;
  }
  opts->batching.enabled = !a.no_batching;
  opts->batching.max_batch = a.batch_max;
  opts->batching.max_wait_ms = a.batch_wait_ms;
  auto engine = Engine::create(*opts);
  if (!engine.ok()) return fail(engine.status());
  std::shared_ptr<const Engine> shared_engine = std::move(*engine);
  // Fail fast: every model the routes use is loaded (and hash-checked) before the port opens.
  AnalyzeOptions all;
  all.embedding = all.liveness = all.attributes = true;
  if (Status s = shared_engine->warm_up(all); !s.ok()) return fail(s);
  std::shared_ptr<Gallery> gallery;
  if (!a.no_gallery) {
    GalleryOptions go;
    go.db_path = a.db;
    auto g = Gallery::open(go, shared_engine);
    if (!g.ok()) return fail(g.status().with_context("gallery " + a.db));
    gallery = std::move(*g);
  }
  // SIGINT/SIGTERM go to a watcher thread (blocked everywhere else) that stops the server;
  // in-flight requests finish, then the store is closed.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = Server::create(so, shared_engine, gallery);
  if (!server.ok()) return fail(server.status());
  std::thread watcher([&set, s = server->get()] {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "facelens: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": finishing in-flight requests\n";
    s->stop();
  });
  const std::string url = "http://" + so.host + ":" + std::to_string((*server)->port());
  std::cout << "facelens serving on " << url << "  (web page: " << url << "/, API: " << url << "/openapi.json)\n"
            << "try:  curl -s -F image=@.deps/samples/astronaut.png " << url << "/v1/detect\n"
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
  serve->add_option("--port", args->port, "port (0 = any free port)");
  serve->add_option("--db", args->db, "gallery database (SQLite file; folder created)");
  serve->add_flag("--no-gallery", args->no_gallery, "serve without a gallery (identify and identities answer 409)");
  serve->add_option("--http-threads", args->threads, "HTTP worker threads");
  serve->add_option("--max-concurrent", args->max_concurrent, "analyses at once (default: 2 per core)");
  serve->add_option("--max-queue", args->max_queue, "analyses waiting; beyond: 503 with Retry-After");
  serve->add_option("--deadline", args->deadline, "per-request deadline in seconds (waiting + running)");
  serve->add_option("--max-body-mb", args->max_body_mb, "largest request body in MiB (413 beyond)");
  serve->add_flag("--no-batching", args->no_batching, "run each request's faces alone (no dynamic batching)");
  serve->add_option("--batch-max", args->batch_max, "dynamic batching: most faces per recognizer call");
  serve->add_option("--batch-wait-ms", args->batch_wait_ms, "dynamic batching: longest wait for more faces");
  runners.push_back([serve, args, &common]() -> std::optional<int> {
    if (!*serve) return std::nullopt;
    return cmd_serve(common, *args);
  });
}

}  // namespace facelens::cli

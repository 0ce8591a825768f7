// facelens — the HTTP service: JSON over HTTP under /v1, a web page at /, health, readiness,
// Prometheus metrics and an OpenAPI document.
//
//   facelens::ServerOptions opt;                     // 127.0.0.1:8080, no keys, sane limits
//   auto server = facelens::Server::create(opt, engine, gallery);  // gallery may be null
//   if (!server.ok()) return server.status();        // bad keys/host, port in use
//   (*server)->run();                                // blocks until stop() (e.g. from SIGTERM)
//
// Ownership: the server shares the engine and the gallery (shared_ptr) and never outlives its
// run(). Thread-safety: run() blocks one thread; stop() may be called from any thread or a signal
// watcher; requests are served by a fixed pool of threads, with at most `max_concurrent`
// analyses at once and at most `max_queue` waiting (more get 503 with Retry-After).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/status.h"

namespace facelens {

enum class Role { kUser, kAdmin };  // user: recognition; admin: also gallery writes

struct ApiKey {
  std::string sha256;  // hex sha256 of the key; the key itself is never stored
  Role role = Role::kUser;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see Server::port())
  // Without keys, every request is allowed and the server refuses to bind to anything but loopback.
  std::vector<ApiKey> api_keys;
  int threads = 32;                        // HTTP worker threads
  int max_concurrent = 4;                  // analyses running at once (inference)
  int max_queue = 64;                      // analyses waiting; beyond: 503 + Retry-After
  double request_deadline_seconds = 10;    // waiting + running; beyond: 503
  int64_t max_body_bytes = 16LL << 20;     // 413 beyond
  int max_top_k = 100;
};

// Keys from an environment-style list "admin:KEY1,user:KEY2" (roles admin/user), hashed.
StatusOr<std::vector<ApiKey>> parse_api_keys(const std::string& list);
std::string sha256_hex(const std::string& data);

class Server {
 public:
  static StatusOr<std::unique_ptr<Server>> create(const ServerOptions& options, std::shared_ptr<const Engine> engine,
                                                  std::shared_ptr<Gallery> gallery);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (after create: the socket is bound there, so a port in use fails create()).
  int port() const;
  // Serves until stop(); in-flight requests finish before it returns.
  Status run();
  void stop();
  // METHOD PATH of every route served (for the OpenAPI check).
  std::vector<std::string> routes() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facelens

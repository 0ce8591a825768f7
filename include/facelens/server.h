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
// watcher. One event-loop thread reads every connection (idle and slow ones cost no worker) and
// hands complete requests to a fixed pool of workers, with at most `max_concurrent` analyses at
// once and at most `max_queue` waiting (more get 503 with Retry-After).
//
// Images come as multipart/form-data, JSON (base64 or a data: URI; parsed by simdjson in the
// body buffer) or, on the routes of one image, the raw body (Content-Type image/jpeg, image/png,
// image/webp or image/bmp; options in the query), which is received straight into the buffer the
// decoder reads. HEAD is answered like GET without the body; other unserved methods get 405 + Allow.
//
// Limits on what clients send (each answered with a JSON error, never a crash): the request line
// and headers within header_timeout_seconds (408), bodies up to max_body_bytes, chunked too (413;
// `Expect: 100-continue` gets `100 Continue` only within the limit and once the route, the API key
// and the content type passed), JSON bodies and metadata at most max_json_depth deep (400, part of
// the parse, no recursion), connections per client address and in total (503), idle keep-alive
// connections closed after keep_alive_seconds (1 s once over half of max_connections are open).
// API keys are checked before the content. A POST or PATCH without a body gets 400 saying what the
// route takes. Every answered request writes one line to the request log (ServerOptions::request_log).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/status.h"

namespace facelens {

enum class Role { kUser, kAdmin };  // user: recognition; admin: also gallery writes

// The request log: one line per answered request. kJson: one JSON object per line {"time",
// "request_id", "method", "path", "route", "status", "ms", "bytes_in", "bytes", "client"} (the
// route as documented, "unmatched" for none; bytes: of the answer's body); kText: the same fields
// for people, space-separated. Never the API key, the query or the image.
enum class RequestLogFormat { kJson, kText, kOff };
// "json", "text", "off"; unknown names are errors that list these.
const char* request_log_format_name(RequestLogFormat f);
StatusOr<RequestLogFormat> parse_request_log_format(const std::string& name);

struct ApiKey {
  std::string sha256;  // hex sha256 of the key; the key itself is never stored
  Role role = Role::kUser;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (see Server::port())
  // Without keys, every request is allowed and the server refuses to bind to anything but loopback.
  std::vector<ApiKey> api_keys;
  // HTTP worker threads; at least max_concurrent + max_queue + 8 (every admitted analysis holds
  // one and 8 stay for /health and quick answers), which 0 asks for.
  int threads = 0;
  int max_concurrent = 4;  // analyses running at once (inference)
  int max_queue = 64;      // analyses waiting; beyond: 503 + Retry-After
  // From the moment the request is read, through waiting for a worker and a slot; past it: 503.
  double request_deadline_seconds = 10;
  int64_t max_body_bytes = 16LL << 20;  // 413 beyond
  int max_top_k = 100;
  int max_connections = 512;            // open at once; beyond: 503 and close
  int max_connections_per_client = 64;  // per client address; beyond: 503 and close
  double header_timeout_seconds = 10;   // request line + headers, from their first byte; 408
  double body_timeout_seconds = 60;     // the body, from the end of the headers; 408
  double keep_alive_seconds = 5;        // idle keep-alive connections closed after this
  int max_json_depth = 32;              // nesting of JSON bodies and metadata; 400 beyond
  RequestLogFormat request_log = RequestLogFormat::kJson;
  // Where the request log's lines go (without the newline), called from the worker threads at
  // once; unset: stderr, one write per line.
  std::function<void(std::string_view line)> request_log_sink;
};

// Keys from an environment-style list "admin:KEY1,user:KEY2" (roles admin/user), hashed.
StatusOr<std::vector<ApiKey>> parse_api_keys(const std::string& list);

class Server {
 public:
  // `gallery` may be null (the gallery routes answer 409). With one, the image routes go through a
  // Recognition of the engine and the gallery: its create() refusal (a gallery opened for another
  // recognizer) is this one's.
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

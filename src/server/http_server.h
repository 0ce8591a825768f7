// The service's HTTP/1.1 connection layer: one event-loop thread (epoll) accepts connections and
// reads requests from all of them with deadlines, a fixed pool of workers runs the handler on
// complete requests and writes the answers. An idle or slow connection costs a file descriptor and
// a buffer, never a worker, so no handful of clients can take the service away from the others.
//
//   HttpServer::Options o;  o.host = "127.0.0.1";  o.port = 0;  o.workers = 76;
//   auto s = HttpServer::bind(o, [](HttpRequest& req, Clock::time_point received, HttpResponse& res) {...});
//   (*s)->run();     // blocks until stop(): stops accepting, finishes the requests in flight
//
// Limits (each answered with a JSON error and Connection: close):
//   - request line + headers complete within header_timeout after their first byte (else 408),
//     the body within body_timeout after the headers (else 408), sizes per HttpLimits (431, 413);
//   - idle keep-alive connections closed after keep_alive_seconds, keep_alive_busy_seconds once
//     more than half of max_connections are open;
//   - at most max_connections open and max_connections_per_client per client address: beyond, the
//     new connection gets 503 with Retry-After and is closed;
//   - `Expect: 100-continue` is answered `100 Continue` only when the announced body is within
//     the limit (else 413 at once) and the precheck, given one, lets the request through (else
//     its answer, e.g. 401, and the body is never sent).
// A Content-Length body is received straight into the request's body buffer (no copy beyond the
// bytes that came with the headers), which the handler gets as it is.
// Thread-safety: stop() and stats() from any thread; the handler runs on the worker threads,
// concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "facelens/status.h"
#include "server/http_request.h"

namespace facelens::server {

using Clock = std::chrono::steady_clock;

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (no CR/LF in them)

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  void set_content(std::string b, std::string type) {
    body = std::move(b);
    content_type = std::move(type);
  }
};

// Called on a worker with a complete request and when it was complete (deadlines count from there).
using HttpHandler = std::function<void(HttpRequest& request, Clock::time_point received, HttpResponse& response)>;
// Called on the event-loop thread with the request line and headers of a request that asked for
// `Expect: 100-continue`, before the answer `100 Continue`: false (with `response` set) refuses
// it at once, and the connection is closed after that answer. Must be quick (no I/O).
using HttpPrecheck = std::function<bool(const HttpRequest& request, HttpResponse& response)>;

// A JSON error body {"error":{"code":CODE,"message":MESSAGE}} (the shape every route answers).
std::string error_body(const std::string& code, const std::string& message);
// The reason phrase of an HTTP status ("Not Found").
const char* reason_phrase(int status);

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port
    int workers = 16;
    int max_connections = 512;
    int max_connections_per_client = 64;
    double header_timeout_seconds = 10;
    double body_timeout_seconds = 60;
    double keep_alive_seconds = 5;
    double keep_alive_busy_seconds = 1;
    double write_timeout_seconds = 30;
    double drain_seconds = 10;  // at stop: longest wait for the requests in flight
    HttpLimits limits;
  };
  // Connection-level counts, for /metrics.
  struct Stats {
    int64_t open = 0;                 // connections open now
    int64_t accepted = 0;             // since start
    int64_t rejected_total_cap = 0;   // 503: max_connections reached
    int64_t rejected_client_cap = 0;  // 503: max_connections_per_client reached
    int64_t header_timeouts = 0;      // 408 before the headers were complete
    int64_t body_timeouts = 0;        // 408 before the body was complete
    int64_t idle_closed = 0;          // keep-alive connections closed when idle
    int64_t bad_requests = 0;         // answered by the parser (400/413/417/431/501/505)
    int64_t prechecks_refused = 0;    // Expect: 100-continue requests refused by the precheck
  };

  // Binds and listens (so a port in use fails here).
  static StatusOr<std::unique_ptr<HttpServer>> bind(const Options& options, HttpHandler handler,
                                                    HttpPrecheck precheck = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Serves until stop(); then closes the listener and idle connections, lets the requests being
  // read or handled finish (at most drain_seconds) and returns.
  Status run();
  void stop();
  bool stopping() const;
  Stats stats() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facelens::server

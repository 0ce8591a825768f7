#include "server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>
#include <unordered_map>

namespace facelens::server {

std::string error_body(const std::string& code, const std::string& message) {
  nlohmann::ordered_json j = {{"error", {{"code", code}, {"message", message}}}};
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace);
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

namespace {

constexpr double kLingerSeconds = 2;                    // reading and discarding after an error answer before close
constexpr int kMaxLingering = 256;                      // connections lingering at once; beyond: closed at once
constexpr auto kTick = std::chrono::milliseconds(100);  // deadline checks

const char* error_code_of(int status) {
  switch (status) {
    case 408: return "DEADLINE_EXCEEDED";
    case 413:
    case 431: return "OUT_OF_RANGE";
    case 501:
    case 505: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    default: return "INVALID_ARGUMENT";
  }
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::string response_head(const HttpResponse& res, bool keep_alive, size_t body_size) {
  std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + reason_phrase(res.status) + "\r\n";
  if (!res.content_type.empty()) head += "Content-Type: " + res.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(body_size) + "\r\n";
  head += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [k, v] : res.headers) {
    // Values come from our code, but never let a CR or LF split the header block.
    if (k.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) continue;
    head += k + ": " + v + "\r\n";
  }
  head += "\r\n";
  return head;
}

// Writes all of `parts` to a non-blocking socket before `deadline`.
bool write_all(int fd, std::string_view a, std::string_view b, Clock::time_point deadline) {
  iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
  int first = 0;
  if (iov[0].iov_len == 0) first = 1;
  while (first < 2) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(2 - first);
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000))) < 0 && errno != EINTR) return false;
      continue;
    }
    size_t done = static_cast<size_t>(n);
    while (first < 2 && done >= iov[first].iov_len) {
      done -= iov[first].iov_len;
      ++first;
    }
    if (first < 2) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + done;
      iov[first].iov_len -= done;
    }
  }
  return true;
}

struct Conn {
  enum class State { kIdle, kReading, kBusy, kLinger };
  explicit Conn(const HttpLimits& limits) : parser(limits) {}
  int fd = -1;
  std::string client;    // peer address without the port
  bool counted = false;  // counts toward the per-client and total caps
  RequestParser parser;
  State state = State::kIdle;
  Clock::time_point since;       // idle since / first byte / linger start
  Clock::time_point headers_at;  // when the headers were complete
  bool headers_seen = false;
  int64_t discarded = 0;  // bytes read and dropped while lingering
};

struct Job {
  Conn* conn;
  HttpRequest request;
  Clock::time_point received;
};

}  // namespace

struct HttpServer::Impl {
  Options o;
  HttpHandler handler;
  HttpPrecheck precheck;
  int listen_fd = -1, epoll_fd = -1, wake_fd = -1;
  int port = 0;
  std::atomic<bool> stop_requested{false};

  // Event-loop thread only.
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  std::unordered_map<std::string, int> per_client;
  int n_counted = 0, n_lingering = 0, n_busy = 0;

  // Shared with the workers.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool workers_exit = false;
  std::vector<std::pair<Conn*, bool>> returned;  // (connection, keep it open)

  struct Counters {
    std::atomic<int64_t> open{0}, accepted{0}, rejected_total_cap{0}, rejected_client_cap{0}, header_timeouts{0},
        body_timeouts{0}, idle_closed{0}, bad_requests{0}, prechecks_refused{0};
  } counters;

  ~Impl() {
    for (auto& [fd, c] : conns) ::close(fd);
    if (listen_fd >= 0) ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }

  void watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  void unwatch(int fd) { ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr); }

  void close_conn(int fd) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    Conn& c = *it->second;
    if (c.state != Conn::State::kBusy) unwatch(fd);
    if (c.state == Conn::State::kLinger) --n_lingering;
    if (c.counted) {
      --n_counted;
      if (--per_client[c.client] <= 0) per_client.erase(c.client);
    }
    ::close(fd);
    conns.erase(it);
    counters.open = n_counted;
  }

  // Answers an error on a connection the loop owns (not busy), then reads and drops what the
  // client still sends for a moment before closing: closing with unread data would reset the
  // connection and the client might never see the answer.
  void fail_and_linger(Conn& c, int status, const std::string& message) {
    HttpResponse res;
    res.status = status;
    res.set_content(error_body(error_code_of(status), message), "application/json");
    if (status == 503) res.set_header("Retry-After", "1");
    answer_and_linger(c, res);
  }
  void answer_and_linger(Conn& c, const HttpResponse& res) {
    const std::string head = response_head(res, /*keep_alive=*/false, res.body.size());
    write_all(c.fd, head, res.body, Clock::now() + std::chrono::milliseconds(200));
    ::shutdown(c.fd, SHUT_WR);
    if (n_lingering >= kMaxLingering) return close_conn(c.fd);
    c.state = Conn::State::kLinger;
    c.since = Clock::now();
    ++n_lingering;
  }

  void dispatch(Conn& c) {
    unwatch(c.fd);
    c.state = Conn::State::kBusy;
    ++n_busy;
    {
      std::lock_guard<std::mutex> lock(mu);
      jobs.push_back({&c, c.parser.take(), Clock::now()});
      jobs.back().request.client = c.client;
    }
    cv.notify_one();
  }

  // After the parser took bytes: answers errors, sends 100 Continue, hands complete requests to
  // the workers. False when the connection stays with the loop for more reading.
  bool after_parse(Conn& c, RequestParser::Result r) {
    if (r == RequestParser::Result::kError) {
      ++counters.bad_requests;
      fail_and_linger(c, c.parser.error_status(), c.parser.error_message());
      return true;
    }
    if (r == RequestParser::Result::kComplete) {
      dispatch(c);
      return true;
    }
    if (c.parser.headers_complete() && !c.headers_seen) {
      c.headers_seen = true;
      c.headers_at = Clock::now();
      // The body's size is within the limit here (else the parser failed with 413). The client
      // waits for our word before it sends the body: the precheck (API key, route, content
      // type) answers first, so a refused request never uploads its body.
      if (c.parser.request().expect_continue && c.parser.request().body.empty()) {
        if (precheck) {
          HttpResponse refusal;
          bool pass = true;
          try {
            HttpRequest head = c.parser.request();  // headers only: the body has not been sent
            head.client = c.client;
            pass = precheck(head, refusal);
          } catch (const std::exception& e) {
            pass = false;
            refusal = HttpResponse{};
            refusal.status = 500;
            refusal.set_content(error_body("INTERNAL", e.what()), "application/json");
          }
          if (!pass) {
            ++counters.prechecks_refused;
            answer_and_linger(c, refusal);
            return true;
          }
        }
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!write_all(c.fd, kContinue, {}, Clock::now() + std::chrono::milliseconds(200))) {
          close_conn(c.fd);
          return true;
        }
      }
    }
    return false;
  }

  void on_readable(int fd) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    Conn& c = *it->second;
    char buf[64 << 10];
    constexpr size_t kMaxPerWake = 1 << 20;  // at most 1 MiB per wake-up: fair to the others
    for (size_t got = 0; got < kMaxPerWake;) {
      // A Content-Length body goes straight into the request's buffer; anything else (request
      // line, headers, chunked bodies, pipelined bytes) through `buf` and the parser.
      const std::span<char> room = c.state == Conn::State::kLinger ? std::span<char>() : c.parser.body_room();
      if (!room.empty()) {
        ssize_t n = ::recv(fd, room.data(), std::min(room.size(), kMaxPerWake - got), 0);
        if (n > 0) {
          got += static_cast<size_t>(n);
          if (after_parse(c, c.parser.commit_body(static_cast<size_t>(n)))) return;
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return close_conn(fd);  // end of stream or error
      }
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        got += static_cast<size_t>(n);
        if (c.state == Conn::State::kLinger) {
          c.discarded += n;
          if (c.discarded > 2 * o.limits.max_body_bytes + (1 << 20)) return close_conn(fd);
          continue;
        }
        if (c.state == Conn::State::kIdle) {
          c.state = Conn::State::kReading;
          c.since = Clock::now();
        }
        if (after_parse(c, c.parser.feed(std::string_view(buf, static_cast<size_t>(n))))) return;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return close_conn(fd);  // end of stream or error
    }
  }

  void on_accept() {
    while (true) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN, or out of descriptors (EMFILE): the next tick tries again
      }
      ++counters.accepted;
      int yes = 1;
      // Without TCP_NODELAY a keep-alive client waits for its delayed ACK (40 ms) per answer.
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
      char host[INET6_ADDRSTRLEN] = "";
      if (addr.ss_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof(host));
      } else if (addr.ss_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host, sizeof(host));
      }
      auto c = std::make_unique<Conn>(o.limits);
      c->fd = fd;
      c->client = host;
      c->since = Clock::now();
      Conn& ref = *c;
      conns.emplace(fd, std::move(c));
      watch(fd);
      const int from_client = per_client.count(ref.client) ? per_client[ref.client] : 0;
      if (n_counted >= o.max_connections) {
        ++counters.rejected_total_cap;
        fail_and_linger(
            ref, 503,
            "the server has " + std::to_string(n_counted) + " connections open, its limit: retry in a second");
      } else if (from_client >= o.max_connections_per_client) {
        ++counters.rejected_client_cap;
        fail_and_linger(ref, 503,
                        "this client address has " + std::to_string(from_client) +
                            " connections open, the limit per client: reuse them or retry in a second");
      } else {
        ref.counted = true;
        ++n_counted;
        ++per_client[ref.client];
        counters.open = n_counted;
      }
    }
  }

  void on_returned() {
    std::vector<std::pair<Conn*, bool>> back;
    {
      std::lock_guard<std::mutex> lock(mu);
      back.swap(returned);
    }
    for (auto [c, keep] : back) {
      --n_busy;
      c->state = Conn::State::kIdle;  // owned by the loop again
      watch(c->fd);
      if (!keep || stop_requested) {
        close_conn(c->fd);
        continue;
      }
      c->headers_seen = false;
      c->since = Clock::now();
      const auto r = c->parser.next();  // a pipelined request may be waiting already
      if (c->parser.started()) c->state = Conn::State::kReading;
      after_parse(*c, r);
    }
  }

  void check_deadlines(Clock::time_point now) {
    const bool busy = n_counted > o.max_connections / 2;
    const auto idle_limit = seconds(busy ? o.keep_alive_busy_seconds : o.keep_alive_seconds);
    std::vector<std::pair<int, int>> expired;  // fd, 0 idle / 1 header / 2 body / 3 linger
    for (auto& [fd, c] : conns) {
      switch (c->state) {
        case Conn::State::kIdle:
          if (now - c->since > idle_limit || stop_requested) expired.emplace_back(fd, 0);
          break;
        case Conn::State::kReading:
          if (!c->headers_seen && now - c->since > seconds(o.header_timeout_seconds)) expired.emplace_back(fd, 1);
          else if (c->headers_seen && now - c->headers_at > seconds(o.body_timeout_seconds))
            expired.emplace_back(fd, 2);
          break;
        case Conn::State::kLinger:
          if (now - c->since > seconds(kLingerSeconds)) expired.emplace_back(fd, 3);
          break;
        case Conn::State::kBusy: break;
      }
    }
    for (auto [fd, why] : expired) {
      if (why == 0) {
        ++counters.idle_closed;
        close_conn(fd);
      } else if (why == 1) {
        ++counters.header_timeouts;
        fail_and_linger(
            *conns[fd], 408,
            "the request line and headers did not arrive within " + std::to_string(o.header_timeout_seconds) + " s");
      } else if (why == 2) {
        ++counters.body_timeouts;
        fail_and_linger(*conns[fd], 408,
                        "the request body did not arrive within " + std::to_string(o.body_timeout_seconds) + " s");
      } else {
        close_conn(fd);
      }
    }
  }

  void worker() {
    while (true) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return !jobs.empty() || workers_exit; });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      HttpResponse res;
      try {
        handler(job.request, job.received, res);
      } catch (const std::exception& e) {
        res = HttpResponse{};
        res.status = 500;
        res.set_content(error_body("INTERNAL", e.what()), "application/json");
      } catch (...) {
        res = HttpResponse{};
        res.status = 500;
        res.set_content(error_body("INTERNAL", "unexpected error"), "application/json");
      }
      const bool keep = job.request.keep_alive && !stop_requested;
      const bool head_only = job.request.method == "HEAD";
      const std::string head = response_head(res, keep, res.body.size());
      const bool ok = write_all(job.conn->fd, head, head_only ? std::string_view() : std::string_view(res.body),
                                Clock::now() + seconds(o.write_timeout_seconds));
      {
        std::lock_guard<std::mutex> lock(mu);
        returned.emplace_back(job.conn, keep && ok);
      }
      wake();
    }
  }

  void loop() {
    epoll_event events[256];
    auto next_tick = Clock::now() + kTick;
    bool closed_listener = false;
    Clock::time_point drain_deadline{};
    while (true) {
      int n = ::epoll_wait(epoll_fd, events, 256, static_cast<int>(kTick.count()));
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd) {
          uint64_t v;
          [[maybe_unused]] ssize_t r = ::read(wake_fd, &v, sizeof(v));
        } else if (fd == listen_fd) {
          if (!closed_listener) on_accept();
        } else {
          on_readable(fd);
        }
      }
      on_returned();
      const auto now = Clock::now();
      if (stop_requested && !closed_listener) {
        closed_listener = true;
        unwatch(listen_fd);
        ::close(listen_fd);
        listen_fd = -1;
        drain_deadline = now + seconds(o.drain_seconds);
        next_tick = now;  // close the idle connections now
      }
      if (now >= next_tick) {
        check_deadlines(now);
        next_tick = now + kTick;
      }
      if (closed_listener) {
        bool reading = false;
        for (auto& [fd, c] : conns) reading |= c->state == Conn::State::kReading;
        if ((!reading && n_busy == 0) || now >= drain_deadline) break;
      }
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

StatusOr<std::unique_ptr<HttpServer>> HttpServer::bind(const Options& options, HttpHandler handler,
                                                       HttpPrecheck precheck) {
  if (options.workers < 1 || options.max_connections < 1 || options.max_connections_per_client < 1) {
    return invalid_argument("HTTP workers, max_connections and max_connections_per_client must be at least 1");
  }
  auto impl = std::make_unique<Impl>();
  impl->o = options;
  impl->handler = std::move(handler);
  impl->precheck = std::move(precheck);
  const std::string where = options.host + ":" + std::to_string(options.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(options.host.c_str(), std::to_string(options.port).c_str(), &hints, &found); rc != 0) {
    return unavailable("cannot resolve the address " + options.host + ": " + ::gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only: SO_REUSEPORT would let a second server bind the same port silently.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // A backlog of 1024: 32 clients connecting at once overflow a small one, and SYN cookies
    // then reset some of the connections.
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      impl->listen_fd = fd;
      break;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (impl->listen_fd < 0) {
    return unavailable("cannot listen on " + where + " (" + why +
                       "): the port is in use or the address is not local (choose another with --port)");
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  impl->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->wake_fd < 0)
    return internal_error(std::string("epoll/eventfd: ") + std::strerror(errno));
  impl->watch(impl->listen_fd);
  impl->watch(impl->wake_fd);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

Status HttpServer::run() {
  Impl& m = *impl_;
  std::vector<std::thread> workers;
  for (int i = 0; i < m.o.workers; ++i) workers.emplace_back([&m] { m.worker(); });
  m.loop();
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.workers_exit = true;
  }
  m.cv.notify_all();
  for (auto& t : workers) t.join();  // they answer what is queued (Connection: close), then end
  std::vector<int> fds;
  for (auto& [fd, c] : m.conns) fds.push_back(fd);
  for (int fd : fds) {
    m.conns[fd]->state = Conn::State::kIdle;  // every worker is done: the loop owns them all
    m.close_conn(fd);
  }
  m.returned.clear();
  return Status::Ok();
}

void HttpServer::stop() {
  impl_->stop_requested = true;
  impl_->wake();
}

bool HttpServer::stopping() const { return impl_->stop_requested; }

HttpServer::Stats HttpServer::stats() const {
  const auto& c = impl_->counters;
  return {c.open,          c.accepted,    c.rejected_total_cap, c.rejected_client_cap, c.header_timeouts,
          c.body_timeouts, c.idle_closed, c.bad_requests,       c.prechecks_refused};
}

}  // namespace facelens::server

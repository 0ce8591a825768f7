#include "bench/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace facelens::bench {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string HttpUrl::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + base_path;
}

StatusOr<HttpUrl> parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    return invalid_argument("--server " + url + ": https is not supported; give the plain http:// address");
  if (url.rfind(scheme, 0) != 0) return invalid_argument("--server " + url + ": expected http://HOST:PORT");
  std::string rest = url.substr(scheme.size());
  HttpUrl u;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    u.base_path = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  }
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return invalid_argument("--server " + url + ": unclosed '[' in the host");
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return invalid_argument("--server " + url + ": expected ':' after ']'");
      port = rest.substr(close + 2);
    }
  } else {
    const size_t colon = rest.rfind(':');
    u.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (u.host.empty()) return invalid_argument("--server " + url + ": no host");
  if (!port.empty()) {
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) return invalid_argument("--server " + url + ": bad port '" + port + "'");
    u.port = static_cast<int>(p);
  }
  return u;
}

HttpConnection::HttpConnection(HttpUrl url, double timeout_s) : url_(std::move(url)), timeout_s_(timeout_s) {}

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

Status HttpConnection::open() {
  close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(url_.port);
  if (int rc = getaddrinfo(url_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return unavailable("cannot resolve " + url_.host + ": " + gai_strerror(rc));
  std::string error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(timeout_s_);
      tv.tv_usec = static_cast<suseconds_t>((timeout_s_ - static_cast<double>(tv.tv_sec)) * 1e6);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      fd_ = fd;
      break;
    }
    error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(found);
  if (fd_ < 0) return unavailable("cannot connect to " + url_.text() + ": " + error + " (is facelens serve running?)");
  return Status::Ok();
}

Status HttpConnection::send_all(const char* data, size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(fd_, data, n, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return unavailable("sending to " + url_.text() + " timed out");
    if (sent <= 0) return unavailable("sending to " + url_.text() + ": " + std::strerror(errno));
    data += sent;
    n -= static_cast<size_t>(sent);
  }
  return Status::Ok();
}

StatusOr<size_t> HttpConnection::read_some() {
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return unavailable("no answer from " + url_.text() + " within " + std::to_string(timeout_s_) + " s");
    if (got < 0) return unavailable("reading from " + url_.text() + ": " + std::strerror(errno));
    buffer_.append(chunk, static_cast<size_t>(got));
    return static_cast<size_t>(got);
  }
}

StatusOr<HttpAnswer> HttpConnection::read_answer(bool* closed_unanswered) {
  *closed_unanswered = false;
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    FACELENS_ASSIGN_OR_RETURN(size_t got, read_some());
    if (got == 0) {
      *closed_unanswered = buffer_.empty();
      return unavailable(url_.text() + " closed the connection before answering");
    }
  }
  const std::string_view head(buffer_.data(), header_end);
  HttpAnswer a;
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12)
    return internal_error("not an HTTP/1.x answer from " + url_.text() + ": " + std::string(head.substr(0, 40)));
  a.status = std::atoi(std::string(head.substr(9, 3)).c_str());
  int64_t length = -1;
  bool chunked = false, keep_alive = true;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    const size_t next = head.find("\r\n", pos + 2);
    const std::string_view line = head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string name = lower(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-length") length = std::atoll(std::string(value).c_str());
      else if (name == "transfer-encoding") chunked = lower(value).find("chunked") != std::string::npos;
      else if (name == "connection") keep_alive = lower(value).find("close") == std::string::npos;
      else if (name == "content-type") a.content_type = std::string(value);
    }
    pos = next;
  }
  buffer_.erase(0, header_end + 4);
  if (chunked) {
    for (;;) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        FACELENS_ASSIGN_OR_RETURN(size_t got, read_some());
        if (got == 0) return unavailable(url_.text() + " closed the connection inside a chunked answer");
      }
      const size_t size = std::strtoull(buffer_.substr(0, eol).c_str(), nullptr, 16);
      while (buffer_.size() < eol + 2 + size + 2) {
        FACELENS_ASSIGN_OR_RETURN(size_t got, read_some());
        if (got == 0) return unavailable(url_.text() + " closed the connection inside a chunked answer");
      }
      a.body.append(buffer_, eol + 2, size);
      buffer_.erase(0, eol + 2 + size + 2);
      if (size == 0) break;  // trailers are not used by the service
    }
  } else if (length >= 0) {
    while (static_cast<int64_t>(buffer_.size()) < length) {
      FACELENS_ASSIGN_OR_RETURN(size_t got, read_some());
      if (got == 0) return unavailable(url_.text() + " closed the connection inside an answer");
    }
    a.body = buffer_.substr(0, static_cast<size_t>(length));
    buffer_.erase(0, static_cast<size_t>(length));
  } else if (a.status >= 200 && a.status != 204 && a.status != 304) {
    for (;;) {  // no length: the body runs to the end of the connection
      FACELENS_ASSIGN_OR_RETURN(size_t got, read_some());
      if (got == 0) break;
    }
    a.body = std::move(buffer_);
    keep_alive = false;
  }
  if (!keep_alive) close();
  return a;
}

StatusOr<HttpAnswer> HttpConnection::request(std::string_view method, std::string_view path, const HttpHeaders& headers,
                                             std::span<const uint8_t> body) {
  std::string head;
  head.reserve(256);
  head.append(method).append(" ").append(url_.base_path).append(path).append(" HTTP/1.1\r\nHost: ");
  head.append(url_.host).append(":").append(std::to_string(url_.port)).append("\r\n");
  for (const auto& [k, v] : headers) head.append(k).append(": ").append(v).append("\r\n");
  head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\nConnection: keep-alive\r\n\r\n");
  for (int attempt = 0;; ++attempt) {
    const bool reused = fd_ >= 0;
    if (!reused) FACELENS_RETURN_IF_ERROR(open());
    buffer_.clear();
    Status sent = send_all(head.data(), head.size());
    if (sent.ok() && !body.empty()) sent = send_all(reinterpret_cast<const char*>(body.data()), body.size());
    // A send that fails on a reused connection means the server had closed it (EPIPE).
    bool closed_unanswered = !sent.ok();
    StatusOr<HttpAnswer> answer = sent.ok() ? read_answer(&closed_unanswered) : StatusOr<HttpAnswer>(sent);
    if (answer.ok()) return answer;
    close();
    // A reused connection the server had closed: resend once on a new one.
    if (!(reused && closed_unanswered && attempt == 0)) return answer.status();
  }
}

}  // namespace facelens::bench

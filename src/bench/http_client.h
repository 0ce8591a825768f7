// A small HTTP/1.1 client for the service bench: plain TCP sockets, one keep-alive connection per
// object, Content-Length or chunked answers. No TLS (the bench talks to `facelens serve` on the
// machine or its network; put a TLS terminator's plain side in front of it otherwise).
//
//   auto url = bench::parse_http_url("http://127.0.0.1:8080");
//   bench::HttpConnection c(*url, /*timeout_s=*/60);
//   auto r = c.request("POST", "/v1/embed", {{"Content-Type", "image/jpeg"}}, bytes);
//   if (r.ok() && r->status == 200) use(r->body);
//
// A connection the server closed (Connection: close, idle timeout) is reopened on the next
// request; a request is resent once only when the server closed a reused connection before
// answering a single byte. An HttpConnection is used by one thread at a time; several
// connections may run on several threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "facelens/status.h"

namespace facelens::bench {

struct HttpUrl {
  std::string host;  // "127.0.0.1", "localhost", "[::1]" without the brackets
  int port = 80;
  std::string base_path;  // "" or "/prefix" (no trailing slash): prepended to request paths
  std::string text() const;
};

// "http://HOST[:PORT][/PREFIX]"; InvalidArgument for https or anything else.
StatusOr<HttpUrl> parse_http_url(const std::string& url);

struct HttpAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpConnection {
 public:
  HttpConnection(HttpUrl url, double timeout_s);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends the request (Host, Content-Length and Connection: keep-alive are added) and reads the
  // whole answer. Unavailable for a connection or socket error or when the server
  // does not answer within the timeout (the message says so), Internal for an answer that is not HTTP/1.x.
  StatusOr<HttpAnswer> request(std::string_view method, std::string_view path, const HttpHeaders& headers,
                               std::span<const uint8_t> body);
  void close();

 private:
  Status open();
  Status send_all(const char* data, size_t n);
  // Reads more bytes into buffer_; 0 when the peer closed the connection.
  StatusOr<size_t> read_some();
  // closed_unanswered: the peer closed the connection before sending a byte of the answer.
  StatusOr<HttpAnswer> read_answer(bool* closed_unanswered);

  HttpUrl url_;
  double timeout_s_;
  int fd_ = -1;
  std::string buffer_;  // bytes received and not consumed yet
};

}  // namespace facelens::bench

// HTTP/1.1 request parsing for the service's own connection layer (http_server.h): an incremental
// parser fed with the bytes as they arrive, bounded before anything is copied (header bytes,
// header count, body size, chunk lines), plus the body readers the routes use (multipart/form-data,
// URL query, percent-decoding, a linear JSON depth check for JSON text that is not parsed here).
//
//   server::RequestParser p(limits);
//   auto st = p.feed(bytes);                  // kNeedMore, kComplete or kError (p.error_status())
//   if (p.headers_complete() && p.request().expect_continue) ...   // send "100 Continue"
//   while (auto room = p.body_room(); !room.empty()) st = p.commit_body(recv(fd, room...));  // no copy
//   if (st == kComplete) { HttpRequest r = p.take(); ...; st = p.next(); }  // next pipelined request
//
// A Content-Length body is received into its final buffer (body_room/commit_body: the socket's
// bytes land in HttpRequest::body, which is then handed on as a view), and that buffer keeps
// kBodyPadding bytes of capacity past the body for parsers that read in blocks (simdjson).
//
// Thread-safety: a parser belongs to one connection; the free functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "facelens/status.h"

namespace facelens::server {

// Capacity kept past a Content-Length body (simdjson::SIMDJSON_PADDING is 64).
inline constexpr size_t kBodyPadding = 64;

struct HttpLimits {
  size_t max_header_bytes = 16 << 10;  // request line + header lines (431 beyond)
  size_t max_headers = 100;            // header lines (431 beyond)
  int64_t max_body_bytes = 16 << 20;   // Content-Length or the sum of the chunks (413 beyond)
};

struct HttpRequest {
  std::string method;                                        // as sent (methods are case-sensitive)
  std::string target;                                        // the raw request-target
  std::string path;                                          // percent-decoded path of the target
  std::string query;                                         // raw query string (after '?'), not decoded
  int version_minor = 1;                                     // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, values trimmed
  std::string body;                                          // de-chunked; see kBodyPadding
  bool keep_alive = true;
  bool expect_continue = false;
  int64_t content_length = -1;  // -1: none (chunked or no body)
  bool chunked = false;
  std::string client;  // the peer's address (without the port), set by HttpServer; "" elsewhere

  // The first value of header `name` (lower case), or "" when absent.
  std::string_view header(std::string_view name) const;
};

class RequestParser {
 public:
  enum class Result { kNeedMore, kComplete, kError };
  explicit RequestParser(HttpLimits limits);

  // Consumes `bytes`. After kComplete, bytes beyond the request are kept for next().
  Result feed(std::string_view bytes);
  // Starts the next request from the bytes kept after the last one (pipelining).
  Result next();
  // True once the request line and headers are parsed (request() then has them).
  bool headers_complete() const { return phase_ != Phase::kHead; }
  // True once any byte of the current request arrived.
  bool started() const { return started_; }
  const HttpRequest& request() const { return req_; }
  HttpRequest take() { return std::move(req_); }
  // While a Content-Length body is being read: where its next bytes go (a part of
  // request().body, at most kBodyRoomStep bytes), to receive into directly; empty otherwise.
  // The buffer grows by steps as bytes arrive, so an announced body that never comes costs no memory.
  std::span<char> body_room();
  // The first `n` bytes of body_room() were written: kNeedMore or kComplete.
  Result commit_body(size_t n);
  static constexpr size_t kBodyRoomStep = 256 << 10;
  // After kError: the HTTP status to answer (400, 413, 417, 431, 501, 505) and why.
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  enum class Phase { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailer, kDone, kError };
  Result fail(int status, std::string message);
  Result parse_head();
  Result consume_body(std::string_view& bytes);
  Result consume_chunked(std::string_view& bytes);

  HttpLimits limits_;
  Phase phase_ = Phase::kHead;
  bool started_ = false;
  HttpRequest req_;
  std::string head_;  // request line + headers while they arrive
  size_t scan_ = 0;   // where the search for the end of the headers resumes
  std::string line_;  // a chunk-size or trailer line while it arrives
  uint64_t chunk_left_ = 0;
  size_t body_filled_ = 0;  // bytes of a Content-Length body received (body may be longer: room)
  size_t trailer_bytes_ = 0;
  std::string pending_;  // bytes after a complete request
  int error_status_ = 0;
  std::string error_message_;
};

// "%41+b" -> "A b" with plus_as_space; malformed escapes are kept as they are.
std::string percent_decode(std::string_view s, bool plus_as_space);
// name=value pairs of a query string, decoded.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

// One part of a multipart/form-data body; the views point into the body.
struct FormPart {
  std::string name;
  std::string filename;
  std::string content_type;
  std::string_view data;
};
// Work done by parse_multipart: the bytes it looked at (each memchr'd, compared or scanned byte
// counts once per look). Linear means bytes_examined <= a small constant x the body size.
struct MultipartStats {
  size_t bytes_examined = 0;
};
// The parts of a multipart/form-data body with the given Content-Type header (its boundary, RFC
// 2046 characters only). Linear in the body size whatever it holds: delimiters are found by
// memchr for their CR and a compare, and since a boundary holds no CR a failed compare is never
// looked at again; part headers are searched within 8 KiB. At most `max_parts` parts.
StatusOr<std::vector<FormPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                size_t max_parts = 64, MultipartStats* stats = nullptr);

// True when every array/object nesting in `text` is at most `max_depth` deep (strings skipped).
// Linear, no recursion: run it before a JSON parser, whose copies and dumps recurse.
bool json_depth_within(std::string_view text, int max_depth);

}  // namespace facelens::server

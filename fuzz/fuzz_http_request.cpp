// libFuzzer target: the service's HTTP/1.1 request parser (src/server/http_request.h) and the body
// readers the routes use. The input is fed in pieces whose sizes come from the input itself (as
// a network delivers them); the parse must end the same as when the bytes come at once, every
// complete request must be within the limits, and the body readers must not fail on anything.
// Links: facelens_http (and facelens_core through it); include dir src/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_request.h"

namespace {

using facelens::server::HttpLimits;
using facelens::server::HttpRequest;
using facelens::server::RequestParser;

struct Outcome {
  std::vector<std::string> summaries;  // one per complete request: method, target, body size
  int error = 0;
};

std::string summary(const HttpRequest& r) {
  return r.method + " " + r.target + " " + std::to_string(r.body.size()) + " " + std::to_string(r.keep_alive);
}

void check(bool ok) {
  if (!ok) std::abort();
}

// Runs the parser over `data`, delivered in pieces of the given sizes (cycled), up to 8 requests.
Outcome run(std::string_view data, const std::vector<size_t>& pieces, const HttpLimits& limits) {
  Outcome out;
  RequestParser parser(limits);
  size_t pos = 0, k = 0;
  RequestParser::Result r = RequestParser::Result::kNeedMore;
  while (out.summaries.size() < 8) {
    if (r == RequestParser::Result::kNeedMore) {
      if (pos >= data.size()) break;
      const size_t n =
          std::min(data.size() - pos, pieces.empty() ? data.size() : std::max<size_t>(1, pieces[k++ % pieces.size()]));
      r = parser.feed(data.substr(pos, n));
      pos += n;
      continue;
    }
    if (r == RequestParser::Result::kError) {
      out.error = parser.error_status();
      check(out.error >= 400 && out.error < 600);
      break;
    }
    HttpRequest req = parser.take();
    check(static_cast<int64_t>(req.body.size()) <= limits.max_body_bytes);
    check(req.headers.size() <= limits.max_headers);
    check(!req.target.empty() && req.target[0] == '/');
    out.summaries.push_back(summary(req));
    // The readers the routes run on every request.
    (void)facelens::server::parse_query(req.query);
    (void)facelens::server::json_depth_within(req.body, 32);
    auto parts = facelens::server::parse_multipart(req.header("content-type"), req.body);
    if (parts.ok()) {
      for (const auto& p : *parts) {
        check(p.data.data() >= req.body.data() && p.data.data() + p.data.size() <= req.body.data() + req.body.size());
      }
    }
    r = parser.next();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte: how the rest is split into pieces; the rest: the bytes on the wire.
  const uint8_t split = data[0];
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  HttpLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;
  std::vector<size_t> pieces;
  for (size_t i = 0; i < 8; ++i) pieces.push_back(((split >> (i % 8)) & 7) + 1 + (i % 3) * (split & 15));
  const Outcome whole = run(wire, {}, limits);
  const Outcome split_up = run(wire, pieces, limits);
  const Outcome bytewise = run(wire, {1}, limits);
  // The same requests and the same ending, however the bytes arrive.
  check(whole.summaries == split_up.summaries && whole.summaries == bytewise.summaries);
  check(whole.error == split_up.error && whole.error == bytewise.error);
  // Percent-decoding and the depth check on the raw bytes too.
  (void)facelens::server::percent_decode(wire, true);
  (void)facelens::server::json_depth_within(wire, 4);
  return 0;
}

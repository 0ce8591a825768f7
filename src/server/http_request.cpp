#include "server/http_request.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace facelens::server {
namespace {

bool is_tchar(unsigned char c) {  // RFC 9110 token characters
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Comma-separated list elements of a header value, trimmed, empty ones skipped.
template <typename F>
void for_each_element(std::string_view value, F f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

RequestParser::RequestParser(HttpLimits limits) : limits_(limits) {}

RequestParser::Result RequestParser::fail(int status, std::string message) {
  phase_ = Phase::kError;
  error_status_ = status;
  error_message_ = std::move(message);
  pending_.clear();
  return Result::kError;
}

RequestParser::Result RequestParser::next() {
  std::string rest = std::move(pending_);
  pending_.clear();
  req_ = HttpRequest{};
  head_.clear();
  scan_ = 0;
  line_.clear();
  chunk_left_ = 0;
  body_filled_ = 0;
  trailer_bytes_ = 0;
  started_ = false;
  phase_ = Phase::kHead;
  if (rest.empty()) return Result::kNeedMore;
  return feed(rest);
}

RequestParser::Result RequestParser::feed(std::string_view bytes) {
  if (phase_ == Phase::kError) return Result::kError;
  if (phase_ == Phase::kDone) {  // a pipelined request after a complete one: kept for next()
    pending_.append(bytes);
    return Result::kComplete;
  }
  if (phase_ == Phase::kHead) {
    // Empty lines before the request line are ignored (RFC 9112 2.2).
    if (head_.empty()) {
      while (!bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) bytes.remove_prefix(1);
      if (bytes.empty()) return Result::kNeedMore;
    }
    started_ = true;
    // The end of the headers: an empty line (CRLF CRLF, or bare LF LF). Only the new bytes are
    // searched (scan_), so a header sent one byte at a time costs linear time.
    const size_t old = head_.size();
    const size_t room = limits_.max_header_bytes + 4 - std::min(old, limits_.max_header_bytes + 4);
    head_.append(bytes.substr(0, std::min(bytes.size(), room)));
    size_t end = std::string::npos;
    for (size_t i = scan_; i < head_.size(); ++i) {
      if (head_[i] != '\n') continue;
      // the line before this LF is empty when the previous char is LF, or CR preceded by LF
      if ((i >= 1 && head_[i - 1] == '\n') || (i >= 2 && head_[i - 1] == '\r' && head_[i - 2] == '\n')) {
        end = i + 1;
        break;
      }
    }
    if (end == std::string::npos) {
      scan_ = head_.size() >= 2 ? head_.size() - 2 : 0;
      if (head_.size() > limits_.max_header_bytes) {
        return fail(431, "request line and headers over " + std::to_string(limits_.max_header_bytes) + " bytes");
      }
      return Result::kNeedMore;
    }
    if (end > limits_.max_header_bytes) {
      return fail(431, "request line and headers over " + std::to_string(limits_.max_header_bytes) + " bytes");
    }
    // Bytes after the headers: those of head_ past `end` plus what did not fit into head_.
    std::string rest = head_.substr(end);
    rest.append(bytes.substr(std::min(bytes.size(), room)));
    head_.resize(end);
    if (Result r = parse_head(); r != Result::kNeedMore) {
      if (r == Result::kComplete) pending_ = std::move(rest);
      return r;
    }
    std::string_view body = rest;
    Result r = req_.chunked ? consume_chunked(body) : consume_body(body);
    if (r == Result::kComplete) pending_.append(body);
    return r;
  }
  Result r = req_.chunked ? consume_chunked(bytes) : consume_body(bytes);
  if (r == Result::kComplete) pending_.append(bytes);
  return r;
}

RequestParser::Result RequestParser::parse_head() {
  std::string_view head(head_);
  auto next_line = [&head]() {
    size_t lf = head.find('\n');
    std::string_view line = head.substr(0, lf);
    head.remove_prefix(lf == std::string_view::npos ? head.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  // Request line: METHOD SP request-target SP HTTP/1.x
  std::string_view line = next_line();
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "malformed request line: expected METHOD /path HTTP/1.1");
  }
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  for (char c : method)
    if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "malformed method in the request line");
  if (target.empty() || target.front() != '/') return fail(400, "the request target must be a path starting with '/'");
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return fail(400, "control character or space in the request target");
  }
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." ||
      !std::isdigit(static_cast<unsigned char>(version[7]))) {
    if (version.substr(0, 5) == "HTTP/") return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
    return fail(400, "malformed HTTP version in the request line");
  }
  req_.method = std::string(method);
  req_.target = std::string(target);
  req_.version_minor = version[7] - '0';
  const size_t q = target.find('?');
  req_.path = percent_decode(target.substr(0, q), /*plus_as_space=*/false);
  if (q != std::string_view::npos) req_.query = std::string(target.substr(q + 1));

  // Header lines.
  bool have_length = false, have_te = false, close = false, keep_alive = false;
  while (!head.empty()) {
    line = next_line();
    if (line.empty()) break;
    if (req_.headers.size() >= limits_.max_headers) {
      return fail(431, "more than " + std::to_string(limits_.max_headers) + " header lines");
    }
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "folded header lines are not accepted");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line (no name:value)");
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    for (char c : name)
      if (!is_tchar(static_cast<unsigned char>(c))) return fail(400, "malformed header name");
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return fail(400, "control character in a header value");
    }
    std::string key = lower(name);
    if (key == "content-length") {
      if (value.empty() || value.size() > 18) return fail(400, "malformed Content-Length");
      int64_t n = 0;
      for (char c : value) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return fail(400, "malformed Content-Length");
        n = n * 10 + (c - '0');
      }
      if (have_length && n != req_.content_length) return fail(400, "conflicting Content-Length headers");
      have_length = true;
      req_.content_length = n;
    } else if (key == "transfer-encoding") {
      bool bad = false;
      for_each_element(value, [&](std::string_view v) {
        if (iequals(v, "chunked") && !req_.chunked) req_.chunked = true;
        else bad = true;
      });
      if (bad) return fail(501, "only Transfer-Encoding: chunked is supported");
      have_te = true;
    } else if (key == "connection") {
      for_each_element(value, [&](std::string_view v) {
        if (iequals(v, "close")) close = true;
        else if (iequals(v, "keep-alive")) keep_alive = true;
      });
    } else if (key == "expect") {
      if (!iequals(value, "100-continue")) return fail(417, "only Expect: 100-continue is supported");
      req_.expect_continue = true;
    }
    req_.headers.emplace_back(std::move(key), std::string(value));
  }
  if (have_length && have_te) return fail(400, "both Content-Length and Transfer-Encoding: send one of them");
  if (have_te && req_.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  req_.keep_alive = req_.version_minor >= 1 ? !close : (keep_alive && !close);
  if (req_.content_length > limits_.max_body_bytes) {
    return fail(413, "request body of " + std::to_string(req_.content_length) + " bytes over the server's limit of " +
                         std::to_string(limits_.max_body_bytes) + " bytes");
  }
  if (req_.chunked) {
    phase_ = Phase::kChunkSize;
    return Result::kNeedMore;
  }
  if (req_.content_length > 0) {
    // Address space only: pages are touched as the body arrives (body_room grows by steps).
    req_.body.reserve(static_cast<size_t>(req_.content_length) + kBodyPadding);
    phase_ = Phase::kBody;
    return Result::kNeedMore;
  }
  phase_ = Phase::kDone;
  return Result::kComplete;
}

RequestParser::Result RequestParser::consume_body(std::string_view& bytes) {
  req_.body.resize(body_filled_);  // drops room given out by body_room() and not filled (no reallocation)
  const size_t want = static_cast<size_t>(req_.content_length) - body_filled_;
  const size_t n = std::min(want, bytes.size());
  req_.body.append(bytes.substr(0, n));
  bytes.remove_prefix(n);
  body_filled_ += n;
  return commit_body(0);
}

std::span<char> RequestParser::body_room() {
  if (phase_ != Phase::kBody) return {};
  const size_t length = static_cast<size_t>(req_.content_length);
  if (req_.body.size() <= body_filled_) req_.body.resize(std::min(length, body_filled_ + kBodyRoomStep));
  return {req_.body.data() + body_filled_, req_.body.size() - body_filled_};
}

RequestParser::Result RequestParser::commit_body(size_t n) {
  if (phase_ != Phase::kBody) return phase_ == Phase::kDone ? Result::kComplete : Result::kError;
  body_filled_ = std::min(body_filled_ + n, req_.body.size());
  if (body_filled_ < static_cast<size_t>(req_.content_length)) return Result::kNeedMore;
  phase_ = Phase::kDone;
  return Result::kComplete;
}

RequestParser::Result RequestParser::consume_chunked(std::string_view& bytes) {
  constexpr size_t kMaxLine = 1024;        // a chunk-size line with extensions
  constexpr size_t kMaxTrailer = 8 << 10;  // all trailer lines together
  // Takes one line (without CR LF) from the bytes into line_; false while it is incomplete.
  auto take_line = [&](size_t limit, bool* too_long) {
    size_t lf = bytes.find('\n');
    std::string_view part = bytes.substr(0, lf);
    if (line_.size() + part.size() > limit) {
      *too_long = true;
      return false;
    }
    line_.append(part);
    bytes.remove_prefix(lf == std::string_view::npos ? bytes.size() : lf + 1);
    if (lf == std::string_view::npos) return false;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    return true;
  };
  while (true) {
    switch (phase_) {
      case Phase::kChunkSize: {
        bool too_long = false;
        if (!take_line(kMaxLine, &too_long)) {
          if (too_long) return fail(400, "chunk-size line too long");
          return Result::kNeedMore;
        }
        std::string_view size = trim(std::string_view(line_).substr(0, line_.find(';')));
        if (size.empty()) return fail(400, "malformed chunk size");
        uint64_t n = 0;
        for (char c : size) {
          int h = hex_value(c);
          if (h < 0) return fail(400, "malformed chunk size");
          n = n * 16 + static_cast<uint64_t>(h);
          if (n > static_cast<uint64_t>(limits_.max_body_bytes)) {
            return fail(413, "chunked request body over the server's limit of " +
                                 std::to_string(limits_.max_body_bytes) + " bytes");
          }
        }
        line_.clear();
        if (req_.body.size() + n > static_cast<uint64_t>(limits_.max_body_bytes)) {
          return fail(413, "chunked request body over the server's limit of " + std::to_string(limits_.max_body_bytes) +
                               " bytes");
        }
        chunk_left_ = n;
        phase_ = n == 0 ? Phase::kTrailer : Phase::kChunkData;
        break;
      }
      case Phase::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, bytes.size()));
        req_.body.append(bytes.substr(0, n));
        bytes.remove_prefix(n);
        chunk_left_ -= n;
        if (chunk_left_ > 0) return Result::kNeedMore;
        phase_ = Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkDataEnd: {
        bool too_long = false;
        if (!take_line(2, &too_long)) {
          if (too_long) return fail(400, "chunk data not followed by CRLF");
          return Result::kNeedMore;
        }
        if (!line_.empty()) return fail(400, "chunk data not followed by CRLF");
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailer: {
        bool too_long = false;
        const size_t before = bytes.size();
        const bool got = take_line(kMaxTrailer, &too_long);
        trailer_bytes_ += before - bytes.size();
        if (too_long || trailer_bytes_ > kMaxTrailer) return fail(431, "chunked trailer too long");
        if (!got) return Result::kNeedMore;
        const bool last = line_.empty();
        line_.clear();
        if (last) {
          phase_ = Phase::kDone;
          return Result::kComplete;
        }
        break;  // trailer fields are read and ignored
      }
      default: return Result::kError;
    }
  }
}

std::string percent_decode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    if (!item.empty()) {
      size_t eq = item.find('=');
      out.emplace_back(percent_decode(item.substr(0, eq), true),
                       eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

namespace {

// The value of parameter `key` in a header value like `form-data; name="a"; filename="b.jpg"`.
std::string header_param(std::string_view value, std::string_view key) {
  size_t pos = 0;
  while (pos < value.size()) {
    size_t semi = value.find(';', pos);
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
    std::string_view rest = trim(value.substr(pos));
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim(rest.substr(0, eq)), key)) continue;
    std::string_view v = trim(rest.substr(eq + 1));
    if (!v.empty() && v.front() == '"') {
      std::string out;
      for (size_t i = 1; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) out.push_back(v[++i]);
        else if (v[i] == '"') break;
        else out.push_back(v[i]);
      }
      return out;
    }
    return std::string(v.substr(0, v.find(';')));
  }
  return {};
}

bool is_boundary_char(char c) {  // RFC 2046 bchars
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

}  // namespace

StatusOr<std::vector<FormPart>> parse_multipart(std::string_view content_type, std::string_view body, size_t max_parts,
                                                MultipartStats* stats) {
  const std::string boundary = header_param(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) {
    return invalid_argument("multipart/form-data without a boundary (or one over 200 characters) in Content-Type");
  }
  if (!std::all_of(boundary.begin(), boundary.end(), is_boundary_char) || boundary.back() == ' ') {
    return invalid_argument(
        "the multipart boundary has characters RFC 2046 does not allow (letters, digits and '()+_,-./:=? only)");
  }
  MultipartStats local;
  size_t& examined = (stats ? *stats : local).bytes_examined;
  const std::string delimiter = "\r\n--" + boundary;
  // The next delimiter at or after `from`: each CR memchr finds is compared with the delimiter;
  // the bytes a failed compare matched hold no CR (the boundary has none), so the search resumes
  // at the byte that failed and no byte is looked at more than twice.
  auto find = [&](size_t from) -> size_t {
    while (from < body.size()) {
      const void* cr = std::memchr(body.data() + from, '\r', body.size() - from);
      if (!cr) {
        examined += body.size() - from;
        return std::string_view::npos;
      }
      const size_t at = static_cast<size_t>(static_cast<const char*>(cr) - body.data());
      examined += at - from;
      size_t k = 0;
      while (k < delimiter.size() && at + k < body.size() && body[at + k] == delimiter[k]) ++k;
      examined += std::min(k + 1, body.size() - at);
      if (k == delimiter.size()) return at;
      from = at + std::max<size_t>(k, 1);
    }
    return std::string_view::npos;
  };
  // The first delimiter may open the body without the CRLF before it.
  size_t pos;
  if (body.substr(0, delimiter.size() - 2) == std::string_view(delimiter).substr(2)) {
    pos = delimiter.size() - 2;
    examined += pos;
  } else {
    pos = find(0);
    if (pos == std::string_view::npos) return invalid_argument("multipart body without its boundary");
    pos += delimiter.size();
  }
  constexpr size_t kMaxPartHeaders = 8192;
  std::vector<FormPart> parts;
  while (true) {
    // After a delimiter: "--" closes the body, else transport padding and CRLF open a part.
    if (body.substr(pos, 2) == "--") return parts;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos, ++examined;
    if (body.substr(pos, 2) != "\r\n") return invalid_argument("malformed multipart body (no CRLF after a boundary)");
    pos += 2;
    if (parts.size() >= max_parts)
      return invalid_argument("more than " + std::to_string(max_parts) + " multipart parts");
    // A part without headers starts right with the empty line; else its headers end with one,
    // searched for within kMaxPartHeaders bytes only.
    std::string_view head;
    if (body.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else {
      const std::string_view window = body.substr(pos, kMaxPartHeaders + 4);
      const size_t head_end = window.find("\r\n\r\n");
      examined += head_end == std::string_view::npos ? window.size() : head_end + 4;
      if (head_end == std::string_view::npos) return invalid_argument("malformed multipart part headers");
      head = window.substr(0, head_end);
      pos += head_end + 4;
    }
    FormPart part;
    while (!head.empty()) {
      size_t crlf = head.find("\r\n");
      std::string_view line = head.substr(0, crlf);
      head.remove_prefix(crlf == std::string_view::npos ? head.size() : crlf + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return invalid_argument("malformed multipart part header line");
      std::string_view name = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
      if (iequals(name, "content-disposition")) {
        part.name = header_param(value, "name");
        part.filename = header_param(value, "filename");
      } else if (iequals(name, "content-type")) {
        part.content_type = std::string(value);
      }
    }
    const size_t end = find(pos);
    if (end == std::string_view::npos)
      return invalid_argument("multipart body ends inside a part (no closing boundary)");
    part.data = body.substr(pos, end - pos);
    parts.push_back(std::move(part));
    pos = end + delimiter.size();
  }
}

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return true;
}

}  // namespace facelens::server

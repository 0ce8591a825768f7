#include "facelens/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/base64.h"
#include "core/sha256.h"
#include "server/server_impl.h"

namespace facelens {

using server::Clock;
using server::dump;
using server::json;
using server::send_error;
using server::send_status;

StatusOr<std::vector<ApiKey>> parse_api_keys(const std::string& list) {
  std::vector<ApiKey> keys;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    std::string item = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? list.size() + 1 : end + 1;
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string::npos) {
      return invalid_argument("API key entry without a role: expected ROLE:KEY with ROLE admin or user");
    }
    std::string role = item.substr(0, colon), key = item.substr(colon + 1);
    if (role != "admin" && role != "user") {
      return invalid_argument("API key role '" + role + "' is not admin or user");
    }
    if (key.size() < 16) return invalid_argument("an API key must have at least 16 characters");
    keys.push_back({core::sha256_hex(key), role == "admin" ? Role::kAdmin : Role::kUser});
  }
  return keys;
}

const char* request_log_format_name(RequestLogFormat f) {
  switch (f) {
    case RequestLogFormat::kJson: return "json";
    case RequestLogFormat::kText: return "text";
    case RequestLogFormat::kOff: return "off";
  }
  return "json";
}

StatusOr<RequestLogFormat> parse_request_log_format(const std::string& name) {
  for (RequestLogFormat f : {RequestLogFormat::kJson, RequestLogFormat::kText, RequestLogFormat::kOff})
    if (name == request_log_format_name(f)) return f;
  return invalid_argument("unknown request log format '" + name + "': expected json, text or off");
}

namespace {

int http_status_of(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kOutOfRange: return 413;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted: return 503;
    case StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

int http_workers(const ServerOptions& o) {
  // Every admitted analysis (running or queued) holds a worker, and a few more stay free for
  // /health, /metrics, gallery reads and the quick 503s beyond the queue.
  constexpr int kSpareWorkers = 8;
  return std::max(o.threads, o.max_concurrent + o.max_queue + kSpareWorkers);
}

const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr size_t kMaxMetadataBytes = 64 << 10;  // identity metadata (a JSON object)
constexpr size_t kMaxRequestIdBytes = 128;

// Now as ISO 8601 UTC with milliseconds: 2026-11-29T18:40:12.345Z.
std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// A request id a client may choose: short and printable ASCII, else the server picks one.
bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Path segments of a route pattern or a request path ("/v1/identities/{id}" -> v1, identities, {id}).
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

namespace server {

std::string without_paths(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const bool boundary = i == 0 || std::string_view(" '\"(=:,[").find(text[i - 1]) != std::string_view::npos;
    if (text[i] == '/' && boundary) {
      size_t end = i;
      while (end < text.size() && std::string_view(" \t\n'\"),;]").find(text[end]) == std::string_view::npos) ++end;
      std::string_view token = text.substr(i, end - i);
      if (std::count(token.begin(), token.end(), '/') >= 2 && token.rfind("/v1/", 0) != 0) {
        out += token.substr(token.find_last_of('/') + 1);  // the file name only
        i = end;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

std::string dump(const json& j) { return j.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace); }

void send_json(HttpResponse& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(HttpResponse& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(error_body(code, without_paths(message)), "application/json");
}

void send_status(HttpResponse& res, const Status& s) {
  send_error(res, http_status_of(s), status_code_name(s.code()), s.message());
}

}  // namespace server

bool Server::Impl::acquire(Request& r) {
  const auto deadline = r.start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options.request_deadline_seconds));
  auto past_deadline = [&] {
    r.res.set_header("Retry-After", "1");
    send_error(r.res, 503, "UNAVAILABLE",
               "the request waited past its deadline of " + std::to_string(options.request_deadline_seconds) +
                   " s: retry later");
    metrics.count("facelens_rejected_total", "reason=\"deadline\"");
    return false;
  };
  if (Clock::now() >= deadline) return past_deadline();
  std::unique_lock<std::mutex> lock(mu);
  const size_t waiting = queue.size();
  if (running >= options.max_concurrent && waiting >= static_cast<size_t>(options.max_queue)) {
    r.res.set_header("Retry-After", "1");
    send_error(r.res, 503, "UNAVAILABLE",
               "the server is busy (" + std::to_string(waiting) + " requests queued): retry after a second");
    metrics.count("facelens_rejected_total", "reason=\"queue_full\"");
    return false;
  }
  // First come, first served: a request runs when a slot is free and it heads the queue (a
  // plain condition variable lets late arrivals overtake, which stretches the p99 latency).
  const uint64_t ticket = next_ticket++;
  queue.push_back(ticket);
  bool got = cv.wait_until(lock, deadline, [&] { return running < options.max_concurrent && queue.front() == ticket; });
  queue.erase(std::find(queue.begin(), queue.end(), ticket));
  cv.notify_all();  // the next in line may go (or a timed-out head made room)
  if (!got) {
    lock.unlock();
    return past_deadline();
  }
  ++running;
  return true;
}
void Server::Impl::release() {
  {
    std::lock_guard<std::mutex> lock(mu);
    --running;
  }
  cv.notify_all();
}

bool Server::Impl::authorize(const server::HttpRequest& req, server::HttpResponse& res, Role need) const {
  if (options.api_keys.empty()) return true;
  const std::string key(req.header("x-api-key"));
  if (key.empty()) {
    if (is_probe(req)) return true;
    send_error(res, 401, "UNAUTHENTICATED", "missing X-API-Key header");
    return false;
  }
  const std::string h = core::sha256_hex(key);
  for (const auto& k : options.api_keys) {
    if (k.sha256 != h) continue;
    if (need == Role::kAdmin && k.role != Role::kAdmin) {
      send_error(res, 403, "PERMISSION_DENIED", "this route changes the gallery: it needs an admin key");
      return false;
    }
    return true;
  }
  send_error(res, 401, "UNAUTHENTICATED", "unknown API key");
  return false;
}

bool Server::Impl::is_probe(const server::HttpRequest& req) {
  return (req.method == "GET" || req.method == "HEAD") && (req.path == "/ready" || req.path == "/health");
}

namespace {

// The media type of a Content-Type header, lower case, without parameters ("image/jpeg").
std::string media_type(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The image types a raw body may have; the decoder reads the format from the bytes themselves.
constexpr std::array<std::string_view, 4> kRawImageTypes = {"image/jpeg", "image/png", "image/webp", "image/bmp"};
constexpr std::string_view kRawImageList = "image/jpeg, image/png, image/webp or image/bmp";

}  // namespace

Server::Impl::BodyKind Server::Impl::body_kind(const server::HttpRequest& req) {
  const std::string type = media_type(req.header("content-type"));
  if (type == "multipart/form-data") return BodyKind::kMultipart;
  if (type == "application/json") return BodyKind::kJson;
  if (std::find(kRawImageTypes.begin(), kRawImageTypes.end(), type) != kRawImageTypes.end()) return BodyKind::kRawImage;
  return BodyKind::kNone;
}

bool Server::Impl::admit(const server::HttpRequest& req, server::HttpResponse& res, const Route** route,
                         std::vector<std::string>* args) const {
  std::string allowed;
  *route = match(req, args, &allowed);
  if (!*route) {
    if (allowed.empty()) {
      send_error(res, 404, "NOT_FOUND", "no such route: see /openapi.json");
    } else {
      res.set_header("Allow", allowed);
      send_error(res, 405, "METHOD_NOT_ALLOWED",
                 req.method + " is not served on " + req.path + ": it answers " + allowed);
    }
    return false;
  }
  if (!authorize(req, res, (*route)->role)) return false;  // 401/403 before anything about the content
  if (req.method != "POST" && req.method != "PATCH") return true;
  if (req.content_length == 0 || (req.content_length < 0 && !req.chunked)) {
    send_error(res, 400, "INVALID_ARGUMENT",
               req.method + " " + (*route)->path +
                   " needs a body: " + ((*route)->body.empty() ? std::string("see /openapi.json") : (*route)->body));
    return false;
  }
  const BodyKind kind = body_kind(req);
  if (req.method == "PATCH") {
    if (kind == BodyKind::kJson) return true;
    send_error(res, 415, "UNSUPPORTED_MEDIA_TYPE",
               "content type '" + std::string(req.header("content-type")) + "' is not accepted: " + (*route)->path +
                   " takes application/json: " + (*route)->body);
    return false;
  }
  if (kind == BodyKind::kMultipart || kind == BodyKind::kJson) return true;
  if (kind == BodyKind::kRawImage && (*route)->raw_image) return true;
  const std::string sent = "content type '" + std::string(req.header("content-type")) + "' is not accepted";
  if (!(*route)->raw_image) {
    send_error(res, 415, "UNSUPPORTED_MEDIA_TYPE",
               sent + ": " + (*route)->path +
                   " takes two images (image_a and image_b) or an image and an identity, which a raw body "
                   "cannot carry: send multipart/form-data or application/json");
  } else {
    send_error(res, 415, "UNSUPPORTED_MEDIA_TYPE",
               sent + ": send the image as the raw body (Content-Type " + std::string(kRawImageList) +
                   "), or multipart/form-data, or application/json");
  }
  return false;
}

Status Server::Impl::read_input(Request& r) {
  r.query = server::parse_query(r.req.query);
  if (r.req.method != "POST" && r.req.method != "PATCH") return Status::Ok();
  r.kind = body_kind(r.req);
  if (r.kind == BodyKind::kMultipart) {
    auto parts = server::parse_multipart(r.req.header("content-type"), r.req.body);
    if (!parts.ok()) return parts.status();
    r.parts = std::move(*parts);
  } else if (r.kind == BodyKind::kJson) {
    std::string& text = r.req.body;
    // simdjson reads in 64-byte blocks: a Content-Length body has that room already (kBodyPadding);
    // a chunked one may need it made.
    if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING)
      text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    static_assert(server::kBodyPadding >= simdjson::SIMDJSON_PADDING);
    r.json_parser = std::make_unique<simdjson::dom::parser>();
    if (auto e = r.json_parser->allocate(std::max<size_t>(text.size(), 1), static_cast<size_t>(options.max_json_depth));
        e != simdjson::SUCCESS) {
      return resource_exhausted(std::string("cannot parse the JSON body: ") + simdjson::error_message(e));
    }
    simdjson::dom::element root;
    if (auto e = r.json_parser->parse(text.data(), text.size(), /*realloc_if_needed=*/false).get(root);
        e != simdjson::SUCCESS) {
      if (e == simdjson::DEPTH_ERROR) {
        return invalid_argument("the JSON body is nested deeper than " + std::to_string(options.max_json_depth) +
                                " levels");
      }
      if (e == simdjson::EMPTY) return invalid_argument("the body is empty: send a JSON object");
      return invalid_argument(std::string("the body is not valid JSON (") + simdjson::error_message(e) +
                              "): send a JSON object");
    }
    simdjson::dom::object object;
    if (root.get(object) != simdjson::SUCCESS) return invalid_argument("the body is not a JSON object");
    r.body = object;
  }
  return Status::Ok();
}

std::optional<simdjson::dom::element> Server::Impl::json_field(const Request& r, std::string_view name) const {
  if (!r.body) return std::nullopt;
  std::optional<simdjson::dom::element> found;
  for (const auto field : *r.body)
    if (field.key == name) found = field.value;  // the last of repeated members, as nlohmann::json kept
  return found;
}

const server::FormPart* Server::Impl::part(const Request& r, std::string_view name) const {
  for (const auto& p : r.parts)
    if (p.name == name) return &p;
  return nullptr;
}

bool Server::Impl::has_field(const Request& r, const std::string& field) const {
  switch (r.kind) {
    case BodyKind::kMultipart: return part(r, field) != nullptr;
    case BodyKind::kJson: return json_field(r, field).has_value();
    case BodyKind::kRawImage: return field == "image";
    case BodyKind::kNone: return false;
  }
  return false;
}

StatusOr<std::span<const uint8_t>> Server::Impl::image_of(Request& r, const std::string& field) {
  std::string_view bytes;
  if (r.kind == BodyKind::kMultipart) {
    const server::FormPart* p = part(r, field);
    if (!p) return invalid_argument("multipart request has no file field '" + field + "'");
    bytes = p->data;
  } else if (r.kind == BodyKind::kRawImage) {
    if (field != "image") return invalid_argument("a raw body carries one image, not '" + field + "'");
    bytes = r.req.body;  // the buffer the socket's bytes were received into, as it is
  } else {
    if (!r.body) return invalid_argument("the body is not a JSON object");
    auto value = json_field(r, field);
    std::string_view text;
    if (!value || value->get(text) != simdjson::SUCCESS) {
      return invalid_argument("the JSON body has no string field '" + field +
                              "' (the image in base64, or a data:image/...;base64, URI)");
    }
    // A data: URI (RFC 2397), as browsers' FileReader.readAsDataURL() give: data:image/png;base64,<base64>
    if (text.size() >= 5 && std::equal(text.begin(), text.begin() + 5, "data:", [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      const size_t comma = text.find(',');
      const std::string_view meta = text.substr(0, comma == std::string_view::npos ? 0 : comma);
      constexpr std::string_view kBase64 = ";base64";
      if (comma == std::string_view::npos || meta.size() < kBase64.size() ||
          !std::equal(kBase64.begin(), kBase64.end(), meta.end() - kBase64.size(),
                      [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
        return invalid_argument("field '" + field +
                                "' is a data: URI without base64: send data:image/jpeg;base64,<the image in base64>");
      }
      text.remove_prefix(comma + 1);
    }
    auto raw = core::base64_decode(text);
    if (!raw) return invalid_argument("field '" + field + "' is not valid base64");
    r.decoded.push_back(std::move(*raw));
    bytes = r.decoded.back();
  }
  // The engine's limits, from the header alone, before the image waits for a model.
  FACELENS_RETURN_IF_ERROR(check_image(server::as_bytes(bytes), engine->decode_options()).status());
  return server::as_bytes(bytes);
}

StatusOr<DecodedImage> Server::Impl::decode(std::span<const uint8_t> image) const {
  return decode_image(image, engine->decode_options());
}

StatusOr<std::string> Server::Impl::param(const Request& r, const std::string& name) const {
  for (const auto& [k, v] : r.query)
    if (k == name) return v;
  if (const server::FormPart* p = part(r, name)) return std::string(p->data);
  if (auto value = json_field(r, name)) {
    switch (value->type()) {
      case simdjson::dom::element_type::NULL_VALUE: return std::string();
      case simdjson::dom::element_type::STRING: return std::string(std::string_view(*value));
      case simdjson::dom::element_type::INT64:
      case simdjson::dom::element_type::UINT64:
      case simdjson::dom::element_type::DOUBLE:
      case simdjson::dom::element_type::BOOL: return simdjson::minify(*value);  // as written
      default: return invalid_argument("field '" + name + "' must be a string");
    }
  }
  return std::string();
}

StatusOr<std::string> Server::Impl::metadata_param(const Request& r) const {
  std::string text;
  if (auto value = json_field(r, "metadata"); value && value->is_object()) {
    text = simdjson::minify(*value);  // depth already bounded by the parse
  } else {
    FACELENS_ASSIGN_OR_RETURN(text, param(r, "metadata"));
  }
  if (text.size() > kMaxMetadataBytes) {
    return invalid_argument("metadata over " + std::to_string(kMaxMetadataBytes) + " bytes");
  }
  if (!server::json_depth_within(text, options.max_json_depth)) {
    return invalid_argument("metadata nested deeper than " + std::to_string(options.max_json_depth) + " levels");
  }
  return text;
}

StatusOr<float> Server::Impl::threshold_param(const Request& r) const {
  FACELENS_ASSIGN_OR_RETURN(const std::string text, param(r, "threshold"));
  if (text.empty()) return kGalleryThreshold;
  char* end = nullptr;
  const double t = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(t >= -1 && t <= 1))
    return invalid_argument("threshold must be a number in [-1, 1] (a cosine similarity), got '" + text.substr(0, 32) +
                            "'");
  return static_cast<float>(t);
}

void Server::Impl::route(const char* method, const std::string& path, Role role, bool analysis, Handler fn,
                         bool raw_image, std::string body) {
  Route& r = routes.emplace_back();
  r.body = std::move(body);
  r.method = method;
  r.path = path;
  r.pattern = segments(r.path);
  r.role = role;
  r.analysis = analysis;
  r.raw_image = raw_image;
  r.fn = std::move(fn);
}

const Server::Impl::Route* Server::Impl::match(const server::HttpRequest& req, std::vector<std::string>* args,
                                               std::string* allowed) const {
  const std::string_view target = req.target;
  const auto parts = segments(target.substr(0, target.find('?')));
  const std::string method = req.method == "HEAD" ? std::string("GET") : req.method;
  allowed->clear();
  const Route* found = nullptr;
  for (const auto& route : routes) {
    if (route.pattern.size() != parts.size()) continue;
    std::vector<std::string> values;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (route.pattern[i].size() > 2 && route.pattern[i].front() == '{') {
        if (parts[i].empty()) ok = false;
        else values.push_back(server::percent_decode(parts[i], /*plus_as_space=*/false));
      } else {
        ok = route.pattern[i] == parts[i];
      }
    }
    if (!ok) continue;
    if (route.method == method) {
      if (!found) {
        found = &route;
        *args = std::move(values);
      }
      continue;
    }
    if (allowed->find(route.method) == std::string::npos) {
      *allowed += (allowed->empty() ? "" : ", ") + route.method + (route.method == "GET" ? ", HEAD" : "");
    }
  }
  if (found) allowed->clear();
  return found;
}

void Server::Impl::record(const server::HttpRequest& req, const Route* route, const server::HttpResponse& res,
                          const std::string& id, Clock::time_point start) {
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string doc_path = route ? route->path : "unmatched";
  const std::string labels =
      "method=\"" + (route ? route->method : std::string("other")) + "\",route=\"" + doc_path + "\"";
  metrics.count("facelens_requests_total", labels + ",status=\"" + std::to_string(res.status) + "\"");
  metrics.observe("facelens_request_duration_seconds", labels, secs, kLatencyBuckets);
  if (options.request_log == RequestLogFormat::kOff) return;
  const double ms = std::round(secs * 10000) / 10;
  const int64_t bytes_in = static_cast<int64_t>(req.body.size());
  std::string line;
  if (options.request_log == RequestLogFormat::kJson) {
    // One JSON object per line; every field escaped (the path and the id come from the client).
    line = dump(json{{"time", utc_now()},
                     {"request_id", id},
                     {"method", req.method},
                     {"path", req.path},
                     {"route", doc_path},
                     {"status", res.status},
                     {"ms", ms},
                     {"bytes_in", bytes_in},
                     {"bytes", res.body.size()},
                     {"client", req.client}});
  } else {
    // For people: the client's fields quoted as JSON strings (no forged fields, no control bytes).
    char num[64];
    std::snprintf(num, sizeof num, " %d %.1f ms ", res.status, ms);
    line = utc_now() + " " + (req.client.empty() ? std::string("-") : req.client) + " " + dump(json(req.method)) + " " +
           dump(json(req.path)) + num + std::to_string(bytes_in) + " B in " + std::to_string(res.body.size()) +
           " B out route=" + doc_path + " id=" + dump(json(id));
  }
  if (options.request_log_sink) {
    options.request_log_sink(line);
  } else {
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);  // one call: lines of concurrent requests never mix
  }
}

void Server::Impl::handle(server::HttpRequest& req, Clock::time_point received, server::HttpResponse& res) {
  Request r{std::string(req.header("x-request-id")), req, res, {}, received, {}, BodyKind::kNone, {}, {}, {}, {}};
  if (!acceptable_request_id(r.id)) r.id = std::to_string(next_id.fetch_add(1));
  res.set_header("X-Request-Id", r.id);
  const Route* route = nullptr;
  try {
    if (!admit(req, res, &route, &r.args)) {
      // 404/405, 401/403, 415: answered from the request line and headers
    } else if (!route->analysis) {
      if (Status s = read_input(r); !s.ok()) send_status(res, s);
      else route->fn(r);
    } else if (acquire(r)) {
      struct Slot {
        Impl* impl;
        ~Slot() { impl->release(); }
      } slot{this};
      if (Status s = read_input(r); !s.ok()) send_status(res, s);
      else route->fn(r);
    }
  } catch (const std::exception& e) {
    res = server::HttpResponse{};
    res.set_header("X-Request-Id", r.id);
    send_error(res, 500, "INTERNAL", e.what());
  }
  record(req, route, res, r.id, r.start);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }

void Server::Impl::install() {
  metrics.describe("facelens_requests_total", "counter", "HTTP requests by route and status");
  metrics.describe("facelens_request_duration_seconds", "histogram", "HTTP request latency");
  metrics.describe("facelens_rejected_total", "counter", "requests refused by admission control");
  metrics.describe("facelens_inflight", "gauge", "analyses running and waiting");
  metrics.describe("facelens_recognizer_batches_total", "counter",
                   "recognizer calls by batch size (faces merged from concurrent requests)");

  metrics.describe("facelens_connections_open", "gauge", "HTTP connections open");
  metrics.describe("facelens_connections_rejected_total", "counter",
                   "connections answered 503 and closed: total or per-client connection limit");
  metrics.describe("facelens_connection_timeouts_total", "counter",
                   "requests answered 408: headers or body not complete within their deadline");
  metrics.describe("facelens_bad_requests_total", "counter", "requests refused by the HTTP parser (4xx/5xx)");

  install_analysis_routes();
  install_gallery_routes();
  install_operation_routes();
}

static bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

StatusOr<std::unique_ptr<Server>> Server::create(const ServerOptions& options, std::shared_ptr<const Engine> engine,
                                                 std::shared_ptr<Gallery> gallery) {
  if (!engine) return invalid_argument("the server needs an engine");
  if (options.api_keys.empty() && !is_loopback(options.host)) {
    return failed_precondition("refusing to serve on " + options.host +
                               " without API keys: set FACELENS_API_KEYS=admin:KEY,user:KEY (or [server] api_keys) "
                               "or bind to 127.0.0.1");
  }
  if (options.max_concurrent < 1 || options.max_queue < 0 || options.max_body_bytes < 1 || options.threads < 0 ||
      options.max_connections < 1 || options.max_connections_per_client < 1 || options.max_json_depth < 1 ||
      !(options.request_deadline_seconds > 0) || !(options.header_timeout_seconds > 0) ||
      !(options.keep_alive_seconds > 0) || !(options.body_timeout_seconds > 0)) {
    return invalid_argument(
        "server limits must be positive (max_concurrent, max_body_bytes, max_connections, "
        "max_connections_per_client, max_json_depth, deadlines and timeouts; max_queue and threads at least 0)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->engine = std::move(engine);
  impl->gallery = std::move(gallery);
  if (impl->gallery) {
    FACELENS_ASSIGN_OR_RETURN(impl->recognition, Recognition::create(impl->engine, impl->gallery));
  }
  impl->install();
  server::HttpServer::Options ho;
  ho.host = options.host;
  ho.port = options.port;
  ho.workers = http_workers(options);
  ho.max_connections = options.max_connections;
  ho.max_connections_per_client = options.max_connections_per_client;
  ho.header_timeout_seconds = options.header_timeout_seconds;
  ho.body_timeout_seconds = options.body_timeout_seconds;
  ho.keep_alive_seconds = options.keep_alive_seconds;
  ho.keep_alive_busy_seconds = std::min(1.0, options.keep_alive_seconds);
  // At stop: a request just received may wait its whole deadline and then run.
  ho.drain_seconds = options.request_deadline_seconds + options.header_timeout_seconds;
  ho.limits.max_body_bytes = options.max_body_bytes;
  Impl* raw = impl.get();
  auto http = server::HttpServer::bind(
      ho,
      [raw](server::HttpRequest& req, Clock::time_point received, server::HttpResponse& res) {
        raw->handle(req, received, res);
      },
      // Before `100 Continue`: the route, the key and the content type, from the headers alone.
      [raw](const server::HttpRequest& req, server::HttpResponse& res) {
        const auto start = Clock::now();
        std::string id(req.header("x-request-id"));
        if (!acceptable_request_id(id)) id = std::to_string(raw->next_id.fetch_add(1));
        const Impl::Route* route = nullptr;
        std::vector<std::string> args;
        if (raw->admit(req, res, &route, &args)) return true;
        res.set_header("X-Request-Id", id);
        raw->record(req, route, res, id, start);
        return false;
      });
  if (!http.ok()) return http.status();
  impl->http = std::move(*http);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->http->port(); }

std::vector<std::string> Server::routes() const {
  std::vector<std::string> out;
  for (const auto& r : impl_->routes) out.push_back(r.method + " " + r.path);
  return out;
}

Status Server::run() {
  impl_->ready = !impl_->http->stopping();
  Status s = impl_->http->run();
  impl_->ready = false;
  return s;
}

void Server::stop() {
  if (impl_ && impl_->http) {
    impl_->ready = false;
    impl_->http->stop();
  }
}

}  // namespace facelens

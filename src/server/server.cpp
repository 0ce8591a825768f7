#include "facelens/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
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

bool Server::Impl::authorize(Request& r, Role need) {
  if (options.api_keys.empty()) return true;
  const std::string key(r.req.header("x-api-key"));
  if (key.empty()) {
    if (is_probe(r)) return true;
    send_error(r.res, 401, "UNAUTHENTICATED", "missing X-API-Key header");
    return false;
  }
  const std::string h = core::sha256_hex(key);
  for (const auto& k : options.api_keys) {
    if (k.sha256 != h) continue;
    if (need == Role::kAdmin && k.role != Role::kAdmin) {
      send_error(r.res, 403, "PERMISSION_DENIED", "this route changes the gallery: it needs an admin key");
      return false;
    }
    return true;
  }
  send_error(r.res, 401, "UNAUTHENTICATED", "unknown API key");
  return false;
}

bool Server::Impl::is_probe(const Request& r) {
  return r.req.method == "GET" && (r.req.path == "/ready" || r.req.path == "/health");
}

bool Server::Impl::is_multipart(const Request& r) {
  return r.req.header("content-type").rfind("multipart/form-data", 0) == 0;
}
bool Server::Impl::is_json(const Request& r) { return r.req.header("content-type").rfind("application/json", 0) == 0; }

Status Server::Impl::read_input(Request& r) {
  r.query = server::parse_query(r.req.query);
  if (r.req.method != "POST") return Status::Ok();
  if (is_multipart(r)) {
    auto parts = server::parse_multipart(r.req.header("content-type"), r.req.body);
    if (!parts.ok()) return parts.status();
    r.parts = std::move(*parts);
  } else if (is_json(r)) {
    if (!server::json_depth_within(r.req.body, options.max_json_depth)) {
      return invalid_argument("the JSON body is nested deeper than " + std::to_string(options.max_json_depth) +
                              " levels");
    }
    json body = json::parse(r.req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) return invalid_argument("the body is not a JSON object");
    r.body = std::move(body);
  }
  return Status::Ok();
}

const server::FormPart* Server::Impl::part(const Request& r, std::string_view name) const {
  for (const auto& p : r.parts)
    if (p.name == name) return &p;
  return nullptr;
}

bool Server::Impl::has_field(const Request& r, const std::string& field) const {
  if (is_multipart(r)) return part(r, field) != nullptr;
  return r.body && r.body->contains(field);
}

StatusOr<std::span<const uint8_t>> Server::Impl::image_of(Request& r, const std::string& field) {
  std::string_view bytes;
  if (is_multipart(r)) {
    const server::FormPart* p = part(r, field);
    if (!p) return invalid_argument("multipart request has no file field '" + field + "'");
    bytes = p->data;
  } else {
    if (!r.body) return invalid_argument("the body is not a JSON object");
    auto it = r.body->find(field);
    if (it == r.body->end() || !it->is_string()) {
      return invalid_argument("the JSON body has no string field '" + field + "' (base64 image)");
    }
    auto raw = core::base64_decode(it->get_ref<const std::string&>());
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
  if (r.body) {
    auto it = r.body->find(name);
    if (it == r.body->end() || it->is_null()) return std::string();
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number() || it->is_boolean()) return it->dump();
    return invalid_argument("field '" + name + "' must be a string");
  }
  return std::string();
}

StatusOr<std::string> Server::Impl::metadata_param(const Request& r) const {
  std::string text;
  if (r.body && r.body->contains("metadata") && (*r.body)["metadata"].is_object()) {
    text = dump((*r.body)["metadata"]);  // depth already bounded by read_input
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

void Server::Impl::route(const char* method, const std::string& path, Role role, bool analysis, Handler fn) {
  Route& r = routes.emplace_back();
  r.method = method;
  r.path = path;
  r.pattern = segments(r.path);
  r.role = role;
  r.analysis = analysis;
  r.fn = std::move(fn);
}

const Server::Impl::Route* Server::Impl::match(const server::HttpRequest& req, std::vector<std::string>* args) const {
  const std::string_view target = req.target;
  const auto parts = segments(target.substr(0, target.find('?')));
  for (const auto& route : routes) {
    if (route.method != req.method || route.pattern.size() != parts.size()) continue;
    args->clear();
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (route.pattern[i].size() > 2 && route.pattern[i].front() == '{') {
        if (parts[i].empty()) ok = false;
        else args->push_back(server::percent_decode(parts[i], /*plus_as_space=*/false));
      } else {
        ok = route.pattern[i] == parts[i];
      }
    }
    if (ok) return &route;
  }
  return nullptr;
}

void Server::Impl::handle(server::HttpRequest& req, Clock::time_point received, server::HttpResponse& res) {
  Request r{std::string(req.header("x-request-id")), req, res, {}, received, {}, {}, {}, {}};
  if (!acceptable_request_id(r.id)) r.id = std::to_string(next_id.fetch_add(1));
  res.set_header("X-Request-Id", r.id);
  const Route* route = match(req, &r.args);
  try {
    if (!route) {
      send_error(res, 404, "NOT_FOUND", "no such route: see /openapi.json");
    } else if (!authorize(r, route->role)) {
      // 401/403 before anything about the content
    } else if (req.method == "POST" && !is_multipart(r) && !is_json(r)) {
      send_error(res, 415, "UNSUPPORTED_MEDIA_TYPE",
                 "content type '" + std::string(req.header("content-type")) +
                     "' is not accepted: send multipart/form-data or application/json");
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
  const double secs = std::chrono::duration<double>(Clock::now() - r.start).count();
  const std::string doc_path = route ? route->path : "unmatched";
  const std::string labels =
      "method=\"" + (route ? route->method : std::string("other")) + "\",route=\"" + doc_path + "\"";
  metrics.count("facelens_requests_total", labels + ",status=\"" + std::to_string(res.status) + "\"");
  metrics.observe("facelens_request_duration_seconds", labels, secs, kLatencyBuckets);
  // One JSON object per line; every field escaped (the path and the id come from the client).
  if (spdlog::should_log(spdlog::level::info)) {
    spdlog::info("{}", dump(json{{"request_id", r.id},
                                 {"method", req.method},
                                 {"path", req.path},
                                 {"status", res.status},
                                 {"ms", std::round(secs * 10000) / 10}}));
  }
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
  auto http = server::HttpServer::bind(ho, [raw](server::HttpRequest& req, Clock::time_point received,
                                                 server::HttpResponse& res) { raw->handle(req, received, res); });
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

#include "facelens/server.h"

#include <openssl/evp.h>
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

#include "facelens/recognition.h"
#include "facelens/version.h"
#include "format/result_json.h"
#include "server/http_request.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/static_assets.h"

namespace facelens {

using json = nlohmann::ordered_json;
using server::Clock;

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

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
    keys.push_back({sha256_hex(key), role == "admin" ? Role::kAdmin : Role::kUser});
  }
  return keys;
}

namespace {

int http_workers(const ServerOptions& o) {
  // Every admitted analysis (running or queued) holds a worker, and a few more stay free for
  // /health, /metrics, gallery reads and the quick 503s beyond the queue.
  constexpr int kSpareWorkers = 8;
  return std::max(o.threads, o.max_concurrent + o.max_queue + kSpareWorkers);
}

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

const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr size_t kMaxMetadataBytes = 64 << 10;  // identity metadata (a JSON object)
constexpr size_t kMaxRequestIdBytes = 128;

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

std::string dump(const json& j) {
  // Names and messages may carry bytes that are not UTF-8: replaced, never an exception.
  return j.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

void send_json(server::HttpResponse& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(server::HttpResponse& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(server::error_body(code, without_paths(message)), "application/json");
}

void send_status(server::HttpResponse& res, const Status& s) {
  send_error(res, http_status_of(s), status_code_name(s.code()), s.message());
}

std::string base64_decode(std::string_view in, bool* ok) {
  static constexpr std::string_view chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(in.size() * 3 / 4);
  int val = 0, bits = -8;
  size_t n_pad = 0;
  *ok = true;
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (c == '=') {
      ++n_pad;
      continue;
    }
    if (n_pad) {  // data after padding
      *ok = false;
      return {};
    }
    size_t p = chars.find(c);
    if (p == std::string_view::npos) {
      *ok = false;
      return {};
    }
    val = ((val << 6) + static_cast<int>(p)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  if (n_pad > 2) *ok = false;
  return out;
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

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::shared_ptr<const Engine> engine;
  std::shared_ptr<Gallery> gallery;
  std::unique_ptr<Recognition> recognition;  // engine + gallery; set when there is a gallery
  std::unique_ptr<server::HttpServer> http;
  server::Metrics metrics;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> ready{false};
  // Admission: at most max_concurrent analyses run, at most max_queue wait.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  uint64_t next_ticket = 0;
  std::deque<uint64_t> queue;  // tickets of the waiting requests, in arrival order

  // One request on its way through a route: its inputs are read once (read_input), with limits.
  struct Request {
    std::string id;
    server::HttpRequest& req;
    server::HttpResponse& res;
    std::vector<std::string> args;  // path parameters ({id}), percent-decoded
    Clock::time_point start;        // when the request was complete: its deadline counts from here
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<server::FormPart> parts;  // multipart/form-data
    std::optional<json> body;             // application/json (an object)
    std::deque<std::string> decoded;      // base64-decoded images the views point into
  };
  using Handler = std::function<void(Request&)>;
  struct Route {
    std::string method;
    std::string path;  // as documented: /v1/identities/{id}
    std::vector<std::string_view> pattern;
    Role role;
    bool analysis;
    Handler fn;
  };
  std::deque<Route> routes;  // a deque: the patterns' views point into path

  // Waits for an analysis slot until the request's deadline (counted from when it was received,
  // so the time spent waiting for a worker counts too). False (with the response set) when the
  // queue is full or the deadline passed.
  bool acquire(Request& r) {
    const auto deadline = r.start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.request_deadline_seconds));
    auto past_deadline = [&] {
      r.res.set_header("Retry-After", "1");
      send_error(r.res, 503, "UNAVAILABLE", "the request waited past its deadline of " +
                                                std::to_string(options.request_deadline_seconds) + " s: retry later");
      metrics.count("facelens_rejected_total", "reason=\"deadline\"");
      return false;
    };
    if (Clock::now() >= deadline) return past_deadline();
    std::unique_lock<std::mutex> lock(mu);
    const size_t waiting = queue.size();
    if (running >= options.max_concurrent && waiting >= static_cast<size_t>(options.max_queue)) {
      r.res.set_header("Retry-After", "1");
      send_error(r.res, 503, "UNAVAILABLE", "the server is busy (" + std::to_string(waiting) +
                                                " requests queued): retry after a second");
      metrics.count("facelens_rejected_total", "reason=\"queue_full\"");
      return false;
    }
    // First come, first served: a request runs when a slot is free and it heads the queue (a
    // plain condition variable lets late arrivals overtake, which stretches the p99 latency).
    const uint64_t ticket = next_ticket++;
    queue.push_back(ticket);
    bool got = cv.wait_until(lock, deadline,
                             [&] { return running < options.max_concurrent && queue.front() == ticket; });
    queue.erase(std::find(queue.begin(), queue.end(), ticket));
    cv.notify_all();  // the next in line may go (or a timed-out head made room)
    if (!got) {
      lock.unlock();
      return past_deadline();
    }
    ++running;
    return true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      --running;
    }
    cv.notify_all();
  }

  // False (with the response set: 401/403) when the key is missing, unknown or lacks the role.
  bool authorize(Request& r, Role need) {
    if (options.api_keys.empty()) return true;
    const std::string key(r.req.header("x-api-key"));
    if (key.empty()) {
      send_error(r.res, 401, "UNAUTHENTICATED", "missing X-API-Key header");
      return false;
    }
    const std::string h = sha256_hex(key);
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

  static bool is_multipart(const Request& r) {
    return r.req.header("content-type").rfind("multipart/form-data", 0) == 0;
  }
  static bool is_json(const Request& r) { return r.req.header("content-type").rfind("application/json", 0) == 0; }

  // The one reader of a request's inputs, with the limits, before any route looks at them: the
  // query, a multipart body's parts, a JSON body checked for depth (a linear scan) before it is
  // parsed, so that no copy or dump of it can recurse deeply.
  Status read_input(Request& r) {
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

  const server::FormPart* part(const Request& r, std::string_view name) const {
    for (const auto& p : r.parts)
      if (p.name == name) return &p;
    return nullptr;
  }

  // The image of a request: multipart file `field`, or JSON {"<field>": "<base64>"}.
  StatusOr<std::string_view> image_of(Request& r, const std::string& field) {
    if (is_multipart(r)) {
      const server::FormPart* p = part(r, field);
      if (!p) return invalid_argument("multipart request has no file field '" + field + "'");
      return p->data;
    }
    if (!r.body) return invalid_argument("the body is not a JSON object");
    auto it = r.body->find(field);
    if (it == r.body->end() || !it->is_string()) {
      return invalid_argument("the JSON body has no string field '" + field + "' (base64 image)");
    }
    bool ok = false;
    r.decoded.push_back(base64_decode(it->get_ref<const std::string&>(), &ok));
    if (!ok) return invalid_argument("field '" + field + "' is not valid base64");
    return std::string_view(r.decoded.back());
  }

  // A text parameter from the query, a multipart field or a JSON string (numbers and booleans as
  // written); "" when absent. Structured JSON values are refused, never re-serialised.
  StatusOr<std::string> param(const Request& r, const std::string& name) const {
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

  // Identity metadata: a JSON object (in a JSON body) or its text (query, multipart), at most
  // kMaxMetadataBytes and max_json_depth deep.
  StatusOr<std::string> metadata_param(const Request& r) const {
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

  void route(const char* method, const std::string& path, Role role, bool analysis, Handler fn) {
    Route& r = routes.emplace_back();
    r.method = method;
    r.path = path;
    r.pattern = segments(r.path);
    r.role = role;
    r.analysis = analysis;
    r.fn = std::move(fn);
  }

  const Route* match(const server::HttpRequest& req, std::vector<std::string>* args) const {
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

  void handle(server::HttpRequest& req, Clock::time_point received, server::HttpResponse& res) {
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
    const std::string labels = "method=\"" + (route ? route->method : std::string("other")) + "\",route=\"" + doc_path + "\"";
    metrics.count("facelens_requests_total", labels + ",status=\"" + std::to_string(res.status) + "\"");
    metrics.observe("facelens_request_duration_seconds", labels, secs, kLatencyBuckets);
    // One JSON object per line; every field escaped (the path and the id come from the client).
    if (spdlog::should_log(spdlog::level::info)) {
      spdlog::info("{}", dump(json{{"request_id", r.id}, {"method", req.method}, {"path", req.path},
                                   {"status", res.status}, {"ms", std::round(secs * 10000) / 10}}));
    }
  }

  json result_json(const ImageResult& r) const {
    json j = format::to_json(r, "");
    j.erase("image");
    j["providers"] = services_providers();
    return j;
  }
  json services_providers() const {
    json j = json::object();
    for (const auto& s : engine->services())
      if (s.loaded) j[s.service == "attribute" ? s.model_id : s.service] = s.provider;
    return j;
  }

  void analyze_route(const char* path, AnalyzeOptions what) {
    route("POST", path, Role::kUser, true, [this, what](Request& r) {
      auto bytes = image_of(r, "image");
      if (!bytes.ok()) return send_status(r.res, bytes.status());
      auto result = engine->analyze_bytes(as_bytes(*bytes), what);
      if (!result.ok()) return send_status(r.res, result.status());
      send_json(r.res, 200, result_json(*result));
    });
  }

  void install();
};

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

  AnalyzeOptions detect, embed, analyze;
  embed.embedding = true;
  analyze.liveness = true;
  analyze.attributes = true;
  analyze.deepfake = true;  // only when a deepfake model is configured
  analyze_route("/v1/detect", detect);
  analyze_route("/v1/embed", embed);
  analyze_route("/v1/analyze", analyze);

  route("POST", "/v1/verify", Role::kUser, true, [this](Request& r) {
    auto a = image_of(r, "image_a");
    if (!a.ok()) a = image_of(r, "image");
    if (!a.ok()) return send_status(r.res, a.status());
    auto span_a = as_bytes(*a);
    auto identity_param = param(r, "identity");
    if (!identity_param.ok()) return send_status(r.res, identity_param.status());
    const std::string& identity = *identity_param;
    if (!identity.empty()) {
      if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
      auto img = decode_image(span_a, engine->decode_options());
      if (!img.ok()) return send_status(r.res, img.status());
      auto v = recognition->verify(img->image, identity);
      if (!v.ok()) return send_status(r.res, v.status());
      send_json(r.res, 200, {{"identity", v->name}, {"similarity", v->score}, {"match", v->match},
                             {"threshold", v->threshold}, {"box_a", format::to_json(v->face)["box"]}});
      return;
    }
    auto b = image_of(r, "image_b");
    if (!b.ok()) return send_status(r.res, b.status());
    auto span_b = as_bytes(*b);
    auto ia = decode_image(span_a, engine->decode_options());
    if (!ia.ok()) return send_status(r.res, ia.status().with_context("image_a"));
    auto ib = decode_image(span_b, engine->decode_options());
    if (!ib.ok()) return send_status(r.res, ib.status().with_context("image_b"));
    auto v = engine->verify(ia->image, ib->image);
    if (!v.ok()) return send_status(r.res, v.status());
    send_json(r.res, 200, {{"similarity", v->similarity}, {"match", v->match}, {"threshold", v->threshold},
                           {"box_a", format::to_json(v->face_a)["box"]}, {"box_b", format::to_json(v->face_b)["box"]}});
  });

  route("POST", "/v1/identify", Role::kUser, true, [this](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    auto bytes = image_of(r, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    int top_k = 5;
    auto k = param(r, "top_k");
    if (!k.ok()) return send_status(r.res, k.status());
    if (!k->empty()) top_k = std::atoi(k->c_str());
    if (top_k < 1 || top_k > options.max_top_k) {
      return send_error(r.res, 400, "INVALID_ARGUMENT", "top_k must be 1.." + std::to_string(options.max_top_k));
    }
    auto img = decode_image(as_bytes(*bytes), engine->decode_options());
    if (!img.ok()) return send_status(r.res, img.status());
    auto id = recognition->identify(img->image, top_k);
    if (!id.ok()) return send_status(r.res, id.status());
    json faces = json::array();
    for (const auto& f : id->faces) {
      json matches = json::array();
      for (const auto& m : f.matches) matches.push_back({{"name", m.name}, {"score", m.score}});
      faces.push_back({{"box", format::to_json(f.face)["box"]},
                       {"identity", f.identity ? json(f.identity->name) : json(nullptr)},
                       {"score", f.score},
                       {"matches", matches}});
    }
    send_json(r.res, 200, {{"width", id->width}, {"height", id->height}, {"threshold", id->threshold}, {"faces", faces}});
  });

  auto identity_json = [this](const IdentityInfo& i) {
    // Stored by any program: bounded before it is parsed, like a request.
    json meta = server::json_depth_within(i.metadata_json, options.max_json_depth)
                    ? json::parse(i.metadata_json, nullptr, false)
                    : json(nullptr);
    return json{{"id", i.name}, {"name", i.name}, {"metadata", meta.is_object() ? meta : json::object()},
                {"faces", i.n_faces}, {"created_at", i.created_at}, {"updated_at", i.updated_at}};
  };
  route("GET", "/v1/identities", Role::kUser, false, [this, identity_json](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    auto list = gallery->list();
    if (!list.ok()) return send_status(r.res, list.status());
    json arr = json::array();
    for (const auto& i : *list) arr.push_back(identity_json(i));
    send_json(r.res, 200, {{"identities", arr}});
  });
  route("GET", "/v1/identities/{id}", Role::kUser, false, [this, identity_json](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    const std::string& name = r.args[0];
    auto list = gallery->list();
    if (!list.ok()) return send_status(r.res, list.status());
    for (const auto& i : *list) {
      if (i.name != name) continue;
      json j = identity_json(i);
      json faces = json::array();
      if (auto fs = gallery->faces(); fs.ok()) {
        for (const auto& f : *fs) {
          if (f.name != name) continue;
          faces.push_back({{"face_id", f.id}, {"model_id", f.model_id}, {"quality", f.quality},
                           {"box", {f.box.x1, f.box.y1, f.box.x2, f.box.y2}}, {"image_sha256", f.image_sha256},
                           {"created_at", f.created_at}});
        }
      }
      j["face_list"] = faces;
      return send_json(r.res, 200, j);
    }
    send_error(r.res, 404, "NOT_FOUND", "no identity '" + name + "'");
  });
  auto enroll = [this](Request& r, const std::string& name) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    if (name.empty()) return send_error(r.res, 400, "INVALID_ARGUMENT", "missing identity name");
    auto bytes = image_of(r, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    EnrollOptions eo;
    auto meta = metadata_param(r);
    if (!meta.ok()) return send_status(r.res, meta.status());
    if (!meta->empty()) eo.metadata_json = *meta;
    auto largest = param(r, "largest");
    if (!largest.ok()) return send_status(r.res, largest.status());
    eo.largest_face = *largest == "true";
    auto e = recognition->enroll(name, as_bytes(*bytes), eo);
    if (!e.ok()) return send_status(r.res, e.status());
    send_json(r.res, 201, {{"id", e->name}, {"name", e->name}, {"face_id", e->face_id},
                           {"image_sha256", e->image_sha256}, {"box", format::to_json(e->face)["box"]},
                           {"sharpness", e->sharpness}});
  };
  route("POST", "/v1/identities", Role::kAdmin, true, [this, enroll](Request& r) {
    auto name = param(r, "name");
    if (!name.ok()) return send_status(r.res, name.status());
    enroll(r, *name);
  });
  route("POST", "/v1/identities/{id}/faces", Role::kAdmin, true, [enroll](Request& r) { enroll(r, r.args[0]); });
  route("DELETE", "/v1/identities/{id}", Role::kAdmin, false, [this](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    Status s = gallery->remove(r.args[0]);
    if (!s.ok()) return send_status(r.res, s);
    send_json(r.res, 200, {{"deleted", r.args[0]}});
  });

  route("GET", "/v1/models", Role::kUser, false, [this](Request& r) {
    json arr = json::array();
    for (const auto& m : engine->check_models()) {
      arr.push_back({{"id", m.id}, {"task", m.task}, {"family", m.family}, {"status", m.state}});
    }
    send_json(r.res, 200, {{"models", arr}, {"match_threshold", engine->match_threshold()}});
  });
  route("GET", "/health", Role::kUser, false, [this](Request& r) {
    json services = json::array();
    for (const auto& s : engine->services()) {
      json e = {{"service", s.service}, {"model", s.model_id}, {"loaded", s.loaded}, {"requested_provider", s.requested}};
      if (s.loaded) {
        e["provider"] = s.provider;
        if (!s.provider_reason.empty()) e["cuda_unavailable_reason"] = without_paths(s.provider_reason);
        if (!s.device_ids.empty()) e["device_ids"] = s.device_ids;
        e["queue_depths"] = s.queue_depths;
        e["placement"] = format::to_json(s.placement);
      }
      services.push_back(e);
    }
    json j = {{"status", "ok"}, {"version", version()}, {"services", services}};
    if (gallery) {
      auto st = gallery->stats();
      j["gallery"] = {{"store", st.store.substr(0, st.store.find(':'))},  // "sqlite", never its path
                       {"identities", st.n_identities}, {"faces", st.n_faces},
                      {"index", st.index}, {"model_id", st.model_id}};
    }
    send_json(r.res, 200, j);
  });
  route("GET", "/ready", Role::kUser, false, [this](Request& r) {
    if (ready) send_json(r.res, 200, {{"ready", true}});
    else send_error(r.res, 503, "UNAVAILABLE", "models are still loading");
  });
  route("GET", "/metrics", Role::kUser, false, [this](Request& r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      metrics.gauge("facelens_inflight", "state=\"running\"", running);
      metrics.gauge("facelens_inflight", "state=\"waiting\"", static_cast<double>(queue.size()));
    }
    const auto sizes = engine->recognizer_batch_sizes();
    for (size_t n = 1; n < sizes.size(); ++n) {
      metrics.gauge("facelens_recognizer_batches_total", "size=\"" + std::to_string(n) + "\"", static_cast<double>(sizes[n]));
    }
    if (http) {
      const auto c = http->stats();
      metrics.gauge("facelens_connections_open", "", static_cast<double>(c.open));
      metrics.gauge("facelens_connections_rejected_total", "reason=\"total_limit\"", static_cast<double>(c.rejected_total_cap));
      metrics.gauge("facelens_connections_rejected_total", "reason=\"client_limit\"", static_cast<double>(c.rejected_client_cap));
      metrics.gauge("facelens_connection_timeouts_total", "phase=\"headers\"", static_cast<double>(c.header_timeouts));
      metrics.gauge("facelens_connection_timeouts_total", "phase=\"body\"", static_cast<double>(c.body_timeouts));
      metrics.gauge("facelens_bad_requests_total", "", static_cast<double>(c.bad_requests));
    }
    r.res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  route("GET", "/openapi.json", Role::kUser, false,
        [](Request& r) { r.res.set_content(std::string(server::kOpenApiJson), "application/json"); });
  route("GET", "/", Role::kUser, false,
        [](Request& r) { r.res.set_content(std::string(server::kIndexHtml), "text/html; charset=utf-8"); });
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
      ho, [raw](server::HttpRequest& req, Clock::time_point received, server::HttpResponse& res) {
        raw->handle(req, received, res);
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

#include "facelens/server.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <nlohmann/json.hpp>

#include "facelens/version.h"
#include "format/result_json.h"
#include "server/metrics.h"
#include "server/static_assets.h"

namespace facelens {

using json = nlohmann::ordered_json;

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

const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

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

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

void send_status(httplib::Response& res, const Status& s) {
  send_error(res, http_status_of(s), status_code_name(s.code()), s.message());
}

std::string base64_decode(const std::string& in, bool* ok) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
    if (p == std::string::npos) {
      *ok = false;
      return {};
    }
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  if (n_pad > 2) *ok = false;
  return out;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::shared_ptr<const Engine> engine;
  std::shared_ptr<Gallery> gallery;
  httplib::Server http;
  server::Metrics metrics;
  std::vector<std::string> routes;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> ready{false};
  int port = 0;
  int listen_fd = -1;  // the listening socket (set while binding)
  // Admission: at most max_concurrent analyses run, at most max_queue wait.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  uint64_t next_ticket = 0;
  std::deque<uint64_t> queue;  // tickets of the waiting requests, in arrival order

  struct Request {
    std::string id;
    const httplib::Request& req;
    httplib::Response& res;
    std::chrono::steady_clock::time_point start;
  };

  // Waits for an analysis slot until the request's deadline. False (with the response set) when
  // the queue is full or the deadline passed.
  bool acquire(Request& r) {
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
    const auto deadline = r.start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(options.request_deadline_seconds));
    bool got = cv.wait_until(lock, deadline,
                             [&] { return running < options.max_concurrent && queue.front() == ticket; });
    queue.erase(std::find(queue.begin(), queue.end(), ticket));
    cv.notify_all();  // the next in line may go (or a timed-out head made room)
    if (!got) {
      r.res.set_header("Retry-After", "1");
      send_error(r.res, 503, "UNAVAILABLE", "the request waited past its deadline of " +
                                                std::to_string(options.request_deadline_seconds) + " s: retry later");
      metrics.count("facelens_rejected_total", "reason=\"deadline\"");
      return false;
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

  // Null when the caller may go on; else the response is set (401/403).
  bool authorize(Request& r, Role need) {
    if (options.api_keys.empty()) return true;
    std::string key = r.req.get_header_value("X-API-Key");
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

  // The image of a request: multipart file `field`, or JSON {"<field>": "<base64>"}.
  StatusOr<std::string> image_of(const httplib::Request& req, const std::string& field) {
    if (req.is_multipart_form_data()) {
      if (!req.has_file(field)) return invalid_argument("multipart request has no file field '" + field + "'");
      return req.get_file_value(field).content;
    }
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/json", 0) != 0) {
      return Status(StatusCode::kUnimplemented, "unsupported content type '" + type +
                                                    "': send multipart/form-data or application/json");
    }
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) return invalid_argument("the body is not a JSON object");
    if (!body.contains(field) || !body[field].is_string()) {
      return invalid_argument("the JSON body has no string field '" + field + "' (base64 image)");
    }
    bool ok = false;
    std::string bytes = base64_decode(body[field].get<std::string>(), &ok);
    if (!ok) return invalid_argument("field '" + field + "' is not valid base64");
    return bytes;
  }

  static std::string param(const httplib::Request& req, const std::string& name) {
    if (req.has_param(name)) return req.get_param_value(name);
    if (req.is_multipart_form_data() && req.has_file(name)) return req.get_file_value(name).content;
    if (req.get_header_value("Content-Type").rfind("application/json", 0) == 0) {
      json body = json::parse(req.body, nullptr, false);
      if (body.is_object() && body.contains(name)) {
        return body[name].is_string() ? body[name].get<std::string>() : body[name].dump();
      }
    }
    return "";
  }

  using Handler = std::function<void(Request&)>;

  void route(const char* method, const std::string& pattern, const std::string& doc_path, Role role, bool analysis,
             Handler fn) {
    routes.push_back(std::string(method) + " " + doc_path);
    auto wrapped = [this, doc_path, role, analysis, fn, method = std::string(method)](const httplib::Request& req,
                                                                                     httplib::Response& res) {
      Request r{req.get_header_value("X-Request-Id"), req, res, std::chrono::steady_clock::now()};
      if (r.id.empty()) r.id = std::to_string(next_id.fetch_add(1));
      res.set_header("X-Request-Id", r.id);
      const std::string type = req.get_header_value("Content-Type");
      if (method == "POST" && !req.is_multipart_form_data() && type.rfind("application/json", 0) != 0) {
        send_error(res, 415, "UNSUPPORTED_MEDIA_TYPE",
                   "content type '" + type + "' is not accepted: send multipart/form-data or application/json");
      } else if (authorize(r, role)) {
        if (!analysis) {
          fn(r);
        } else if (acquire(r)) {
          struct Slot {
            Impl* impl;
            ~Slot() { impl->release(); }
          } slot{this};
          fn(r);
        }
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count();
      const std::string labels = "method=\"" + method + "\",route=\"" + doc_path + "\"";
      metrics.count("facelens_requests_total", labels + ",status=\"" + std::to_string(res.status) + "\"");
      metrics.observe("facelens_request_duration_seconds", labels, secs, kLatencyBuckets);
      spdlog::info(R"({{"request_id":"{}","method":"{}","path":"{}","status":{},"ms":{:.1f}}})", r.id, method,
                   req.path, res.status, secs * 1000);
    };
    if (std::string(method) == "GET") http.Get(pattern, wrapped);
    else if (std::string(method) == "POST") http.Post(pattern, wrapped);
    else if (std::string(method) == "DELETE") http.Delete(pattern, wrapped);
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
    route("POST", path, path, Role::kUser, true, [this, what](Request& r) {
      auto bytes = image_of(r.req, "image");
      if (!bytes.ok()) return send_status(r.res, bytes.status());
      auto span = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
      auto result = engine->analyze_bytes(span, what);
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

  http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which lets a second server bind
  // the same port silently instead of failing with "port in use".
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    // Accepted sockets inherit TCP_NODELAY: without it, a keep-alive client waits for its delayed
    // ACK (40 ms) before the last part of each response (measured: 60 ms vs 22 ms per request).
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const void*>(&yes), sizeof(yes));
    listen_fd = sock;
  });
  // Load balancers and benchmark clients keep connections open: do not close them every 5 requests.
  http.set_keep_alive_max_count(10000);
  http.set_keep_alive_timeout(30);
  const int n_threads = std::max(2, options.threads);
  http.new_task_queue = [n_threads] { return new httplib::ThreadPool(static_cast<size_t>(n_threads)); };
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already answered
    if (res.status == 413) send_error(res, 413, "OUT_OF_RANGE", "request body over the server's limit");
    else if (res.status == 404) send_error(res, 404, "NOT_FOUND", "no such route: see /openapi.json");
    else send_error(res, res.status, "ERROR", "HTTP " + std::to_string(res.status));
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unexpected error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "INTERNAL", what);
  });

  AnalyzeOptions detect, embed, analyze;
  embed.embedding = true;
  analyze.liveness = true;
  analyze.attributes = true;
  analyze.deepfake = true;  // only when a deepfake model is configured
  analyze_route("/v1/detect", detect);
  analyze_route("/v1/embed", embed);
  analyze_route("/v1/analyze", analyze);

  route("POST", "/v1/verify", "/v1/verify", Role::kUser, true, [this](Request& r) {
    auto a = image_of(r.req, "image_a");
    if (!a.ok()) a = image_of(r.req, "image");
    if (!a.ok()) return send_status(r.res, a.status());
    auto span_a = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a->data()), a->size());
    const std::string identity = param(r.req, "identity");
    if (!identity.empty()) {
      if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
      auto img = decode_image(span_a, {});
      if (!img.ok()) return send_status(r.res, img.status());
      auto v = gallery->verify(img->image, identity);
      if (!v.ok()) return send_status(r.res, v.status());
      send_json(r.res, 200, {{"identity", v->name}, {"similarity", v->score}, {"match", v->match},
                             {"threshold", v->threshold}, {"box_a", format::to_json(v->face)["box"]}});
      return;
    }
    auto b = image_of(r.req, "image_b");
    if (!b.ok()) return send_status(r.res, b.status());
    auto span_b = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b->data()), b->size());
    auto ia = decode_image(span_a, {});
    if (!ia.ok()) return send_status(r.res, ia.status().with_context("image_a"));
    auto ib = decode_image(span_b, {});
    if (!ib.ok()) return send_status(r.res, ib.status().with_context("image_b"));
    auto v = engine->verify(ia->image, ib->image);
    if (!v.ok()) return send_status(r.res, v.status());
    send_json(r.res, 200, {{"similarity", v->similarity}, {"match", v->match}, {"threshold", v->threshold},
                           {"box_a", format::to_json(v->face_a)["box"]}, {"box_b", format::to_json(v->face_b)["box"]}});
  });

  route("POST", "/v1/identify", "/v1/identify", Role::kUser, true, [this](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    auto bytes = image_of(r.req, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    int top_k = 5;
    if (std::string k = param(r.req, "top_k"); !k.empty()) top_k = std::atoi(k.c_str());
    if (top_k < 1 || top_k > options.max_top_k) {
      return send_error(r.res, 400, "INVALID_ARGUMENT", "top_k must be 1.." + std::to_string(options.max_top_k));
    }
    auto img = decode_image(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()), {});
    if (!img.ok()) return send_status(r.res, img.status());
    auto id = gallery->identify(img->image, top_k);
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

  auto identity_json = [](const IdentityInfo& i) {
    json meta = json::parse(i.metadata_json, nullptr, false);
    return json{{"id", i.name}, {"name", i.name}, {"metadata", meta.is_discarded() ? json::object() : meta},
                {"faces", i.n_faces}, {"created_at", i.created_at}, {"updated_at", i.updated_at}};
  };
  route("GET", "/v1/identities", "/v1/identities", Role::kUser, false, [this, identity_json](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    auto list = gallery->list();
    if (!list.ok()) return send_status(r.res, list.status());
    json arr = json::array();
    for (const auto& i : *list) arr.push_back(identity_json(i));
    send_json(r.res, 200, {{"identities", arr}});
  });
  route("GET", R"(/v1/identities/([^/]+))", "/v1/identities/{id}", Role::kUser, false, [this, identity_json](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    const std::string name = r.req.matches[1];
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
    auto bytes = image_of(r.req, "image");
    if (!bytes.ok()) return send_status(r.res, bytes.status());
    EnrollOptions eo;
    if (std::string meta = param(r.req, "metadata"); !meta.empty()) eo.metadata_json = meta;
    eo.largest_face = param(r.req, "largest") == "true";
    auto e = gallery->enroll(name, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()), eo);
    if (!e.ok()) return send_status(r.res, e.status());
    send_json(r.res, 201, {{"id", e->name}, {"name", e->name}, {"face_id", e->face_id},
                           {"image_sha256", e->image_sha256}, {"box", format::to_json(e->face)["box"]},
                           {"sharpness", e->sharpness}});
  };
  route("POST", "/v1/identities", "/v1/identities", Role::kAdmin, true,
        [this, enroll](Request& r) { enroll(r, param(r.req, "name")); });
  route("POST", R"(/v1/identities/([^/]+)/faces)", "/v1/identities/{id}/faces", Role::kAdmin, true,
        [enroll](Request& r) { enroll(r, r.req.matches[1]); });
  route("DELETE", R"(/v1/identities/([^/]+))", "/v1/identities/{id}", Role::kAdmin, false, [this](Request& r) {
    if (!gallery) return send_error(r.res, 409, "FAILED_PRECONDITION", "no gallery is configured (--db)");
    Status s = gallery->remove(r.req.matches[1]);
    if (!s.ok()) return send_status(r.res, s);
    send_json(r.res, 200, {{"deleted", std::string(r.req.matches[1])}});
  });

  route("GET", "/v1/models", "/v1/models", Role::kUser, false, [this](Request& r) {
    json arr = json::array();
    for (const auto& m : engine->check_models()) {
      arr.push_back({{"id", m.id}, {"task", m.task}, {"family", m.family}, {"status", m.state}});
    }
    send_json(r.res, 200, {{"models", arr}, {"match_threshold", engine->match_threshold()}});
  });
  route("GET", "/health", "/health", Role::kUser, false, [this](Request& r) {
    json services = json::array();
    for (const auto& s : engine->services()) {
      json e = {{"service", s.service}, {"model", s.model_id}, {"loaded", s.loaded}, {"requested_provider", s.requested}};
      if (s.loaded) {
        e["provider"] = s.provider;
        if (!s.provider_reason.empty()) e["cuda_unavailable_reason"] = s.provider_reason;
        if (!s.device_ids.empty()) e["device_ids"] = s.device_ids;
        e["queue_depths"] = s.queue_depths;
        e["placement"] = format::to_json(s.placement);
      }
      services.push_back(e);
    }
    json j = {{"status", "ok"}, {"version", version()}, {"services", services}};
    if (gallery) {
      auto st = gallery->stats();
      j["gallery"] = {{"store", st.store}, {"identities", st.n_identities}, {"faces", st.n_faces},
                      {"index", st.index}, {"model_id", st.model_id}};
    }
    send_json(r.res, 200, j);
  });
  route("GET", "/ready", "/ready", Role::kUser, false, [this](Request& r) {
    if (ready) send_json(r.res, 200, {{"ready", true}});
    else send_error(r.res, 503, "UNAVAILABLE", "models are still loading");
  });
  route("GET", "/metrics", "/metrics", Role::kUser, false, [this](Request& r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      metrics.gauge("facelens_inflight", "state=\"running\"", running);
      metrics.gauge("facelens_inflight", "state=\"waiting\"", static_cast<double>(queue.size()));
    }
    const auto sizes = engine->recognizer_batch_sizes();
    for (size_t n = 1; n < sizes.size(); ++n) {
      metrics.gauge("facelens_recognizer_batches_total", "size=\"" + std::to_string(n) + "\"", static_cast<double>(sizes[n]));
    }
    r.res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  route("GET", "/openapi.json", "/openapi.json", Role::kUser, false,
        [](Request& r) { r.res.set_content(std::string(server::kOpenApiJson), "application/json"); });
  route("GET", "/", "/", Role::kUser, false,
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
  if (options.max_concurrent < 1 || options.max_queue < 0 || options.max_body_bytes < 1) {
    return invalid_argument("server limits must be positive (max_concurrent, max_queue, max_body_bytes)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->engine = std::move(engine);
  impl->gallery = std::move(gallery);
  impl->install();
  if (options.port == 0) {
    impl->port = impl->http.bind_to_any_port(options.host);
    if (impl->port <= 0) return unavailable("cannot bind to " + options.host + " on any port");
  } else {
    if (!impl->http.bind_to_port(options.host, options.port)) {
      return unavailable("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                         ": the port is in use or the address is not local (choose another with --port)");
    }
    impl->port = options.port;
  }
  // httplib listens with a backlog of 5: 32 clients connecting at once overflow it, and the
  // kernel's SYN cookies then reset some of the connections ("connection reset" / read errors in
  // clients). listen() again on the bound socket raises the backlog (Linux allows this).
  constexpr int kListenBacklog = 1024;
  if (impl->listen_fd >= 0 && ::listen(impl->listen_fd, kListenBacklog) != 0) {
    spdlog::warn("cannot raise the listen backlog to {}: {}", kListenBacklog, std::strerror(errno));
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

std::vector<std::string> Server::routes() const { return impl_->routes; }

Status Server::run() {
  impl_->ready = true;
  if (!impl_->http.listen_after_bind()) {
    impl_->ready = false;
    if (!impl_->http.is_running()) return Status::Ok();  // stopped
    return internal_error("the HTTP server stopped unexpectedly");
  }
  impl_->ready = false;
  return Status::Ok();
}

void Server::stop() {
  if (impl_) {
    impl_->ready = false;
    impl_->http.stop();
  }
}

}  // namespace facelens

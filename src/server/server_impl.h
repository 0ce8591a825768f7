// The service's shared context (internal): what every route file sees. server.cpp owns
// admission, authorisation, reading a request's inputs and dispatch; the routes live by concern in
// routes_analysis.cpp (detect, embed, analyze, verify), routes_gallery.cpp (identify, identities,
// enrolment, verify against an identity) and routes_operations.cpp (models, health, ready,
// metrics, the OpenAPI document, the web page). A new route goes into the file of its concern and
// is installed by that file's install_*_routes().
#pragma once

#include <simdjson.h>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/recognition.h"
#include "facelens/server.h"
#include "server/http_request.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace facelens {

namespace server {

using json = nlohmann::ordered_json;

// Names and messages may carry bytes that are not UTF-8: replaced, never an exception.
std::string dump(const json& j);
// File-system paths in a message cut to their file name (answers show no server paths).
std::string without_paths(std::string_view text);
void send_json(HttpResponse& res, int status, const json& body);
void send_error(HttpResponse& res, int status, const std::string& code, const std::string& message);
// The status's HTTP code (400, 404, 409, 413, 503, ...) and a JSON error body.
void send_status(HttpResponse& res, const Status& s);

inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace server

struct Server::Impl {
  using json = server::json;
  using Clock = server::Clock;

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

  // How a POST body carries its inputs (by Content-Type).
  enum class BodyKind { kNone, kMultipart, kJson, kRawImage };
  // One request on its way through a route: its inputs are read once (read_input), with limits.
  struct Request {
    std::string id;
    server::HttpRequest& req;
    server::HttpResponse& res;
    std::vector<std::string> args;  // path parameters ({id}), percent-decoded
    Clock::time_point start;        // when the request was complete: its deadline counts from here
    std::vector<std::pair<std::string, std::string>> query;
    BodyKind kind = BodyKind::kNone;
    std::vector<server::FormPart> parts;  // multipart/form-data
    // application/json, parsed by simdjson in place (the body buffer is padded): the object's
    // strings live in the parser, as long as the request.
    std::unique_ptr<simdjson::dom::parser> json_parser;
    std::optional<simdjson::dom::object> body;
    std::deque<std::string> decoded;  // base64-decoded images the views point into
  };
  using Handler = std::function<void(Request&)>;
  struct Route {
    std::string method;
    std::string path;  // as documented: /v1/identities/{id}
    std::vector<std::string_view> pattern;
    Role role;
    bool analysis;
    bool raw_image;  // a POST body may be the image itself (Content-Type image/jpeg...)
    Handler fn;
    std::string body;  // POST, PATCH: what body the route takes, for the 400 of a request without one
  };
  std::deque<Route> routes;  // a deque: the patterns' views point into path

  // Waits for an analysis slot until the request's deadline (counted from when it was received,
  // so the time spent waiting for a worker counts too). False (with the response set) when the
  // queue is full or the deadline passed.
  bool acquire(Request& r);
  void release();
  // False (with the response set: 401/403) when the key is missing, unknown or lacks the role.
  // Probes (is_probe) without a key pass: balancers and kubelets send none.
  bool authorize(const server::HttpRequest& req, server::HttpResponse& res, Role need) const;
  // GET (or HEAD) /ready and /health: answered without a key (/health then with its status only).
  static bool is_probe(const server::HttpRequest& req);
  // What can be said from the request line and headers alone, in this order: the route (404, or
  // 405 with Allow), the key (401/403), the content type (415). True when the request may go on,
  // with *route set. Runs on the worker for every request, and on the connection loop before
  // `100 Continue` (so a refused client never sends its body).
  bool admit(const server::HttpRequest& req, server::HttpResponse& res, const Route** route,
             std::vector<std::string>* args) const;
  // Metrics and the log line of an answered request (route null: none matched).
  void record(const server::HttpRequest& req, const Route* route, const server::HttpResponse& res,
              const std::string& id, Clock::time_point start);

  static BodyKind body_kind(const server::HttpRequest& req);
  // The one reader of a request's inputs, with the limits, before any route looks at them: the
  // query, a multipart body's parts, a JSON body parsed by simdjson with max_json_depth (its
  // depth limit is part of the parse: no recursion, no second pass), a raw image body as it is.
  Status read_input(Request& r);
  // The member `name` of the JSON body (the last one when repeated, as before), if any.
  std::optional<simdjson::dom::element> json_field(const Request& r, std::string_view name) const;
  const server::FormPart* part(const Request& r, std::string_view name) const;
  // The one reader of an image, for every route that takes one: the multipart file `field`, the
  // JSON field {"<field>": "<base64>"} (or a data: URI with base64), or the raw body (field
  // "image" of a Content-Type image/* request: the body buffer itself), checked against the engine's decode limits
  // (Engine::decode_options(): bytes, then pixels from the header alone) with the errors
  // decode_image gives (413 over a limit, 400 for what is no image). The body size and JSON depth
  // limits were applied when the request was read (HttpServer, read_input). The bytes live as long
  // as the request.
  StatusOr<std::span<const uint8_t>> image_of(Request& r, const std::string& field);
  // Whether the request carries `field` (a multipart part or a JSON member), to choose between
  // alternative image fields without hiding a bad image behind a missing-field error.
  bool has_field(const Request& r, const std::string& field) const;
  // Decodes an image read by image_of with the engine's configured options.
  StatusOr<DecodedImage> decode(std::span<const uint8_t> image) const;
  // A text parameter from the query, a multipart field or a JSON string (numbers and booleans as
  // written); "" when absent. Structured JSON values are refused, never re-serialised.
  StatusOr<std::string> param(const Request& r, const std::string& name) const;
  // Identity metadata: a JSON object (in a JSON body) or its text (query, multipart), at most
  // kMaxMetadataBytes and max_json_depth deep.
  StatusOr<std::string> metadata_param(const Request& r) const;
  // The optional per-request match threshold (query, multipart field or JSON number): a cosine in
  // [-1, 1]; kGalleryThreshold when absent; kInvalidArgument otherwise.
  StatusOr<float> threshold_param(const Request& r) const;
  // A gallery status as a client may read it: the store (its path or URL) named "the gallery",
  // library option names and command-line flags replaced by the request's own words.
  Status for_client(const Status& s) const;

  // raw_image: a POST body may be the one image (routes of one image; not verify).
  // `body`: for POST and PATCH, what body the route takes (the 400 of a request without one says it).
  void route(const char* method, const std::string& path, Role role, bool analysis, Handler fn, bool raw_image = true,
             std::string body = "");
  // The route of the request (HEAD is served by the GET route); else null with *allowed listing
  // the methods the path has ("" when it has none).
  const Route* match(const server::HttpRequest& req, std::vector<std::string>* args, std::string* allowed) const;
  void handle(server::HttpRequest& req, Clock::time_point received, server::HttpResponse& res);

  // Why the gallery cannot answer now ("" when it can): its database unreachable, or not heard
  // from for kGalleryStaleMs (routes_gallery.cpp). The routes that need the gallery answer 503
  // UNAVAILABLE with it, never from an index that may be stale; /ready too. with_error: the
  // database's own message included (not for probes without a key).
  std::string gallery_unavailable(bool with_error = true) const;
  // 409 without a gallery, 503 (with gallery_unavailable()) while it cannot answer: true when the
  // response is set.
  bool refused_gallery(server::HttpResponse& res) const;
  // A request without a key to a server that has keys: a balancer's or kubelet's probe.
  bool keyless(const Request& r) const { return !options.api_keys.empty() && r.req.header("x-api-key").empty(); }

  // A result with "providers" (where each loaded service runs) added, as the CLI prints it.
  json with_providers(json result) const;

  // The routes, by concern (one file each).
  void install();
  void install_analysis_routes();
  void install_gallery_routes();
  void install_operation_routes();
  void analyze_route(const char* path, AnalyzeOptions what);
  // POST /v1/verify with an identity: the image against the identity's enrolled faces.
  void verify_identity(Request& r, std::span<const uint8_t> span_a, const std::string& identity);
};

}  // namespace facelens

#include "bench/server_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <latch>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/http_client.h"
#include "core/base64.h"

namespace facelens::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

constexpr const char* kBoundary = "facelens-bench-7d1b3c9e";

struct Body {
  std::string content_type;
  std::vector<uint8_t> bytes;
};

Body make_body(BodyFormat f, const std::vector<uint8_t>& image) {
  Body b;
  switch (f) {
    case BodyFormat::kMultipart: {
      b.content_type = std::string("multipart/form-data; boundary=") + kBoundary;
      const std::string head = std::string("--") + kBoundary +
                               "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
                               "Content-Type: image/jpeg\r\n\r\n";
      const std::string tail = std::string("\r\n--") + kBoundary + "--\r\n";
      b.bytes.assign(head.begin(), head.end());
      b.bytes.insert(b.bytes.end(), image.begin(), image.end());
      b.bytes.insert(b.bytes.end(), tail.begin(), tail.end());
      break;
    }
    case BodyFormat::kRaw:
      b.content_type = "image/jpeg";
      b.bytes = image;
      break;
    case BodyFormat::kJson: {
      b.content_type = "application/json";
      const std::string text = "{\"image\":\"" + core::base64_encode(image) + "\"}";
      b.bytes.assign(text.begin(), text.end());
      break;
    }
  }
  return b;
}

HttpHeaders headers_for(const Body& body, const std::string& api_key) {
  HttpHeaders h = {{"Content-Type", body.content_type}, {"Accept", "application/json"}};
  if (!api_key.empty()) h.emplace_back("X-API-Key", api_key);
  return h;
}

// One request: true for a 2xx answer (faces counted), else the error tallied.
struct Outcome {
  bool ok = false;
  double ms = 0;
  int faces = -1;
  std::string kind, text;
};

Outcome post(HttpConnection& c, const Body& body, const HttpHeaders& headers, bool count_faces) {
  Outcome o;
  const auto t0 = Clock::now();
  auto a = c.request("POST", "/v1/embed", headers, body.bytes);
  o.ms = ms_since(t0);
  if (!a.ok()) {
    o.kind = "connection";
    o.text = a.status().message();
    return o;
  }
  if (a->status < 200 || a->status > 299) {
    o.kind = "HTTP " + std::to_string(a->status);
    o.text = o.kind + ": " + a->body;
    return o;
  }
  o.ok = true;
  if (count_faces) {
    auto j = nlohmann::json::parse(a->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("faces") && j["faces"].is_array()) o.faces = static_cast<int>(j["faces"].size());
  }
  return o;
}

// Waits for GET /ready to answer 200, or 401/403: a server that refuses the key is up, and its
// refusals are measured and counted as errors like any other answer.
Status wait_ready(const HttpUrl& url, const std::string& api_key, double timeout_s, std::string* last) {
  const auto t0 = Clock::now();
  HttpHeaders h;
  if (!api_key.empty()) h.emplace_back("X-API-Key", api_key);
  for (;;) {
    HttpConnection c(url, 5);
    auto a = c.request("GET", "/ready", h, {});
    if (a.ok() && (a->status == 200 || a->status == 401 || a->status == 403)) return Status::Ok();
    *last = a.ok() ? "GET /ready answered " + std::to_string(a->status) + ": " + a->body.substr(0, 200)
                   : a.status().message();
    if (ms_since(t0) > timeout_s * 1000)
      return unavailable("the service at " + url.text() + " is not ready after " +
                         std::to_string(static_cast<int>(timeout_s)) + " s: " + *last +
                         " (start it with `facelens serve`, or check --server)");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

LoadRow run_load(const HttpUrl& url, const ServerBenchOptions& o, const ServerPhoto& photo, BodyFormat format,
                 int connections) {
  LoadRow row;
  row.connections = connections;
  row.photo = photo.name;
  row.format = body_format_name(format);
  row.requests = o.load_requests;
  const Body body = make_body(format, photo.bytes);
  const HttpHeaders headers = headers_for(body, o.api_key);
  struct PerConnection {
    std::vector<double> ms;
    std::vector<std::pair<std::string, std::string>> errors;
    Clock::time_point end;
  };
  std::vector<PerConnection> per(connections);
  std::latch warmed(connections);
  std::latch go(1);
  Clock::time_point start;
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    const int n = o.load_requests / connections + (t < o.load_requests % connections ? 1 : 0);
    threads.emplace_back([&, t, n] {
      HttpConnection c(url, o.request_timeout_s);
      post(c, body, headers, false);  // warm-up: connection open, server thread awake
      warmed.count_down();
      go.wait();
      for (int i = 0; i < n; ++i) {
        Outcome r = post(c, body, headers, false);
        if (r.ok) per[t].ms.push_back(r.ms);
        else per[t].errors.emplace_back(r.kind, r.text);
      }
      per[t].end = Clock::now();
    });
  }
  warmed.wait();
  start = Clock::now();
  go.count_down();
  for (auto& th : threads) th.join();
  Clock::time_point end = start;
  std::vector<double> all;
  for (const auto& p : per) {
    end = std::max(end, p.end);
    all.insert(all.end(), p.ms.begin(), p.ms.end());
    for (const auto& [kind, text] : p.errors) row.errors.add(kind, text);
  }
  row.n_ok = static_cast<int>(all.size());
  row.wall_s = std::chrono::duration<double>(end - start).count();
  row.throughput_rps = row.wall_s > 0 ? row.n_ok / row.wall_s : 0;
  row.summary = summarize(all, 1);
  return row;
}

}  // namespace

const char* body_format_name(BodyFormat f) {
  switch (f) {
    case BodyFormat::kMultipart: return "multipart";
    case BodyFormat::kRaw: return "raw";
    case BodyFormat::kJson: return "json";
  }
  return "?";
}

const std::vector<BodyFormat>& body_formats() {
  static const std::vector<BodyFormat> kFormats = {BodyFormat::kMultipart, BodyFormat::kRaw, BodyFormat::kJson};
  return kFormats;
}

void ErrorTally::add(const std::string& kind, const std::string& text) {
  ++n;
  ++by_kind[kind];
  if (first.empty()) first = text.size() > 300 ? text.substr(0, 300) + "..." : text;
}

int ServerReport::n_errors() const {
  int n = reachable ? 0 : 1;
  for (const auto& r : rows) n += r.errors.n;
  for (const auto& l : load) n += l.errors.n;
  return n;
}

StatusOr<ServerReport> run_server_bench(const ServerBenchOptions& o, const std::vector<ServerPhoto>& photos,
                                        const std::function<void(const std::string&)>& on_message) {
  if (o.iterations < 1) return invalid_argument("--server-iterations must be at least 1");
  if (o.warmup < 0) return invalid_argument("--server-warmup must be 0 or more");
  if (o.connections < 0) return invalid_argument("--connections must be 0 (no concurrency mode) or more");
  if (o.connections > 0 && o.load_requests < o.connections)
    return invalid_argument("--load-requests must be at least --connections (one request per connection)");
  if (photos.empty()) return invalid_argument("the service bench needs photos (--sweep PHOTO makes them)");
  FACELENS_ASSIGN_OR_RETURN(HttpUrl url, parse_http_url(o.url));
  auto say = [&](const std::string& m) {
    if (on_message) on_message(m);
  };
  ServerReport rep;
  rep.url = url.text();
  std::string last;
  if (Status s = wait_ready(url, o.api_key, o.ready_timeout_s, &last); !s.ok()) {
    rep.error = s.message();
    say("server: " + rep.error);
    return rep;
  }
  rep.reachable = true;
  {
    HttpConnection c(url, o.request_timeout_s);
    HttpHeaders h;
    if (!o.api_key.empty()) h.emplace_back("X-API-Key", o.api_key);
    auto a = c.request("GET", "/health", h, {});
    if (a.ok()) rep.health = a->body.substr(0, 4000);
  }

  // One keep-alive connection; per round every (photo, format) once, so that a change of load
  // on the machine touches every row alike.
  struct Cell {
    const ServerPhoto* photo;
    BodyFormat format;
    Body body;
    HttpHeaders headers;
    ServerRow row;
  };
  std::vector<Cell> cells;
  for (const auto& p : photos) {
    for (BodyFormat f : body_formats()) {
      Cell c{&p, f, make_body(f, p.bytes), {}, {}};
      c.headers = headers_for(c.body, o.api_key);
      c.row.photo = p.name;
      c.row.megapixels = p.megapixels;
      c.row.file_bytes = static_cast<int64_t>(p.bytes.size());
      c.row.format = body_format_name(f);
      c.row.body_bytes = static_cast<int64_t>(c.body.bytes.size());
      c.row.pipeline_p50_ms = p.pipeline_p50_ms;
      cells.push_back(std::move(c));
    }
  }
  HttpConnection conn(url, o.request_timeout_s);
  std::vector<std::vector<double>> pipeline_ms(photos.size());
  for (int i = 0; i < o.warmup + o.iterations; ++i) {
    const bool timed = i >= o.warmup;
    for (size_t k = 0; o.pipeline && k < photos.size(); ++k) {
      const auto t0 = Clock::now();
      FACELENS_RETURN_IF_ERROR(o.pipeline(photos[k].bytes).with_context("in-process pipeline on " + photos[k].name));
      if (timed) pipeline_ms[k].push_back(ms_since(t0));
    }
    for (auto& c : cells) {
      Outcome r = post(conn, c.body, c.headers, /*count_faces=*/true);
      if (!timed) continue;
      ++c.row.requests;
      if (r.ok) {
        c.row.samples_ms.push_back(r.ms);
        c.row.faces = r.faces;
      } else {
        c.row.errors.add(r.kind, r.text);
      }
    }
  }
  for (auto& c : cells) {
    ServerRow& r = c.row;
    r.pipeline_source = "sweep";
    if (o.pipeline) {
      const size_t k = static_cast<size_t>(c.photo - photos.data());
      r.pipeline_p50_ms = summarize(pipeline_ms[k], 1).p50_ms;
      r.pipeline_source = "interleaved";
    }
    r.n_ok = static_cast<int>(r.samples_ms.size());
    r.summary = summarize(r.samples_ms, 1);
    if (r.n_ok > 0 && r.pipeline_p50_ms && *r.pipeline_p50_ms > 0) {
      r.overhead_ms = r.summary.p50_ms - *r.pipeline_p50_ms;
      r.overhead_ratio = *r.overhead_ms / *r.pipeline_p50_ms;
    }
    char line[512];
    if (r.n_ok > 0)
      std::snprintf(line, sizeof line, "server %s %s: p50 %.1f ms, p99 %.1f ms, overhead %.1f ms, %d error(s)%s",
                    r.photo.c_str(), r.format.c_str(), r.summary.p50_ms, r.summary.p99_ms, r.overhead_ms.value_or(NAN),
                    r.errors.n, r.errors.n ? (": " + r.errors.first.substr(0, 120)).c_str() : "");
    else
      std::snprintf(line, sizeof line, "server %s %s: every request failed: %s", r.photo.c_str(), r.format.c_str(),
                    r.errors.first.substr(0, 200).c_str());
    say(line);
    rep.rows.push_back(std::move(r));
  }

  if (o.connections > 0) {
    // The 2.6 MP photo (the nearest sent), as multipart: the body every client can send.
    const ServerPhoto* load_photo = &photos.front();
    for (const auto& p : photos)
      if (std::abs(p.megapixels - 2.6) < std::abs(load_photo->megapixels - 2.6)) load_photo = &p;
    std::vector<int> levels = {1};
    if (o.connections > 1) levels.push_back(o.connections);
    for (int n : levels) {
      LoadRow l = run_load(url, o, *load_photo, BodyFormat::kMultipart, n);
      if (!rep.load.empty() && rep.load.front().throughput_rps > 0)
        l.throughput_vs_one = l.throughput_rps / rep.load.front().throughput_rps;
      if (n == 1 && l.throughput_rps > 0) l.throughput_vs_one = 1.0;
      char line[512];
      std::snprintf(line, sizeof line,
                    "server load %d connection(s): %.2f requests/s, p50 %.1f ms, p99 %.1f ms, %d error(s)", n,
                    l.throughput_rps, l.summary.p50_ms, l.summary.p99_ms, l.errors.n);
      say(line);
      rep.load.push_back(std::move(l));
    }
  }
  return rep;
}

}  // namespace facelens::bench

// The service bench (issue 17): the sweep's photos posted to a running `facelens serve`'s
// /v1/embed as multipart, raw body (Content-Type: image/jpeg) and JSON base64, on one keep-alive
// connection, formats alternating in every round; each (photo, format) row has its latency
// percentiles, its errors (counted, with the first answer), and the HTTP overhead = its p50 -
// the in-process pipeline's p50 on the same file measured in the same run. Then the concurrency
// mode: the same requests over 1 and over N connections, throughput and latency of each.
//
//   bench::ServerBenchOptions o;  o.url = "http://127.0.0.1:8080";
//   auto rep = bench::run_server_bench(o, photos, on_message);   // photos: bytes + pipeline p50
//
// Runs its connections on its own threads; one bench at a time. Units: milliseconds, requests/s.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "facelens/runtime_options.h"
#include "facelens/status.h"

namespace facelens::bench {

enum class BodyFormat { kMultipart, kRaw, kJson };
const char* body_format_name(BodyFormat f);  // "multipart", "raw", "json"
const std::vector<BodyFormat>& body_formats();

struct ServerBenchOptions {
  std::string url;      // http://HOST:PORT
  std::string api_key;  // sent as X-API-Key when not empty
  int warmup = 2;
  int iterations = 20;
  int connections = 16;  // concurrency mode; 0 = none
  int load_requests = 96;
  double ready_timeout_s = 60;
  double request_timeout_s = 120;
  // The in-process pipeline on a photo's bytes (Engine::analyze_bytes with embeddings), timed once
  // per photo in every round next to its requests, so that the overhead compares figures taken
  // side by side; empty = take ServerPhoto::pipeline_p50_ms as given.
  std::function<Status(std::span<const uint8_t>)> pipeline;
};

struct ServerPhoto {
  std::string name;
  double megapixels = 0;
  std::vector<uint8_t> bytes;
  std::optional<double> pipeline_p50_ms;  // in-process, same file, same run (replaced when options.pipeline is set)
};

// The errors of a row: count per answer ("HTTP 415", "connection: ..."), and the first one's text.
struct ErrorTally {
  int n = 0;
  std::map<std::string, int> by_kind;
  std::string first;  // "HTTP 415: {"error":...}" (cut at 300 characters)
  void add(const std::string& kind, const std::string& text);
};

struct ServerRow {
  std::string photo;
  double megapixels = 0;
  int64_t file_bytes = 0;
  std::string format;
  int64_t body_bytes = 0;
  int requests = 0;  // timed requests sent
  int n_ok = 0;
  ErrorTally errors;
  int faces = -1;  // faces in the last 200 answer; -1 = none
  std::vector<double> samples_ms;
  Summary summary;  // of the 2xx answers
  std::optional<double> pipeline_p50_ms;
  std::string pipeline_source;           // "interleaved" (timed in the same rounds) or "sweep"
  std::optional<double> overhead_ms;     // summary.p50 - pipeline p50
  std::optional<double> overhead_ratio;  // overhead_ms / pipeline p50
};

struct LoadRow {
  int connections = 0;
  std::string photo;
  std::string format;
  int requests = 0;
  int n_ok = 0;
  ErrorTally errors;
  double wall_s = 0;
  double throughput_rps = 0;  // 2xx answers per second of wall time
  Summary summary;
  std::optional<double> throughput_vs_one;  // this throughput / the one-connection throughput
};

struct ServerReport {
  std::string url;
  bool reachable = false;
  std::string error;   // why the bench could not run (server unreachable), "" otherwise
  std::string health;  // GET /health's body (the server's providers and version), cut at 4000 bytes
  // The runtime of the in-process pipeline the overhead is measured against: intra-op threads
  // (0 = ONNX Runtime's default), provider and idle-thread spinning; set by the caller
  // (BenchmarkOptions::server_threads / server_runtime).
  int pipeline_threads = 0;
  Provider pipeline_provider = Provider::kCpu;
  bool pipeline_allow_spinning = false;
  std::vector<ServerRow> rows;
  std::vector<LoadRow> load;
  int n_errors() const;  // failed requests, plus 1 when the server was unreachable
};

StatusOr<ServerReport> run_server_bench(const ServerBenchOptions& options, const std::vector<ServerPhoto>& photos,
                                        const std::function<void(const std::string&)>& on_message);

}  // namespace facelens::bench

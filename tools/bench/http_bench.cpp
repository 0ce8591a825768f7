// The service's body readers on bodies of photo size (issue 17: an HTTP path whose cost is small
// against the pipeline): the multipart parser (one image part, many small parts, a part full of
// near-delimiters; Google Benchmark fits the complexity, which must come out O(N)), the JSON path
// (simdjson parse of {"image": "<base64>"} plus the base64 decode) and the base64 decoder alone,
// each in bytes per second, against memcpy of the same bytes.
//   build/tools/bench/http_bench [--benchmark_filter=Multipart]
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstring>
#include <random>
#include <string>

#include "core/base64.h"
#include "server/http_request.h"

namespace {

using namespace facelens;

const std::string kBoundary = "----facelensBoundary0123456789";
const std::string kType = "multipart/form-data; boundary=" + kBoundary;

std::string random_bytes(size_t n) {
  std::mt19937 rng(5);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

std::string part(const std::string& data) {
  return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n" +
         "Content-Type: image/jpeg\r\n\r\n" + data + "\r\n";
}

void run_multipart(benchmark::State& state, const std::string& body) {
  for (auto _ : state) {
    auto parts = server::parse_multipart(kType, body, /*max_parts=*/1 << 20);
    if (!parts.ok()) state.SkipWithError(parts.status().message().c_str());
    benchmark::DoNotOptimize(parts);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetComplexityN(static_cast<int64_t>(body.size()));
}

void BM_MultipartOneImage(benchmark::State& state) {
  run_multipart(state, part(random_bytes(static_cast<size_t>(state.range(0)))) + "--" + kBoundary + "--\r\n");
}
BENCHMARK(BM_MultipartOneImage)->RangeMultiplier(4)->Range(64 << 10, 16 << 20)->Complexity(benchmark::oN);

void BM_MultipartManyParts(benchmark::State& state) {
  std::string body;
  while (body.size() < static_cast<size_t>(state.range(0))) body += part("x");
  run_multipart(state, body + "--" + kBoundary + "--\r\n");
}
BENCHMARK(BM_MultipartManyParts)->RangeMultiplier(4)->Range(64 << 10, 16 << 20)->Complexity(benchmark::oN);

void BM_MultipartNearDelimiters(benchmark::State& state) {
  std::string data;
  const std::string almost = "\r\n--" + kBoundary.substr(0, kBoundary.size() - 1);
  while (data.size() < static_cast<size_t>(state.range(0))) data += almost;
  run_multipart(state, part(data) + "--" + kBoundary + "--\r\n");
}
BENCHMARK(BM_MultipartNearDelimiters)->RangeMultiplier(4)->Range(64 << 10, 16 << 20)->Complexity(benchmark::oN);

// The server's JSON path: parse in the padded body buffer, take the field, decode the base64.
void BM_JsonBase64Image(benchmark::State& state) {
  const std::string raw = random_bytes(static_cast<size_t>(state.range(0)));
  std::string body = "{\"image\": \"" +
                     core::base64_encode({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()}) +
                     "\", \"top_k\": 3}";
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  for (auto _ : state) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body.data(), body.size(), /*realloc_if_needed=*/false).get(root)) state.SkipWithError("parse");
    std::string_view text;
    if (root["image"].get(text)) state.SkipWithError("field");
    auto bytes = core::base64_decode(text);
    if (!bytes || bytes->size() != raw.size()) state.SkipWithError("base64");
    benchmark::DoNotOptimize(bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_JsonBase64Image)->RangeMultiplier(4)->Range(256 << 10, 4 << 20);

void BM_Base64Decode(benchmark::State& state) {
  const std::string raw = random_bytes(static_cast<size_t>(state.range(0)));
  const std::string text = core::base64_encode({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()});
  for (auto _ : state) benchmark::DoNotOptimize(core::base64_decode(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Base64Decode)->RangeMultiplier(4)->Range(256 << 10, 4 << 20);

void BM_Memcpy(benchmark::State& state) {  // the floor: one copy of the bytes into a fresh buffer
  const std::string raw = random_bytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::string copy(raw);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_Memcpy)->RangeMultiplier(4)->Range(256 << 10, 4 << 20);

}  // namespace

BENCHMARK_MAIN();

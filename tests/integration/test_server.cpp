// The HTTP service in-process on a free loopback port: every route, API keys and roles, bad
// inputs (4xx JSON and the server still serving), 32 concurrent clients, the OpenAPI document,
// and what hostile or careless clients do (issue 15): deeply nested JSON, idle and slow-header
// connections, connection caps, oversized and chunked bodies, Expect: 100-continue, forged log
// fields, 415 before 401, file-system paths in answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/recognition.h"
#include "facelens/server.h"

namespace facelens {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(t[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

class Running {
 public:
  Running(ServerOptions so, std::shared_ptr<const Engine> engine, std::shared_ptr<Gallery> gallery) {
    so.host = "127.0.0.1";
    so.port = 0;
    auto s = Server::create(so, std::move(engine), std::move(gallery));
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    server_ = std::move(*s);
    thread_ = std::thread([this] { EXPECT_TRUE(server_->run().ok()); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
    for (int i = 0; i < 100; ++i) {  // until /ready
      auto r = client_->Get("/ready");
      if (r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Running() {
    server_->stop();
    thread_.join();
  }
  httplib::Client& client() { return *client_; }
  Server& server() { return *server_; }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::default_models_present() || testing::data_dir().empty()) return;
    EngineOptions eo;
    eo.models_dir = testing::models_dir();
    eo.runtime.provider = Provider::kCpu;
    auto e = Engine::create(eo);
    ASSERT_TRUE(e.ok());
    engine_ = std::move(*e);
    db_dir_ = (fs::temp_directory_path() / ("facelens-server-" + std::to_string(::getpid()))).string();
    fs::remove_all(db_dir_);
    GalleryOptions go;
    go.db_path = db_dir_ + "/gallery.db";
    auto g = Gallery::open(gallery_options_for(*engine_, go));
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    gallery_ = std::move(*g);
  }
  static void TearDownTestSuite() {
    gallery_.reset();
    engine_.reset();
    if (!db_dir_.empty()) fs::remove_all(db_dir_);
  }
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    FACELENS_REQUIRE_DATA();
  }
  static std::string face(const std::string& rel) { return slurp(testing::data_dir() + "/faces/" + rel); }
  static httplib::MultipartFormDataItems image_form(const std::string& field, const std::string& bytes) {
    return {{field, bytes, "image.jpg", "image/jpeg"}};
  }
  static void expect_json_error(const httplib::Result& r, int lo, int hi, const std::string& what) {
    ASSERT_TRUE(r) << what << ": no response";
    EXPECT_GE(r->status, lo) << what;
    EXPECT_LE(r->status, hi) << what;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << what << ": not JSON: " << r->body;
    EXPECT_TRUE(j.contains("error") && j["error"].contains("code") && j["error"].contains("message"))
        << what << ": " << r->body;
  }
  static inline std::shared_ptr<const Engine> engine_;
  static inline std::shared_ptr<Gallery> gallery_;
  static inline std::string db_dir_;
};

TEST_F(ServerTest, EveryRouteAndTheGalleryFlow) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg"), obama2 = face("face_recognition/obama2.jpg");
  const std::string biden = face("face_recognition/biden.jpg");

  auto det = c.Post("/v1/detect", image_form("image", obama));
  ASSERT_TRUE(det && det->status == 200) << (det ? det->body : "no response");
  json d = json::parse(det->body);
  EXPECT_EQ(d["faces"].size(), 1u);
  EXPECT_EQ(d["width"], 910);
  EXPECT_EQ(d["providers"]["detector"], "CPUExecutionProvider");
  EXPECT_FALSE(det->get_header_value("X-Request-Id").empty());

  auto emb = c.Post("/v1/embed", json{{"image", base64(obama)}}.dump(), "application/json");
  ASSERT_TRUE(emb && emb->status == 200);
  EXPECT_EQ(json::parse(emb->body)["faces"][0]["embedding"].size(), 512u);

  auto an = c.Post("/v1/analyze", image_form("image", obama));
  ASSERT_TRUE(an && an->status == 200);
  EXPECT_TRUE(json::parse(an->body)["faces"][0].contains("liveness"));

  httplib::MultipartFormDataItems pair = {{"image_a", obama, "a.jpg", "image/jpeg"},
                                          {"image_b", obama2, "b.jpg", "image/jpeg"}};
  auto ver = c.Post("/v1/verify", pair);
  ASSERT_TRUE(ver && ver->status == 200);
  EXPECT_TRUE(json::parse(ver->body)["match"].get<bool>());

  // enrol -> identify -> verify against the identity -> get -> delete
  httplib::MultipartFormDataItems enrol = {
      {"image", obama, "o.jpg", "image/jpeg"}, {"name", "obama", "", ""}, {"metadata", R"({"team": "us"})", "", ""}};
  auto en = c.Post("/v1/identities", enrol);
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "");
  auto more = c.Post("/v1/identities/obama/faces", image_form("image", obama2));
  ASSERT_TRUE(more && more->status == 201) << (more ? more->body : "");
  auto id = c.Post("/v1/identify", image_form("image", face("face_recognition/obama3.jpg")));
  ASSERT_TRUE(id && id->status == 200);
  EXPECT_EQ(json::parse(id->body)["faces"][0]["identity"], "obama");
  auto unknown = c.Post("/v1/identify", image_form("image", biden));
  ASSERT_TRUE(unknown && unknown->status == 200);
  EXPECT_TRUE(json::parse(unknown->body)["faces"][0]["identity"].is_null());
  httplib::MultipartFormDataItems vid = {{"image", biden, "b.jpg", "image/jpeg"}, {"identity", "obama", "", ""}};
  auto vi = c.Post("/v1/verify", vid);
  ASSERT_TRUE(vi && vi->status == 200);
  EXPECT_FALSE(json::parse(vi->body)["match"].get<bool>());
  auto list = c.Get("/v1/identities");
  ASSERT_TRUE(list && list->status == 200);
  EXPECT_EQ(json::parse(list->body)["identities"].size(), 1u);
  auto one = c.Get("/v1/identities/obama");
  ASSERT_TRUE(one && one->status == 200);
  EXPECT_EQ(json::parse(one->body)["face_list"].size(), 2u);
  EXPECT_EQ(json::parse(one->body)["metadata"]["team"], "us");
  auto del = c.Delete("/v1/identities/obama");
  ASSERT_TRUE(del && del->status == 200);
  expect_json_error(c.Get("/v1/identities/obama"), 404, 404, "deleted identity");

  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models && models->status == 200);
  EXPECT_GE(json::parse(models->body)["models"].size(), 4u);
  auto health = c.Get("/health");
  ASSERT_TRUE(health && health->status == 200);
  EXPECT_EQ(json::parse(health->body)["services"][0]["provider"], "CPUExecutionProvider");
  EXPECT_EQ(json::parse(health->body)["services"][0]["placement"][0]["ep"],
            "CPUExecutionProvider");  // where its nodes run
  EXPECT_GT(json::parse(health->body)["services"][0]["placement"][0]["nodes"].get<int>(), 0);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("facelens_requests_total{method=\"POST\",route=\"/v1/detect\",status=\"200\"}"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("facelens_request_duration_seconds_bucket"), std::string::npos);
  auto page = c.Get("/");
  ASSERT_TRUE(page && page->status == 200);
  EXPECT_NE(page->body.find("<title>facelens</title>"), std::string::npos);
  expect_json_error(c.Get("/v1/nope"), 404, 404, "unknown route");
}

TEST_F(ServerTest, ApiKeysAndRoles) {
  const std::string admin = "admin-key-0123456789", user = "user-key-0123456789";
  ServerOptions so;
  auto keys = parse_api_keys("admin:" + admin + ",user:" + user);
  ASSERT_TRUE(keys.ok());
  so.api_keys = *keys;
  Running s(so, engine_, gallery_);
  auto& c = s.client();
  const std::string img = face("face_recognition/obama.jpg");
  expect_json_error(c.Post("/v1/detect", image_form("image", img)), 401, 401, "no key");
  expect_json_error(c.Post("/v1/detect", {{"X-API-Key", "wrong-key-0123456789"}}, image_form("image", img)), 401, 401,
                    "wrong key");
  auto ok = c.Post("/v1/detect", {{"X-API-Key", user}}, image_form("image", img));
  ASSERT_TRUE(ok && ok->status == 200);
  // A raw body: the same keys, the same answers.
  expect_json_error(c.Post("/v1/detect", img, "image/jpeg"), 401, 401, "raw body, no key");
  expect_json_error(c.Post("/v1/detect", {{"X-API-Key", "wrong-key-0123456789"}}, img, "image/jpeg"), 401, 401,
                    "raw body, wrong key");
  auto raw_ok = c.Post("/v1/detect", {{"X-API-Key", user}}, img, "image/jpeg");
  ASSERT_TRUE(raw_ok && raw_ok->status == 200) << (raw_ok ? raw_ok->body : "no response");
  EXPECT_EQ(json::parse(raw_ok->body), json::parse(ok->body));
  expect_json_error(c.Post("/v1/identities?name=keyed", {{"X-API-Key", user}}, img, "image/jpeg"), 403, 403,
                    "raw enrolment with a user key");
  httplib::MultipartFormDataItems enrol = {{"image", img, "o.jpg", "image/jpeg"}, {"name", "keyed", "", ""}};
  expect_json_error(c.Post("/v1/identities", {{"X-API-Key", user}}, enrol), 403, 403, "user key on a gallery write");
  expect_json_error(c.Delete("/v1/identities/keyed", {{"X-API-Key", user}}), 403, 403, "user key deleting");
  auto en = c.Post("/v1/identities", {{"X-API-Key", admin}}, enrol);
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "");
  auto del = c.Delete("/v1/identities/keyed", {{"X-API-Key", admin}});
  ASSERT_TRUE(del && del->status == 200);
  EXPECT_FALSE(parse_api_keys("root:abcdefghijklmnopq").ok());
  EXPECT_FALSE(parse_api_keys("admin:short").ok());
}

// The configured decode limits ([limits], EngineOptions::decode: max_pixels and max_bytes) hold on
// every route that takes an image, through the one input reader: the same 413 OUT_OF_RANGE for an
// over-limit image on each of them, sent as a multipart file and as JSON base64. The requests are
// a table keyed by route and checked against Server::routes(), so a new image route without an
// entry here fails. (The verify, identify and enrolment routes used to decode with the defaults.)
TEST_F(ServerTest, ConfiguredImageLimitsHoldOnEveryImageRoute) {
  const std::string little = face("face_recognition/obama-240p.jpg"), big = face("face_recognition/obama.jpg");
  struct Limit {
    std::string name, word;  // the limit and a word its message must contain
    DecodeOptions decode;
  };
  std::vector<Limit> limits(2);
  limits[0].name = "max_pixels", limits[0].word = "pixels";
  limits[0].decode.max_pixels = 500'000;  // obama.jpg is 910 x 1137 = 1.03 Mpx, obama-240p.jpg 0.07 Mpx
  limits[1].name = "max_bytes", limits[1].word = "bytes";
  limits[1].decode.max_bytes = 100'000;  // obama.jpg has 280 kB, obama-240p.jpg 37 kB
  ASSERT_GT(big.size(), 100'000u);
  ASSERT_LT(little.size(), 100'000u);
  // Each image route's fields besides the over-limit image ("image" unless said).
  struct Call {
    std::string image_field = "image";
    std::vector<std::pair<std::string, std::string>> texts;
    std::vector<std::pair<std::string, std::string>> images;  // other, acceptable images
  };
  const std::vector<std::pair<std::string, Call>> calls = {
      {"POST /v1/detect", {}},
      {"POST /v1/embed", {}},
      {"POST /v1/analyze", {}},
      {"POST /v1/verify", {"image_a", {}, {{"image_b", little}}}},
      {"POST /v1/verify", {"image", {{"identity", "obama"}}, {}}},
      {"POST /v1/identify", {}},
      {"POST /v1/identities", {"image", {{"name", "big"}}, {}}},
      {"POST /v1/identities/{id}/faces", {}},
  };
  for (const auto& limit : limits) {
    SCOPED_TRACE(limit.name);
    EngineOptions eo;
    eo.models_dir = testing::models_dir();
    eo.runtime.provider = Provider::kCpu;
    eo.decode.max_pixels = limit.decode.max_pixels;
    eo.decode.max_bytes = limit.decode.max_bytes;
    auto e = Engine::create(eo);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    std::shared_ptr<const Engine> small(std::move(*e));
    GalleryOptions go;
    go.db_path = db_dir_ + "/limits-" + limit.name + ".db";
    auto g = Gallery::open(gallery_options_for(*small, go));
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    std::shared_ptr<Gallery> gallery(std::move(*g));
    // One identity enrolled from a small photo, so verify-with-identity reaches the image.
    auto recognition = Recognition::create(small, gallery);
    ASSERT_TRUE(recognition.ok()) << recognition.status().to_string();
    auto enrolled =
        (*recognition)->enroll("obama", std::span(reinterpret_cast<const uint8_t*>(little.data()), little.size()), {});
    ASSERT_TRUE(enrolled.ok()) << enrolled.status().to_string();
    Running s({}, small, gallery);
    auto& c = s.client();
    // Every POST route of the server takes an image: each must be in the table.
    for (const auto& served : s.server().routes()) {
      if (served.rfind("POST ", 0) != 0) continue;
      EXPECT_TRUE(std::any_of(calls.begin(), calls.end(), [&](const auto& call) { return call.first == served; }))
          << served << " takes an image but is not checked here";
    }
    for (const auto& [route, call] : calls) {
      std::string path = route.substr(5);
      if (auto at = path.find("{id}"); at != std::string::npos) path.replace(at, 4, "obama");
      httplib::MultipartFormDataItems form = {{call.image_field, big, "big.jpg", "image/jpeg"}};
      json body = {{call.image_field, base64(big)}};
      for (const auto& [k, v] : call.texts) form.push_back({k, v, "", ""}), body[k] = v;
      for (const auto& [k, v] : call.images) form.push_back({k, v, "b.jpg", "image/jpeg"}), body[k] = base64(v);
      // A raw body: the one-image routes take the image itself, their text fields in the query.
      const bool one_image = route != "POST /v1/verify";
      std::string query;
      for (const auto& [k, v] : call.texts) query += (query.empty() ? "?" : "&") + k + "=" + v;
      const std::vector<std::pair<std::string, httplib::Result>> answers = [&] {
        std::vector<std::pair<std::string, httplib::Result>> a;
        a.emplace_back(route + " " + call.image_field + " (multipart)", c.Post(path, form));
        a.emplace_back(route + " " + call.image_field + " (JSON)", c.Post(path, body.dump(), "application/json"));
        if (one_image) a.emplace_back(route + " (raw image/jpeg)", c.Post(path + query, big, "image/jpeg"));
        return a;
      }();
      if (!one_image) {  // two images, or an image and an identity: no raw body, and the 415 says so
        auto raw = c.Post(path, big, "image/jpeg");
        expect_json_error(raw, 415, 415, route + " raw");
        if (raw) {
          EXPECT_NE(raw->body.find("multipart/form-data or application/json"), std::string::npos) << raw->body;
        }
      }
      for (const auto& [what, r] : answers) {
        expect_json_error(r, 413, 413, what);
        if (!r) continue;
        json j = json::parse(r->body, nullptr, false);
        EXPECT_EQ(j["error"]["code"], "OUT_OF_RANGE") << what << ": " << r->body;
        EXPECT_NE(r->body.find(limit.word), std::string::npos) << what << ": " << r->body;
      }
    }
    // Within the limits the same routes answer.
    auto ok = c.Post("/v1/identify", image_form("image", little));
    ASSERT_TRUE(ok && ok->status == 200) << (ok ? ok->body : "no response");
    auto ok_json = c.Post("/v1/detect", json{{"image", base64(little)}}.dump(), "application/json");
    ASSERT_TRUE(ok_json && ok_json->status == 200) << (ok_json ? ok_json->body : "no response");
    EXPECT_EQ(gallery->stats().n_faces, 1u) << "an over-limit enrolment was stored";
  }
}

TEST_F(ServerTest, BadInputsGet4xxJsonAndTheServerKeepsServing) {
  ServerOptions so;
  so.max_body_bytes = 4 << 20;
  Running s(so, engine_, gallery_);
  auto& c = s.client();
  const std::string jpeg = face("face_recognition/obama.jpg");
  // A PNG header claiming 65535 x 65535 (IHDR CRC is not checked before the size limit).
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\xff\xff\0\0\xff\xff\x08\x02\0\0\0\0\0\0\0", 33);
  std::string random(4096, '\0');
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::vector<std::pair<std::string, std::string>> bodies = {{"empty file", ""},
                                                                   {"truncated JPEG", jpeg.substr(0, jpeg.size() / 2)},
                                                                   {"text", "hello, I am not an image"},
                                                                   {"random bytes", random},
                                                                   {"huge PNG header", png}};
  for (const auto& [what, bytes] : bodies)
    expect_json_error(c.Post("/v1/detect", image_form("image", bytes)), 400, 499, what);
  expect_json_error(c.Post("/v1/detect", R"({"image": "@@@not base64@@@"})", "application/json"), 400, 499,
                    "invalid base64");
  expect_json_error(c.Post("/v1/detect", "{not json", "application/json"), 400, 499, "JSON garbage");
  expect_json_error(c.Post("/v1/detect", R"({"picture": "AAAA"})", "application/json"), 400, 499, "missing field");
  expect_json_error(c.Post("/v1/detect", jpeg, "image/gif"), 415, 415, "wrong content type");
  expect_json_error(c.Post("/v1/detect", "hello, I am not an image", "image/jpeg"), 400, 400, "raw text body");
  expect_json_error(c.Post("/v1/detect", "", "image/jpeg"), 400, 400, "empty raw body");
  expect_json_error(c.Post("/v1/detect", std::string(5 << 20, 'x'), "image/jpeg"), 413, 413, "oversized raw body");
  expect_json_error(c.Post("/v1/detect", "", "application/json"), 400, 499, "empty body");
  expect_json_error(c.Post("/v1/detect", std::string(5 << 20, 'x'), "application/json"), 413, 413, "oversized body");
  auto after = c.Post("/v1/detect", image_form("image", jpeg));
  ASSERT_TRUE(after && after->status == 200) << "the server stopped serving correct answers after bad inputs";
  EXPECT_EQ(json::parse(after->body)["faces"].size(), 1u);
}

// Same answer = same faces with boxes and landmarks within 0.01 px and embeddings at cosine
// >= 0.99999: a merged batch may sum in another order than a single run, so the last float digits
// can differ; anything a user would notice cannot.
std::string answer_difference(const json& a, const json& b) {
  if (a["faces"].size() != b["faces"].size())
    return std::to_string(a["faces"].size()) + " faces vs " + std::to_string(b["faces"].size());
  for (size_t f = 0; f < a["faces"].size(); ++f) {
    const json& fa = a["faces"][f];
    const json& fb = b["faces"][f];
    for (size_t k = 0; k < 4; ++k)
      if (std::fabs(fa["box"][k].get<double>() - fb["box"][k].get<double>()) > 0.01)
        return "face " + std::to_string(f) + " box " + fa["box"].dump() + " vs " + fb["box"].dump();
    if (fa["landmarks"].size() != fb["landmarks"].size())
      return "face " + std::to_string(f) + " landmark counts differ";
    for (size_t p = 0; p < fa["landmarks"].size(); ++p)
      for (size_t k = 0; k < 2; ++k)
        if (std::fabs(fa["landmarks"][p][k].get<double>() - fb["landmarks"][p][k].get<double>()) > 0.01)
          return "face " + std::to_string(f) + " landmarks " + fa["landmarks"].dump() + " vs " + fb["landmarks"].dump();
    const auto& ea = fa["embedding"];
    const auto& eb = fb["embedding"];
    if (ea.size() != eb.size()) return "embedding sizes differ";
    double dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < ea.size(); ++k) {
      const double x = ea[k].get<double>(), y = eb[k].get<double>();
      dot += x * y, na += x * x, nb += y * y;
    }
    const double cosine = dot / std::sqrt(na * nb);
    if (cosine < 0.99999) return "face " + std::to_string(f) + " embedding cosine " + std::to_string(cosine);
  }
  return "";
}

TEST_F(ServerTest, ThirtyTwoConcurrentClientsGetTheSequentialAnswers) {
  Running s({}, engine_, gallery_);
  const std::vector<std::string> files = {"face_recognition/obama.jpg", "face_recognition/two_people.jpg",
                                          "face_recognition/biden.jpg", "openface/longoria-cooper.jpg"};
  std::vector<std::string> bytes;
  std::vector<json> expected;
  for (const auto& f : files) {
    bytes.push_back(face(f));
    auto r = s.client().Post("/v1/embed", image_form("image", bytes.back()));
    ASSERT_TRUE(r && r->status == 200);
    expected.push_back(json::parse(r->body));
    ASSERT_FALSE(expected.back()["faces"].empty()) << f;
  }
  std::mutex mu;
  std::vector<std::string> problems;
  std::vector<std::thread> clients;
  for (int t = 0; t < 32; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", s.port());
      c.set_read_timeout(120, 0);
      for (int k = 0; k < 3; ++k) {
        size_t i = (t + k) % files.size();
        auto r = c.Post("/v1/embed", image_form("image", bytes[i]));
        std::string problem;
        if (!r) problem = "no response (" + httplib::to_string(r.error()) + ")";
        else if (r->status != 200) problem = "HTTP " + std::to_string(r->status) + ": " + r->body;
        else problem = answer_difference(json::parse(r->body), expected[i]);
        if (!problem.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          problems.push_back(files[i] + ": " + problem);
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  std::string all;
  for (const auto& p : problems) all += "\n  " + p;
  EXPECT_TRUE(problems.empty()) << problems.size() << " of 96 answers differ from the sequential ones:" << all;
}

TEST_F(ServerTest, OpenApiIsValidAndListsEveryServedRoute) {
  Running s({}, engine_, gallery_);
  auto r = s.client().Get("/openapi.json");
  ASSERT_TRUE(r && r->status == 200);
  json doc = json::parse(r->body, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_TRUE(doc.contains("openapi") && doc["openapi"].get<std::string>().rfind("3.", 0) == 0);
  ASSERT_TRUE(doc["info"].contains("title") && doc["info"].contains("version"));
  ASSERT_TRUE(doc["paths"].is_object());
  static const std::set<std::string> kMethods = {"get", "post", "put", "delete", "patch"};
  for (auto& [path, item] : doc["paths"].items()) {
    for (auto& [method, op] : item.items()) {
      if (!kMethods.count(method)) continue;
      EXPECT_TRUE(op.contains("responses") && !op["responses"].empty()) << method << " " << path;
    }
  }
  // Every $ref resolves.
  std::function<void(const json&)> refs = [&](const json& j) {
    if (j.is_object()) {
      if (j.contains("$ref")) {
        std::string ref = j["$ref"];
        ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
        EXPECT_TRUE(doc["components"]["schemas"].contains(ref.substr(21))) << ref;
      }
      for (auto& [k, v] : j.items()) refs(v);
    } else if (j.is_array()) {
      for (const auto& v : j) refs(v);
    }
  };
  refs(doc);
  std::set<std::string> operation_ids;
  for (const auto& route : s.server().routes()) {
    auto space = route.find(' ');
    std::string method = route.substr(0, space), path = route.substr(space + 1);
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    ASSERT_TRUE(doc["paths"].contains(path) && doc["paths"][path].contains(method))
        << route << " is not in /openapi.json";
    const json& op = doc["paths"][path][method];
    // An operationId, unique.
    ASSERT_TRUE(op.contains("operationId") && op["operationId"].is_string()) << route;
    EXPECT_TRUE(operation_ids.insert(op["operationId"].get<std::string>()).second) << route << ": operationId repeated";
    // Every path parameter documented, required.
    std::set<std::string> params;
    for (const auto& p : op.value("parameters", json::array())) {
      if (p["in"] == "path") {
        EXPECT_TRUE(p.value("required", false)) << route << " " << p;
        params.insert(p["name"]);
      }
      EXPECT_TRUE(p.contains("schema") && p["schema"].contains("type")) << route << " " << p;
    }
    for (size_t at = path.find('{'); at != std::string::npos; at = path.find('{', at + 1))
      EXPECT_TRUE(params.count(path.substr(at + 1, path.find('}', at) - at - 1))) << route << ": path parameter";
    // A body, required, with its required fields, on every route that takes one.
    const bool takes_body = method == "post" || method == "patch";
    EXPECT_EQ(op.contains("requestBody"), takes_body) << route;
    if (takes_body) {
      EXPECT_TRUE(op["requestBody"].value("required", false)) << route;
      for (auto& [type, content] : op["requestBody"]["content"].items()) {
        const json& schema = content["schema"].contains("$ref")
                                 ? doc["components"]["schemas"][content["schema"]["$ref"].get<std::string>().substr(21)]
                                 : content["schema"];
        if (schema.value("type", "") != "object") continue;
        EXPECT_TRUE(schema.contains("required") || schema.contains("anyOf") || schema.contains("minProperties"))
            << route << " " << type << ": which fields are required?";
      }
    }
    // The statuses: those the route can answer, from what it is (its role, its method, whether it
    // reads the gallery, whether it names an identity or a face), and only those.
    std::set<std::string> can = {"200", "401"};
    const bool gallery_route = path.rfind("/v1/identit", 0) == 0 || path.rfind("/v1/faces", 0) == 0 ||
                               path == "/v1/identify" || path == "/v1/verify";
    const bool admin = (method != "get" && gallery_route && path != "/v1/identify" && path != "/v1/verify");
    if (admin) can.insert("403");
    if (method == "post") can.insert({"201", "400", "413", "415", "503"});
    if (method == "patch") can.insert({"400", "413", "415"});
    if (gallery_route) can.insert({"409", "503"});
    if (path.find("{id}") != std::string::npos || path.find("{face_id}") != std::string::npos || path == "/v1/verify")
      can.insert({"400", "404"});
    if (path == "/ready") can.insert("503");
    if (path == "/" || path == "/app.js" || path == "/app.css") can.insert("304");  // the console's files (ETag)
    std::set<std::string> must = {"401"};
    if (admin) must.insert("403");
    if (takes_body) must.insert({"400", "415"});
    if (method == "post") must.insert("413");
    if (gallery_route) must.insert({"409", "503"});
    if (path.find("{id}") != std::string::npos || path.find("{face_id}") != std::string::npos) must.insert("404");
    for (auto& [code, response] : op["responses"].items()) {
      EXPECT_TRUE(can.count(code)) << route << " documents " << code << ", which it cannot answer";
      if (code[0] != '2' && code != "304") {  // 304 Not Modified has no body by definition
        EXPECT_TRUE(response.contains("content") || path == "/metrics") << route << " " << code;
      }
    }
    for (const auto& code : must) EXPECT_TRUE(op["responses"].contains(code)) << route << " does not document " << code;
  }
  // Parameters the routes read.
  auto names = [&](const std::string& path, const std::string& method) {
    std::set<std::string> out;
    for (const auto& p : doc["paths"][path][method].value("parameters", json::array())) out.insert(p["name"]);
    return out;
  };
  EXPECT_TRUE(names("/v1/identify", "post").count("top_k"));
  EXPECT_TRUE(names("/v1/identify", "post").count("threshold"));
  EXPECT_TRUE(names("/v1/verify", "post").count("threshold"));
  EXPECT_TRUE(names("/v1/identities", "post").count("largest"));
  EXPECT_EQ(doc["paths"]["/v1/identities"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
               ["metadata"]["type"],
            "object");
  EXPECT_EQ(doc["components"]["schemas"]["Identity"]["properties"]["metadata"]["type"], "object");
  EXPECT_EQ(doc["paths"]["/v1/faces/{face_id}/crop"]["get"]["responses"]["200"]["content"].begin().key(), "image/png");
}

// Raw sockets, for what a polite client library never sends.
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
bool send_text(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}
// What arrives within `seconds`, until the peer closes (*closed) or `until` appears in it.
std::string receive(int fd, double seconds, bool* closed = nullptr, const std::string& until = "") {
  std::string out;
  if (closed) *closed = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (::poll(&p, 1, std::max<int>(1, static_cast<int>(left.count()))) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  return out;
}
// GET /health on a fresh connection, with timeouts of `seconds`: the status, or -1.
int probe_health(int port, double seconds, double* took) {
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client c("127.0.0.1", port);
  const int whole = static_cast<int>(seconds);
  const int usec = static_cast<int>((seconds - whole) * 1e6);
  c.set_connection_timeout(whole, usec);
  c.set_read_timeout(whole, usec);
  c.set_write_timeout(whole, usec);
  auto r = c.Get("/health");
  *took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r ? r->status : -1;
}

TEST_F(ServerTest, DeeplyNestedJsonIsA400AndTheServerKeepsServing) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg");
  constexpr int kDepth = 200000;  // issue 15: 0.4 MB that crashed the process (recursive copy/dump)
  const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
  auto verify =
      c.Post("/v1/verify", R"({"image": ")" + base64(obama) + R"(", "identity": )" + deep + "}", "application/json");
  expect_json_error(verify, 400, 400, "deep identity");
  EXPECT_NE(verify->body.find("deeper"), std::string::npos) << verify->body;
  std::string nested_metadata;
  for (int i = 0; i < kDepth; ++i) nested_metadata += "{\"a\":";
  nested_metadata += "1" + std::string(kDepth, '}');
  expect_json_error(
      c.Post("/v1/identities",
             R"({"name": "deep", "image": ")" + base64(obama) + R"(", "metadata": )" + nested_metadata + "}",
             "application/json"),
      400, 400, "deep metadata object");
  httplib::MultipartFormDataItems form = {
      {"image", obama, "o.jpg", "image/jpeg"}, {"name", "deep", "", ""}, {"metadata", nested_metadata, "", ""}};
  expect_json_error(c.Post("/v1/identities", form), 400, 400, "deep metadata text in a form");
  expect_json_error(c.Post("/v1/detect", deep, "application/json"), 400, 400, "deep body");
  // A structured value where a name is expected is refused, not re-serialised.
  expect_json_error(
      c.Post("/v1/verify", R"({"image": ")" + base64(obama) + R"(", "identity": {"a": [1]}})", "application/json"), 400,
      400, "object as identity");
  auto after = c.Get("/health");
  ASSERT_TRUE(after && after->status == 200) << "the server stopped serving after a deep JSON body";
}

TEST_F(ServerTest, FortyIdleConnectionsDoNotStarveOthers) {
  ServerOptions so;
  so.keep_alive_seconds = 2;
  Running s(so, engine_, gallery_);
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) {
    int fd = connect_to(s.port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int k = 0; k < 4; ++k) {
    double took = 0;
    EXPECT_EQ(probe_health(s.port(), 2, &took), 200) << "probe " << k << " with 40 idle connections open";
    EXPECT_LT(took, 2) << "probe " << k;
  }
  // Idle connections are closed after keep_alive_seconds (2 s here), freeing their slots.
  bool closed = false;
  receive(idle[0], 5, &closed);
  EXPECT_TRUE(closed) << "an idle connection stayed open past the keep-alive timeout";
  for (int fd : idle) ::close(fd);
}

TEST_F(ServerTest, SlowHeaderConnectionsAreCutAndDoNotStarveOthers) {
  ServerOptions so;
  so.header_timeout_seconds = 3;
  Running s(so, engine_, gallery_);
  // 40 slowloris clients: a header line every second, never the end of the headers.
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    int fd = connect_to(s.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_text(fd, "GET /health HTTP/1.1\r\nHost: x\r\n"));
    slow.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::thread dripping([&] {
    for (int t = 0; t < 8 && !done; ++t) {
      for (int fd : slow) send_text(fd, "X-Slow-" + std::to_string(t) + ": still here\r\n");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
  for (int k = 0; k < 4; ++k) {
    double took = 0;
    EXPECT_EQ(probe_health(s.port(), 2, &took), 200) << "probe " << k << " with 40 slow-header connections open";
    EXPECT_LT(took, 2) << "probe " << k;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Each slow connection is answered 408 and closed once its headers took header_timeout_seconds.
  int cut = 0;
  for (int fd : slow) {
    bool closed = false;
    std::string got = receive(fd, 6, &closed);
    if (closed && got.rfind("HTTP/1.1 408", 0) == 0) ++cut;
  }
  done = true;
  dripping.join();
  EXPECT_EQ(cut, 40) << "slow-header connections not cut by the header deadline";
  for (int fd : slow) ::close(fd);
}

TEST_F(ServerTest, ConnectionsOverThePerClientCapGet503) {
  ServerOptions so;
  so.max_connections_per_client = 4;
  Running s(so, engine_, gallery_);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Running's own client may linger
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect_to(s.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int extra = connect_to(s.port());
  ASSERT_GE(extra, 0);
  send_text(extra, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  std::string got = receive(extra, 3, &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("Retry-After: 1"), std::string::npos) << got;
  EXPECT_NE(got.find("\"UNAVAILABLE\""), std::string::npos) << got;
  EXPECT_TRUE(closed);
  ::close(extra);
  ::close(held.back());
  held.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int again = connect_to(s.port());
  send_text(again, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  got = receive(again, 3);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << "a freed slot is usable again: " << got;
  ::close(again);
  for (int fd : held) ::close(fd);
}

TEST_F(ServerTest, OversizedBodiesGet413ChunkedAndExpectContinueToo) {
  ServerOptions so;
  so.max_body_bytes = 1 << 20;
  Running s(so, engine_, gallery_);
  // Chunked, 64 KiB chunks up to 2 MiB: 413 (not 400), and the server keeps serving.
  int fd = connect_to(s.port());
  send_text(
      fd,
      "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  for (int i = 0; i < 32; ++i)
    if (!send_text(fd, chunk)) break;
  std::string got = receive(fd, 5, nullptr, "}");
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got.substr(0, 200);
  ::close(fd);
  // Expect: 100-continue with 100 MB announced: 413 at once, never "100 Continue".
  fd = connect_to(s.port());
  send_text(fd,
            "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n"
            "Expect: 100-continue\r\n\r\n");
  got = receive(fd, 3, nullptr, "}");
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_EQ(got.find("100 Continue"), std::string::npos) << got;
  ::close(fd);
  // Within the limit: 100 Continue, then the answer to the body.
  fd = connect_to(s.port());
  const std::string body = R"({"picture": "AAAA"})";
  send_text(fd, "POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n");
  got = receive(fd, 3, nullptr, "\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << got;
  send_text(fd, body);
  got = receive(fd, 3, nullptr, "}}");
  EXPECT_NE(got.find("HTTP/1.1 400"), std::string::npos) << got;
  ::close(fd);
  auto after = s.client().Get("/health");
  ASSERT_TRUE(after && after->status == 200);
}

TEST_F(ServerTest, LogLinesEscapeTheClientsFields) {
  std::ostringstream captured;
  std::mutex captured_mu;
  ServerOptions so;
  so.request_log_sink = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(captured_mu);
    captured << line << "\n";
  };
  {
    Running s(so, engine_, gallery_);
    const std::string forged_id = R"(abc","status":200,"x":")";
    // A routed path (an identity name) and an unrouted one, each with a forged "status" field.
    for (const std::string path :
         {R"(/v1/identities/x%22,%22status%22:200,%22y%22:%22)", R"(/v1/nope%22,%22status%22:200,%22y%22:%22)"}) {
      auto r = s.client().Get(path, {{"X-Request-Id", forged_id}});
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 404);
    }
  }
  std::istringstream lines(captured.str());
  std::string line;
  int seen = 0;
  while (std::getline(lines, line)) {
    if (line.find("nope") == std::string::npos && line.find("/v1/identities/x") == std::string::npos) continue;
    ++seen;
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j.size(), 10u) << "a forged field in " << line;
    EXPECT_EQ(j["status"], 404) << line;
    EXPECT_EQ(j["request_id"], R"(abc","status":200,"x":")") << line;
    const std::string path = j["path"];
    EXPECT_TRUE(path == R"(/v1/nope","status":200,"y":")" || path == R"(/v1/identities/x","status":200,"y":")") << line;
  }
  EXPECT_EQ(seen, 2) << captured.str();
}

TEST_F(ServerTest, KeysAreCheckedBeforeTheContentAndAnswersShowNoPaths) {
  const std::string user = "user-key-0123456789";
  ServerOptions so;
  so.api_keys = *parse_api_keys("user:" + user);
  Running s(so, engine_, gallery_);
  auto& c = s.client();
  expect_json_error(c.Post("/v1/detect", "not an image", "text/plain"), 401, 401, "wrong content type, no key");
  expect_json_error(c.Post("/v1/detect", {{"X-API-Key", user}}, "not an image", "text/plain"), 415, 415,
                    "wrong content type with a key");
  auto health = c.Get("/health", {{"X-API-Key", user}});
  ASSERT_TRUE(health && health->status == 200);
  EXPECT_EQ(health->body.find(db_dir_), std::string::npos) << "the gallery path in /health: " << health->body;
  EXPECT_EQ(health->body.find(testing::models_dir()), std::string::npos)
      << "the models path in /health: " << health->body;
  EXPECT_EQ(json::parse(health->body)["gallery"]["store"], "sqlite");
}

TEST_F(ServerTest, PipelinedAndMalformedRequestsOnOneConnection) {
  Running s({}, engine_, gallery_);
  int fd = connect_to(s.port());
  send_text(fd, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = receive(fd, 3, nullptr, "true}HTTP");
  got += receive(fd, 1, nullptr, "true}");
  size_t first = got.find("HTTP/1.1 200"), second = got.find("HTTP/1.1 200", first + 1);
  EXPECT_NE(second, std::string::npos) << "two pipelined requests, two answers: " << got;
  ::close(fd);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"no version", "GET /ready\r\n\r\n"},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n"},
      {"both lengths", "POST /v1/detect HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"folded header", "GET /ready HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n"},
      {"huge header", "GET /ready HTTP/1.1\r\nX-A: " + std::string(64 << 10, 'a') + "\r\n\r\n"},
      {"bad chunk",
       "POST /v1/detect HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}};
  for (const auto& [what, text] : bad) {
    int b = connect_to(s.port());
    send_text(b, text);
    bool closed = false;
    std::string answer = receive(b, 3, &closed);
    EXPECT_TRUE(answer.rfind("HTTP/1.1 4", 0) == 0 || answer.rfind("HTTP/1.1 5", 0) == 0) << what << ": " << answer;
    EXPECT_TRUE(closed) << what;
    ::close(b);
  }
  auto after = s.client().Get("/health");
  ASSERT_TRUE(after && after->status == 200);
}

TEST_F(ServerTest, RefusesUnsafeBindsAndPortsInUse) {
  ServerOptions open;
  open.host = "0.0.0.0";
  auto refused = Server::create(open, engine_, gallery_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("API keys"), std::string::npos);
  Running s({}, engine_, gallery_);
  ServerOptions same;
  same.port = s.port();
  auto busy = Server::create(same, engine_, gallery_);
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.status().message().find("in use"), std::string::npos);
}

// Raw bodies (issue 17): Content-Type image/jpeg|png|webp|bmp on every route of one image, the
// route's text fields in the query; the answers equal those for the same photo sent as
// multipart. Unknown types get a 415 that lists the accepted ones; verify (two images) a 415
// that says to send multipart or JSON.
TEST_F(ServerTest, RawBodiesAnswerAsMultipartOnEverySingleImageRoute) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg"), obama2 = face("face_recognition/obama2.jpg");
  const std::string obama3 = face("face_recognition/obama3.jpg"), png = face("face_recognition/alex-lacamoire.png");
  auto both = [&](const std::string& path, const std::string& query, const std::string& field_bytes,
                  const std::string& type, const httplib::MultipartFormDataItems& texts) {
    httplib::MultipartFormDataItems form = {{"image", field_bytes, "p", type}};
    form.insert(form.end(), texts.begin(), texts.end());
    auto m = c.Post(path, form);
    auto r = c.Post(path + query, field_bytes, type);
    EXPECT_TRUE(m && r) << path;
    if (!m || !r) return std::make_pair(json(), json());
    EXPECT_EQ(r->status, m->status) << path << ": " << r->body << " vs " << m->body;
    return std::make_pair(json::parse(r->body, nullptr, false), json::parse(m->body, nullptr, false));
  };
  for (const auto& [photo, type] : {std::pair{obama, "image/jpeg"}, std::pair{png, "image/png"}}) {
    SCOPED_TRACE(type);
    auto [rd, md] = both("/v1/detect", "", photo, type, {});
    EXPECT_EQ(rd, md);
    EXPECT_FALSE(rd["faces"].empty());
    auto [re, me] = both("/v1/embed", "", photo, type, {});
    EXPECT_EQ(answer_difference(re, me), "");
    auto [ra, ma] = both("/v1/analyze", "", photo, type, {});
    auto no_embedding = [](json j) {  // answer_difference reads every face's embedding
      for (auto& f : j["faces"]) f["embedding"] = json::array();
      return j;
    };
    EXPECT_EQ(answer_difference(no_embedding(ra), no_embedding(ma)), "");
    ASSERT_FALSE(ra["faces"].empty());
    EXPECT_NEAR(ra["faces"][0]["liveness"]["score"].get<double>(), ma["faces"][0]["liveness"]["score"].get<double>(),
                1e-5);
  }
  // Enrolment and identification: the options in the query. The same photo enrolled raw and as a
  // form (one after the other: a photo is enrolled once) gives the same face.
  const std::string query = "?name=raw-person&metadata=%7B%22team%22%3A%22raw%22%7D&largest=true";
  auto en = c.Post("/v1/identities" + query, obama, "image/jpeg");
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "no response");
  ASSERT_TRUE(c.Delete("/v1/identities/raw-person"));
  httplib::MultipartFormDataItems form = {
      {"image", obama, "o.jpg", "image/jpeg"}, {"name", "form-person", "", ""}, {"largest", "true", "", ""}};
  auto en_form = c.Post("/v1/identities", form);
  ASSERT_TRUE(en_form && en_form->status == 201) << (en_form ? en_form->body : "no response");
  ASSERT_TRUE(c.Delete("/v1/identities/form-person"));
  for (const char* k : {"box", "image_sha256", "sharpness"})
    EXPECT_EQ(json::parse(en->body)[k], json::parse(en_form->body)[k]) << k;
  en = c.Post("/v1/identities" + query, obama, "image/jpeg");
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "no response");
  auto more = c.Post("/v1/identities/raw-person/faces", obama2, "image/jpeg");
  ASSERT_TRUE(more && more->status == 201) << (more ? more->body : "no response");
  auto one = c.Get("/v1/identities/raw-person");
  ASSERT_TRUE(one && one->status == 200);
  EXPECT_EQ(json::parse(one->body)["faces"], 2);
  EXPECT_EQ(json::parse(one->body)["metadata"], json::parse(R"({"team": "raw"})"));
  auto [ri, mi] = both("/v1/identify", "?top_k=2", obama3, "image/jpeg", {{"top_k", "2", "", ""}});
  EXPECT_EQ(ri, mi);
  ASSERT_FALSE(ri["faces"].empty());
  EXPECT_EQ(ri["faces"][0]["identity"], "raw-person") << ri.dump();
  ASSERT_TRUE(c.Delete("/v1/identities/raw-person"));
  // Media types are case-insensitive, parameters ignored; the format is read from the bytes.
  auto upper = c.Post("/v1/detect", obama, "IMAGE/JPEG; charset=binary");
  ASSERT_TRUE(upper && upper->status == 200) << (upper ? upper->body : "no response");
  for (const std::string type : {"image/gif", "image/heic", "application/octet-stream", "text/plain", "image"}) {
    auto r = c.Post("/v1/embed", obama, type);
    expect_json_error(r, 415, 415, type);
    if (r) {
      EXPECT_NE(r->body.find("image/jpeg, image/png, image/webp or image/bmp"), std::string::npos) << r->body;
    }
  }
  auto verify = c.Post("/v1/verify?identity=obama", obama, "image/jpeg");
  expect_json_error(verify, 415, 415, "raw verify");
  if (verify) {
    EXPECT_NE(verify->body.find("two images"), std::string::npos) << verify->body;
  }
}

// JSON bodies, parsed by simdjson: what was accepted before answers the same (escaped slashes,
// whitespace, repeated members: the last one, numbers for text fields, metadata objects stored as
// their JSON text), data: URIs are images, and what is not a JSON object is a 400 that says why.
TEST_F(ServerTest, JsonBodiesParseAsBeforeAndDataUrisAreImages) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg"), obama2 = face("face_recognition/obama2.jpg");
  const std::string b64 = base64(obama);
  auto reference = c.Post("/v1/embed", image_form("image", obama));
  ASSERT_TRUE(reference && reference->status == 200);
  const json expected = json::parse(reference->body);
  std::string escaped;  // '/' written as "\/", as some JSON writers do
  for (char ch : b64) escaped += ch == '/' ? std::string("\\/") : std::string(1, ch);
  const std::vector<std::pair<std::string, std::string>> accepted = {
      {"plain", R"({"image": ")" + b64 + R"("})"},
      {"escaped slashes", R"({"image": ")" + escaped + R"("})"},
      {"whitespace and other members",
       "\n\t{ \"x\" : [1, {\"y\": null}],\r\n \"image\"\t:\"" + b64 + "\" , \"z\": 1e3 }  "},
      {"repeated member: the last one", R"({"image": "not base64!", "image": ")" + b64 + R"("})"},
      {"data: URI", R"({"image": "data:image/jpeg;base64,)" + b64 + R"("})"},
      {"DATA: URI in capitals", R"({"image": "DATA:image/JPEG;BASE64,)" + b64 + R"("})"},
  };
  for (const auto& [what, body] : accepted) {
    auto r = c.Post("/v1/embed", body, "application/json");
    ASSERT_TRUE(r) << what;
    ASSERT_EQ(r->status, 200) << what << ": " << r->body;
    EXPECT_EQ(answer_difference(json::parse(r->body), expected), "") << what;
  }
  auto pair =
      c.Post("/v1/verify", json{{"image_a", "data:image/jpeg;base64," + b64}, {"image_b", base64(obama2)}}.dump(),
             "application/json");
  ASSERT_TRUE(pair && pair->status == 200) << (pair ? pair->body : "no response");
  EXPECT_TRUE(json::parse(pair->body)["match"].get<bool>());
  // Text fields given as JSON numbers, as before (top_k 2 and 2.0 alike), and metadata objects.
  const json metadata = {{"team", "us"}, {"n", {1, 2.5, true, nullptr}}, {"name", "Bar\u00e9ck \"B\""}};
  auto en = c.Post("/v1/identities", json{{"name", "json-person"}, {"image", b64}, {"metadata", metadata}}.dump(),
                   "application/json");
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "no response");
  auto one = c.Get("/v1/identities/json-person");
  ASSERT_TRUE(one && one->status == 200);
  EXPECT_EQ(json::parse(one->body)["metadata"], metadata);
  for (const std::string k : {"2", "2.0", "\"2\""}) {
    auto id =
        c.Post("/v1/identify", R"({"image": ")" + base64(obama2) + R"(", "top_k": )" + k + "}", "application/json");
    ASSERT_TRUE(id && id->status == 200) << k << ": " << (id ? id->body : "no response");
    EXPECT_EQ(json::parse(id->body)["faces"][0]["identity"], "json-person") << k;
  }
  ASSERT_TRUE(c.Delete("/v1/identities/json-person"));
  const std::vector<std::tuple<std::string, std::string, std::string>> refused = {
      {"trailing garbage", R"({"image": "AAAA"} x)", "not valid JSON"},
      {"trailing comma", R"({"image": "AAAA",})", "not valid JSON"},
      {"single quotes", R"({'image': 'AAAA'})", "not valid JSON"},
      {"unterminated string", R"({"image": "AAAA)", "not valid JSON"},
      {"invalid UTF-8", "{\"image\": \"\xff\xfe\"}", "not valid JSON"},
      {"an array", R"([{"image": "AAAA"}])", "not a JSON object"},
      {"a string", R"("AAAA")", "not a JSON object"},
      {"empty", "", "needs a body"},
      {"a number for the image", R"({"image": 12})", "no string field 'image'"},
      {"a data: URI without base64", R"({"image": "data:image/jpeg,abc"})", "data: URI without base64"},
      {"bad base64 in a data: URI", R"({"image": "data:image/jpeg;base64,@@@"})", "not valid base64"},
  };
  for (const auto& [what, body, words] : refused) {
    auto r = c.Post("/v1/detect", body, "application/json");
    expect_json_error(r, 400, 400, what);
    if (r) {
      EXPECT_NE(r->body.find(words), std::string::npos) << what << ": " << r->body;
    }
  }
  auto after = c.Post("/v1/detect", json{{"image", b64}}.dump(), "application/json");
  ASSERT_TRUE(after && after->status == 200);
}

// `Expect: 100-continue`: the route, the key and the content type are checked before the server
// says `100 Continue`, so a refused client never uploads its body; an accepted one gets 100 and
// then its answer.
TEST_F(ServerTest, KeyRouteAndTypeAreCheckedBefore100Continue) {
  const std::string admin = "admin-key-0123456789", user = "user-key-0123456789";
  ServerOptions so;
  so.api_keys = *parse_api_keys("admin:" + admin + ",user:" + user);
  Running s(so, engine_, gallery_);
  const std::string photo = face("face_recognition/obama-240p.jpg");
  auto head = [&](const std::string& path, const std::string& type, const std::string& key) {
    return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(photo.size()) + "\r\nExpect: 100-continue\r\n" +
           (key.empty() ? "" : "X-API-Key: " + key + "\r\n") + "\r\n";
  };
  const std::vector<std::tuple<std::string, std::string, int>> refused = {
      {"no key", head("/v1/detect", "image/jpeg", ""), 401},
      {"unknown key", head("/v1/detect", "image/jpeg", "wrong-key-0123456789"), 401},
      {"user key on an admin route", head("/v1/identities?name=x", "image/jpeg", user), 403},
      {"unknown route", head("/v1/nope", "image/jpeg", user), 404},
      {"GET-only route", head("/health", "image/jpeg", user), 405},
      {"unknown type", head("/v1/detect", "image/gif", user), 415},
      {"raw body on verify", head("/v1/verify", "image/jpeg", user), 415},
  };
  for (const auto& [what, text, status] : refused) {
    int fd = connect_to(s.port());
    ASSERT_GE(fd, 0);
    send_text(fd, text);
    bool closed = false;
    const std::string got = receive(fd, 3, &closed);
    EXPECT_EQ(got.find("100 Continue"), std::string::npos) << what << ": " << got;
    EXPECT_EQ(got.rfind("HTTP/1.1 " + std::to_string(status), 0), 0u) << what << ": " << got;
    EXPECT_NE(got.find("\"error\""), std::string::npos) << what << ": " << got;
    EXPECT_TRUE(closed) << what << ": the body never came, the connection must close";
    ::close(fd);
  }
  int fd = connect_to(s.port());
  send_text(fd, head("/v1/detect", "image/jpeg", user));
  std::string got = receive(fd, 3, nullptr, "\r\n\r\n");
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  send_text(fd, photo);
  got = receive(fd, 10, nullptr, "}}");
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  ::close(fd);
  auto health = s.client().Get("/health", {{"X-API-Key", user}});
  ASSERT_TRUE(health && health->status == 200);
}

// HEAD is answered like GET without the body (the same Content-Length, and the connection goes
// on); a method a path does not serve gets 405 with Allow; an unknown path still 404.
TEST_F(ServerTest, HeadIsServedLikeGetAndOtherMethodsGet405) {
  Running s({}, engine_, gallery_);
  auto get = s.client().Get("/openapi.json");
  ASSERT_TRUE(get && get->status == 200);
  int fd = connect_to(s.port());
  send_text(fd, "HEAD /openapi.json HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string got = receive(fd, 3, nullptr, "true}");
  ::close(fd);
  const size_t end = got.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos) << got;
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("Content-Length: " + std::to_string(get->body.size()) + "\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.substr(end + 4, 12), "HTTP/1.1 200") << "HEAD sent a body: " << got.substr(0, 400);
  EXPECT_NE(got.find("{\"ready\":true}"), std::string::npos) << got;
  const std::vector<std::tuple<std::string, std::string, std::string>> wrong = {
      {"GET", "/v1/detect", "POST"},
      {"HEAD", "/v1/detect", "POST"},
      {"PUT", "/v1/identities/x", "GET, HEAD, DELETE, PATCH"},
      {"DELETE", "/v1/identities", "GET, HEAD, POST"},
      {"POST", "/health", "GET, HEAD"},
  };
  for (const auto& [method, path, allow] : wrong) {
    int w = connect_to(s.port());
    send_text(w, method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    const std::string answer = receive(w, 3);
    ::close(w);
    EXPECT_EQ(answer.rfind("HTTP/1.1 405", 0), 0u) << method << " " << path << ": " << answer;
    EXPECT_NE(answer.find("Allow: " + allow + "\r\n"), std::string::npos) << method << " " << path << ": " << answer;
  }
  expect_json_error(s.client().Get("/v1/nope"), 404, 404, "unknown path");
}

// Issue 20: one face deleted, an identity renamed and its metadata edited, the stored crops served
// as PNG, faces of an unknown identity refused (404), and every answer of these routes.
TEST_F(ServerTest, FacesCropsRenameAndMetadataOfAnIdentity) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg"), obama2 = face("face_recognition/obama2.jpg");
  const std::string biden = face("face_recognition/biden.jpg");

  // Faces of an identity that does not exist: 404, and nothing is created.
  auto orphan = c.Post("/v1/identities/nobody/faces", image_form("image", obama));
  expect_json_error(orphan, 404, 404, "faces of an unknown identity");
  EXPECT_NE(orphan->body.find("POST /v1/identities"), std::string::npos) << orphan->body;
  expect_json_error(c.Get("/v1/identities/nobody"), 404, 404, "not created by the refused enrolment");

  httplib::MultipartFormDataItems enrol = {
      {"image", obama, "o.jpg", "image/jpeg"}, {"name", "barack", "", ""}, {"metadata", R"({"team": "us"})", "", ""}};
  auto en = c.Post("/v1/identities", enrol);
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "");
  const int64_t first = json::parse(en->body)["face_id"];
  auto more = c.Post("/v1/identities/barack/faces", image_form("image", obama2));
  ASSERT_TRUE(more && more->status == 201) << (more ? more->body : "");
  const int64_t second = json::parse(more->body)["face_id"];
  httplib::MultipartFormDataItems joe = {{"image", biden, "b.jpg", "image/jpeg"}, {"name", "joe", "", ""}};
  auto en_joe = c.Post("/v1/identities", joe);
  ASSERT_TRUE(en_joe && en_joe->status == 201) << (en_joe ? en_joe->body : "");
  const int64_t joe_face = json::parse(en_joe->body)["face_id"];

  // The identity with its faces, each with the URL of its crop.
  auto one = c.Get("/v1/identities/barack");
  ASSERT_TRUE(one && one->status == 200);
  json j = json::parse(one->body);
  EXPECT_EQ(j["faces"], 2);
  EXPECT_TRUE(j["metadata"].is_object());
  ASSERT_EQ(j["face_list"].size(), 2u);
  for (const auto& f : j["face_list"]) {
    for (const char* k : {"face_id", "model_id", "quality", "box", "image_sha256", "created_at", "crop_url"})
      EXPECT_TRUE(f.contains(k)) << k << " missing in " << f;
  }
  EXPECT_EQ(j["face_list"][0]["face_id"], first);
  const std::string crop_url = j["face_list"][0]["crop_url"];
  EXPECT_EQ(crop_url, "/v1/faces/" + std::to_string(first) + "/crop");
  auto crop = c.Get(crop_url);
  ASSERT_TRUE(crop && crop->status == 200) << (crop ? crop->body : "");
  EXPECT_EQ(crop->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(crop->get_header_value("Cache-Control"), "private, no-store");  // a face image is never cached
  auto png =
      decode_image(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(crop->body.data()), crop->body.size()),
                   DecodeOptions{});
  ASSERT_TRUE(png.ok()) << png.status().to_string();
  EXPECT_EQ(png->image.width, 112);
  EXPECT_EQ(png->image.height, 112);
  expect_json_error(c.Get("/v1/faces/999999999/crop"), 404, 404, "crop of no face");
  expect_json_error(c.Get("/v1/faces/abc/crop"), 404, 404, "crop of a face id that is no number");

  // One face deleted: not one of this identity's -> 404; then its own.
  expect_json_error(c.Delete("/v1/identities/barack/faces/" + std::to_string(joe_face)), 404, 404,
                    "a face of another identity");
  expect_json_error(c.Delete("/v1/identities/nobody/faces/" + std::to_string(first)), 404, 404, "unknown identity");
  auto del = c.Delete("/v1/identities/barack/faces/" + std::to_string(first));
  ASSERT_TRUE(del && del->status == 200) << (del ? del->body : "");
  EXPECT_EQ(json::parse(del->body), (json{{"deleted", {{"identity", "barack"}, {"face_id", first}}}}));
  expect_json_error(c.Get(crop_url), 404, 404, "crop of a deleted face");
  auto after = c.Get("/v1/identities/barack");
  ASSERT_TRUE(after && after->status == 200);
  EXPECT_EQ(json::parse(after->body)["faces"], 1);
  EXPECT_EQ(json::parse(after->body)["face_list"][0]["face_id"], second);
  // Still identified from its other face.
  auto id = c.Post("/v1/identify", image_form("image", face("face_recognition/obama3.jpg")));
  ASSERT_TRUE(id && id->status == 200);
  EXPECT_EQ(json::parse(id->body)["faces"][0]["identity"], "barack");

  // Rename and metadata.
  auto patch = [&](const std::string& who, const json& body) {
    return c.Patch("/v1/identities/" + who, body.dump(), "application/json");
  };
  auto conflict = patch("barack", {{"name", "joe"}});
  expect_json_error(conflict, 409, 409, "rename to a taken name");
  EXPECT_EQ(json::parse(conflict->body)["error"]["code"], "CONFLICT");
  // A taken name with metadata: one write, so the metadata is not replaced either.
  auto conflict_meta = patch("barack", {{"name", "joe"}, {"metadata", {{"team", "none"}}}});
  expect_json_error(conflict_meta, 409, 409, "rename to a taken name with metadata");
  auto kept = c.Get("/v1/identities/barack");
  ASSERT_TRUE(kept && kept->status == 200) << (kept ? kept->body : "");
  EXPECT_EQ(json::parse(kept->body)["metadata"], (json{{"team", "us"}})) << kept->body;
  expect_json_error(patch("nobody", {{"name", "x"}}), 404, 404, "rename of an unknown identity");
  expect_json_error(patch("barack", {{"name", std::string("bad\x01")}}), 400, 400, "a name with a control character");
  expect_json_error(patch("barack", {{"name", 42}}), 400, 400, "a name that is no string");
  expect_json_error(patch("barack", {{"metadata", json::array({1, 2})}}), 400, 400, "metadata that is no object");
  expect_json_error(patch("barack", json::object()), 400, 400, "nothing to change");
  expect_json_error(patch("barack", {{"face_list", json::array()}}), 400, 400, "an unknown field");
  expect_json_error(c.Patch("/v1/identities/barack", "name=x", "application/x-www-form-urlencoded"), 415, 415,
                    "PATCH of another type than JSON");
  expect_json_error(c.Patch("/v1/identities/barack", "", "application/json"), 400, 400, "PATCH without a body");
  auto renamed = patch("barack", {{"name", "barack obama"}, {"metadata", {{"team", "usa"}, {"n", 44}}}});
  ASSERT_TRUE(renamed && renamed->status == 200) << (renamed ? renamed->body : "");
  json r = json::parse(renamed->body);
  EXPECT_EQ(r["name"], "barack obama");
  EXPECT_EQ(r["metadata"], (json{{"team", "usa"}, {"n", 44}}));
  EXPECT_EQ(r["faces"], 1);
  expect_json_error(c.Get("/v1/identities/barack"), 404, 404, "the old name");
  auto by_new = c.Get("/v1/identities/barack%20obama");
  ASSERT_TRUE(by_new && by_new->status == 200);
  EXPECT_EQ(json::parse(by_new->body)["metadata"]["n"], 44);
  auto id2 = c.Post("/v1/identify", image_form("image", face("face_recognition/obama3.jpg")));
  ASSERT_TRUE(id2 && id2->status == 200);
  EXPECT_EQ(json::parse(id2->body)["faces"][0]["identity"], "barack obama");
  auto list = c.Get("/v1/identities");
  ASSERT_TRUE(list && list->status == 200);
  for (const auto& i : json::parse(list->body)["identities"]) EXPECT_TRUE(i["metadata"].is_object()) << i;

  // The last face deleted: the identity stays, with no face, and is no longer identified.
  auto last = c.Delete("/v1/identities/barack%20obama/faces/" + std::to_string(second));
  ASSERT_TRUE(last && last->status == 200) << (last ? last->body : "");
  auto empty = c.Get("/v1/identities/barack%20obama");
  ASSERT_TRUE(empty && empty->status == 200);
  EXPECT_EQ(json::parse(empty->body)["faces"], 0);
  EXPECT_TRUE(json::parse(empty->body)["face_list"].empty());
  auto id3 = c.Post("/v1/identify", image_form("image", face("face_recognition/obama3.jpg")));
  ASSERT_TRUE(id3 && id3->status == 200);
  EXPECT_NE(json::parse(id3->body)["faces"][0]["identity"], "barack obama");
  // Faces may be added to it again.
  auto again = c.Post("/v1/identities/barack%20obama/faces", image_form("image", obama));
  ASSERT_TRUE(again && again->status == 201) << (again ? again->body : "");

  for (const char* who : {"/v1/identities/barack%20obama", "/v1/identities/joe"}) {
    auto d = c.Delete(who);
    ASSERT_TRUE(d && d->status == 200) << who;
  }
}

// Issue 20: an optional per-request threshold on identify and verify (image pairs and against an
// identity), reported in the answer; out of [-1, 1] or not a number: 400.
TEST_F(ServerTest, APerRequestThresholdDecidesAndIsReported) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg"), obama3 = face("face_recognition/obama3.jpg");
  httplib::MultipartFormDataItems enrol = {{"image", obama, "o.jpg", "image/jpeg"}, {"name", "obama", "", ""}};
  auto en = c.Post("/v1/identities", enrol);
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "");

  auto identify = [&](const std::string& query, const httplib::MultipartFormDataItems& extra) {
    httplib::MultipartFormDataItems form = image_form("image", obama3);
    form.insert(form.end(), extra.begin(), extra.end());
    auto r = c.Post("/v1/identify" + query, form);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return r && r->status == 200 ? json::parse(r->body) : json();
  };
  json base = identify("", {});
  ASSERT_EQ(base["faces"][0]["identity"], "obama");
  const double score = base["faces"][0]["score"];
  EXPECT_NEAR(base["threshold"].get<double>(), engine_->match_threshold(), 1e-4);
  json strict = identify("?threshold=0.99", {});
  EXPECT_TRUE(strict["faces"][0]["identity"].is_null()) << strict;
  EXPECT_EQ(strict["threshold"], 0.99);
  EXPECT_EQ(strict["faces"][0]["score"], score);  // the same scores, another decision
  json loose = identify("", {{"threshold", "-0.5", "", ""}});
  EXPECT_EQ(loose["faces"][0]["identity"], "obama");
  EXPECT_EQ(loose["threshold"], -0.5);
  auto by_json =
      c.Post("/v1/identify", json{{"image", base64(obama3)}, {"threshold", 0.99}}.dump(), "application/json");
  ASSERT_TRUE(by_json && by_json->status == 200);
  EXPECT_TRUE(json::parse(by_json->body)["faces"][0]["identity"].is_null());

  // Two images.
  auto pair = [&](const std::string& t) {
    httplib::MultipartFormDataItems form = {{"image_a", obama, "a.jpg", "image/jpeg"},
                                            {"image_b", obama3, "b.jpg", "image/jpeg"}};
    if (!t.empty()) form.push_back({"threshold", t, "", ""});
    return c.Post("/v1/verify", form);
  };
  auto v = pair("");
  ASSERT_TRUE(v && v->status == 200);
  EXPECT_TRUE(json::parse(v->body)["match"].get<bool>());
  auto vs = pair("0.999");
  ASSERT_TRUE(vs && vs->status == 200);
  EXPECT_FALSE(json::parse(vs->body)["match"].get<bool>());
  EXPECT_EQ(json::parse(vs->body)["threshold"], 0.999);
  EXPECT_EQ(json::parse(vs->body)["similarity"], json::parse(v->body)["similarity"]);
  // Against the identity.
  httplib::MultipartFormDataItems vid = {
      {"image", obama3, "b.jpg", "image/jpeg"}, {"identity", "obama", "", ""}, {"threshold", "0.999", "", ""}};
  auto vi = c.Post("/v1/verify", vid);
  ASSERT_TRUE(vi && vi->status == 200) << (vi ? vi->body : "");
  EXPECT_FALSE(json::parse(vi->body)["match"].get<bool>());
  EXPECT_EQ(json::parse(vi->body)["threshold"], 0.999);

  for (const std::string bad : {"2", "-1.5", "abc", "0.5x", "nan"}) {
    auto r = c.Post("/v1/identify?threshold=" + bad, image_form("image", obama3));
    expect_json_error(r, 400, 400, "threshold " + bad);
    EXPECT_NE(r->body.find("threshold"), std::string::npos) << r->body;
    expect_json_error(pair(bad), 400, 400, "verify threshold " + bad);
  }
  auto d = c.Delete("/v1/identities/obama");
  ASSERT_TRUE(d && d->status == 200);
}

// Issue 20: numbers in every JSON answer are rounded as the CLI rounds them (coordinates to
// 0.01 px, scores, similarities, probabilities, qualities and thresholds to 1e-4); embeddings stay
// as they are.
TEST_F(ServerTest, NumbersInAnswersAreRounded) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  const std::string obama = face("face_recognition/obama.jpg"), obama2 = face("face_recognition/obama2.jpg");
  httplib::MultipartFormDataItems enrol = {{"image", obama, "o.jpg", "image/jpeg"}, {"name", "obama", "", ""}};
  ASSERT_TRUE(c.Post("/v1/identities", enrol));
  std::vector<std::pair<std::string, std::string>> answers;
  auto keep = [&](const std::string& what, const httplib::Result& r) {
    ASSERT_TRUE(r && r->status / 100 == 2) << what << ": " << (r ? r->body : "no response");
    answers.push_back({what, r->body});
  };
  keep("detect", c.Post("/v1/detect", image_form("image", obama)));
  keep("analyze", c.Post("/v1/analyze", image_form("image", obama)));
  keep("identify", c.Post("/v1/identify", image_form("image", obama2)));
  keep("verify", c.Post("/v1/verify", httplib::MultipartFormDataItems{{"image_a", obama, "a.jpg", "image/jpeg"},
                                                                      {"image_b", obama2, "b.jpg", "image/jpeg"}}));
  keep("verify identity", c.Post("/v1/verify", httplib::MultipartFormDataItems{{"image", obama2, "b.jpg", "image/jpeg"},
                                                                               {"identity", "obama", "", ""}}));
  keep("identity", c.Get("/v1/identities/obama"));
  keep("models", c.Get("/v1/models"));
  keep("enrol", c.Post("/v1/identities/obama/faces", image_form("image", obama2)));
  for (const auto& [what, body] : answers) {
    int numbers = 0;
    std::function<void(const json&, const std::string&)> walk = [&](const json& j, const std::string& key) {
      if (key == "embedding") return;
      if (j.is_number_float()) {
        ++numbers;
        const double v = j.get<double>();
        EXPECT_NEAR(v * 1e4, std::round(v * 1e4), 1e-6) << what << ": " << key << " = " << v << " in " << body;
      } else if (j.is_object()) {
        for (auto& [k, v] : j.items()) walk(v, k);
      } else if (j.is_array()) {
        for (const auto& v : j) walk(v, key);
      }
    };
    walk(json::parse(body), "");
    EXPECT_GT(numbers, 0) << what << ": " << body;
    // Boxes and landmarks to 0.01 px.
    std::function<void(const json&)> boxes = [&](const json& j) {
      if (j.is_object()) {
        for (auto& [k, v] : j.items()) {
          if ((k == "box" || k == "box_a" || k == "box_b") && v.is_array()) {
            for (const auto& x : v) {
              EXPECT_NEAR(x.get<double>() * 100, std::round(x.get<double>() * 100), 1e-6) << what;
            }
          }
          boxes(v);
        }
      } else if (j.is_array()) {
        for (const auto& v : j) boxes(v);
      }
    };
    boxes(json::parse(body));
    // No long decimal expansions anywhere but in embeddings.
    EXPECT_EQ(body.find("000001"), std::string::npos) << what << ": " << body.substr(0, 400);
    EXPECT_EQ(body.find("99999"), std::string::npos) << what << ": " << body.substr(0, 400);
  }
  auto d = c.Delete("/v1/identities/obama");
  ASSERT_TRUE(d && d->status == 200);
}

// Issue 20: errors speak HTTP: a POST without a body says what body the route takes; enrolment
// refusals name the request's fields, never command-line flags, library fields or server paths.
TEST_F(ServerTest, ErrorsSpeakHttpAndNeverShowServerPaths) {
  Running s({}, engine_, gallery_);
  auto& c = s.client();
  for (const std::string path : {"/v1/detect", "/v1/identify", "/v1/verify", "/v1/identities"}) {
    auto r = c.Post(path, "", "");
    expect_json_error(r, 400, 400, "POST " + path + " without a body");
    const std::string msg = json::parse(r->body)["error"]["message"];
    EXPECT_NE(msg.find("needs a body"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path == "/v1/verify" ? "image_b" : "image"), std::string::npos) << msg;
  }
  // Two people in the photo: the refusal names the request's field largest, and it works.
  const std::string two = face("face_recognition/two_people.jpg");
  httplib::MultipartFormDataItems enrol = {{"image", two, "t.jpg", "image/jpeg"}, {"name", "pair", "", ""}};
  auto refused = c.Post("/v1/identities", enrol);
  expect_json_error(refused, 400, 400, "two faces");
  const std::string msg = json::parse(refused->body)["error"]["message"];
  EXPECT_NE(msg.find("largest=true"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("--"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("::"), std::string::npos) << msg;
  enrol.push_back({"largest", "true", "", ""});
  auto largest = c.Post("/v1/identities", enrol);
  ASSERT_TRUE(largest);
  // Enrolled, or refused for another reason (the larger face's size or sharpness), never for two faces.
  EXPECT_TRUE(largest->status == 201 || largest->body.find("faces found") == std::string::npos) << largest->body;
  // The same photo again, an unknown identity, a verify against nobody: no server path, no store.
  std::vector<httplib::Result> answers;
  answers.push_back(c.Post("/v1/identities", enrol));
  answers.push_back(c.Post("/v1/identities/nobody/faces", image_form("image", two)));
  answers.push_back(c.Post("/v1/verify", httplib::MultipartFormDataItems{{"image", two, "t.jpg", "image/jpeg"},
                                                                         {"identity", "nobody", "", ""}}));
  answers.push_back(c.Get("/v1/identities/nobody"));
  answers.push_back(c.Delete("/v1/identities/nobody"));
  answers.push_back(c.Delete("/v1/identities/pair/faces/999999"));
  for (const auto& r : answers) {
    expect_json_error(r, 400, 404, "refusal");
    EXPECT_EQ(r->body.find(db_dir_), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("gallery.db"), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("sqlite:"), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find("--"), std::string::npos) << r->body;
  }
  if (largest->status == 201) {
    auto d = c.Delete("/v1/identities/pair");
    ASSERT_TRUE(d && d->status == 200);
  }
}

// Issue 20: the request log is one JSON object per request (time, request id, method, route,
// status, duration, bytes, client address), never the API key or the image; text for people.
TEST_F(ServerTest, RequestLogIsOneJsonLinePerRequestOrTextForPeople) {
  const std::string key = "admin-key-0123456789abcdef";
  auto keys = parse_api_keys("admin:" + key);
  ASSERT_TRUE(keys.ok());
  for (RequestLogFormat format : {RequestLogFormat::kJson, RequestLogFormat::kText, RequestLogFormat::kOff}) {
    std::vector<std::string> lines;
    std::mutex mu;
    ServerOptions so;
    so.api_keys = *keys;
    so.request_log = format;
    so.request_log_sink = [&](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.emplace_back(line);
    };
    {
      Running s(so, engine_, gallery_);
      auto& c = s.client();
      auto det = c.Post("/v1/detect", httplib::Headers{{"X-API-Key", key}, {"X-Request-Id", "req-1"}},
                        image_form("image", face("face_recognition/obama.jpg")));
      ASSERT_TRUE(det && det->status == 200);
      auto missing = c.Get("/v1/identities/nobody", httplib::Headers{{"X-API-Key", key}});
      ASSERT_TRUE(missing && missing->status == 404);
    }
    std::lock_guard<std::mutex> lock(mu);
    if (format == RequestLogFormat::kOff) {
      EXPECT_TRUE(lines.empty()) << lines.size();
      continue;
    }
    std::string all;
    for (const auto& l : lines) {
      all += l + "\n";
      EXPECT_EQ(l.find('\n'), std::string::npos) << l;
    }
    EXPECT_EQ(all.find(key), std::string::npos) << "the key is logged: " << all;
    EXPECT_EQ(all.find("JFIF"), std::string::npos) << "the image is logged";
    if (format == RequestLogFormat::kText) {
      EXPECT_NE(all.find(R"(127.0.0.1 "POST" "/v1/detect" 200 )"), std::string::npos) << all;
      EXPECT_NE(all.find(R"(id="req-1")"), std::string::npos) << all;
      EXPECT_NE(all.find("route=/v1/identities/{id}"), std::string::npos) << all;
      continue;
    }
    int detect = 0, not_found = 0;
    for (const auto& l : lines) {
      json j = json::parse(l, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << l;
      for (const char* k :
           {"time", "request_id", "method", "path", "route", "status", "ms", "bytes_in", "bytes", "client"})
        EXPECT_TRUE(j.contains(k)) << k << " missing in " << l;
      EXPECT_EQ(j["client"], "127.0.0.1") << l;
      if (j["path"] == "/v1/detect") {
        ++detect;
        EXPECT_EQ(j["request_id"], "req-1");
        EXPECT_EQ(j["status"], 200);
        EXPECT_EQ(j["route"], "/v1/detect");
        EXPECT_GT(j["bytes"].get<int64_t>(), 100);
        EXPECT_GT(j["bytes_in"].get<int64_t>(), 10000);
        EXPECT_GT(j["ms"].get<double>(), 0);
      }
      if (j["path"] == "/v1/identities/nobody") {
        ++not_found;
        EXPECT_EQ(j["status"], 404);
        EXPECT_EQ(j["route"], "/v1/identities/{id}");
      }
    }
    EXPECT_EQ(detect, 1) << all;
    EXPECT_EQ(not_found, 1) << all;
  }
}

// A gallery opened for another recognizer than the engine's: the server does not start, and says
// how to fix it (Recognition::create's check).
TEST_F(ServerTest, RefusesAGalleryOpenedForAnotherRecognizer) {
  GalleryOptions go;
  go.db_path = db_dir_ + "/other_model.db";
  go.model_id = "not_" + engine_->recognizer_model_id();
  auto g = Gallery::open(gallery_options_for(*engine_, go));
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  auto refused = Server::create({}, engine_, std::shared_ptr<Gallery>(std::move(*g)));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("GalleryOptions::model_id"), std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace facelens

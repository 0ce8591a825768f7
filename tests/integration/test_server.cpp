// The HTTP service in-process on a free loopback port: every route, API keys and roles, bad
// inputs (4xx JSON and the server still serving), 32 concurrent clients, the OpenAPI document.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "facelens/gallery.h"
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
    auto g = Gallery::open(go, engine_);
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
    EXPECT_TRUE(j.contains("error") && j["error"].contains("code") && j["error"].contains("message")) << what << ": " << r->body;
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

  httplib::MultipartFormDataItems pair = {{"image_a", obama, "a.jpg", "image/jpeg"}, {"image_b", obama2, "b.jpg", "image/jpeg"}};
  auto ver = c.Post("/v1/verify", pair);
  ASSERT_TRUE(ver && ver->status == 200);
  EXPECT_TRUE(json::parse(ver->body)["match"].get<bool>());

  // enrol -> identify -> verify against the identity -> get -> delete
  httplib::MultipartFormDataItems enrol = {{"image", obama, "o.jpg", "image/jpeg"}, {"name", "obama", "", ""},
                                           {"metadata", R"({"team": "us"})", "", ""}};
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
  EXPECT_EQ(json::parse(health->body)["services"][0]["placement"][0]["ep"], "CPUExecutionProvider");  // where its nodes run
  EXPECT_GT(json::parse(health->body)["services"][0]["placement"][0]["nodes"].get<int>(), 0);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("facelens_requests_total{method=\"POST\",route=\"/v1/detect\",status=\"200\"}"), std::string::npos);
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
  expect_json_error(c.Post("/v1/detect", {{"X-API-Key", "wrong-key-0123456789"}}, image_form("image", img)), 401, 401, "wrong key");
  auto ok = c.Post("/v1/detect", {{"X-API-Key", user}}, image_form("image", img));
  ASSERT_TRUE(ok && ok->status == 200);
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
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"empty file", ""}, {"truncated JPEG", jpeg.substr(0, jpeg.size() / 2)}, {"text", "hello, I am not an image"},
      {"random bytes", random}, {"huge PNG header", png}};
  for (const auto& [what, bytes] : bodies) expect_json_error(c.Post("/v1/detect", image_form("image", bytes)), 400, 499, what);
  expect_json_error(c.Post("/v1/detect", R"({"image": "@@@not base64@@@"})", "application/json"), 400, 499, "invalid base64");
  expect_json_error(c.Post("/v1/detect", "{not json", "application/json"), 400, 499, "JSON garbage");
  expect_json_error(c.Post("/v1/detect", R"({"picture": "AAAA"})", "application/json"), 400, 499, "missing field");
  expect_json_error(c.Post("/v1/detect", jpeg, "image/jpeg"), 400, 499, "wrong content type");
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
    if (fa["landmarks"].size() != fb["landmarks"].size()) return "face " + std::to_string(f) + " landmark counts differ";
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
  for (const auto& route : s.server().routes()) {
    auto space = route.find(' ');
    std::string method = route.substr(0, space), path = route.substr(space + 1);
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    EXPECT_TRUE(doc["paths"].contains(path) && doc["paths"][path].contains(method)) << route << " is not in /openapi.json";
  }
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

}  // namespace
}  // namespace facelens

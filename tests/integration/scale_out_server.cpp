// The service's side of scale-out (issue 18), in-process on loopback:
// - probes: with API keys configured, GET /ready and GET /health answer without a key (/health
//   then only its status), /metrics still needs one;
// - /metrics and /health show the gallery's sync state (connected, lag, applied sequence, last
//   sync time);
// - a PostgreSQL gallery whose database goes away: /ready 503 with the reason, every route that
//   needs the gallery 503 UNAVAILABLE with Retry-After (never an answer from a stale index), the
//   routes that do not need it still 200; after PostgreSQL restarts, ready again and the same
//   identity answered.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/pg_server.h"
#include "common/test_env.h"
#include "facelens/engine.h"
#include "facelens/gallery.h"
#include "facelens/recognition.h"
#include "facelens/server.h"

namespace facelens {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

httplib::MultipartFormDataItems form(const std::string& image, const std::string& name = "") {
  httplib::MultipartFormDataItems items = {{"image", image, "f.jpg", "image/jpeg"}};
  if (!name.empty()) items.push_back({"name", name, "", ""});
  return items;
}

class Serving {
 public:
  Serving(ServerOptions so, std::shared_ptr<const Engine> engine, std::shared_ptr<Gallery> gallery) {
    so.host = "127.0.0.1";
    so.port = 0;
    auto s = Server::create(so, std::move(engine), std::move(gallery));
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    server_ = std::move(*s);
    thread_ = std::thread([this] { EXPECT_TRUE(server_->run().ok()); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  ~Serving() {
    server_->stop();
    thread_.join();
  }
  httplib::Client& client() { return *client_; }

  // Polls GET /ready until it answers `status` (true) or `seconds` pass (false).
  bool ready_becomes(int status, double seconds, const httplib::Headers& h = {}) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      auto r = client_->Get("/ready", h);
      if (r && r->status == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

// The value of a metric without labels in a Prometheus text page; NaN when absent.
double metric(const std::string& page, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = ("\n" + page).find(key);
  if (at == std::string::npos) return std::nan("");
  return std::stod(page.substr(at + key.size() - 1));
}

class ScaleOutServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::default_models_present() || testing::data_dir().empty()) return;
    EngineOptions eo;
    eo.models_dir = testing::models_dir();
    eo.runtime.provider = Provider::kCpu;
    auto e = Engine::create(eo);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    engine_ = std::move(*e);
  }
  static void TearDownTestSuite() { engine_.reset(); }
  void SetUp() override {
    if (!testing::default_models_present()) GTEST_SKIP() << "default models absent (scripts/setup.sh): skipped";
    FACELENS_REQUIRE_DATA();
  }
  static std::string face(const std::string& rel) { return slurp(testing::data_dir() + "/faces/" + rel); }
  static std::shared_ptr<const Engine> engine_;
};
std::shared_ptr<const Engine> ScaleOutServerTest::engine_;

TEST_F(ScaleOutServerTest, ProbesNeedNoKeyAndMetricsShowTheGallerySync) {
  const std::string dir = ::testing::TempDir() + "facelens-scale-out-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  GalleryOptions go;
  go.db_path = dir + "/gallery.db";
  auto g = Gallery::open(gallery_options_for(*engine_, go));
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const std::string user = "user-key-0123456789";
  ServerOptions so;
  so.api_keys = *parse_api_keys("user:" + user);
  {
    Serving s(so, engine_, std::move(*g));
    auto& c = s.client();
    ASSERT_TRUE(s.ready_becomes(200, 10)) << "GET /ready without a key";
    auto health = c.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(json::parse(health->body), json({{"status", "ok"}})) << "a keyless probe learns only the status";
    auto wrong = c.Get("/health", {{"X-API-Key", "wrong-key-0123456789"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << "a wrong key is still refused";
    auto full = c.Get("/health", {{"X-API-Key", user}});
    ASSERT_TRUE(full && full->status == 200);
    const json sync = json::parse(full->body)["gallery"]["sync"];
    EXPECT_EQ(sync["connected"], true) << full->body;
    EXPECT_EQ(sync["shared"], false) << full->body;
    EXPECT_EQ(sync["lag"], 0) << full->body;
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 401) << "/metrics is no probe";
    m = c.Get("/metrics", {{"X-API-Key", user}});
    ASSERT_TRUE(m && m->status == 200);
    EXPECT_EQ(metric(m->body, "facelens_gallery_connected"), 1) << m->body;
    EXPECT_EQ(metric(m->body, "facelens_gallery_lag_changes"), 0) << m->body;
    EXPECT_EQ(metric(m->body, "facelens_gallery_ready"), 1) << m->body;
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_NEAR(metric(m->body, "facelens_gallery_last_sync_timestamp_seconds"), now, 60) << m->body;
    EXPECT_NE(m->body.find("# TYPE facelens_gallery_connected gauge"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_F(ScaleOutServerTest, DatabaseOutageAnswers503AndNeverAStaleIdentity) {
  std::string why;
  bool missing = false;
  auto pg = testing::PgServer::start(&why, &missing);
  if (!pg) {
    if (missing) GTEST_SKIP() << "PostgreSQL 15 not installed: " << why;
    FAIL() << why;
  }
  const std::string url = pg->create_database("scale_out_server");
  ASSERT_FALSE(url.empty()) << pg->last_error();
  GalleryOptions go;
  ASSERT_TRUE(set_gallery_database(go, url).ok());
  auto g = Gallery::open(gallery_options_for(*engine_, go));
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  Serving s({}, engine_, std::move(*g));
  auto& c = s.client();
  ASSERT_TRUE(s.ready_becomes(200, 10));
  const std::string ada = face("face_recognition/obama.jpg"), other = face("face_recognition/biden.jpg");
  auto en = c.Post("/v1/identities", form(ada, "ada"));
  ASSERT_TRUE(en && en->status == 201) << (en ? en->body : "no answer");
  auto id = c.Post("/v1/identify", form(ada));
  ASSERT_TRUE(id && id->status == 200);
  EXPECT_EQ(json::parse(id->body)["faces"][0]["identity"], "ada");

  ASSERT_TRUE(pg->stop_immediate()) << pg->last_error();
  ASSERT_TRUE(s.ready_becomes(503, 10)) << "/ready still 200 with the database down";
  auto ready = c.Get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(json::parse(ready->body)["error"]["code"], "UNAVAILABLE") << ready->body;
  EXPECT_NE(ready->body.find("not connected"), std::string::npos) << ready->body;
  auto expect_503 = [](const httplib::Result& r, const char* what) {
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, 503) << what << ": " << r->body;
    const json j = json::parse(r->body, nullptr, false);
    EXPECT_EQ(j.is_object() ? j["error"]["code"] : json(), "UNAVAILABLE") << what << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "1") << what;
  };
  expect_503(c.Post("/v1/identify", form(ada)), "identify");
  expect_503(c.Post("/v1/identities", form(other, "bob")), "enrolment");
  expect_503(c.Post("/v1/identities/ada/faces", form(other)), "adding a face");
  expect_503(c.Get("/v1/identities"), "listing");
  expect_503(c.Get("/v1/identities/ada"), "an identity");
  expect_503(c.Delete("/v1/identities/ada"), "deleting");
  httplib::MultipartFormDataItems claim = {{"image", ada, "a.jpg", "image/jpeg"}, {"identity", "ada", "", ""}};
  expect_503(c.Post("/v1/verify", claim), "verify against an identity");
  auto detect = c.Post("/v1/detect", form(ada));
  ASSERT_TRUE(detect);
  EXPECT_EQ(detect->status, 200) << "routes without the gallery keep working: " << detect->body;
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_EQ(metric(m->body, "facelens_gallery_connected"), 0) << m->body;
  EXPECT_EQ(metric(m->body, "facelens_gallery_ready"), 0) << m->body;
  auto health = c.Get("/health");
  ASSERT_TRUE(health && health->status == 200) << "liveness holds through a database outage";
  EXPECT_EQ(json::parse(health->body)["gallery"]["sync"]["connected"], false) << health->body;

  ASSERT_TRUE(pg->restart()) << pg->last_error();
  ASSERT_TRUE(s.ready_becomes(200, 20)) << "not ready 20 s after PostgreSQL restarted";
  id = c.Post("/v1/identify", form(ada));
  ASSERT_TRUE(id && id->status == 200) << (id ? id->body : "no answer");
  EXPECT_EQ(json::parse(id->body)["faces"][0]["identity"], "ada");
  m = c.Get("/metrics");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_EQ(metric(m->body, "facelens_gallery_connected"), 1) << m->body;
  EXPECT_EQ(metric(m->body, "facelens_gallery_lag_changes"), 0) << m->body;
  auto bob = c.Post("/v1/identities", form(other, "bob"));
  ASSERT_TRUE(bob && bob->status == 201) << (bob ? bob->body : "no answer");
}

}  // namespace
}  // namespace facelens

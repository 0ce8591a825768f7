// The config file (include/facelens/config.h, src/config/config.cpp): every table and key read
// into the options, defaults kept for what is absent, the example file, errors that name the key.
#include <gtest/gtest.h>

#include "facelens/config.h"
#include "facelens/runtime_options.h"

namespace facelens {
namespace {

TEST(Config, ReadsEveryTableAndOverridesDefaults) {
  auto o = parse_config(R"(
[models]
dir = "/opt/models"
detector = "fr_detect"
[runtime]
provider = "cpu"
require_gpu = true
intra_op_threads = 2
idle_unload_seconds = 30
memory_budget_mb = 100
[services.recognizer]
provider = "cuda"
device_ids = [0, 1]
gpu_mem_limit_mb = 1024
cudnn_conv_algo_search = "HEURISTIC"
[detector]
threshold = 0.8
max_faces = 5
[recognizer]
match_threshold = 0.5
[limits]
max_pixels = 1000
jpeg_warnings = "lenient"
)",
                        "test.toml", {});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->models_dir, "/opt/models");
  EXPECT_EQ(o->runtime.provider, Provider::kCpu);
  EXPECT_TRUE(o->runtime.require_gpu);
  EXPECT_EQ(o->runtime.intra_op_threads, 2);
  EXPECT_DOUBLE_EQ(o->runtime.idle_unload_seconds, 30);
  EXPECT_EQ(o->runtime.memory_budget_bytes, 100ull << 20);
  auto rec = o->runtime.resolve("recognizer");
  EXPECT_EQ(rec.provider, Provider::kCuda);
  EXPECT_EQ(rec.device_ids, (std::vector<int>{0, 1}));
  EXPECT_EQ(rec.gpu_mem_limit, 1024ull << 20);
  EXPECT_EQ(rec.cudnn_conv_algo_search, "HEURISTIC");
  EXPECT_FLOAT_EQ(o->detect_threshold, 0.8f);
  EXPECT_EQ(o->max_faces, 5);
  EXPECT_FLOAT_EQ(o->match_threshold, 0.5f);
  EXPECT_EQ(o->decode.max_pixels, 1000);
  EXPECT_EQ(o->decode.jpeg_warnings, JpegWarnings::kLenient);
}

TEST(Config, ReadsPrecisionAndBatching) {
  auto o = parse_config(R"(
[runtime]
precision = "auto"
precision_cache_dir = "cache"
calibration_dir = "/data/faces"
[services.detector]
precision = "int8"
[batching]
mode = "on"
max_batch = 16
max_wait_ms = 5
)",
                        "/etc/facelens/f.toml", {});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->precision.at("*"), "auto");
  EXPECT_EQ(o->precision.at("detector"), "int8");
  EXPECT_EQ(o->precision_cache_dir, "/etc/facelens/cache");  // relative to the file
  EXPECT_EQ(o->calibration_dir, "/data/faces");
  EXPECT_EQ(o->batching.mode, EngineOptions::Batching::Mode::kOn);
  EXPECT_EQ(o->batching.max_batch, 16);
  EXPECT_DOUBLE_EQ(o->batching.max_wait_ms, 5);
  EXPECT_FALSE(parse_config("[services.recognizer]\nprecision = \"int4\"\n", "f.toml", {}).ok());
  auto mode = parse_config("[batching]\nmode = \"sometimes\"\n", "f.toml", {});
  ASSERT_FALSE(mode.ok());
  EXPECT_NE(mode.status().message().find("auto, on or off"), std::string::npos);
  EXPECT_FALSE(parse_config("[batching]\nmax_batch = 0\n", "f.toml", {}).ok());
}

TEST(Config, ReadsServerAndGalleryTables) {
  const std::string hash(64, 'a');
  auto c = parse_service_config(R"(
[server]
host = "0.0.0.0"
port = 9000
http_threads = 8
max_concurrent = 3
max_queue = 10
deadline_seconds = 2.5
max_body_mb = 4
max_connections = 100
max_connections_per_client = 10
header_timeout_seconds = 4.0
body_timeout_seconds = 30.0
keep_alive_seconds = 2.0
max_json_depth = 16
log_format = "text"
api_keys = [{ sha256 = ")" + hash + R"(", role = "admin" }, { sha256 = ")" +
                                    std::string(64, 'B') + R"(", role = "user" }]
[gallery]
db_path = "g/gallery.db"
index = "hnsw"
score = "mean"
score_top_k = 2
durability = "normal"
[runtime]
provider = "cpu"
)",
                                "/srv/f.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->server.host, "0.0.0.0");
  EXPECT_EQ(c->server.request_log, RequestLogFormat::kText);
  EXPECT_EQ(c->server.port, 9000);
  EXPECT_EQ(c->server.threads, 8);
  EXPECT_EQ(c->server.max_concurrent, 3);
  EXPECT_EQ(c->server.max_queue, 10);
  EXPECT_DOUBLE_EQ(c->server.request_deadline_seconds, 2.5);
  EXPECT_EQ(c->server.max_body_bytes, 4 << 20);
  EXPECT_EQ(c->server.max_connections, 100);
  EXPECT_EQ(c->server.max_connections_per_client, 10);
  EXPECT_DOUBLE_EQ(c->server.header_timeout_seconds, 4.0);
  EXPECT_DOUBLE_EQ(c->server.body_timeout_seconds, 30.0);
  EXPECT_DOUBLE_EQ(c->server.keep_alive_seconds, 2.0);
  EXPECT_EQ(c->server.max_json_depth, 16);
  ASSERT_EQ(c->server.api_keys.size(), 2u);
  EXPECT_EQ(c->server.api_keys[0].sha256, hash);
  EXPECT_EQ(c->server.api_keys[0].role, Role::kAdmin);
  EXPECT_EQ(c->server.api_keys[1].sha256, std::string(64, 'b'));  // lower-cased
  EXPECT_EQ(c->server.api_keys[1].role, Role::kUser);
  EXPECT_EQ(c->gallery.db_path, "/srv/g/gallery.db");
  EXPECT_TRUE(c->gallery.db_url.empty());
  EXPECT_EQ(c->gallery.index, IndexKind::kHnsw);
  EXPECT_EQ(c->gallery.score, IdentityScore::kMeanTopK);
  EXPECT_EQ(c->gallery.score_top_k, 2);
  EXPECT_EQ(c->gallery.durability, Durability::kNormal);
  // The engine reader accepts the same file (each reader takes its tables).
  EXPECT_TRUE(parse_config("[server]\nport = 1\n[gallery]\nindex = \"exact\"\n", "f.toml", {}).ok());
  // Keys must be hashes with a known role; the message says how to make one.
  auto plain = parse_service_config("[server]\napi_keys = [{ sha256 = \"secret\", role = \"admin\" }]\n", "f.toml", {});
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("sha256sum"), std::string::npos);
  EXPECT_FALSE(
      parse_service_config("[server]\napi_keys = [{ sha256 = \"" + hash + "\", role = \"root\" }]\n", "f.toml", {})
          .ok());
  EXPECT_FALSE(parse_service_config("[server]\nprot = 1\n", "f.toml", {}).ok());
  EXPECT_FALSE(parse_service_config("[server]\nmax_connections_per_client = 0\n", "f.toml", {}).ok());
  EXPECT_FALSE(parse_service_config("[server]\nheader_timeout_seconds = 0.0\n", "f.toml", {}).ok());
  EXPECT_FALSE(parse_service_config("[gallery]\nindex = \"lsh\"\n", "f.toml", {}).ok());
  ServiceConfig base;
  base.server.max_concurrent = 7;
  auto zero = parse_service_config("[server]\nmax_concurrent = 0\n", "f.toml", base);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->server.max_concurrent, 7);  // 0 keeps the caller's default
  auto defaults = parse_service_config("", "f.toml", {});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->server.port, 8080);
  EXPECT_EQ(defaults->gallery.db_path, "./data/gallery.db");
}

TEST(Config, RequestLogFormatIsJsonByDefaultAndNamesTheChoices) {
  auto c = parse_service_config("[server]\nport = 9000\n", "f.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->server.request_log, RequestLogFormat::kJson);
  auto bad = parse_service_config("[server]\nlog_format = \"xml\"\n", "f.toml", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("json, text or off"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("log_format"), std::string::npos) << bad.status().message();
}

TEST(Config, GalleryDbUrlIsPostgresOnly) {
  auto pg = parse_service_config("[gallery]\ndb_url = \"postgresql://f:pw@db:5432/g\"\n", "/srv/f.toml", {});
  ASSERT_TRUE(pg.ok()) << pg.status().to_string();
  EXPECT_EQ(pg->gallery.db_url, "postgresql://f:pw@db:5432/g");  // a URL, not a path made relative
  for (const char* bad : {"mysql://db/g", "g.db"}) {
    auto c = parse_service_config(std::string("[gallery]\ndb_url = \"") + bad + "\"\n", "/srv/f.toml", {});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("postgresql://"), std::string::npos) << c.status().message();
  }
}

TEST(Config, TheExampleFileParses) {
  auto o = load_config(std::string(FACELENS_SOURCE_DIR) + "/facelens.example.toml", {});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->runtime.resolve("deepfake").gpu_mem_limit, 1024ull << 20);
  EXPECT_EQ(o->max_faces, 100);
  EXPECT_EQ(o->batching.mode, EngineOptions::Batching::Mode::kAuto);
  auto c = load_service_config(std::string(FACELENS_SOURCE_DIR) + "/facelens.example.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->server.port, 8080);
  EXPECT_EQ(c->server.max_queue, 64);
  EXPECT_EQ(c->gallery.index, IndexKind::kAuto);
}

TEST(Config, EmptyFileKeepsDefaults) {
  auto o = parse_config("", "empty.toml", {});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->runtime.provider, Provider::kAuto);
  EXPECT_EQ(o->runtime.resolve("detector").gpu_mem_limit, 2ull << 30);
}

TEST(Config, ErrorsNameTheKey) {
  auto typo = parse_config("[runtime]\nprovidr = \"cpu\"\n", "f.toml", {});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("providr"), std::string::npos);
  auto bad = parse_config("[runtime]\nprovider = \"tpu\"\n", "f.toml", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tpu"), std::string::npos);
  auto type = parse_config("[detector]\nmax_faces = \"many\"\n", "f.toml", {});
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("max_faces"), std::string::npos);
  auto service = parse_config("[services.gpu]\nprovider = \"cpu\"\n", "f.toml", {});
  EXPECT_FALSE(service.ok());
  auto syntax = parse_config("[runtime\n", "f.toml", {});
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("f.toml:"), std::string::npos);
  EXPECT_EQ(load_config("/nonexistent.toml", {}).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace facelens

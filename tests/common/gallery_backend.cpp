#include "common/gallery_backend.h"

#include <unistd.h>

namespace facelens::testing {

namespace fs = std::filesystem;

void PrintTo(Backend b, std::ostream* os) { *os << (b == Backend::kSqlite ? "sqlite" : "postgresql"); }

std::string backend_test_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

void GalleryBackendFixture::start(Backend backend, const std::string& prefix, const fs::path& sqlite_file) {
  backend_ = backend;
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : name)
    if (c == '/') c = '_';
  dir_ = fs::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  path_ = (dir_ / sqlite_file).string();
  if (backend != Backend::kPostgres) return;
  std::string why;
  bool missing = false;
  pg_ = PgServer::start(&why, &missing);
  if (!pg_) {
    if (missing) GTEST_SKIP() << "PostgreSQL tests skipped: " << why;
    FAIL() << why;
  }
  url_ = pg_->create_database("gallery");
  ASSERT_FALSE(url_.empty()) << pg_->last_error();
}

void GalleryBackendFixture::TearDown() {
  pg_.reset();
  if (!dir_.empty()) fs::remove_all(dir_);
}

StatusOr<std::unique_ptr<gallery::Store>> GalleryBackendFixture::try_open_store(int64_t change_log_rows) const {
  if (backend_ == Backend::kPostgres) {
    gallery::PgStoreOptions o;
    o.url = url_;
    o.connect_timeout_s = 2;
    o.change_log_rows = change_log_rows;
    return gallery::open_pg_store(o);
  }
  gallery::SqliteStoreOptions o;
  o.path = path_;
  o.change_log_rows = change_log_rows;
  return gallery::open_sqlite_store(o);
}

std::unique_ptr<gallery::Store> GalleryBackendFixture::open_store(int64_t change_log_rows) const {
  auto s = try_open_store(change_log_rows);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(*s) : nullptr;
}

}  // namespace facelens::testing

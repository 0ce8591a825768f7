// The backends the gallery's store and sync tests run on, and the fixture that gives each test a
// fresh one: an SQLite file in a fresh temporary folder, or a database on a PostgreSQL server of
// the test's own (tests/common/pg_server.h).
//
//   class StoreTest : public testing::GalleryBackendFixture,
//                     public ::testing::WithParamInterface<testing::Backend> {
//     void SetUp() override { start(GetParam(), "facelens_store", "gallery.db"); }
//   };
//   INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, testing::all_backends(), testing::backend_test_name);
//   // ctest names: Backends/StoreTest.<case>/Sqlite and .../Postgres
//
// Not thread-safe: one test thread drives it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include "common/pg_server.h"
#include "facelens/status.h"
#include "gallery/store.h"

namespace facelens::testing {

enum class Backend { kSqlite, kPostgres };
// How gtest shows the parameter in messages.
void PrintTo(Backend b, std::ostream* os);
// "Sqlite" / "Postgres": the suffix of a parameterised test's name (and so of its ctest name).
std::string backend_test_name(const ::testing::TestParamInfo<Backend>& info);
// Both backends, for INSTANTIATE_TEST_SUITE_P.
inline auto all_backends() { return ::testing::Values(Backend::kSqlite, Backend::kPostgres); }

class GalleryBackendFixture : public ::testing::Test {
 protected:
  // Makes the fresh folder dir_ (temp/<prefix>_<pid>_<test name>) and sets path_ = dir_/sqlite_file
  // (a relative path; its folders are not created). For kPostgres it also starts a PostgreSQL
  // server and creates the database "gallery" at url_: the test is skipped when PostgreSQL is not
  // installed and fails when it does not start. Call it from SetUp.
  void start(Backend backend, const std::string& prefix, const std::filesystem::path& sqlite_file);
  void TearDown() override;  // stops the server and removes dir_

  // Another connection to the test's database (path_ or url_), as another writer opens it.
  StatusOr<std::unique_ptr<gallery::Store>> try_open_store(int64_t change_log_rows = 100000) const;
  // The same, adding a test failure when it cannot be opened (nullptr then).
  std::unique_ptr<gallery::Store> open_store(int64_t change_log_rows = 100000) const;

  Backend backend_ = Backend::kSqlite;
  std::filesystem::path dir_;
  std::string path_;  // the SQLite file
  std::unique_ptr<PgServer> pg_;
  std::string url_;  // the PostgreSQL database; "" for kSqlite
};

}  // namespace facelens::testing

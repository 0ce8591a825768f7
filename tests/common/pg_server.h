// A PostgreSQL 15 of a test's own: initdb in a fresh temporary folder, pg_ctl start on a free
// loopback port, stopped and removed by the destructor. As root (these machines run tests as
// root, which PostgreSQL refuses) the server runs as the `postgres` user through runuser.
//
//   std::string why;
//   auto pg = facelens::testing::PgServer::start(&why);
//   if (!pg) GTEST_SKIP() << why;
//   std::string url = pg->create_database("t1");  // postgresql://facelens@127.0.0.1:PORT/t1
//
// Not thread-safe: one test thread drives it.
#pragma once

#include <memory>
#include <string>

namespace facelens::testing {

class PgServer {
 public:
  // Where the binaries are looked for (PostgreSQL 15 on Debian 12).
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  // nullptr with *why set when it cannot start: the binaries are missing (a reason to skip), or
  // initdb / pg_ctl failed (a reason to fail; *why holds their log).
  static std::unique_ptr<PgServer> start(std::string* why, bool* missing = nullptr);
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  int port() const { return port_; }
  // postgresql://facelens@127.0.0.1:PORT/<db> (trust authentication on loopback).
  std::string url(const std::string& db) const;
  // Creates database `name` (UTF-8) and returns its URL; "" on failure (see last_error()).
  std::string create_database(const std::string& name);
  // Runs SQL (one or several statements) on `url`; false with last_error() on failure.
  bool sql(const std::string& url, const std::string& statements);

  // pg_ctl stop -m immediate (as a crash: no shutdown checkpoint) / pg_ctl start on the same
  // port and data. False with last_error() on failure.
  bool stop_immediate();
  bool restart();
  const std::string& last_error() const { return error_; }

 private:
  PgServer() = default;
  bool run(const std::string& command);  // as the server's user; output appended to the log
  std::string dir_;                      // the temporary folder (data/ and the socket inside)
  int port_ = 0;
  bool running_ = false;
  std::string error_;
};

}  // namespace facelens::testing

#include "common/pg_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace facelens::testing {
namespace fs = std::filesystem;

namespace {

// A port the kernel just gave out on 127.0.0.1 (free unless someone takes it in between).
int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

std::string tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

}  // namespace

std::unique_ptr<PgServer> PgServer::start(std::string* why, bool* missing) {
  if (missing) *missing = false;
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    if (!fs::exists(std::string(kBinDir) + "/" + tool)) {
      *why = std::string(kBinDir) + "/" + tool + " is absent (apt-get install postgresql; scripts/setup.sh does)";
      if (missing) *missing = true;
      return nullptr;
    }
  }
  std::unique_ptr<PgServer> pg(new PgServer());
  static std::atomic<int> counter{0};
  pg->dir_ =
      (fs::temp_directory_path() / ("facelens_pg_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
          .string();
  fs::remove_all(pg->dir_);
  fs::create_directories(pg->dir_);
  if (::geteuid() == 0) {
    // PostgreSQL refuses to run as root: the folder belongs to `postgres`, the tools run as it.
    const passwd* pw = ::getpwnam("postgres");
    if (!pw || ::system("command -v runuser > /dev/null") != 0) {
      *why = "running as root without a `postgres` user or runuser: cannot start PostgreSQL";
      if (missing) *missing = true;
      return nullptr;
    }
    if (::chown(pg->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      *why = "cannot chown " + pg->dir_ + " to postgres";
      return nullptr;
    }
  }
  if (!pg->run(std::string(kBinDir) + "/initdb -D " + pg->dir_ + "/data -U facelens -A trust -E UTF8 --locale=C " +
               "--no-sync --no-instructions")) {
    *why = "initdb failed: " + pg->error_;
    return nullptr;
  }
  // Tests run in parallel (ctest -j): another server may take the port between free_port() and
  // the start; a new port is tried then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    pg->port_ = free_port();
    if (pg->port_ != 0 && pg->restart()) return pg;
  }
  *why = "pg_ctl start failed: " + pg->error_;
  return nullptr;
}

PgServer::~PgServer() {
  if (running_) run(std::string(kBinDir) + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop");
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool PgServer::run(const std::string& command) {
  const std::string log = dir_ + "/commands.log";
  const std::string as = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
  const std::string line = "cd " + dir_ + " && " + as + command + " >> " + log + " 2>&1";
  if (::system(line.c_str()) == 0) return true;
  error_ = command + ":\n" + tail(log) + "\nserver log:\n" + tail(dir_ + "/server.log");
  return false;
}

bool PgServer::restart() {
  // fsync off: the tests stop the server (immediate mode is a crash of PostgreSQL, not of the
  // machine), never the machine; committed data is in the kernel's cache either way.
  const std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                           " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60";
  running_ = run(std::string(kBinDir) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -t 30 -o '" + opts +
                 "' start");
  return running_;
}

bool PgServer::stop_immediate() {
  if (!run(std::string(kBinDir) + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop")) return false;
  running_ = false;
  return true;
}

std::string PgServer::url(const std::string& db) const {
  return "postgresql://facelens@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

bool PgServer::sql(const std::string& url, const std::string& statements) {
  PGconn* c = PQconnectdb(url.c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, statements.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
  }
  if (!ok) error_ = url + ": " + PQerrorMessage(c);
  PQfinish(c);
  return ok;
}

std::string PgServer::create_database(const std::string& name) {
  if (!sql(url("postgres"), "CREATE DATABASE " + name + " ENCODING 'UTF8' TEMPLATE template0")) return "";
  return url(name);
}

}  // namespace facelens::testing

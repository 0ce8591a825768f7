#include "bench/machine.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "facelens/version.h"
#include "runtime/environment.h"

extern char** environ;

namespace facelens::bench {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(trim(cur));
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A "Key:   123 kB" line of /proc/self/status, in bytes.
std::optional<uint64_t> status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    uint64_t kb = 0;
    if (fields >> kb) return kb * 1024;
  }
  return std::nullopt;
}

uint64_t memory_total() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

GpuInfo query_gpus() {
  GpuInfo g;
  CommandResult r = run_command(
      {"nvidia-smi", "--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader,nounits"});
  if (!r.started) {
    g.note = "nvidia-smi not found: no NVIDIA driver on this machine";
    return g;
  }
  if (r.exit_code != 0) {
    g.note = "nvidia-smi failed (exit " + std::to_string(r.exit_code) + "): " + trim(r.output);
    return g;
  }
  g.devices = parse_nvidia_smi_gpus(r.output);
  if (g.devices.empty()) g.note = "nvidia-smi lists no GPU";
  return g;
}

GitInfo query_git(const std::string& source_dir, const std::string& configured_commit) {
  GitInfo info;
  std::error_code ec;
  if (!source_dir.empty() && std::filesystem::exists(source_dir + "/.git", ec)) {
    CommandResult head = run_command({"git", "-C", source_dir, "rev-parse", "HEAD"});
    if (head.started && head.exit_code == 0 && !trim(head.output).empty()) {
      info.commit = trim(head.output);
      info.source = "git at run time";
      CommandResult st = run_command({"git", "-C", source_dir, "status", "--porcelain", "--untracked-files=no"});
      if (st.started && st.exit_code == 0) info.dirty = !trim(st.output).empty();
      return info;
    }
  }
  if (!configured_commit.empty()) {
    info.commit = configured_commit;
    info.source = "configure time";
    return info;
  }
  info.source = "unknown";
  return info;
}

}  // namespace

CpuInfo parse_cpuinfo(const std::string& text) {
  CpuInfo c;
  std::set<std::pair<std::string, std::string>> cores;
  std::string physical_id, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "processor") {
      ++c.logical_cores;
    } else if (key == "model name" && c.model.empty()) {
      c.model = value;
    } else if (key == "physical id") {
      physical_id = value;
    } else if (key == "core id") {
      cores.emplace(physical_id, value);
    }
  }
  c.physical_cores = static_cast<int>(cores.size());
  return c;
}

std::vector<GpuDevice> parse_nvidia_smi_gpus(const std::string& csv) {
  std::vector<GpuDevice> out;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    auto f = split(line, ',');
    if (f.size() < 4) continue;
    GpuDevice d;
    try {
      d.index = std::stoi(f[0]);
      d.memory_total_mib = std::stoll(f[3]);
    } catch (const std::exception&) {
      continue;
    }
    d.name = f[1];
    d.driver = f[2];
    out.push_back(d);
  }
  return out;
}

MachineInfo capture_machine(const std::string& source_dir, const std::string& configured_commit) {
  MachineInfo m;
  m.cpu = parse_cpuinfo(read_text("/proc/cpuinfo"));
  m.memory_total_bytes = memory_total();
  struct utsname u {};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  m.gpu = query_gpus();
  m.onnxruntime_version = runtime::Environment::ort_version();
  m.facelens_version = version();
  m.git = query_git(source_dir, configured_commit);
  return m;
}

CommandResult run_command(const std::vector<std::string>& argv) {
  CommandResult r;
  if (argv.empty()) return r;
  int fds[2];
  if (pipe(fds) != 0) return r;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return r;
  }
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) r.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // posix_spawnp reports a missing program as exit 127 of the child on glibc.
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && r.output.empty()) return r;
  r.started = true;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::optional<uint64_t> rss_bytes() { return status_kb("VmRSS"); }
std::optional<uint64_t> peak_rss_bytes() { return status_kb("VmHWM"); }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::optional<std::array<double, 3>> load_average() {
  std::istringstream in(read_text("/proc/loadavg"));
  std::array<double, 3> a{};
  if (in >> a[0] >> a[1] >> a[2]) return a;
  return std::nullopt;
}

DeviceMemory device_memory_in_use(int device) {
  DeviceMemory m;
  CommandResult gpus = run_command({"nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"});
  if (!gpus.started || gpus.exit_code != 0) {
    m.note = gpus.started ? "nvidia-smi failed" : "nvidia-smi not found";
    return m;
  }
  std::string uuid;
  for (const auto& line : split(gpus.output, '\n')) {
    auto f = split(line, ',');
    if (f.size() == 2 && f[0] == std::to_string(device)) uuid = f[1];
  }
  CommandResult apps =
      run_command({"nvidia-smi", "--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits"});
  if (apps.started && apps.exit_code == 0) {
    const std::string pid = std::to_string(getpid());
    uint64_t mib = 0;
    bool found = false;
    for (const auto& line : split(apps.output, '\n')) {
      auto f = split(line, ',');
      if (f.size() != 3 || f[0] != uuid || f[1] != pid) continue;
      try {
        mib += std::stoull(f[2]);
        found = true;
      } catch (const std::exception&) {
      }
    }
    if (found) {
      m.bytes = mib << 20;
      m.scope = "process";
      return m;
    }
  }
  CommandResult used = run_command(
      {"nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "--id=" + std::to_string(device)});
  if (used.started && used.exit_code == 0) {
    try {
      m.bytes = std::stoull(trim(used.output)) << 20;
      m.scope = "device";
      m.note = "nvidia-smi does not list this process (container PID namespace?): whole-device figure";
      return m;
    } catch (const std::exception&) {
    }
  }
  m.note = "nvidia-smi gave no memory figure for device " + std::to_string(device);
  return m;
}

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace facelens::bench

// What the benchmark records about the machine it ran on, and the process measurements it takes:
// CPU and GPU description, versions, git commit, load average, resident memory, GPU memory.
//
//   bench::MachineInfo m = bench::capture_machine(source_dir, configured_commit);
//   auto before = bench::rss_bytes();          // resident set of this process, bytes
//
// Everything here reads /proc or runs a program (nvidia-smi, git) without a shell; a missing
// program or file gives an empty value and a note, never an error. Thread-safe (no shared state),
// but RSS and peak-RSS figures are process-wide: measure with one benchmark at a time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace facelens::bench {

struct CpuInfo {
  std::string model;       // /proc/cpuinfo "model name"
  int logical_cores = 0;   // "processor" entries
  int physical_cores = 0;  // distinct (physical id, core id) pairs; 0 when not listed
};

struct GpuDevice {
  int index = 0;
  std::string name;
  std::string driver;
  int64_t memory_total_mib = 0;
};

struct GpuInfo {
  std::vector<GpuDevice> devices;  // empty: no NVIDIA GPU seen
  std::string note;                // why none was seen ("nvidia-smi not found", ...)
};

struct GitInfo {
  std::string commit;         // full hash, or "" when unknown
  std::optional<bool> dirty;  // tracked files modified (known only when read at run time)
  std::string source;         // "git at run time", "configure time", "unknown"
};

struct MachineInfo {
  CpuInfo cpu;
  uint64_t memory_total_bytes = 0;
  std::string kernel;  // uname -sr
  GpuInfo gpu;
  std::string onnxruntime_version;
  std::string facelens_version;
  GitInfo git;
};

// Parses the text of /proc/cpuinfo.
CpuInfo parse_cpuinfo(const std::string& text);
// Parses `nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader,nounits`.
std::vector<GpuDevice> parse_nvidia_smi_gpus(const std::string& csv);

// `source_dir`: the checkout to ask git in (at run time); `configured_commit`: the commit CMake
// saw at configure time, used when git cannot answer.
MachineInfo capture_machine(const std::string& source_dir, const std::string& configured_commit);

struct CommandResult {
  bool started = false;  // false: the program was not found or could not be run
  int exit_code = -1;
  std::string output;  // standard output (standard error is discarded)
};
// Runs argv[0] (looked up in PATH) with the arguments, no shell; waits for it.
CommandResult run_command(const std::vector<std::string>& argv);

// Resident set size and its high-water mark (VmRSS, VmHWM of /proc/self/status), bytes.
std::optional<uint64_t> rss_bytes();
std::optional<uint64_t> peak_rss_bytes();
// Resets the high-water mark to the current RSS (writes 5 to /proc/self/clear_refs; Linux 4.0+).
bool reset_peak_rss();
// The 1, 5 and 15 minute load averages (/proc/loadavg).
std::optional<std::array<double, 3>> load_average();

// GPU memory in use, as nvidia-smi reports it: this process's on `device` when nvidia-smi lists
// it (scope "process"), else the whole device's (scope "device", other processes count too).
struct DeviceMemory {
  std::optional<uint64_t> bytes;
  std::string scope;  // "process", "device", or "" when not measured
  std::string note;   // why not measured
};
DeviceMemory device_memory_in_use(int device);

// "2024-05-01T12:00:00Z" for now.
std::string utc_timestamp();

}  // namespace facelens::bench

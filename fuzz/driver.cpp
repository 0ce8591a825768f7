// A standalone mutation driver for libFuzzer-style targets (LLVMFuzzerTestOneInput), for builds
// without clang's libFuzzer (the gcc ASan/UBSan build of `make test-asan`). No coverage feedback:
// it runs every seed, then seeded AFL-style mutations of them (bit flips, byte and word sets to
// interesting values, arithmetic, block inserts, deletes, duplications and splices with other
// seeds, stacked 1 to 8 at a time) for a number of runs or seconds.
//
//   fuzz_image_decode [-seconds=N] [-runs=N] [-seed=S] [-max_len=BYTES] [-timeout=S]
//                     [-artifact_prefix=DIR/] FILE_OR_DIR...
//
// Without -seconds and -runs it only replays the inputs (a crash file, a corpus). A crash (a
// sanitizer report, a signal) or an input running over -timeout seconds writes the input to
// <artifact_prefix>crash-<fnv1a hash> (or timeout-...) before the process dies; exit status 0
// means no finding.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)(void));

namespace {

using Bytes = std::vector<uint8_t>;

// The input being run, for the crash handlers (which can only reach globals).
const Bytes* g_current = nullptr;
char g_prefix[4096] = "./";

// Writes the current input to <prefix><kind>-<hash>; async-signal-safe.
void dump_current(const char* kind) {
  const Bytes* in = g_current;
  if (!in) return;
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : *in) h = (h ^ b) * 1099511628211ull;
  char path[4200];
  size_t n = 0;
  for (const char* p = g_prefix; *p && n < 4096; ++p) path[n++] = *p;
  for (const char* p = kind; *p; ++p) path[n++] = *p;
  path[n++] = '-';
  for (int i = 15; i >= 0; --i) path[n++] = "0123456789abcdef"[(h >> (4 * i)) & 15];
  path[n] = 0;
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    size_t done = 0;
    while (done < in->size()) {
      const ssize_t w = write(fd, in->data() + done, in->size() - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    close(fd);
  }
  const char msg[] = "\nfuzz driver: the input that failed is written to ";
  (void)!write(2, msg, sizeof msg - 1);
  (void)!write(2, path, n);
  (void)!write(2, "\n", 1);
}

void on_death() { dump_current("crash"); }

void on_signal(int sig) {
  dump_current("crash");
  signal(sig, SIG_DFL);
  raise(sig);
}

struct Options {
  double seconds = 0;
  uint64_t runs = 0;
  uint64_t seed = 0;
  size_t max_len = 1 << 20;
  double timeout = 30;
  std::vector<std::string> inputs;
};

bool flag(const std::string& arg, const char* name, std::string* value) {
  const std::string p = std::string("-") + name + "=";
  if (arg.rfind(p, 0) != 0) return false;
  *value = arg.substr(p.size());
  return true;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    if (flag(a, "seconds", &v) || flag(a, "max_total_time", &v)) o.seconds = std::stod(v);
    else if (flag(a, "runs", &v)) o.runs = std::stoull(v);
    else if (flag(a, "seed", &v)) o.seed = std::stoull(v);
    else if (flag(a, "max_len", &v)) o.max_len = std::stoull(v);
    else if (flag(a, "timeout", &v)) o.timeout = std::stod(v);
    else if (flag(a, "artifact_prefix", &v)) std::snprintf(g_prefix, sizeof g_prefix, "%s", v.c_str());
    else if (!a.empty() && a[0] == '-') std::fprintf(stderr, "fuzz driver: ignoring unknown flag %s\n", a.c_str());
    else o.inputs.push_back(a);
  }
  return o;
}

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::vector<Bytes> load(const Options& o) {
  std::vector<std::filesystem::path> files;
  for (const auto& in : o.inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(in, ec))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::is_regular_file(in, ec)) {
      files.push_back(in);
    } else {
      std::fprintf(stderr, "fuzz driver: no file or folder %s\n", in.c_str());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Bytes> corpus;
  for (const auto& f : files) {
    std::error_code ec;
    if (std::filesystem::file_size(f, ec) > o.max_len) continue;
    corpus.push_back(read_file(f));
  }
  return corpus;
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  void mutate(Bytes& b, const std::vector<Bytes>& corpus, size_t max_len) {
    const int n = 1 << below(4);
    for (int i = 0; i < n; ++i) once(b, corpus);
    if (b.size() > max_len) b.resize(max_len);
  }

 private:
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  void put(Bytes& b, size_t pos, uint64_t v, int width, bool big_endian) {
    for (int k = 0; k < width && pos + static_cast<size_t>(k) < b.size(); ++k) {
      const int shift = 8 * (big_endian ? width - 1 - k : k);
      b[pos + static_cast<size_t>(k)] = static_cast<uint8_t>(v >> shift);
    }
  }

  void once(Bytes& b, const std::vector<Bytes>& corpus) {
    static constexpr uint8_t k8[] = {0, 1, 0x7F, 0x80, 0xFF, 0x10, 0x20, 0x40, 0xFE, 0xC0};
    static constexpr uint16_t k16[] = {0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x0100, 0x00FF, 0x1000, 0xFFFE};
    static constexpr uint32_t k32[] = {0, 1, 0x7FFFFFFF, 0x80000000u, 0xFFFFFFFFu, 0x00010000, 0xFFFF, 0x40000000};
    const size_t pos = below(b.size() + 1);
    switch (below(11)) {
      case 0:  // bit flip
        if (!b.empty()) b[below(b.size())] ^= static_cast<uint8_t>(1u << below(8));
        break;
      case 1:  // random byte
        if (!b.empty()) b[below(b.size())] = static_cast<uint8_t>(rng_());
        break;
      case 2:  // interesting byte
        if (!b.empty()) b[below(b.size())] = k8[below(std::size(k8))];
        break;
      case 3:  // interesting 16-bit word, either byte order
        if (b.size() >= 2) put(b, below(b.size() - 1), k16[below(std::size(k16))], 2, below(2));
        break;
      case 4:  // interesting 32-bit word, either byte order
        if (b.size() >= 4) put(b, below(b.size() - 3), k32[below(std::size(k32))], 4, below(2));
        break;
      case 5:  // small arithmetic on a byte
        if (!b.empty()) {
          uint8_t& x = b[below(b.size())];
          x = static_cast<uint8_t>(below(2) ? x + 1 + below(35) : x - 1 - below(35));
        }
        break;
      case 6: {  // insert random bytes or a run of one byte
        const size_t n = 1 + below(64);
        Bytes ins(n);
        const bool run = below(2);
        const uint8_t v = static_cast<uint8_t>(rng_());
        for (auto& x : ins) x = run ? v : static_cast<uint8_t>(rng_());
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), ins.begin(), ins.end());
        break;
      }
      case 7:  // delete a block
        if (!b.empty()) {
          const size_t at = below(b.size());
          const size_t n = 1 + below(std::min<size_t>(b.size() - at, 256));
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
        }
        break;
      case 8:  // duplicate a block of the input elsewhere in it
        if (!b.empty()) {
          const size_t from = below(b.size());
          const size_t n = 1 + below(std::min<size_t>(b.size() - from, 512));
          Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(from + n));
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), chunk.begin(), chunk.end());
        }
        break;
      case 9:  // splice: the tail from another seed
        if (!corpus.empty()) {
          const Bytes& other = corpus[below(corpus.size())];
          if (!other.empty()) {
            const size_t from = below(other.size());
            b.resize(pos);
            b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
          }
        }
        break;
      default:  // overwrite a block with one of another seed
        if (!corpus.empty() && !b.empty()) {
          const Bytes& other = corpus[below(corpus.size())];
          if (!other.empty()) {
            const size_t from = below(other.size());
            const size_t at = below(b.size());
            const size_t n = std::min({other.size() - from, b.size() - at, static_cast<size_t>(1 + below(256))});
            std::copy_n(other.begin() + static_cast<std::ptrdiff_t>(from), n,
                        b.begin() + static_cast<std::ptrdiff_t>(at));
          }
        }
        break;
    }
  }

  std::mt19937_64 rng_;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  Options o = parse(argc, argv);
  if (o.seed == 0) o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(on_death);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, on_signal);

  // A watchdog: an input running over the timeout is written out and the process aborts.
  std::atomic<int64_t> started{0};
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const int64_t s = started.load();
      if (s != 0 && now_ms() - s > static_cast<int64_t>(o.timeout * 1000)) {
        std::fprintf(stderr, "fuzz driver: an input ran over %.0f s\n", o.timeout);
        dump_current("timeout");
        std::_Exit(70);
      }
    }
  });

  std::vector<Bytes> corpus = load(o);
  if (corpus.empty()) corpus.push_back({});
  const auto run = [&](const Bytes& in) {
    g_current = &in;
    started = now_ms();
    LLVMFuzzerTestOneInput(in.data(), in.size());
    started = 0;
    g_current = nullptr;
  };
  const int64_t t0 = now_ms();
  uint64_t n_runs = 0;
  for (const auto& in : corpus) {
    run(in);
    ++n_runs;
  }
  std::fprintf(stderr, "fuzz driver: %zu inputs replayed in %.1f s (seed %llu)\n", corpus.size(),
               (now_ms() - t0) / 1000.0, static_cast<unsigned long long>(o.seed));
  Mutator mutator(o.seed);
  const bool fuzzing = o.seconds > 0 || o.runs > 0;
  const int64_t end = o.seconds > 0 ? t0 + static_cast<int64_t>(o.seconds * 1000) : INT64_MAX;
  int64_t next_report = t0 + 10000;
  uint64_t n_mutated = 0;
  Bytes in;
  while (fuzzing && (o.runs == 0 || n_mutated < o.runs) && now_ms() < end) {
    in = corpus[n_mutated % corpus.size()];
    mutator.mutate(in, corpus, o.max_len);
    run(in);
    ++n_mutated;
    if (now_ms() >= next_report) {
      next_report += 10000;
      std::fprintf(stderr, "fuzz driver: #%llu mutated runs, %.0f exec/s\n", static_cast<unsigned long long>(n_mutated),
                   n_mutated * 1000.0 / std::max<int64_t>(1, now_ms() - t0));
    }
  }
  done = true;
  watchdog.join();
  const double secs = (now_ms() - t0) / 1000.0;
  std::fprintf(
      stderr, "fuzz driver: done: %llu runs (%zu seeds, %llu mutated) in %.1f s, %.0f exec/s, seed %llu, 0 crashes\n",
      static_cast<unsigned long long>(n_runs + n_mutated), corpus.size(), static_cast<unsigned long long>(n_mutated),
      secs, (n_runs + n_mutated) / std::max(secs, 1e-3), static_cast<unsigned long long>(o.seed));
  return 0;
}

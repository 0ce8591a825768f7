// Gallery search and enrolment benchmark on synthetic data (not a test: timing goals live here).
//   build/tools/bench/gallery_bench [--sizes 10000,100000,1000000] [--queries 1000]
//       [--candidates 512] [--ann hnsw|ivf|none] [--ann-max-size 100000]
//       [--m 32] [--ef-construction 80] [--ef-search 128] [--nlist 0] [--nprobe 32]
//       [--enroll 100000] [--db /tmp/gallery_bench.db] [--durability full|normal] [--batch 1000]
//       [--catchup 10000] [--catchup-batch 1] [--open-only]
// --db: a SQLite file (removed first) or a PostgreSQL URL (postgresql://user@host:port/db; an
// empty database: the enrolment benchmark refuses one holding faces). --catchup N: two galleries on --db, one
// writes N changes (single-face enrolments, --catchup-batch per transaction) while the other only
// reads, then the time the reader takes to apply what it has not applied yet (a replica catching
// up). --open-only: opens the gallery at --db as it is and reports the load time and the memory it
// takes (RSS after open minus before), per face.
// Indexes: "exact" (SIMD scan of the float matrix), "hamming" (sign-code scan, `candidates`
// re-scored exactly: the gallery's default above 20k faces) and a FAISS index (HNSW or IVF; its
// build is slow on 2 cores, so it is skipped above --ann-max-size).
// Vectors: random unit 512-d (one per identity). Queries: probes of random enrolled vectors at a
// cosine of ~0.6 to them (a second photo of an enrolled person), and random unit vectors
// (strangers: their top-1 is whatever is nearest, the hardest case for an ANN index).
// Prints one JSON row per measurement: latency p50/p95/p99/mean in ms per query (single query,
// one thread), recall@1 of the ANN index against exact, build times, enrolment throughput.
// Goals on the 2-core development machine: 10k exact <= 0.5 ms/query; 1M ANN <= 5 ms with
// recall@1 >= 0.99; 100k enrolments <= 30 s.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "facelens/gallery.h"
#include "gallery/index.h"

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
constexpr int kDim = 512;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// CPU time of the calling thread: on a shared machine it shows the work done, where wall time also
// shows the waits for a core.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Wall and thread-CPU times of one query each.
struct Timings {
  std::vector<double> wall, cpu;
  void clear() {
    wall.clear();
    cpu.clear();
  }
};

void normalise(float* v, int dim) {
  double n = 0;
  for (int d = 0; d < dim; ++d) n += static_cast<double>(v[d]) * v[d];
  const float k = static_cast<float>(1.0 / std::sqrt(n));
  for (int d = 0; d < dim; ++d) v[d] *= k;
}

std::vector<float> random_unit(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> v(n * kDim);
  for (auto& x : v) x = nd(rng);
  for (size_t i = 0; i < n; ++i) normalise(&v[i * kDim], kDim);
  return v;
}

// Probe of a row at cosine ~cos: row + isotropic noise of the right size, renormalised.
std::vector<float> probes(const std::vector<float>& rows, size_t n_rows, size_t n, float cos, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  const float sigma = std::sqrt((1.f / (cos * cos) - 1.f) / kDim);
  std::vector<float> q(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = rng() % n_rows;
    for (int d = 0; d < kDim; ++d) q[i * kDim + d] = rows[r * kDim + d] + sigma * nd(rng);
    normalise(&q[i * kDim], kDim);
  }
  return q;
}

json latency(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  auto r = [](double v) { return std::round(v * 10000) / 10000; };
  return {{"p50_ms", r(pct(0.50))}, {"p95_ms", r(pct(0.95))}, {"p99_ms", r(pct(0.99))}, {"mean_ms", r(mean)}};
}

json latency(const Timings& t) {
  json j = latency(t.wall);
  const json c = latency(t.cpu);
  j["cpu_p50_ms"] = c["p50_ms"];
  j["cpu_mean_ms"] = c["mean_ms"];
  return j;
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

long rss_mib() { return rss_kib() / 1024; }

std::string commit() {
  FILE* p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
  if (!p) return "";
  char buf[64] = {0};
  std::string s = fgets(buf, sizeof buf, p) ? buf : "";
  pclose(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

struct Args {
  std::vector<size_t> sizes = {10000, 100000, 1000000};
  size_t queries = 1000;
  std::string ann = "hnsw";
  size_t ann_max_size = 100000;
  int candidates = 512;
  facelens::gallery::AnnOptions ann_options;
  size_t enroll = 100000;
  size_t batch = 1000;
  std::string db = "/tmp/gallery_bench.db";
  std::string durability = "full";
  size_t catchup = 0;
  size_t catchup_batch = 1;
  bool open_only = false;
};

bool is_url(const std::string& db) { return db.find("://") != std::string::npos; }

// The store's kind as the gallery describes it ("sqlite", "postgresql"), never a path or a URL.
std::string store_kind(const facelens::Gallery& g) {
  const std::string d = g.stats().store;
  return d.substr(0, d.find(':'));
}

facelens::GalleryOptions bench_options(const Args& a) {
  facelens::GalleryOptions o;
  if (facelens::Status s = facelens::set_gallery_database(o, a.db); !s.ok()) {
    std::cerr << "gallery_bench: --db: " << s.to_string() << "\n";
    std::exit(2);
  }
  o.match_threshold = 0.36f;
  o.index = facelens::IndexKind::kAuto;  // the default: exact below 20k faces, hamming above
  o.durability = a.durability == "normal" ? facelens::Durability::kNormal : facelens::Durability::kFull;
  return o;
}

std::unique_ptr<facelens::Gallery> open_or_exit(const facelens::GalleryOptions& o) {
  auto g = facelens::Gallery::open(o);
  if (!g.ok()) {
    std::cerr << g.status().to_string() << "\n";
    std::exit(1);
  }
  return std::move(*g);
}

void remove_sqlite(const std::string& db) {
  if (is_url(db)) return;
  std::filesystem::remove(db);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
}

facelens::EmbeddingEnrollment synthetic(const std::string& name, const float* v, const std::string& sha) {
  facelens::EmbeddingEnrollment e;
  e.name = name;
  e.embedding.assign(v, v + kDim);
  e.model_id = "synthetic_512";
  e.image_sha256 = sha;
  return e;
}

void print(json row, const std::string& host_commit) {
  row["commit"] = host_commit;
  row["device"] = "cpu";
  std::cout << row.dump() << "\n" << std::flush;
}

void bench_search(size_t n, const Args& a, const std::string& c) {
  namespace g = facelens::gallery;
  std::mt19937 rng(static_cast<uint32_t>(n));
  auto t0 = Clock::now();
  std::vector<float> rows = random_unit(n, rng);
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 1);
  const double gen_ms = ms_since(t0);
  g::ExactIndex exact(kDim);
  t0 = Clock::now();
  if (!exact.add(ids, rows).ok()) std::exit(1);
  const double exact_build_ms = ms_since(t0);
  const size_t nq = a.queries;
  std::vector<float> known = probes(rows, n, nq, 0.6f, rng);
  std::vector<float> strangers = random_unit(nq, rng);

  // Exact: latency and the ground truth.
  std::vector<int64_t> truth_known(nq), truth_strangers(nq);
  Timings ms;
  for (int pass = 0; pass < 2; ++pass) {
    const auto& qs = pass == 0 ? known : strangers;
    auto& truth = pass == 0 ? truth_known : truth_strangers;
    for (size_t i = 0; i < nq; ++i) {
      auto q0 = Clock::now();
      const double c0 = thread_cpu_ms();
      auto r = exact.search({&qs[i * kDim], kDim}, 1);
      ms.cpu.push_back(thread_cpu_ms() - c0);
      ms.wall.push_back(ms_since(q0));
      truth[i] = (*r)[0].id;
    }
  }
  print({{"bench", "search"},
         {"index", "exact"},
         {"identities", n},
         {"dim", kDim},
         {"queries", 2 * nq},
         {"build_ms", std::round(exact_build_ms)},
         {"latency", latency(ms)},
         {"generate_ms", std::round(gen_ms)},
         {"rss_mib", rss_mib()}},
        c);

  // Sign-code pre-filter over the same rows.
  ms.clear();
  size_t pre_known = 0, pre_strangers = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const auto& qs = pass == 0 ? known : strangers;
    const auto& truth = pass == 0 ? truth_known : truth_strangers;
    size_t& hits = pass == 0 ? pre_known : pre_strangers;
    for (size_t i = 0; i < nq; ++i) {
      auto q0 = Clock::now();
      const double c0 = thread_cpu_ms();
      auto r = exact.search_prefiltered({&qs[i * kDim], kDim}, 1, a.candidates);
      ms.cpu.push_back(thread_cpu_ms() - c0);
      ms.wall.push_back(ms_since(q0));
      hits += !r->empty() && (*r)[0].id == truth[i];
    }
  }
  print({{"bench", "search"},
         {"index", "hamming"},
         {"params", {{"candidates", a.candidates}}},
         {"identities", n},
         {"dim", kDim},
         {"queries", 2 * nq},
         {"build_ms", 0},
         {"latency", latency(ms)},
         {"recall_at_1_enrolled", static_cast<double>(pre_known) / nq},
         {"recall_at_1_strangers", static_cast<double>(pre_strangers) / nq},
         {"rss_mib", rss_mib()}},
        c);

  if (a.ann == "none" || n > a.ann_max_size) return;
  // FAISS.
  g::AnnOptions o = a.ann_options;
  o.kind = a.ann == "ivf" ? g::AnnKind::kIvf : g::AnnKind::kHnsw;
  t0 = Clock::now();
  auto ann = g::create_faiss_index(kDim, o, ids, rows);
  if (!ann.ok()) {
    std::cerr << ann.status().to_string() << "\n";
    std::exit(1);
  }
  const double ann_build_ms = ms_since(t0);
  ms.clear();
  size_t hit_known = 0, hit_strangers = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const auto& qs = pass == 0 ? known : strangers;
    const auto& truth = pass == 0 ? truth_known : truth_strangers;
    size_t& hits = pass == 0 ? hit_known : hit_strangers;
    for (size_t i = 0; i < nq; ++i) {
      auto q0 = Clock::now();
      const double c0 = thread_cpu_ms();
      auto r = (*ann)->search({&qs[i * kDim], kDim}, 1);
      ms.cpu.push_back(thread_cpu_ms() - c0);
      ms.wall.push_back(ms_since(q0));
      hits += !r->empty() && (*r)[0].id == truth[i];
    }
  }
  json params = o.kind == g::AnnKind::kHnsw
                    ? json{{"M", o.hnsw_m}, {"efConstruction", o.hnsw_ef_construction}, {"efSearch", o.hnsw_ef_search}}
                    : json{{"nlist", o.ivf_nlist}, {"nprobe", o.ivf_nprobe}};
  print({{"bench", "search"},
         {"index", (*ann)->name()},
         {"params", params},
         {"identities", n},
         {"dim", kDim},
         {"queries", 2 * nq},
         {"build_ms", std::round(ann_build_ms)},
         {"latency", latency(ms)},
         {"recall_at_1_enrolled", static_cast<double>(hit_known) / nq},
         {"recall_at_1_strangers", static_cast<double>(hit_strangers) / nq},
         {"rss_mib", rss_mib()}},
        c);
}

void bench_enroll(const Args& a, const std::string& c) {
  remove_sqlite(a.db);
  const facelens::GalleryOptions o = bench_options(a);
  auto gallery = facelens::Gallery::open(o);
  if (!gallery.ok()) {
    std::cerr << gallery.status().to_string() << "\n";
    std::exit(1);
  }
  const std::string store = store_kind(**gallery);
  if ((*gallery)->stats().n_faces > 0) {
    std::cerr << "gallery_bench: " << a.db << " holds faces already: give it an empty database\n";
    std::exit(2);
  }
  std::mt19937 rng(42);
  std::vector<float> rows = random_unit(a.enroll, rng);
  auto t0 = Clock::now();
  std::vector<double> batch_ms;
  for (size_t start = 0; start < a.enroll; start += a.batch) {
    std::vector<facelens::EmbeddingEnrollment> items;
    for (size_t i = start; i < std::min(a.enroll, start + a.batch); ++i) {
      facelens::EmbeddingEnrollment e;
      e.name = "person_" + std::to_string(i);
      e.embedding.assign(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim);
      e.model_id = "synthetic_512";
      std::ostringstream sha;
      sha << std::hex << i;
      e.image_sha256 = sha.str();
      items.push_back(std::move(e));
    }
    auto b0 = Clock::now();
    auto r = (*gallery)->enroll_embeddings(items);
    batch_ms.push_back(ms_since(b0));
    if (!r.ok()) {
      std::cerr << r.status().to_string() << "\n";
      std::exit(1);
    }
  }
  const double total_ms = ms_since(t0);
  gallery->reset();
  t0 = Clock::now();
  auto reopened = facelens::Gallery::open(o);
  const double open_ms = ms_since(t0);
  const size_t n_back = reopened.ok() ? (*reopened)->stats().n_faces : 0;
  // The whole gallery path (search + per-identity scores + names) on the reopened gallery.
  Timings ms;
  size_t right = 0;
  const size_t nq = std::min<size_t>(a.queries, 1000);
  if (reopened.ok()) {
    for (size_t i = 0; i < nq; ++i) {
      const size_t who = rng() % a.enroll;
      auto q = probes(std::vector<float>(rows.begin() + who * kDim, rows.begin() + (who + 1) * kDim), 1, 1, 0.6f, rng);
      auto q0 = Clock::now();
      const double c0 = thread_cpu_ms();
      auto r = (*reopened)->identify_embedding(q, "synthetic_512", 5);
      ms.cpu.push_back(thread_cpu_ms() - c0);
      ms.wall.push_back(ms_since(q0));
      right += r.ok() && r->identity && r->identity->name == "person_" + std::to_string(who);
    }
  }
  std::error_code ec;
  const auto db_bytes = is_url(a.db) ? 0 : std::filesystem::file_size(a.db, ec);
  print({{"bench", "enroll"},
         {"store", store},
         {"durability", a.durability},
         {"embeddings", a.enroll},
         {"batch", a.batch},
         {"total_s", std::round(total_ms) / 1000},
         {"per_second", std::round(a.enroll / (total_ms / 1000))},
         {"batch_latency", latency(batch_ms)},
         {"reopen_ms", std::round(open_ms)},
         {"faces_after_reopen", n_back},
         {"identify_search", reopened.ok() ? (*reopened)->stats().index : ""},
         {"identify_latency", latency(ms)},
         {"identify_right", static_cast<double>(right) / std::max<size_t>(nq, 1)},
         {"db_mib", is_url(a.db) || ec ? json(nullptr) : json(db_bytes / (1024 * 1024))}},
        c);
}

// A reader gallery and a writer gallery on one store: the writer makes n single-face enrolments,
// then the reader applies what it has not applied yet.
void bench_catchup(const Args& a, const std::string& c) {
  remove_sqlite(a.db);
  const facelens::GalleryOptions o = bench_options(a);
  auto writer = open_or_exit(o);
  auto reader = open_or_exit(o);
  const size_t before = reader->stats().n_faces;
  std::mt19937 rng(7);
  std::vector<float> rows = random_unit(a.catchup, rng);
  const std::string run = std::to_string(std::random_device{}());  // names unique across runs on one database
  auto t0 = Clock::now();
  for (size_t start = 0; start < a.catchup; start += a.catchup_batch) {
    std::vector<facelens::EmbeddingEnrollment> items;
    for (size_t i = start; i < std::min(a.catchup, start + a.catchup_batch); ++i) {
      items.push_back(
          synthetic("catchup_" + run + "_" + std::to_string(i), &rows[i * kDim], run + "-" + std::to_string(i)));
    }
    auto r = writer->enroll_embeddings(items);
    if (!r.ok()) {
      std::cerr << r.status().to_string() << "\n";
      std::exit(1);
    }
  }
  const double write_ms = ms_since(t0);
  // The reader made no call during the writes (a reader that applies notified changes as they
  // come has applied some already: the time is then that of the rest).
  t0 = Clock::now();
  size_t seen = 0;
  while (seen < a.catchup && ms_since(t0) < 600000) {
    if (facelens::Status s = reader->sync(); !s.ok()) {
      std::cerr << s.to_string() << "\n";
      std::exit(1);
    }
    seen = reader->stats().n_faces - before;
  }
  const double catchup_ms = ms_since(t0);
  print({{"bench", "catchup"},
         {"store", store_kind(*reader)},
         {"changes", a.catchup},
         {"faces_per_write", a.catchup_batch},
         {"write_s", std::round(write_ms) / 1000},
         {"writes_per_second", std::round(a.catchup / (write_ms / 1000))},
         {"catchup_ms", std::round(catchup_ms * 10) / 10},
         {"reader_faces_after", seen}},
        c);
}

// The gallery at --db as it is: load time and the memory it holds.
void bench_open(const Args& a, const std::string& c) {
  const long rss_before = rss_kib();
  auto t0 = Clock::now();
  auto g = open_or_exit(bench_options(a));
  const double open_ms = ms_since(t0);
  const long rss_after = rss_kib();
  const auto st = g->stats();
  const double per_face = st.n_faces ? (rss_after - rss_before) * 1024.0 / st.n_faces : 0;
  print({{"bench", "open"},
         {"store", store_kind(*g)},
         {"faces", st.n_faces},
         {"identities", st.n_identities},
         {"index", st.index},
         {"open_ms", std::round(open_ms)},
         {"rss_mib_before", rss_before / 1024},
         {"rss_mib_after", rss_after / 1024},
         {"bytes_per_face", std::round(per_face)},
         {"mib_per_million_faces", std::round(per_face * 1e6 / (1 << 20))}},
        c);
}

std::vector<size_t> parse_sizes(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoul(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "gallery_bench: " << argv[i] << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    const std::string k = argv[i];
    if (k == "--sizes") a.sizes = parse_sizes(next());
    else if (k == "--queries") a.queries = std::stoul(next());
    else if (k == "--ann") a.ann = next();
    else if (k == "--ann-max-size") a.ann_max_size = std::stoul(next());
    else if (k == "--candidates") a.candidates = std::stoi(next());
    else if (k == "--m") a.ann_options.hnsw_m = std::stoi(next());
    else if (k == "--ef-construction") a.ann_options.hnsw_ef_construction = std::stoi(next());
    else if (k == "--ef-search") a.ann_options.hnsw_ef_search = std::stoi(next());
    else if (k == "--nlist") a.ann_options.ivf_nlist = std::stoi(next());
    else if (k == "--nprobe") a.ann_options.ivf_nprobe = std::stoi(next());
    else if (k == "--enroll") a.enroll = std::stoul(next());
    else if (k == "--batch") a.batch = std::stoul(next());
    else if (k == "--db") a.db = next();
    else if (k == "--durability") a.durability = next();
    else if (k == "--catchup") a.catchup = std::stoul(next());
    else if (k == "--catchup-batch") a.catchup_batch = std::max<size_t>(1, std::stoul(next()));
    else if (k == "--open-only") a.open_only = true;
    else {
      std::cerr << "gallery_bench: unknown option " << k
                << " (see the comment at the top of tools/bench/gallery_bench.cpp)\n";
      return 2;
    }
  }
  const std::string c = commit();
  if (a.open_only) {
    bench_open(a, c);
    return 0;
  }
  for (size_t n : a.sizes) bench_search(n, a, c);
  if (a.enroll > 0) bench_enroll(a, c);
  if (a.catchup > 0) bench_catchup(a, c);
  return 0;
}

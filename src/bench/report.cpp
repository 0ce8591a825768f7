// report.md (tables for people) and write_outputs (results.json, report.md, charts).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "bench/benchmark.h"
#include "bench/sweep_photos.h"
#include "runtime/placement.h"

namespace facelens::bench {

namespace {

std::string num(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string range(const std::array<double, 2>& r, const char* unit) { return num(r[0], 0) + "–" + num(r[1], 0) + unit; }

std::string mib(std::optional<int64_t> bytes) {
  if (!bytes) return "not measured";
  return (*bytes >= 0 ? "+" : "") + num(static_cast<double>(*bytes) / (1 << 20), 1) + " MiB";
}

std::string mib_abs(std::optional<uint64_t> bytes) {
  if (!bytes) return "not measured";
  return num(static_cast<double>(*bytes) / (1 << 20), 1) + " MiB";
}

std::string cell(std::string s) {
  for (auto& c : s)
    if (c == '|' || c == '\n') c = (c == '|') ? '/' : ' ';
  return s;
}

const Row* find_row(const BenchReport& rep, const std::string& service, const std::string& provider, int batch,
                    const std::string& precision) {
  for (const auto& r : rep.rows)
    if (r.service == service && r.provider == provider && r.batch == batch && r.precision == precision) return &r;
  return nullptr;
}

const ProviderStatus* find_provider(const BenchReport& rep, const std::string& name) {
  for (const auto& p : rep.providers)
    if (p.name == name) return &p;
  return nullptr;
}

std::string skip_reason(const BenchReport& rep, const std::string& service) {
  for (const auto& s : rep.skipped)
    if (s.service == service) return s.reason;
  return "";
}

// "9.81 ms", or why there is no figure.
std::string measured(const BenchReport& rep, const std::string& service, const std::string& provider, int batch,
                     const std::string& precision) {
  const ProviderStatus* p = find_provider(rep, provider);
  if (!p) return "not run (--providers)";
  if (!p->available) return "n/a: " + provider + " unavailable";
  if (const std::string why = skip_reason(rep, service); !why.empty()) return "skipped";
  const Row* r = find_row(rep, service, provider, batch, precision);
  if (!r) return "not run";
  if (r->status != "ok") return "failed";
  std::string s = num(r->summary.mean_ms) + " ms";
  if (r->fell_back_to_cpu) s += " (fell back to CPU)";
  return s;
}

std::string speedup(const Row* r) {
  if (!r || r->status != "ok") return "–";
  if (r->provider == "cpu") return "baseline";
  if (r->fell_back_to_cpu) return "n/a (fell back to CPU)";
  return r->speedup_vs_cpu ? num(*r->speedup_vs_cpu) + "x" : "–";
}

std::string summary_row(const Row& r) {
  const Summary& s = r.summary;
  std::ostringstream o;
  o << "| " << r.service << " | " << r.provider << " (" << (r.provider_used.empty() ? "?" : r.provider_used) << ")"
    << " | " << (r.status == "ok" ? "" : "**failed**: " + cell(r.note)) << num(s.mean_ms) << " | " << num(s.p50_ms)
    << " | " << num(s.p95_ms) << " | " << num(s.p99_ms) << " | " << num(s.min_ms) << " | " << num(s.max_ms) << " | "
    << num(s.stddev_ms) << " | " << num(s.throughput_items_per_s, 1) << " " << r.item << "s/s | " << speedup(&r)
    << " |\n";
  return o.str();
}

}  // namespace

namespace {

std::string ms_or(const std::optional<double>& v, const char* none = "–") { return v ? num(*v, 1) + " ms" : none; }

std::string kb(int64_t bytes) { return num(static_cast<double>(bytes) / 1024, 0) + " KB"; }

std::string error_cell(const ErrorTally& e) {
  if (e.n == 0) return "0";
  std::string out = "**" + std::to_string(e.n) + "**";
  if (e.by_kind.size() > 1) {
    std::string kinds;
    for (const auto& [k, n] : e.by_kind) kinds += (kinds.empty() ? "" : ", ") + std::to_string(n) + "× " + k;
    out += " (" + kinds + ")";
  }
  return out + ", first: " + cell(e.first.substr(0, 160));
}

}  // namespace

// The sweep and service tables (also what the README shows).
std::string sweep_markdown(const BenchReport& rep) {
  std::ostringstream md;
  if (!rep.options.sweep_source.empty()) {
    md << "## Pipeline sweep\n\n"
       << "Photos made from " << rep.options.sweep_source << " (`facelens bench --sweep`, quality " << kSweepJpegQuality
       << "); per photo " << rep.options.warmup << " warm-up and " << rep.options.sweep_iterations
       << " timed rounds, each round timing in turn (starting at a different one each round): the pipeline (file bytes "
          "to embeddings, as /v1/embed), "
          "TurboJPEG's tjDecompress2 of the file at the DCT scale facelens decoded it at and at full size, and the "
          "models alone on the already decoded image; p50 of each. Engine: "
       << rep.sweep_provider << ", intra-op threads "
       << (rep.sweep_threads > 0 ? std::to_string(rep.sweep_threads) : "ONNX Runtime's default")
       << ". Ratio = pipeline / (decode at facelens's scale + models), target ≤ " << num(kSweepTargetRatio)
       << "; for photos with restart markers also pipeline / (full decode + models), target < 1.\n\n";
    md << "| photo | size | file | pipeline p50 | decode scale | TurboJPEG decode at scale / full | models | ratio | "
          "vs full decode + models |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rep.sweep) {
      const auto& p = r.photo;
      md << "| " << p.name << " | " << p.width << "x" << p.height << " (" << num(p.megapixels, 1) << " MP) | "
         << kb(p.bytes) << " |";
      if (r.status != "ok") {
        md << " failed: " << cell(r.note) << " | | | | | |\n";
        continue;
      }
      md << " " << num(r.pipeline.p50_ms, 1) << " ms | " << r.scale_num << "/" << r.scale_denom << " | "
         << num(r.decode_scaled.p50_ms, 1) << " / " << num(r.decode_full.p50_ms, 1) << " ms | "
         << num(r.models.p50_ms, 1) << " ms | "
         << (r.ratio ? (r.meets_target.value_or(false) ? num(*r.ratio) : "**" + num(*r.ratio) + "**") : "–") << " | "
         << (r.ratio_vs_full_decode ? num(*r.ratio_vs_full_decode) : "–") << " |\n";
    }
    bool assumed = false;
    for (const auto& r : rep.sweep) assumed = assumed || r.decode_scale_source.rfind("assumed", 0) == 0;
    if (!rep.sweep.empty()) {
      md << "\nRatios above the target are in bold.";
      if (assumed) md << " Decode scale " << rep.sweep.front().decode_scale_source << ".";
      md << "\n\n";
    }
  }
  if (rep.server) {
    const ServerReport& s = *rep.server;
    md << "## Service (HTTP) bench\n\n";
    if (!s.reachable) {
      md << "**The service could not be measured**: " << cell(s.error) << "\n\n";
      return md.str();
    }
    md << "`POST /v1/embed` on " << s.url << ", one keep-alive connection, " << rep.options.server_warmup
       << " warm-up and " << rep.options.server_iterations
       << " timed rounds (every photo and body format once per round). Overhead = the request's p50 − the "
          "in-process pipeline's p50 on the same file, timed in the same rounds (each round runs the pipeline "
          "in-process once per photo next to its requests; the server is idle meanwhile).\n\n";
    md << "| photo | format | body | p50 | p99 | pipeline p50 | HTTP overhead | overhead / pipeline | ok | errors "
          "|\n|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : s.rows) {
      md << "| " << r.photo << " | " << r.format << " | " << kb(r.body_bytes) << " | "
         << (r.n_ok ? num(r.summary.p50_ms, 1) + " ms" : "–") << " | "
         << (r.n_ok ? num(r.summary.p99_ms, 1) + " ms" : "–") << " | " << ms_or(r.pipeline_p50_ms) << " | "
         << ms_or(r.overhead_ms) << " | " << (r.overhead_ratio ? num(*r.overhead_ratio * 100, 0) + " %" : "–") << " | "
         << r.n_ok << "/" << r.requests << " | " << error_cell(r.errors) << " |\n";
    }
    if (!s.load.empty()) {
      md << "\nConcurrency: " << rep.options.load_requests << " requests of " << s.load.front().photo << " as "
         << s.load.front().format << " over 1 and over " << rep.options.connections
         << " keep-alive connections (one untimed warm-up request per connection first).\n\n"
         << "| connections | ok | errors | throughput | p50 | p99 | throughput vs 1 connection |\n"
            "|---|---|---|---|---|---|---|\n";
      for (const auto& l : s.load)
        md << "| " << l.connections << " | " << l.n_ok << "/" << l.requests << " | " << error_cell(l.errors) << " | "
           << num(l.throughput_rps, 2) << " requests/s | " << (l.n_ok ? num(l.summary.p50_ms, 1) + " ms" : "–") << " | "
           << (l.n_ok ? num(l.summary.p99_ms, 1) + " ms" : "–") << " | "
           << (l.throughput_vs_one ? num(*l.throughput_vs_one) + "x" : "–") << " |\n";
    }
    md << "\n";
  }
  return md.str();
}

std::string report_markdown(const BenchReport& rep) {
  const MachineInfo& m = rep.machine;
  const BenchOptions& o = rep.options;
  const std::string p0 = o.precisions.empty() ? "fp32" : o.precisions.front();
  const int b0 = o.batches.empty() ? 1 : o.batches.front();
  std::ostringstream md;
  md << "# facelens benchmark\n\n";
  md << "facelens " << m.facelens_version << ", commit "
     << (m.git.commit.empty() ? "unknown" : m.git.commit.substr(0, 12))
     << (m.git.dirty && *m.git.dirty ? " (with uncommitted changes)" : "") << ", ONNX Runtime " << m.onnxruntime_version
     << ". Run " << rep.started_at << ", " << num(rep.duration_s, 0) << " s.\n\n";
  md << "- CPU: " << (m.cpu.model.empty() ? "unknown" : m.cpu.model) << ", " << m.cpu.logical_cores << " logical cores"
     << (m.cpu.physical_cores > 0 ? " (" + std::to_string(m.cpu.physical_cores) + " physical)" : "") << ", "
     << num(static_cast<double>(m.memory_total_bytes) / (1ull << 30), 1) << " GiB RAM, " << m.kernel << "\n";
  md << "- GPU: ";
  if (m.gpu.devices.empty()) md << "none (" << m.gpu.note << ")";
  for (size_t i = 0; i < m.gpu.devices.size(); ++i) {
    const auto& g = m.gpu.devices[i];
    md << (i ? "; " : "") << g.index << ": " << g.name << ", driver " << g.driver << ", " << g.memory_total_mib
       << " MiB";
  }
  md << "\n";
  if (rep.load_start && rep.load_end)
    md << "- Load average (1 min): " << num((*rep.load_start)[0]) << " at the start, " << num((*rep.load_end)[0])
       << " at the end\n";
  if (!o.note.empty()) md << "- Note: " << o.note << "\n";
  if (o.images.empty()) {  // only the sweep and the service bench ran
    md << "\n" << sweep_markdown(rep);
    return md.str();
  }
  md << "- Images: ";
  for (size_t i = 0; i < rep.input_notes.size(); ++i) md << (i ? "; " : "") << rep.input_notes[i];
  md << "\n- Each cell: " << o.warmup << " warm-up runs, then " << o.iterations
     << " timed runs; intra-op threads: " << (o.threads > 0 ? std::to_string(o.threads) : "ONNX Runtime's default")
     << "; models: " << rep.models_dir << "\n\n";

  md << "## Providers\n\n| provider | available | execution provider | note |\n|---|---|---|---|\n";
  for (const auto& p : rep.providers)
    md << "| " << p.name << " | " << (p.available ? "yes" : "**no**") << " | " << p.execution_provider << " | "
       << cell(p.available ? "" : p.reason) << " |\n";

  md << "\n## Latency per call at batch " << b0 << " (" << p0 << ")\n\n"
     << "Milliseconds per run (one item at batch 1); items/s = throughput; speedup = CPU mean / this mean.\n\n"
     << "| service | provider (used) | mean | p50 | p95 | p99 | min | max | stddev | throughput | speedup vs CPU |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& provider : o.providers)
    for (const auto& service : o.services)
      if (const Row* r = find_row(rep, service, provider, b0, p0)) md << summary_row(*r);

  md << "\n## Against the reference design\n\n"
     << "The reference design's table (shared/REFERENCE-DESIGN.md) next to the measured means at batch " << b0 << ", "
     << p0 << ". The reference names neither its hardware nor its image size.\n\n"
     << "| reference service | reference CPU | reference GPU | reference speedup | facelens | facelens CPU | facelens "
        "GPU | facelens speedup |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& f : reference_design()) {
    std::vector<std::string> services = {f.service};
    if (f.service == "embed") services.push_back("pipeline");
    for (const auto& service : services) {
      const Row* gpu = find_row(rep, service, "cuda", b0, p0);
      std::string label = service;
      if (service == "pipeline") label += " (decode to embedding)";
      if (service == "embed") label += " (one aligned face)";
      if (const std::string why = skip_reason(rep, service); !why.empty()) label += ": skipped, " + why;
      md << "| " << f.name << " | " << range(f.cpu_ms, " ms") << " | " << range(f.gpu_ms, " ms") << " | "
         << range(f.speedup, "x") << " | " << cell(label) << " | " << measured(rep, service, "cpu", b0, p0) << " | "
         << measured(rep, service, "cuda", b0, p0) << " | " << speedup(gpu) << " |\n";
    }
  }

  if (o.batches.size() > 1 || o.precisions.size() > 1) {
    md << "\n## Batch sweep\n\n"
       << "A run over a batch of N items is one model call when `batched`, else N calls (models with a fixed "
          "batch of 1).\n\n"
       << "| service | provider | precision | batch | batched | calls/run | mean ms/run | p95 ms | ms/item | items/s | "
          "speedup vs CPU |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rep.rows) {
      md << "| " << r.service << " | " << r.provider << (r.fell_back_to_cpu ? " (fell back to CPU)" : "") << " | "
         << r.precision << " | " << r.batch << " | " << (r.batched ? "yes" : "no") << " | " << r.calls_per_run << " | ";
      if (r.status != "ok") {
        md << "**failed**: " << cell(r.note) << " | | | | |\n";
        continue;
      }
      md << num(r.summary.mean_ms) << " | " << num(r.summary.p95_ms) << " | " << num(r.summary.per_item_ms, 3) << " | "
         << num(r.summary.throughput_items_per_s, 1) << " | " << speedup(&r) << " |\n";
    }
  }

  md << "\n## Node placement\n\n"
     << "Where ONNX Runtime runs each service's nodes (its recorded graph assignment, over the service's "
        "sessions): nodes per execution provider and their operator types.\n\n"
     << "| service | provider | precision | placement |\n|---|---|---|---|\n";
  std::set<std::tuple<std::string, std::string, std::string>> placed;
  for (const auto& r : rep.rows) {
    if (r.status != "ok" || !placed.insert({r.service, r.provider, r.precision}).second) continue;
    md << "| " << r.service << " | " << r.provider << " | " << r.precision << " | "
       << cell(r.placement.empty() ? std::string("not recorded") : runtime::placement_to_string(r.placement)) << " |\n";
  }

  md << "\n## Memory\n\n"
     << "Resident set of the process (host) when the service's sessions were opened and after its timed runs; "
        "peak = highest resident set during the runs of the largest batch. On CUDA, GPU memory as nvidia-smi "
        "reports it. A service opened after another may show a smaller increase: freed memory can stay with the "
        "allocator.\n\n"
     << "| service | provider | precision | RSS at open | RSS after runs | peak RSS | GPU memory at open | GPU memory "
        "after runs |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const auto& first : rep.rows) {
    if (!seen.insert({first.service, first.provider, first.precision}).second) continue;
    const Row* last = &first;
    for (const auto& r : rep.rows)
      if (r.service == first.service && r.provider == first.provider && r.precision == first.precision) last = &r;
    const bool cuda = first.provider == "cuda";
    md << "| " << first.service << " | " << first.provider << " | " << first.precision << " | "
       << mib(first.memory.rss_load_delta_bytes) << " | " << mib(last->memory.rss_run_delta_bytes) << " | "
       << mib_abs(last->memory.rss_peak_bytes) << " | " << (cuda ? mib(first.memory.device_load_delta_bytes) : "–")
       << " | "
       << (cuda ? mib_abs(last->memory.device_bytes) + (last->memory.device_scope == "device" ? " (whole device)" : "")
                : "–")
       << " |\n";
  }

  if (!rep.skipped.empty()) {
    md << "\n## Skipped\n\n";
    for (const auto& s : rep.skipped)
      md << "- " << (s.service == "*" ? "every service" : s.service) << (s.precision == "*" ? "" : " at " + s.precision)
         << ": " << s.reason << "\n";
  }

  md << "\n## Models\n\n| task | id | precision | input | sha256 | matches manifest |\n|---|---|---|---|---|---|\n";
  for (const auto& x : rep.models)
    md << "| " << x.task << " | " << x.id << " | " << x.precision << " | " << x.input_shape
       << (x.dynamic_batch ? " (dynamic batch)" : "") << " | `" << x.sha256 << "` | "
       << (x.sha256_matches_manifest ? "yes" : "**no**") << " |\n";

  md << "\n" << sweep_markdown(rep);
  md << "## Charts\n\n";
  if (!rep.charts.note.empty()) md << rep.charts.note << "\n\n";
  for (const auto& f : rep.charts.files)
    if (f.size() > 4 && f.substr(f.size() - 4) == ".svg") md << "![" << f << "](" << f << ")\n\n";

  md << "## Method\n\n"
     << "- Latency: wall-clock time (steady clock) of one run, from the service's input (decoded image, face box or "
        "aligned crop) to its result, pre- and post-processing included; `pipeline` runs from the encoded file's "
        "bytes to the embeddings of every face (decode, detect, landmarks, align, embed).\n"
     << "- Percentiles: linear interpolation between closest ranks (NumPy's default); stddev: sample standard "
        "deviation. Throughput: items × runs / total time of the timed runs.\n"
     << "- A session that ONNX Runtime placed on the CPU when CUDA was asked is measured, marked \"fell back to "
        "CPU\" and never counted as GPU; a provider that cannot be used is marked unavailable with the reason.\n"
     << "- Raw samples, options, models with sha256 and the machine are in results.json (schema: "
        "docs/bench-results.md).\n";
  return md.str();
}

Status write_outputs(BenchReport& report, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return unavailable("cannot create the output folder " + dir + ": " + ec.message());
  if (report.options.images.empty()) {
    report.charts = {false, "no service matrix in this run (no --image): no charts", {}};
  } else {
    report.charts = render_charts(report, dir);
  }
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    const std::string path = (std::filesystem::path(dir) / name).string();
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
      out.flush();
      if (!out) return unavailable("cannot write " + tmp + ": check the folder's permissions and free space");
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) return unavailable("cannot rename " + tmp + " to " + path + ": " + ec.message());
    return Status::Ok();
  };
  FACELENS_RETURN_IF_ERROR(write("results.json", results_json(report)));
  FACELENS_RETURN_IF_ERROR(write("report.md", report_markdown(report)));
  return Status::Ok();
}

}  // namespace facelens::bench

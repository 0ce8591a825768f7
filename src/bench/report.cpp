// report.md (tables for people) and write_outputs (results.json, report.md, charts).
#include <algorithm>
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

std::string speedup(const Row* r) {
  if (!r || r->status != "ok") return "–";
  if (r->provider == "cpu") return "baseline";
  if (r->fell_back_to_cpu) return "n/a (fell back to CPU)";
  return r->speedup_vs_cpu ? num(*r->speedup_vs_cpu) + "x" : "–";
}

std::string summary_row(const Row& r, bool with_speedup) {
  const Summary& s = r.summary;
  std::ostringstream o;
  o << "| " << r.service << " | " << r.provider << " (" << (r.provider_used.empty() ? "?" : r.provider_used) << ")"
    << " | " << (r.status == "ok" ? "" : "**failed**: " + cell(r.note)) << num(s.mean_ms) << " | " << num(s.p50_ms)
    << " | " << num(s.p95_ms) << " | " << num(s.p99_ms) << " | " << num(s.min_ms) << " | " << num(s.max_ms) << " | "
    << num(s.stddev_ms) << " | " << num(s.throughput_items_per_s, 1) << " " << r.item << "s/s |";
  if (with_speedup) o << " " << speedup(&r) << " |";
  o << "\n";
  return o.str();
}

std::string times(const std::array<double, 2>& f) {
  return num(f[0], f[0] < 10 ? 1 : 0) + "–" + num(f[1], f[1] < 10 ? 1 : 0) + "x";
}

// "12.3 ms (fp32), 6.5–9.8x faster", or why there is none.
std::string side_cell(const ComparisonSide& s, bool show_precision) {
  if (!s.p50_ms) return cell(s.why_not);
  return num(*s.p50_ms) + " ms" + (show_precision ? " (" + s.precision + ")" : "");
}

std::string faster_cell(const ComparisonSide& s) {
  if (!s.p50_ms) return "–";
  return times(s.faster);
}

// Whether the goal of issue 19 (at least 3x faster than the reference design's CPU figure, held
// against its lower bound: the harder side) is met.
std::string goal_cell(const ComparisonSide& s) {
  if (!s.p50_ms) return "–";
  return s.faster[0] >= 3 ? "yes" : "**no**";
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

bool second_provider_ran(const BenchReport& rep) {
  for (const auto& r : rep.rows)
    if (r.provider != "cpu" && r.status == "ok" && !r.fell_back_to_cpu) return true;
  return false;
}

std::vector<ComparisonRow> reference_comparison(const BenchReport& rep) {
  std::vector<ComparisonRow> out;
  const auto& batches = rep.options.batches;
  const int batch = std::find(batches.begin(), batches.end(), 1) != batches.end() ? 1
                    : batches.empty()                                             ? 1
                                                                                  : batches.front();
  auto side = [&](const ReferenceModel& m, const std::string& provider, const std::string& kind,
                  const std::array<double, 2>& figure) {
    ComparisonSide s;
    const ProviderStatus* p = find_provider(rep, provider);
    if (!p) {
      s.why_not = "not run (--providers)";
      return s;
    }
    if (!p->available) {
      s.why_not = "n/a: " + provider + " unavailable";  // the reason: the providers table, and once below the table
      return s;
    }
    const Row* best = nullptr;
    bool fell_back = false, failed = false;
    for (const auto& r : rep.rows) {
      if (r.service != m.arch || r.provider != provider || r.batch != batch) continue;
      if (kind == "fp32" && r.precision != "fp32") continue;
      if (r.status != "ok" || r.summary.n == 0) {
        failed = true;
        continue;
      }
      if (r.fell_back_to_cpu) {
        fell_back = true;
        continue;
      }
      if (!best || r.summary.p50_ms < best->summary.p50_ms) best = &r;
    }
    if (!best) {
      s.why_not = fell_back ? "n/a: fell back to CPU (not a GPU figure)"
                  : failed  ? "failed (see the batch sweep)"
                            : "not run (" + kind + " not measured)";
      return s;
    }
    s.p50_ms = best->summary.p50_ms;
    s.precision = best->precision;
    if (*s.p50_ms > 0) s.faster = {figure[0] / *s.p50_ms, figure[1] / *s.p50_ms};
    return s;
  };
  for (const auto& m : rep.reference_models) {
    const ReferenceFigure* f = reference_figure_of(m.arch);
    if (!f) continue;
    for (const std::string kind : {"fp32", "best"}) {
      ComparisonRow c;
      c.figure = f;
      c.arch = m.arch;
      c.batch = batch;
      c.kind = kind;
      c.cpu = side(m, "cpu", kind, f->cpu_ms);
      c.cuda = side(m, "cuda", kind, f->gpu_ms);
      out.push_back(std::move(c));
    }
  }
  return out;
}

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
          "in-process once per photo next to its requests; the server is idle meanwhile): Engine::analyze_bytes, "
          "the request's own call, on an engine set up like the service's: provider "
       << name(s.pipeline_provider) << ", intra-op threads "
       << (s.pipeline_threads > 0 ? std::to_string(s.pipeline_threads) : "ONNX Runtime's default") << ", spinning "
       << (s.pipeline_allow_spinning ? "on" : "off") << ".\n\n";
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
  if (o.images.empty() && !o.reference_design) {  // only the sweep and the service bench ran
    md << "\n" << sweep_markdown(rep);
    return md.str();
  }
  md << "- Images: ";
  if (rep.input_notes.empty()) md << "none (no --image: only the reference design's models)";
  for (size_t i = 0; i < rep.input_notes.size(); ++i) md << (i ? "; " : "") << rep.input_notes[i];
  md << "\n- Each cell: " << warmup_rule_text(warmup_rule(o)) << ", then " << o.iterations
     << " timed runs (the warm-up runs each cell took and why it stopped are in results.json: warmup, warmup_stop); "
        "intra-op threads: "
     << (o.threads > 0 ? std::to_string(o.threads) : "ONNX Runtime's default")
     << (o.runtime.allow_spinning ? ", idle threads spinning (--spin)" : ", idle threads not spinning")
     << "; models: " << rep.models_dir << "\n\n";

  md << "## Providers\n\n| provider | available | execution provider | note |\n|---|---|---|---|\n";
  for (const auto& p : rep.providers)
    md << "| " << p.name << " | " << (p.available ? "yes" : "**no**") << " | " << p.execution_provider << " | "
       << cell(p.available ? "" : p.reason) << " |\n";

  const bool with_speedup = second_provider_ran(rep);
  md << "\n## Latency per call at batch " << b0 << " (" << p0 << ")\n\n"
     << "Milliseconds per run (one item at batch 1); items/s = throughput"
     << (with_speedup ? "; speedup = CPU mean / this mean" : "; no speedup column: no provider but the CPU ran")
     << ".\n\n"
     << "| service | provider (used) | mean | p50 | p95 | p99 | min | max | stddev | throughput |"
     << (with_speedup ? " speedup vs CPU |" : "") << "\n"
     << "|---|---|---|---|---|---|---|---|---|---|" << (with_speedup ? "---|" : "") << "\n";
  std::vector<std::string> services = o.images.empty() ? std::vector<std::string>{} : o.services;
  for (const auto& m : rep.reference_models) services.push_back(m.arch);
  for (const auto& provider : o.providers)
    for (const auto& service : services)
      if (const Row* r = find_row(rep, service, provider, b0, p0)) md << summary_row(*r, with_speedup);

  md << "\n## Against the reference design\n\n"
     << "The reference design's table (shared/REFERENCE-DESIGN.md, \"Performance Improvements\"): "
     << "Face Detection (YOLOv10n) CPU 80–120 ms, GPU 15–25 ms; Face Recognition (ArcFace, AdaFace) CPU 150–200 ms, "
        "GPU 20–30 ms; Deepfake Detection (Xception) CPU 300–400 ms, GPU 60–80 ms. It names neither its hardware nor "
        "its image size (\"actual performance may vary based on hardware, image size, and number of faces\"), so "
        "a ratio to it compares machines as much as software. Its figures are set only beside facelens rows that ran "
        "the same model.\n\n";
  const std::vector<ComparisonRow> comparison = reference_comparison(rep);
  if (comparison.empty()) {
    md << "This run timed none of the reference design's models (it ran facelens's configured models, which are "
          "other, smaller models), so nothing is compared. `facelens bench --reference-design` times YOLOv10n, "
          "ArcFace-R50, AdaFace-IR101 and Xception.\n";
  } else {
    md << "One model call per run at batch " << comparison.front().batch
       << " on a prepared input (pre- and post-processing not included; the reference does not say what its "
          "figures include), p50 of the timed runs; the models are architecture-faithful graphs"
       << " (random weights when synthetic: speed depends on the architecture, not the weights). \"faster\" = "
          "the reference figure / facelens's p50 (low–high end of its range); goal (issue 19): at least 3x faster "
          "than the reference CPU figure, held against its low end. \"best\" = the precision with the lowest p50 "
          "on that provider. CUDA figures come only from cells that really ran on CUDA.\n\n"
       << "| reference service | model | precision | reference CPU | facelens CPU p50 | faster (CPU) | ≥3x | "
          "reference GPU | facelens CUDA p50 | faster (GPU) |\n"
       << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& c : comparison) {
      const bool best = c.kind == "best";
      md << "| " << c.figure->name << " | " << c.arch << " | " << (best ? "best" : "fp32") << " | "
         << range(c.figure->cpu_ms, " ms") << " | " << side_cell(c.cpu, best) << " | " << faster_cell(c.cpu) << " | "
         << goal_cell(c.cpu) << " | " << range(c.figure->gpu_ms, " ms") << " | " << side_cell(c.cuda, best) << " | "
         << faster_cell(c.cuda) << " |\n";
    }
    for (const auto& p : rep.providers)
      if (!p.available)
        md << "\n" << p.name << " unavailable, hence no " << p.name << " figure: " << cell(p.reason) << "\n";
  }

  if (o.batches.size() > 1 || o.precisions.size() > 1 || !rep.reference_models.empty()) {
    md << "\n## Batch sweep\n\n"
       << "A run over a batch of N items is one model call when `batched`, else N calls (models with a fixed "
          "batch of 1).\n\n"
       << "| service | provider | precision | batch | batched | calls/run | warm-up runs | mean ms/run | p50 ms | p95 "
          "ms | "
          "ms/item | items/s |"
       << (with_speedup ? " speedup vs CPU |" : "") << "\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|" << (with_speedup ? "---|" : "") << "\n";
    for (const auto& r : rep.rows) {
      md << "| " << r.service << " | " << r.provider << (r.fell_back_to_cpu ? " (fell back to CPU)" : "") << " | "
         << r.precision << " | " << r.batch << " | " << (r.batched ? "yes" : "no") << " | " << r.calls_per_run << " | "
         << r.warmup << (r.warmup_stop.empty() ? "" : " (" + r.warmup_stop + ")") << " | ";
      if (r.status != "ok") {
        md << "**failed**: " << cell(r.note) << " | | | | |" << (with_speedup ? " |" : "") << "\n";
        continue;
      }
      md << num(r.summary.mean_ms) << " | " << num(r.summary.p50_ms) << " | " << num(r.summary.p95_ms) << " | "
         << num(r.summary.per_item_ms, 3) << " | " << num(r.summary.throughput_items_per_s, 1) << " |";
      if (with_speedup) md << " " << speedup(&r) << " |";
      md << "\n";
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

  if (!rep.reference_models.empty()) {
    md << "## Reference-design models\n\n| model | reference | file | source | synthetic | input | precisions run |\n"
          "|---|---|---|---|---|---|---|\n";
    for (const auto& m : rep.reference_models) {
      std::string precisions;
      for (const auto& [p, f] : m.files) precisions += (precisions.empty() ? "" : ", ") + p;
      md << "| " << m.arch << " | " << m.figure << " | " << cell(m.file) << " | " << m.source << " | "
         << (m.synthetic ? (*m.synthetic ? "yes (random weights)" : "no") : "not marked") << " | " << m.input_shape
         << (m.dynamic_batch ? " (dynamic batch)" : "") << " | " << precisions << " |\n";
    }
    md << "\n";
  }

  md << "## Method\n\n"
     << "- Warm-up: " << warmup_rule_text(warmup_rule(o))
     << ". A fixed number of warm-up runs left batch-1 times still falling during the timed runs on this shared "
        "machine (issue 20: 31.9 to 9.3 ms), which made batching look like it paid.\n"
     << "- Latency: wall-clock time (steady clock) of one run, from the service's input (decoded image, face box or "
        "aligned crop) to its result, pre- and post-processing included; `pipeline` runs from the encoded file's "
        "bytes to the embeddings of every face through Engine::analyze_bytes, the call POST /v1/embed makes (on an "
        "engine set up like `facelens serve`'s); a batch of N images is N such calls at once, one thread each.\n"
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
  if (report.options.images.empty() && !report.options.reference_design) {
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

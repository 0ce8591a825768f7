// results.json: the benchmark's machine-readable output. Schema: docs/bench-results.md and
// docs/bench-results.schema.json (bump kSchemaVersion with any incompatible change).
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "bench/benchmark.h"
#include "bench/services.h"

namespace facelens::bench {

namespace {

using json = nlohmann::ordered_json;

// 2: the photo sweep and the service bench; 3: the warm-up rule, the reference design's models
// (--reference-design) and speedup_vs_cpu only where a second provider ran.
constexpr int kSchemaVersion = 3;

// Milliseconds to 0.1 us, other figures to 4 decimals: enough for any comparison, readable.
double round4(double v) { return std::round(v * 1e4) / 1e4; }

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json load_json(const std::optional<std::array<double, 3>>& a) {
  if (!a) return nullptr;
  return json::array({(*a)[0], (*a)[1], (*a)[2]});
}

json range(const std::array<double, 2>& r) { return json::array({r[0], r[1]}); }

json service_options_json(const ResolvedServiceOptions& s) {
  return {{"provider", provider_option_name(s.provider)},
          {"device_ids", s.device_ids},
          {"gpu_mem_limit", s.gpu_mem_limit},
          {"arena_extend_strategy", s.arena_extend_strategy},
          {"cudnn_conv_algo_search", s.cudnn_conv_algo_search},
          {"do_copy_in_default_stream", s.do_copy_in_default_stream}};
}

json placement_json(const std::vector<EpPlacement>& placement) {
  json out = json::array();
  for (const auto& p : placement) {
    json ops = json::object();
    for (const auto& [op, n] : p.op_types) ops[op] = n;
    out.push_back({{"ep", p.ep}, {"nodes", p.n_nodes}, {"op_types", ops}});
  }
  return out;
}

json row_json(const Row& r, const std::string& commit) {
  const Summary& s = r.summary;
  json samples = json::array();
  for (double v : r.samples_ms) samples.push_back(round4(v));
  return {{"service", r.service},
          {"provider", r.provider},
          {"precision", r.precision},
          {"batch", r.batch},
          {"status", r.status},
          {"note", r.note},
          {"device", r.device},
          {"commit", commit},
          {"provider_used", r.provider_used},
          {"fell_back_to_cpu", r.fell_back_to_cpu},
          {"fallback_reason", r.fallback_reason},
          {"placement", placement_json(r.placement)},
          {"batched", r.batched},
          {"calls_per_run", r.calls_per_run},
          {"item", r.item},
          {"items_per_run", r.items_per_run},
          {"faces_per_run", r.faces_per_run},
          {"models", r.models},
          {"reference", r.reference.empty() ? json(nullptr) : json(r.reference)},
          {"warmup", r.warmup},
          {"warmup_stop", r.warmup_stop},
          {"warmup_ms",
           [&] {
             json w = json::array();
             for (double v : r.warmup_ms) w.push_back(round4(v));
             return w;
           }()},
          {"iterations", s.n},
          {"latency_ms",
           {{"mean", round4(s.mean_ms)},
            {"p50", round4(s.p50_ms)},
            {"p95", round4(s.p95_ms)},
            {"p99", round4(s.p99_ms)},
            {"min", round4(s.min_ms)},
            {"max", round4(s.max_ms)},
            {"stddev", round4(s.stddev_ms)}}},
          {"per_item_ms", round4(s.per_item_ms)},
          {"throughput_items_per_s", round4(s.throughput_items_per_s)},
          {"speedup_vs_cpu", r.speedup_vs_cpu ? json(round4(*r.speedup_vs_cpu)) : json(nullptr)},
          {"memory",
           {{"rss_load_delta_bytes", opt(r.memory.rss_load_delta_bytes)},
            {"rss_run_delta_bytes", opt(r.memory.rss_run_delta_bytes)},
            {"rss_peak_bytes", opt(r.memory.rss_peak_bytes)},
            {"device_load_delta_bytes", opt(r.memory.device_load_delta_bytes)},
            {"device_bytes", opt(r.memory.device_bytes)},
            {"device_scope", r.memory.device_scope},
            {"note", r.memory.note}}},
          {"samples_ms", samples}};
}

// Percentiles of timed runs; null when there is none (a row whose every request failed).
json latency_json(const Summary& s) {
  if (s.n == 0) return nullptr;
  return {{"n", s.n},
          {"mean", round4(s.mean_ms)},
          {"p50", round4(s.p50_ms)},
          {"p99", round4(s.p99_ms)},
          {"min", round4(s.min_ms)},
          {"max", round4(s.max_ms)}};
}

json opt_round(const std::optional<double>& v) { return v ? json(round4(*v)) : json(nullptr); }

json errors_json(const ErrorTally& e) {
  json kinds = json::object();
  for (const auto& [k, n] : e.by_kind) kinds[k] = n;
  return {{"count", e.n}, {"by_kind", kinds}, {"first", e.first}};
}

json sweep_json(const BenchReport& rep) {
  if (rep.options.sweep_source.empty()) return nullptr;
  json rows = json::array();
  for (const auto& r : rep.sweep) {
    const SweepPhoto& p = r.photo;
    const bool ok = r.status == "ok";
    rows.push_back({{"photo",
                     {{"name", p.name},
                      {"path", p.path},
                      {"width", p.width},
                      {"height", p.height},
                      {"megapixels", round4(p.megapixels)},
                      {"bytes", p.bytes},
                      {"progressive", p.progressive},
                      {"restart_rows", p.restart_rows},
                      {"subsampling", p.subsampling},
                      {"sent_to_server", p.sent_to_server}}},
                    {"status", r.status},
                    {"note", r.note},
                    {"faces", r.faces},
                    {"decode_scale", r.decode_scale},
                    {"decode_scale_source", r.decode_scale_source},
                    {"turbojpeg_scale", std::to_string(r.scale_num) + "/" + std::to_string(r.scale_denom)},
                    {"scaled_width", r.scaled_width},
                    {"scaled_height", r.scaled_height},
                    {"pipeline_ms", ok ? latency_json(r.pipeline) : json(nullptr)},
                    {"decode_scaled_ms", ok ? latency_json(r.decode_scaled) : json(nullptr)},
                    {"decode_full_ms", ok ? latency_json(r.decode_full) : json(nullptr)},
                    {"models_ms", ok ? latency_json(r.models) : json(nullptr)},
                    {"floor_ms", ok ? json(round4(r.decode_scaled.p50_ms + r.models.p50_ms)) : json(nullptr)},
                    {"ratio", opt_round(r.ratio)},
                    {"meets_target", opt(r.meets_target)},
                    {"ratio_vs_full_decode", opt_round(r.ratio_vs_full_decode)}});
  }
  const BenchOptions& o = rep.options;
  return {{"source", o.sweep_source},
          {"photos_dir", o.sweep_photos_dir},
          {"provider", rep.sweep_provider},
          {"threads", rep.sweep_threads},
          {"warmup", o.warmup},
          {"iterations", o.sweep_iterations},
          {"target_ratio", kSweepTargetRatio},
          {"rows", rows}};
}

json server_json(const BenchReport& rep) {
  if (!rep.server) return nullptr;
  const ServerReport& s = *rep.server;
  const BenchOptions& o = rep.options;
  json rows = json::array();
  for (const auto& r : s.rows)
    rows.push_back({{"photo", r.photo},
                    {"megapixels", round4(r.megapixels)},
                    {"file_bytes", r.file_bytes},
                    {"format", r.format},
                    {"body_bytes", r.body_bytes},
                    {"requests", r.requests},
                    {"ok", r.n_ok},
                    {"errors", errors_json(r.errors)},
                    {"faces", r.faces},
                    {"latency_ms", latency_json(r.summary)},
                    {"pipeline_p50_ms", opt_round(r.pipeline_p50_ms)},
                    {"pipeline_source", r.pipeline_source},
                    {"overhead_ms", opt_round(r.overhead_ms)},
                    {"overhead_ratio", opt_round(r.overhead_ratio)}});
  json load = json::array();
  for (const auto& l : s.load)
    load.push_back({{"connections", l.connections},
                    {"photo", l.photo},
                    {"format", l.format},
                    {"requests", l.requests},
                    {"ok", l.n_ok},
                    {"errors", errors_json(l.errors)},
                    {"wall_s", round4(l.wall_s)},
                    {"throughput_rps", round4(l.throughput_rps)},
                    {"latency_ms", latency_json(l.summary)},
                    {"throughput_vs_one", opt_round(l.throughput_vs_one)}});
  return {{"url", s.url},
          {"pipeline_threads", s.pipeline_threads},
          {"pipeline_provider", std::string(name(s.pipeline_provider))},
          {"pipeline_allow_spinning", s.pipeline_allow_spinning},
          {"reachable", s.reachable},
          {"error", s.error},
          {"health", s.health},
          {"api_key", !o.api_key.empty()},
          {"warmup", o.server_warmup},
          {"iterations", o.server_iterations},
          {"connections", o.connections},
          {"load_requests", o.load_requests},
          {"n_errors", s.n_errors()},
          {"rows", rows},
          {"load", load}};
}

}  // namespace

std::string results_json(const BenchReport& rep) {
  const MachineInfo& m = rep.machine;
  const BenchOptions& o = rep.options;
  json gpus = json::array();
  for (const auto& g : m.gpu.devices)
    gpus.push_back(
        {{"index", g.index}, {"name", g.name}, {"driver", g.driver}, {"memory_total_mib", g.memory_total_mib}});
  json env = {
      {"cpu",
       {{"model", m.cpu.model}, {"logical_cores", m.cpu.logical_cores}, {"physical_cores", m.cpu.physical_cores}}},
      {"memory_total_bytes", m.memory_total_bytes},
      {"kernel", m.kernel},
      {"gpu", {{"devices", gpus}, {"note", m.gpu.note}}},
      {"onnxruntime_version", m.onnxruntime_version},
      {"facelens_version", m.facelens_version},
      {"git", {{"commit", m.git.commit}, {"dirty", opt(m.git.dirty)}, {"source", m.git.source}}},
      {"load_average", {{"start", load_json(rep.load_start)}, {"end", load_json(rep.load_end)}}}};

  std::set<std::string> tasks;
  for (const auto& s : o.services)
    for (const auto& t : service_tasks(s)) tasks.insert(t);
  json service_options = json::object();
  for (const auto& t : tasks) service_options[t] = service_options_json(o.runtime.resolve(t));
  json options = {{"images", o.images},
                  {"providers", o.providers},
                  {"services", o.services},
                  {"batches", o.batches},
                  {"precisions", o.precisions},
                  {"iterations", o.iterations},
                  {"warmup", o.warmup},
                  {"warmup_rule",
                   {{"min_runs", o.warmup},
                    {"max_runs", o.warmup_max},
                    {"window", o.warmup_window},
                    {"tolerance", o.warmup_tolerance},
                    {"max_seconds", o.warmup_max_s},
                    {"text", warmup_rule_text(warmup_rule(o))}}},
                  {"threads", o.threads},
                  {"models_dir", rep.models_dir},
                  {"reference_design", o.reference_design},
                  {"runtime",
                   {{"intra_op_threads", o.threads > 0 ? o.threads : o.runtime.intra_op_threads},
                    {"inter_op_threads", o.runtime.inter_op_threads},
                    {"allow_spinning", o.runtime.allow_spinning},
                    {"cuda_ep_path", o.runtime.cuda_ep_path},
                    {"services", service_options}}}};

  json providers = json::array();
  for (const auto& p : rep.providers)
    providers.push_back({{"name", p.name},
                         {"execution_provider", p.execution_provider},
                         {"available", p.available},
                         {"reason", p.reason},
                         {"device_ids", p.device_ids}});
  json models = json::array();
  for (const auto& md : rep.models)
    models.push_back({{"task", md.task},
                      {"id", md.id},
                      {"file", md.file},
                      {"precision", md.precision},
                      {"sha256", md.sha256},
                      {"sha256_matches_manifest", md.sha256_matches_manifest},
                      {"input_shape", md.input_shape},
                      {"dynamic_batch", md.dynamic_batch}});
  json results = json::array();
  for (const auto& r : rep.rows) results.push_back(row_json(r, m.git.commit));
  json skipped = json::array();
  for (const auto& s : rep.skipped)
    skipped.push_back(
        {{"service", s.service}, {"provider", s.provider}, {"precision", s.precision}, {"reason", s.reason}});
  json reference = json::array();
  for (const auto& f : reference_design())
    reference.push_back({{"name", f.name},
                         {"service", f.service},
                         {"models", f.archs},
                         {"cpu_ms", range(f.cpu_ms)},
                         {"gpu_ms", range(f.gpu_ms)},
                         {"speedup", range(f.speedup)},
                         {"note", f.note}});

  json reference_models = json::array();
  for (const auto& m : rep.reference_models) {
    json files = json::object();
    for (const auto& [p, f] : m.files) files[p] = f;
    reference_models.push_back({{"arch", m.arch},
                                {"task", m.task},
                                {"reference", m.figure},
                                {"file", m.file},
                                {"source", m.source},
                                {"sha256", m.sha256},
                                {"synthetic", opt(m.synthetic)},
                                {"files", files},
                                {"input_shape", m.input_shape},
                                {"dynamic_batch", m.dynamic_batch}});
  }
  json comparison = json::array();
  for (const auto& c : reference_comparison(rep)) {
    auto side = [&](const ComparisonSide& s) -> json {
      if (!s.p50_ms) return {{"p50_ms", nullptr}, {"precision", s.precision}, {"why_not", s.why_not}};
      return {{"p50_ms", round4(*s.p50_ms)},
              {"precision", s.precision},
              {"faster_than_reference", {round4(s.faster[0]), round4(s.faster[1])}},
              {"why_not", ""}};
    };
    comparison.push_back({{"reference", c.figure->name},
                          {"arch", c.arch},
                          {"batch", c.batch},
                          {"kind", c.kind},
                          {"cpu", side(c.cpu)},
                          {"cuda", side(c.cuda)}});
  }

  json j = {{"schema", "facelens-bench-results"},
            {"schema_version", kSchemaVersion},
            {"tool", "facelens bench"},
            {"started_at", rep.started_at},
            {"finished_at", rep.finished_at},
            {"duration_s", round4(rep.duration_s)},
            {"note", o.note},
            {"environment", env},
            {"options", options},
            {"inputs", rep.input_notes},
            {"providers", providers},
            {"models", models},
            {"results", results},
            {"skipped", skipped},
            {"reference_design", reference},
            {"reference_models", reference_models},
            {"reference_comparison", comparison},
            {"sweep", sweep_json(rep)},
            {"server", server_json(rep)},
            {"charts", {{"rendered", rep.charts.rendered}, {"note", rep.charts.note}, {"files", rep.charts.files}}}};
  return j.dump(2) + "\n";
}

}  // namespace facelens::bench

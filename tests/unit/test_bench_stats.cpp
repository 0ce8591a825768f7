// Statistics of `facelens bench` on data whose answers are known by hand (and agree with NumPy's
// default percentile), and the parsers of the machine description.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include "bench/benchmark.h"
#include "bench/charts.h"
#include "bench/machine.h"
#include "bench/stats.h"

namespace facelens::bench {
namespace {

TEST(BenchStats, PercentileInterpolatesBetweenClosestRanks) {
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 1.75);  // rank 0.75
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);   // rank 1.5
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(percentile(v, 150), 4);  // clamped
}

TEST(BenchStats, PercentilesOfOneToHundredMatchNumPy) {
  std::vector<double> v(100);
  std::iota(v.begin(), v.end(), 1.0);
  // numpy.percentile(range(1, 101), [50, 95, 99]) == [50.5, 95.05, 99.01]
  EXPECT_NEAR(percentile(v, 50), 50.5, 1e-12);
  EXPECT_NEAR(percentile(v, 95), 95.05, 1e-12);
  EXPECT_NEAR(percentile(v, 99), 99.01, 1e-12);
}

TEST(BenchStats, SummaryOfKnownSamples) {
  // Shuffled on purpose: summarize sorts.
  const std::vector<double> ms = {5, 2, 9, 4, 4, 7, 4, 5};
  const Summary s = summarize(ms, /*items_per_run=*/8);
  EXPECT_EQ(s.n, 8);
  EXPECT_DOUBLE_EQ(s.mean_ms, 5);
  EXPECT_DOUBLE_EQ(s.min_ms, 2);
  EXPECT_DOUBLE_EQ(s.max_ms, 9);
  EXPECT_DOUBLE_EQ(s.p50_ms, 4.5);                         // sorted 2 4 4 4 5 5 7 9, rank 3.5
  EXPECT_NEAR(s.p95_ms, 7 + (9 - 7) * 0.65, 1e-12);        // rank 6.65
  EXPECT_NEAR(s.p99_ms, 7 + (9 - 7) * 0.93, 1e-12);        // rank 6.93
  EXPECT_NEAR(s.stddev_ms, std::sqrt(32.0 / 7.0), 1e-12);  // sample stddev: sum of squares 32, n - 1 = 7
  EXPECT_DOUBLE_EQ(s.total_ms, 40);
  EXPECT_DOUBLE_EQ(s.per_item_ms, 5.0 / 8);
  EXPECT_DOUBLE_EQ(s.throughput_items_per_s, 8 * 8 / 0.040);  // 64 items in 40 ms
}

TEST(BenchStats, OneSampleAndNoSample) {
  const std::vector<double> one = {3.5};
  const Summary s = summarize(one, 1);
  EXPECT_EQ(s.n, 1);
  EXPECT_DOUBLE_EQ(s.p50_ms, 3.5);
  EXPECT_DOUBLE_EQ(s.p99_ms, 3.5);
  EXPECT_DOUBLE_EQ(s.stddev_ms, 0);
  EXPECT_NEAR(s.throughput_items_per_s, 1000 / 3.5, 1e-9);
  const Summary e = summarize(std::vector<double>{}, 4);
  EXPECT_EQ(e.n, 0);
  EXPECT_DOUBLE_EQ(e.mean_ms, 0);
  EXPECT_DOUBLE_EQ(e.throughput_items_per_s, 0);
}

TEST(BenchStats, PercentilesAreOrderedOnRandomData) {
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(1.0, 0.5);
  std::vector<double> v(997);
  for (auto& x : v) x = dist(rng);
  const Summary s = summarize(v, 1);
  EXPECT_LE(s.min_ms, s.p50_ms);
  EXPECT_LE(s.p50_ms, s.p95_ms);
  EXPECT_LE(s.p95_ms, s.p99_ms);
  EXPECT_LE(s.p99_ms, s.max_ms);
  std::sort(v.begin(), v.end());
  EXPECT_DOUBLE_EQ(s.p50_ms, v[498]);  // odd count: the median is an element (rank 498)
}

// The warm-up rule (issue 20): at least min_runs, then until the medians of the last two windows
// agree within the tolerance, capped by runs and by time.
TEST(BenchWarmup, StopsWhenTheLastWindowsAgree) {
  WarmupRule rule;  // at least 5, window 3, 5 %, at most 50 runs or 30 s
  // Falling like the batch-1 runs: never stable while it falls by more than 5 % a window.
  std::vector<double> falling = {31.9, 28, 25, 22, 19.5, 17, 15, 13, 11.5, 10.2};
  for (size_t n = 0; n <= falling.size(); ++n)
    EXPECT_EQ(warmup_state(std::span<const double>(falling).first(n), rule), WarmupState::kContinue) << n;
  // Then flat: medians of {9.4, 9.3, 9.35} and {9.3, 9.32, 9.31} are within 5 %.
  std::vector<double> settled = falling;
  for (double v : {9.4, 9.3, 9.35, 9.3, 9.32, 9.31}) settled.push_back(v);
  EXPECT_EQ(warmup_state(settled, rule), WarmupState::kStable);
  // Stable early but below the minimum: go on.
  const std::vector<double> flat = {5, 5, 5, 5};
  EXPECT_EQ(warmup_state(flat, rule), WarmupState::kContinue);
  const std::vector<double> flat6 = {5, 5, 5, 5, 5, 5};
  EXPECT_EQ(warmup_state(flat6, rule), WarmupState::kStable);
  // One outlier in a window does not move its median.
  const std::vector<double> outlier = {9, 9, 9, 9, 50, 9.1};
  EXPECT_EQ(warmup_state(outlier, rule), WarmupState::kStable);
}

TEST(BenchWarmup, CapsAndFixedCounts) {
  WarmupRule rule;
  rule.max_runs = 8;
  std::vector<double> noisy = {10, 20, 10, 20, 30, 10, 40, 10};  // medians keep jumping
  EXPECT_EQ(warmup_state(std::span<const double>(noisy).first(7), rule), WarmupState::kContinue);
  EXPECT_EQ(warmup_state(noisy, rule), WarmupState::kMaxRuns);
  rule.max_runs = 50;
  rule.max_seconds = 0.1;  // 100 ms of warm-up
  EXPECT_EQ(warmup_state(noisy, rule), WarmupState::kMaxSeconds);
  // max_runs <= min_runs: exactly min_runs, whatever the times.
  WarmupRule fixed;
  fixed.min_runs = 2;
  fixed.max_runs = 2;
  EXPECT_EQ(warmup_state(std::span<const double>(noisy).first(1), fixed), WarmupState::kContinue);
  EXPECT_EQ(warmup_state(std::span<const double>(noisy).first(2), fixed), WarmupState::kFixed);
  WarmupRule none;
  none.min_runs = 0;
  none.max_runs = 0;
  EXPECT_EQ(warmup_state(std::vector<double>{}, none), WarmupState::kFixed);
  EXPECT_STREQ(warmup_state_name(WarmupState::kMaxSeconds), "max_seconds");
  EXPECT_EQ(warmup_rule_text(WarmupRule{}),
            "at least 5 warm-up runs, then more until the median of the last 3 runs is within 5 % of the median of "
            "the 3 before them (at most 50 runs or 30 s)");
  EXPECT_EQ(warmup_rule_text(fixed), "2 warm-up runs (a fixed count)");
}

// A hand-made report: facelens's default detector on the CPU (CUDA unavailable) and the
// reference design's YOLOv10n at fp32 and int8.
BenchReport comparison_report() {
  BenchReport rep;
  rep.options.images = {"a.jpg"};
  rep.options.services = {"detect"};
  rep.options.providers = {"cpu", "cuda"};
  rep.options.batches = {1, 8};
  rep.options.precisions = {"fp32", "int8"};
  rep.options.reference_design = true;
  rep.providers = {{"cpu", "CPUExecutionProvider", true, "", {}},
                   {"cuda", "CUDAExecutionProvider", false, "libcuda.so.1 not found", {}}};
  auto row = [](const std::string& service, const std::string& precision, int batch, double ms,
                const std::string& reference) {
    Row r;
    r.service = service;
    r.provider = "cpu";
    r.precision = precision;
    r.batch = batch;
    r.status = "ok";
    r.reference = reference;
    r.samples_ms = {ms, ms, ms};
    r.summary = summarize(r.samples_ms, batch);
    return r;
  };
  rep.rows = {row("detect", "fp32", 1, 5, ""), row("yolov10n", "fp32", 1, 40, "Face Detection"),
              row("yolov10n", "int8", 1, 20, "Face Detection"), row("yolov10n", "fp32", 8, 200, "Face Detection")};
  ReferenceModel m;
  m.arch = "yolov10n";
  m.task = "detector";
  m.figure = "Face Detection";
  m.files = {{"fp32", "y.onnx"}, {"int8", "y.int8.onnx"}};
  rep.reference_models = {m};
  return rep;
}

TEST(BenchReference, ComparedOnlyBesideTheSameModel) {
  BenchReport rep = comparison_report();
  const auto c = reference_comparison(rep);
  ASSERT_EQ(c.size(), 2u);  // yolov10n: fp32 and best; never the default detector
  EXPECT_EQ(c[0].arch, "yolov10n");
  EXPECT_EQ(c[0].figure->name, "Face Detection");
  EXPECT_EQ(c[0].batch, 1);
  EXPECT_EQ(c[0].kind, "fp32");
  ASSERT_TRUE(c[0].cpu.p50_ms);
  EXPECT_DOUBLE_EQ(*c[0].cpu.p50_ms, 40);
  EXPECT_DOUBLE_EQ(c[0].cpu.faster[0], 2);  // 80 / 40
  EXPECT_DOUBLE_EQ(c[0].cpu.faster[1], 3);  // 120 / 40
  EXPECT_EQ(c[1].kind, "best");
  EXPECT_EQ(c[1].cpu.precision, "int8");
  EXPECT_DOUBLE_EQ(*c[1].cpu.p50_ms, 20);
  // No CUDA figure without CUDA, and it says why.
  EXPECT_FALSE(c[0].cuda.p50_ms);
  EXPECT_NE(c[0].cuda.why_not.find("cuda unavailable"), std::string::npos) << c[0].cuda.why_not;

  const std::string md = report_markdown(rep);
  EXPECT_NE(md.find("| Face Detection | yolov10n | fp32 | 80–120 ms | 40.00 ms | 2.0–3.0x | **no** |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| Face Detection | yolov10n | best | 80–120 ms | 20.00 ms (int8) | 4.0–6.0x | yes |"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("| Face Detection | detect"), std::string::npos) << "the default detector is another model";
  EXPECT_EQ(md.find("speedup vs CPU"), std::string::npos) << "no second provider ran";
  EXPECT_NE(md.find("| 15–25 ms | n/a: cuda unavailable | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("cuda unavailable, hence no cuda figure: libcuda.so.1 not found"), std::string::npos) << md;

  const auto j = nlohmann::json::parse(results_json(rep));
  ASSERT_EQ(j["reference_comparison"].size(), 2u);
  EXPECT_EQ(j["reference_comparison"][1]["cpu"]["precision"], "int8");
  EXPECT_TRUE(j["reference_comparison"][0]["cuda"]["p50_ms"].is_null());
  EXPECT_TRUE(j["results"][0]["reference"].is_null());
  EXPECT_EQ(j["results"][1]["reference"], "Face Detection");
  for (const auto& r : j["results"]) EXPECT_TRUE(r["speedup_vs_cpu"].is_null());
}

TEST(BenchReference, NothingComparedWithoutTheReferenceModels) {
  BenchReport rep = comparison_report();
  rep.options.reference_design = false;
  rep.reference_models.clear();
  rep.rows.resize(1);  // only the default detector
  EXPECT_TRUE(reference_comparison(rep).empty());
  const std::string md = report_markdown(rep);
  EXPECT_NE(md.find("timed none of the reference design's models"), std::string::npos) << md;
  EXPECT_EQ(md.find("| Face Detection |"), std::string::npos);
}

// speedup_vs_cpu only for cells a second provider ran; a CPU fallback is no second provider.
TEST(BenchReference, SpeedupsOnlyWithASecondProvider) {
  auto row = [](const std::string& provider, int batch, double ms, bool fell_back = false) {
    Row r;
    r.service = "embed";
    r.provider = provider;
    r.precision = "fp32";
    r.batch = batch;
    r.status = "ok";
    r.fell_back_to_cpu = fell_back;
    r.samples_ms = {ms};
    r.summary = summarize(r.samples_ms, batch);
    return r;
  };
  std::vector<Row> rows = {row("cpu", 1, 10), row("cuda", 1, 2), row("cpu", 8, 80), row("cuda", 8, 60, true),
                           row("cpu", 32, 300)};
  set_speedups(rows);
  ASSERT_TRUE(rows[0].speedup_vs_cpu);
  EXPECT_DOUBLE_EQ(*rows[0].speedup_vs_cpu, 1);
  ASSERT_TRUE(rows[1].speedup_vs_cpu);
  EXPECT_DOUBLE_EQ(*rows[1].speedup_vs_cpu, 5);
  EXPECT_FALSE(rows[2].speedup_vs_cpu) << "batch 8 ran on CUDA only as a CPU fallback";
  EXPECT_FALSE(rows[3].speedup_vs_cpu);
  EXPECT_FALSE(rows[4].speedup_vs_cpu) << "batch 32 ran on the CPU alone";
}

TEST(BenchMachine, ParsesCpuinfo) {
  const std::string text =
      "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 0\n\n"
      "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 0\n\n"
      "processor\t: 2\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: 1\n\n";
  const CpuInfo c = parse_cpuinfo(text);
  EXPECT_EQ(c.model, "AMD EPYC 7B13");
  EXPECT_EQ(c.logical_cores, 3);
  EXPECT_EQ(c.physical_cores, 2);  // two hyperthreads share core 0
}

TEST(BenchMachine, ParsesNvidiaSmiCsv) {
  const auto g = parse_nvidia_smi_gpus(
      "0, NVIDIA H100 80GB HBM3, 550.54.15, 81559\n1, NVIDIA H100, 550.54.15, 81559\n"
      "garbage line\n");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].index, 0);
  EXPECT_EQ(g[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g[0].driver, "550.54.15");
  EXPECT_EQ(g[0].memory_total_mib, 81559);
  EXPECT_EQ(g[1].index, 1);
}

TEST(BenchMachine, RunCommandCapturesOutputAndReportsMissingPrograms) {
  const CommandResult ok = run_command({"sh", "-c", "echo hello; exit 3"});
  EXPECT_TRUE(ok.started);
  EXPECT_EQ(ok.exit_code, 3);
  EXPECT_EQ(ok.output, "hello\n");
  const CommandResult missing = run_command({"facelens-no-such-program-xyz"});
  EXPECT_FALSE(missing.started);
}

TEST(BenchMachine, ResidentSetIsReadFromProc) {
  const auto before = rss_bytes();
  ASSERT_TRUE(before.has_value());
  std::optional<uint64_t> after;
  {
    std::vector<char> block(64 << 20, 1);               // touched: resident
    asm volatile("" : : "r"(block.data()) : "memory");  // the block stays (no allocation elision)
    after = rss_bytes();
    ASSERT_TRUE(after.has_value());
    EXPECT_GT(*after, *before + (32u << 20));
  }
  // Freed (glibc maps blocks this large on their own and unmaps them on free): the resident set
  // falls back while the peak keeps the high-water mark.
  const auto freed = rss_bytes();
  ASSERT_TRUE(freed.has_value());
  EXPECT_LT(*freed, *after - (32u << 20));
  const auto peak = peak_rss_bytes();
  ASSERT_TRUE(peak.has_value());
  // The kernel syncs its per-thread RSS counters lazily, so VmHWM may trail an earlier VmRSS by a
  // few pages: 1 MiB of slack.
  EXPECT_GE(*peak + (1u << 20), *after);
  EXPECT_GT(*peak, *freed + (32u << 20));
}

// The ROC chart's data: the curve starts at the axis' left edge with the best TAR at or left of
// it, then every point right of it; markers carry their intervals; the EER sits on FAR = FRR.
TEST(BenchCharts, RocChartDataStartsAtTheLeftEdge) {
  RocChartInput in;
  in.curve = {{0, 0}, {0, 0.5}, {0.00005, 0.8}, {0.01, 0.9}, {0.5, 1.0}, {1, 1}};
  in.markers = {{0.01, 0.9, 0.85, 0.95}};
  in.eer = 0.05;
  in.min_far = 1e-4;
  in.title = "t's";
  const Chart c = roc_chart(in, "/tmp/x", "roc");
  EXPECT_EQ(c.name, "roc");
  std::vector<std::vector<std::string>> blocks(1);
  std::istringstream lines(c.data);
  int blank = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) {
      if (++blank == 2) blocks.emplace_back(), blank = 0;
      continue;
    }
    blank = 0;
    if (line[0] != '#') blocks.back().push_back(line);
  }
  ASSERT_EQ(blocks.size(), 3u) << c.data;
  EXPECT_EQ(blocks[0], (std::vector<std::string>{"0.0001 0.8", "0.01 0.9", "0.5 1", "1 1"}));
  EXPECT_EQ(blocks[1], (std::vector<std::string>{"0.01 0.9 0.85 0.95"}));
  EXPECT_EQ(blocks[2], (std::vector<std::string>{"0.05 0.95"}));
  EXPECT_NE(c.body.find("set logscale x"), std::string::npos);
  EXPECT_NE(c.body.find("'/tmp/x/roc.dat'"), std::string::npos);
  EXPECT_NE(c.body.find("'t''s'"), std::string::npos) << "quotes in the title are escaped";
  EXPECT_NE(c.body.find("set yrange [0.7:"), std::string::npos) << "a tenth below the lowest TAR shown: " << c.body;
  EXPECT_EQ(parse_chart_format(".PNG"), ChartFormat::kPng);
  EXPECT_EQ(parse_chart_format("svg"), ChartFormat::kSvg);
  EXPECT_FALSE(parse_chart_format(".pdf"));
}

// The in-process pipeline the HTTP overhead is measured against runs the service's runtime, so
// that the overhead is the HTTP layer's alone (issue 17): exactly server_runtime when the caller
// knows it (the bench's own `facelens serve`: CPU, its threads, its spinning), whatever the
// bench's providers, threads and spinning are; else the bench's runtime with server_threads.
TEST(BenchServerPipeline, RunsTheServiceRuntimeWhenKnown) {
  BenchOptions o;
  o.models_dir = "/models";
  o.providers = {"cuda"};
  o.threads = 2;
  o.server_threads = 3;
  o.runtime.allow_spinning = true;  // --spin
  o.runtime.require_gpu = true;
  RuntimeOptions served;
  served.provider = Provider::kCpu;
  served.intra_op_threads = 3;
  served.allow_spinning = false;
  o.server_runtime = served;
  const EngineOptions eo = service_pipeline_engine_options(o);
  EXPECT_EQ(eo.models_dir, "/models");
  EXPECT_EQ(eo.runtime.provider, Provider::kCpu);
  EXPECT_EQ(eo.runtime.intra_op_threads, 3);
  EXPECT_FALSE(eo.runtime.allow_spinning);
  EXPECT_FALSE(eo.runtime.require_gpu);
  EXPECT_EQ(eo.batching.mode, EngineOptions::Batching::Mode::kAuto);  // as `facelens serve`
}

TEST(BenchServerPipeline, ElseTheBenchRuntimeWithTheServiceThreads) {
  BenchOptions o;
  o.models_dir = "/models";
  o.providers = {"cpu", "cuda"};
  o.threads = 2;
  o.runtime.allow_spinning = true;
  o.runtime.services["detector"].provider = Provider::kCuda;
  EngineOptions eo = service_pipeline_engine_options(o);
  EXPECT_EQ(eo.runtime.provider, Provider::kCpu);
  EXPECT_FALSE(eo.runtime.services["detector"].provider.has_value());
  EXPECT_EQ(eo.runtime.intra_op_threads, 2);  // server_threads 0: the bench's threads
  EXPECT_TRUE(eo.runtime.allow_spinning);
  o.server_threads = 1;
  o.providers = {"cuda"};
  eo = service_pipeline_engine_options(o);
  EXPECT_EQ(eo.runtime.provider, Provider::kCuda);
  EXPECT_EQ(eo.runtime.intra_op_threads, 1);
}

}  // namespace
}  // namespace facelens::bench

// The public benchmark API (facelens/benchmark.h): one small CPU run writes results.json and
// report.md, reports its progress in order and its providers; bad options are refused before
// anything runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/test_env.h"
#include "facelens/benchmark.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

class BenchmarkApi : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    photo_ = std::string(FACELENS_SOURCE_DIR) + "/.deps/samples/astronaut.png";
    if (!fs::exists(photo_)) GTEST_SKIP() << photo_ << " is absent (run scripts/setup.sh): test skipped";
    dir_ = fs::temp_directory_path() / ("facelens_bench_api_" + std::to_string(::getpid()));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  BenchmarkOptions small_options() const {
    BenchmarkOptions o;
    o.images = {photo_};
    o.providers = {"cpu"};
    o.services = {"embed"};
    o.batches = {1};
    o.iterations = 2;
    o.warmup = 1;
    o.models_dir = testing::models_dir();
    return o;
  }
  std::string photo_;
  fs::path dir_;
};

TEST_F(BenchmarkApi, SmallCpuRunWritesResultsAndReportsProgress) {
  BenchmarkOptions o = small_options();
  std::vector<BenchmarkProgress> events;
  o.on_progress = [&](const BenchmarkProgress& p) { events.push_back(p); };
  auto r = run_benchmark(o, dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n_failed, 0);
  ASSERT_EQ(r->providers.size(), 1u);
  EXPECT_EQ(r->providers[0].name, "cpu");
  EXPECT_TRUE(r->providers[0].available);
  for (const auto& f : r->chart_files) EXPECT_TRUE(fs::exists(dir_ / f)) << f;

  ASSERT_TRUE(fs::exists(dir_ / "report.md"));
  std::ifstream in(dir_ / "results.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["service"], "embed");
  EXPECT_EQ(j["results"][0]["provider"], "cpu");
  EXPECT_EQ(j["results"][0]["batch"], 1);
  EXPECT_EQ(j["results"][0]["samples_ms"].size(), 2u);

  // One step: kStep, then its 3 runs (1 warm-up + 2 timed) as kRun, then kStepDone.
  std::vector<BenchmarkProgress> steps;
  int runs = 0;
  for (const auto& e : events) {
    if (e.event == BenchmarkProgress::Event::kRun) ++runs;
    if (e.event == BenchmarkProgress::Event::kStep || e.event == BenchmarkProgress::Event::kStepDone)
      steps.push_back(e);
  }
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].event, BenchmarkProgress::Event::kStep);
  EXPECT_EQ(steps[0].n_steps, 1);
  EXPECT_EQ(steps[0].label, "embed cpu fp32 batch 1");
  EXPECT_EQ(steps[1].event, BenchmarkProgress::Event::kStepDone);
  EXPECT_FALSE(steps[1].message.empty());
  EXPECT_EQ(runs, 3);
}

TEST_F(BenchmarkApi, BadOptionsAreRefusedBeforeRunning) {
  BenchmarkOptions o = small_options();
  EXPECT_TRUE(validate_benchmark_options(o).ok());
  o.images.clear();
  EXPECT_EQ(validate_benchmark_options(o).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run_benchmark(o, dir_.string()).status().code(), StatusCode::kInvalidArgument);
  o = small_options();
  o.services = {"teleport"};
  EXPECT_EQ(validate_benchmark_options(o).code(), StatusCode::kInvalidArgument);
  o = small_options();
  o.iterations = 0;
  EXPECT_EQ(validate_benchmark_options(o).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_));
}

}  // namespace
}  // namespace facelens

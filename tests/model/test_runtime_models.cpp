// The runtime with real models: one shared session under many threads, the device pool (CPU
// replicas standing in for GPUs), IO binding and staged IO against plain runs, the recorded node
// placement of every default model, the engine's model cache, and CUDA requests (a fallback with
// the reason without a usable GPU; on CUDA, placement and pinned IO, on a GPU host).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "image/tensor.h"
#include "models/binding.h"
#include "models/registry.h"
#include "runtime/placement.h"
#include "runtime/session.h"

namespace facelens {
namespace {

class RuntimeModels : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_MODELS();
    auto reg = models::ModelRegistry::open(testing::models_dir());
    ASSERT_TRUE(reg.ok());
    registry_ = *reg;
    auto env = runtime::Environment::create({});
    ASSERT_TRUE(env.ok());
    env_ = *env;
    entry_ = registry_->manifest().default_for("recognizer");
    ASSERT_NE(entry_, nullptr);
  }
  StatusOr<std::shared_ptr<const runtime::Session>> open(runtime::SessionOptions so) {
    so.service.provider = Provider::kCpu;
    so.intra_op_threads = 1;
    return models::open_session(*registry_, *entry_, env_, so);
  }
  // A deterministic input for the recognizer: input k of `n`.
  std::vector<float> input(int k) const {
    std::vector<float> v(3 * 112 * 112);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(((i * 7 + k * 131) % 255) - 127) / 128.f;
    return v;
  }
  std::vector<float> run(const runtime::Session& s, const std::vector<float>& in) const {
    runtime::TensorRef ref{in, {1, 3, 112, 112}};
    auto out = s.run({&ref, 1});
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    return out.ok() ? (*out)[0].data : std::vector<float>{};
  }
  std::shared_ptr<models::ModelRegistry> registry_;
  std::shared_ptr<const runtime::Environment> env_;
  const models::ModelEntry* entry_ = nullptr;
};

TEST_F(RuntimeModels, EightThreadsOnOneSessionMatchSequentialCalls) {
  auto s = open({});
  ASSERT_TRUE(s.ok());
  constexpr int kInputs = 8, kThreads = 8, kCalls = 200;
  std::vector<std::vector<float>> inputs, expected;
  for (int k = 0; k < kInputs; ++k) {
    inputs.push_back(input(k));
    expected.push_back(run(**s, inputs.back()));
  }
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        int k = (t + c) % kInputs;
        runtime::TensorRef ref{inputs[k], {1, 3, 112, 112}};
        auto out = (*s)->run({&ref, 1});
        if (!out.ok()) ++failures;
        else if ((*out)[0].data != expected[k]) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0) << "results under concurrency differ from sequential ones";
}

TEST_F(RuntimeModels, DevicePoolSpreadsCallsOverReplicas) {
  runtime::SessionOptions so;
  so.cpu_replicas = 3;
  auto s = open(so);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ((*s)->n_replicas(), 3u);
  auto in = input(1);
  auto expected = run(**s, in);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int c = 0; c < 30; ++c)
        if (run(**s, in) != expected) ++mismatches;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  auto served = (*s)->calls_served();
  int64_t total = 0;
  for (auto n : served) {
    EXPECT_GT(n, 20) << "a replica got too few calls: the pool does not balance";
    total += n;
  }
  EXPECT_EQ(total, 6 * 30 + 1);
  for (int d : (*s)->queue_depths()) EXPECT_EQ(d, 0);
}

TEST_F(RuntimeModels, IoBindingGivesTheSameOutputsAsPlainRuns) {
  runtime::SessionOptions bound;
  bound.io_binding = true;
  auto a = open(bound);
  auto b = open({});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE((*a)->uses_io_binding());
  EXPECT_FALSE((*b)->uses_io_binding());
  for (int k = 0; k < 3; ++k) EXPECT_EQ(run(**a, input(k)), run(**b, input(k)));
}

TEST_F(RuntimeModels, ArenaShrinkRunGivesTheSameOutputs) {
  auto s = open({});
  ASSERT_TRUE(s.ok());
  auto in = input(2);
  auto plain = run(**s, in);
  runtime::TensorRef ref{in, {1, 3, 112, 112}};
  auto shrunk = (*s)->run({&ref, 1}, runtime::RunFlags{/*shrink_arena=*/true});
  ASSERT_TRUE(shrunk.ok()) << shrunk.status().to_string();
  EXPECT_EQ((*shrunk)[0].data, plain);
  (*s)->request_arena_shrink();
  EXPECT_EQ(run(**s, in), plain);
}

TEST_F(RuntimeModels, StagedIoGivesTheSameOutputsAsPlainRuns) {
  // The staging path CUDA sessions take (inputs copied into allocator tensors, outputs bound to
  // its memory; pinned memory there), here with the CPU allocator, against plain runs.
  runtime::SessionOptions staged;
  staged.stage_io = true;
  auto a = open(staged);
  auto b = open({});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE((*a)->uses_staging());
  EXPECT_TRUE((*a)->uses_io_binding());
  EXPECT_FALSE((*b)->uses_staging());
  for (int k = 0; k < 3; ++k) EXPECT_EQ(run(**a, input(k)), run(**b, input(k)));
}

// ONNX Runtime's recorded graph assignment for every default model on the CPU: every node on the
// CPU provider, the counts per operator type adding up to the nodes.
TEST_F(RuntimeModels, PlacementOfEveryDefaultModelIsRecordedOnTheCpu) {
  int n_models = 0;
  for (const auto& e : registry_->manifest().models) {
    if (e.package.empty()) continue;  // the default models (fetched from the models package)
    runtime::SessionOptions so;
    so.service.provider = Provider::kCpu;
    so.intra_op_threads = 1;
    auto s = models::open_session(*registry_, e, env_, so);
    ASSERT_TRUE(s.ok()) << e.id << ": " << s.status().to_string();
    const auto& p = (*s)->placement();
    EXPECT_TRUE((*s)->placement_error().empty()) << e.id << ": " << (*s)->placement_error();
    ASSERT_EQ(p.size(), 1u) << e.id << ": " << runtime::placement_to_string(p);
    EXPECT_EQ(p[0].ep, "CPUExecutionProvider");
    EXPECT_GT(p[0].n_nodes, 10) << e.id;
    int sum = 0;
    for (const auto& [op, n] : p[0].op_types) sum += n;
    EXPECT_EQ(sum, p[0].n_nodes) << e.id;
    EXPECT_GT(p[0].op_types.count("Conv"), 0u) << e.id << " has no Conv: " << runtime::placement_to_string(p);
    EXPECT_EQ((*s)->conv_algo_search(), "") << "a CPU session has no cuDNN search";
    ++n_models;
  }
  EXPECT_GE(n_models, 4);
}

// CUDA asked for: on a machine without a usable GPU the session falls back to the CPU with the
// reason (and require_gpu fails with it); on a GPU host it runs on CUDA, runs there at creation,
// stages its IO in pinned memory and reports its nodes on CUDA, and a device id beyond the
// devices is refused with the reason before ONNX Runtime sees it.
TEST_F(RuntimeModels, CudaRequestedRunsThereOrFallsBackWithAReason) {
  runtime::SessionOptions so;
  so.service.provider = Provider::kCuda;
  so.cuda_ep_path = testing::env_or("FACELENS_CUDA_EP", "");
  auto s = models::open_session(*registry_, *entry_, env_, so);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  std::string fallback_reason = (*s)->fallback_reason();
  if ((*s)->provider() == "CUDAExecutionProvider") {
    EXPECT_TRUE(fallback_reason.empty()) << fallback_reason;
    EXPECT_TRUE((*s)->uses_io_binding());
    EXPECT_TRUE((*s)->uses_staging()) << (*s)->staging_error();
    EXPECT_GT(runtime::nodes_on((*s)->placement(), "CUDAExecutionProvider"), 0)
        << runtime::placement_to_string((*s)->placement());
    EXPECT_EQ((*s)->conv_algo_search(), "EXHAUSTIVE");  // fixed input shape: kept, warmed up
    auto out = (*s)->run(std::vector<runtime::TensorRef>{{input(1), {1, 3, 112, 112}}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    so.require_gpu = true;
    EXPECT_TRUE(models::open_session(*registry_, *entry_, env_, so).ok());
    // A device that does not exist: refused with the reason, not passed to ONNX Runtime.
    auto n = env_->cuda_devices(so.cuda_ep_path);
    ASSERT_TRUE(n.ok());
    so.require_gpu = false;
    so.service.device_ids = {*n};
    auto beyond = models::open_session(*registry_, *entry_, env_, so);
    ASSERT_TRUE(beyond.ok()) << beyond.status().to_string();
    EXPECT_EQ((*beyond)->provider(), "CPUExecutionProvider");
    fallback_reason = (*beyond)->fallback_reason();
    EXPECT_NE(fallback_reason.find("does not exist"), std::string::npos) << fallback_reason;
  } else {
    EXPECT_EQ((*s)->provider(), "CPUExecutionProvider");
    EXPECT_FALSE(fallback_reason.empty());
    EXPECT_EQ(runtime::nodes_on((*s)->placement(), "CUDAExecutionProvider"), 0);
  }
  so.require_gpu = true;
  auto strict = models::open_session(*registry_, *entry_, env_, so);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(strict.status().message().find(fallback_reason), std::string::npos);
}

TEST_F(RuntimeModels, EngineCacheUnloadsIdleAndEvictsUnderBudget) {
  EngineOptions o;
  o.models_dir = testing::models_dir();
  o.runtime.provider = Provider::kCpu;
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.ok());
  AnalyzeOptions what;
  what.embedding = true;
  // Idle unload is timed against a fake clock in tests/unit/test_runtime.cpp (ModelCache); here
  // the engine's budget eviction and reload on next use run on the real models.
  // A budget below the three models' sizes: loading the third evicts the least recently used.
  EngineOptions b = o;
  b.runtime.memory_budget_bytes = 6'500'000;  // fr_detect 1.22 MB + fr_landmark 1.16 MB + fr_feature 4.88 MB = 7.26 MB
  auto small = Engine::create(b);
  ASSERT_TRUE(small.ok());
  ASSERT_TRUE((*small)->warm_up(what).ok());
  int n_loaded = 0;
  std::string evicted;
  for (const auto& s : (*small)->services()) {
    if (s.loaded) ++n_loaded;
    else if (s.service != "liveness" && s.service != "attribute") evicted = s.service;
  }
  EXPECT_EQ(n_loaded, 2);
  EXPECT_EQ(evicted, "detector");  // loaded first, used least recently
}

// Dynamic batching: faces of concurrent calls merged into recognizer batches give the embeddings
// of sequential, unbatched calls (to float rounding); kAuto does not batch on the CPU.
TEST_F(RuntimeModels, DynamicBatchingMergesConcurrentCallsAndKeepsTheAnswers) {
  FACELENS_REQUIRE_DATA();
  const std::vector<std::string> files = {"face_recognition/obama.jpg", "face_recognition/two_people.jpg",
                                          "face_recognition/biden.jpg", "openface/longoria-cooper.jpg"};
  EngineOptions o;
  o.models_dir = testing::models_dir();
  o.runtime.provider = Provider::kCpu;
  auto plain = Engine::create(o);
  ASSERT_TRUE(plain.ok());
  AnalyzeOptions what;
  what.embedding = true;
  std::vector<ImageResult> expected;
  for (const auto& f : files) {
    auto r = (*plain)->analyze_file(testing::data_dir() + "/faces/" + f, what);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_FALSE(r->faces.empty()) << f;
    expected.push_back(*r);
  }
  o.batching.mode = EngineOptions::Batching::Mode::kOn;
  o.batching.max_batch = 8;
  o.batching.max_wait_ms = 20;  // generous, so that concurrent calls surely meet
  auto batched = Engine::create(o);
  ASSERT_TRUE(batched.ok());
  constexpr int kThreads = 12, kRounds = 3;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kRounds; ++k) {
        const size_t i = static_cast<size_t>(t + k) % files.size();
        auto r = (*batched)->analyze_file(testing::data_dir() + "/faces/" + files[i], what);
        if (!r.ok() || r->faces.size() != expected[i].faces.size()) {
          ++bad;
          continue;
        }
        for (size_t f = 0; f < r->faces.size(); ++f) {
          double dot = 0;
          for (size_t j = 0; j < r->faces[f].embedding.size(); ++j)
            dot += r->faces[f].embedding[j] * expected[i].faces[f].embedding[j];
          if (dot < 0.99999) ++bad;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  const auto sizes = (*batched)->recognizer_batch_sizes();
  uint64_t faces = 0, merged = 0;
  for (size_t n = 0; n < sizes.size(); ++n) {
    faces += n * sizes[n];
    if (n > 1) merged += sizes[n];
  }
  size_t want = 0;
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kRounds; ++k) want += expected[static_cast<size_t>(t + k) % files.size()].faces.size();
  EXPECT_EQ(faces, want);  // every face went through the batcher exactly once
  EXPECT_GT(merged, 0u);   // and some batches held several calls' faces

  o.batching.mode = EngineOptions::Batching::Mode::kAuto;  // CPU: no batching
  auto automatic = Engine::create(o);
  ASSERT_TRUE(automatic.ok());
  ASSERT_TRUE((*automatic)->analyze_file(testing::data_dir() + "/faces/" + files[0], what).ok());
  EXPECT_TRUE((*automatic)->recognizer_batch_sizes().empty());
}

}  // namespace
}  // namespace facelens

// The runtime without models: provider options handed to ONNX Runtime, per-service defaults and
// overrides, the device-pool choice, the model cache, CUDA error explanations.
#include <gtest/gtest.h>

#include <thread>

#include "facelens/runtime_options.h"
#include "runtime/environment.h"
#include "runtime/model_cache.h"
#include "runtime/providers.h"
#include "runtime/session.h"

namespace facelens {
namespace {

using KV = std::vector<std::pair<std::string, std::string>>;

TEST(ProviderOptions, ReferenceDesignDefaultsPerService) {
  RuntimeOptions rt;
  // The exact keys and values handed to ORT, in order, for each service's defaults.
  EXPECT_EQ(runtime::cuda_ep_options(rt.resolve("detector"), 0), (KV{{"device_id", "0"},
                                                                     {"arena_extend_strategy", "kNextPowerOfTwo"},
                                                                     {"gpu_mem_limit", "2147483648"},
                                                                     {"cudnn_conv_algo_search", "EXHAUSTIVE"},
                                                                     {"do_copy_in_default_stream", "1"}}));
  EXPECT_EQ(runtime::cuda_ep_options(rt.resolve("recognizer"), 0)[2].second, "2147483648");
  EXPECT_EQ(runtime::cuda_ep_options(rt.resolve("deepfake"), 0)[2].second, "1073741824");
  EXPECT_EQ(runtime::cuda_ep_options(rt.resolve("landmarks"), 0)[2].second, "536870912");
  EXPECT_EQ(runtime::cuda_ep_options(rt.resolve("liveness"), 0)[2].second, "536870912");
  EXPECT_EQ(rt.resolve("detector").provider, Provider::kAuto);
}

TEST(ProviderOptions, OverridesPerService) {
  RuntimeOptions rt;
  rt.provider = Provider::kCpu;
  auto& rec = rt.services["recognizer"];
  rec.provider = Provider::kCuda;
  rec.gpu_mem_limit = 3ull << 30;
  rec.arena_extend_strategy = "kSameAsRequested";
  rec.cudnn_conv_algo_search = "HEURISTIC";
  rec.do_copy_in_default_stream = false;
  rec.device_ids = std::vector<int>{1, 2};
  auto r = rt.resolve("recognizer");
  EXPECT_EQ(r.provider, Provider::kCuda);
  EXPECT_EQ(r.device_ids, (std::vector<int>{1, 2}));
  EXPECT_EQ(runtime::cuda_ep_options(r, 2), (KV{{"device_id", "2"},
                                                {"arena_extend_strategy", "kSameAsRequested"},
                                                {"gpu_mem_limit", "3221225472"},
                                                {"cudnn_conv_algo_search", "HEURISTIC"},
                                                {"do_copy_in_default_stream", "0"}}));
  EXPECT_EQ(rt.resolve("detector").provider, Provider::kCpu);  // untouched services keep the global one
}

TEST(ProviderOptions, ParseProvider) {
  EXPECT_EQ(*parse_provider("cuda"), Provider::kCuda);
  EXPECT_EQ(*parse_provider("CPUExecutionProvider"), Provider::kCpu);
  EXPECT_EQ(*parse_provider("auto"), Provider::kAuto);
  EXPECT_FALSE(parse_provider("tpu").ok());
}

TEST(ProviderOptions, ExplainsMissingCudaLibraries) {
  auto driver = runtime::explain_cuda_registration_error(
      "Failed to load library x.so with error: libcuda.so.1: cannot open shared object file: No such file");
  EXPECT_NE(driver.find("libcuda.so.1"), std::string::npos);
  EXPECT_NE(driver.find("driver"), std::string::npos);
  auto cudnn = runtime::explain_cuda_registration_error("error: libcudnn.so.9: cannot open shared object file");
  EXPECT_NE(cudnn.find("cuDNN 9"), std::string::npos);
  auto cudart = runtime::explain_cuda_registration_error("error: libcudart.so.13: cannot open shared object file");
  EXPECT_NE(cudart.find("CUDA 13 runtime"), std::string::npos);
  EXPECT_EQ(runtime::explain_cuda_registration_error("something else"), "something else");
}

TEST(CudaProvider, MissingLibraryIsReportedWithWhereItLooked) {
  auto env = runtime::Environment::create({});
  ASSERT_TRUE(env.ok());
  auto n = (*env)->cuda_devices("/nonexistent/libonnxruntime_providers_cuda.so");
  // Either the configured path is missing and another candidate is found (GPU host or setup --gpu),
  // or nothing is found and the message says where it looked and how to fix it.
  if (!n.ok()) {
    EXPECT_EQ(n.status().code(), StatusCode::kUnavailable);
    EXPECT_FALSE(n.status().message().empty());
    if (n.status().message().find("was not found") != std::string::npos) {
      EXPECT_NE(n.status().message().find("/nonexistent/"), std::string::npos);
      EXPECT_NE(n.status().message().find("setup.sh --gpu"), std::string::npos);
    }
  }
}

TEST(DevicePool, PicksTheShortestQueueAndRotatesTies) {
  std::vector<int> depths = {3, 1, 2};
  EXPECT_EQ(runtime::pick_least_loaded(depths, 0), 1u);
  EXPECT_EQ(runtime::pick_least_loaded(depths, 2), 1u);
  std::vector<int> equal = {0, 0, 0};
  EXPECT_EQ(runtime::pick_least_loaded(equal, 0), 0u);
  EXPECT_EQ(runtime::pick_least_loaded(equal, 1), 1u);
  EXPECT_EQ(runtime::pick_least_loaded(equal, 5), 2u);
  std::vector<int> one = {7};
  EXPECT_EQ(runtime::pick_least_loaded(one, 3), 0u);
}

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  void advance(double s) { now += std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); }
};

StatusOr<std::shared_ptr<const int>> make_int(int v, int* made) {
  ++*made;
  return std::make_shared<const int>(v);
}

TEST(ModelCache, LoadsOnceUnloadsWhenIdleAndReloads) {
  FakeClock clock;
  runtime::ModelCache cache({/*idle_unload_seconds=*/10, /*memory_budget_bytes=*/0}, [&] { return clock.now; });
  int made = 0;
  auto a = cache.get<int>("a", 100, [&] { return make_int(1, &made); });
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(**a, 1);
  cache.get<int>("a", 100, [&] { return make_int(1, &made); });
  EXPECT_EQ(made, 1);  // second use: no reload
  clock.advance(5);
  EXPECT_TRUE(cache.collect().empty());
  clock.advance(6);  // 11 s idle
  EXPECT_EQ(cache.collect(), std::vector<std::string>{"a"});
  EXPECT_EQ(cache.peek<int>("a"), nullptr);
  EXPECT_EQ(**a, 1);  // a holder keeps its value alive after eviction
  cache.get<int>("a", 100, [&] { return make_int(1, &made); });
  EXPECT_EQ(made, 2);  // reloaded on next use
  ASSERT_EQ(cache.loaded().size(), 1u);
  EXPECT_EQ(cache.loaded()[0].loads, 2);
}

TEST(ModelCache, EvictsLeastRecentlyUsedUnderBudget) {
  FakeClock clock;
  runtime::ModelCache cache({0, /*memory_budget_bytes=*/250}, [&] { return clock.now; });
  int made = 0;
  cache.get<int>("a", 100, [&] { return make_int(1, &made); });
  clock.advance(1);
  cache.get<int>("b", 100, [&] { return make_int(2, &made); });
  clock.advance(1);
  cache.get<int>("a", 100, [&] { return make_int(1, &made); });  // a is now the most recent
  clock.advance(1);
  cache.get<int>("c", 100, [&] { return make_int(3, &made); });  // 300 > 250: evict b (LRU)
  EXPECT_NE(cache.peek<int>("a"), nullptr);
  EXPECT_EQ(cache.peek<int>("b"), nullptr);
  EXPECT_NE(cache.peek<int>("c"), nullptr);
  EXPECT_EQ(cache.loaded_bytes(), 200u);
  EXPECT_EQ(made, 3);
  // A single model over the budget still loads (and is then the only one).
  cache.get<int>("big", 1000, [&] { return make_int(4, &made); });
  EXPECT_NE(cache.peek<int>("big"), nullptr);
  EXPECT_EQ(cache.loaded().size(), 1u);
}

TEST(ModelCache, FailedLoadIsNotCachedAndConcurrentLoadsMakeOnce) {
  runtime::ModelCache cache({0, 0});
  auto bad = cache.get<int>("x", 1, [] { return StatusOr<std::shared_ptr<const int>>(not_found("gone")); });
  EXPECT_FALSE(bad.ok());
  std::atomic<int> made{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto v = cache.get<int>("x", 1, [&]() -> StatusOr<std::shared_ptr<const int>> {
        ++made;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return std::make_shared<const int>(5);
      });
      EXPECT_TRUE(v.ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(made.load(), 1);
}

}  // namespace
}  // namespace facelens

// The dynamic batcher: concurrent submissions merge into batches of at most max_batch items,
// every caller gets its own results in order, failures reach every caller of the batch.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "runtime/batcher.h"

namespace facelens {
namespace {

using Batcher = runtime::DynamicBatcher<int, int>;

TEST(DynamicBatcher, MergesConcurrentCallsAndKeepsEachCallersResults) {
  std::atomic<int> calls{0};
  std::atomic<size_t> largest{0};
  Batcher b(
      [&](std::vector<int>& items) -> StatusOr<std::vector<int>> {
        ++calls;
        largest = std::max(largest.load(), items.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a model call takes time
        std::vector<int> out;
        for (int v : items) out.push_back(v * 10);
        return out;
      },
      /*max_batch=*/8, std::chrono::milliseconds(20));
  constexpr int kThreads = 16, kEach = 5;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kEach; ++k) {
        std::vector<int> mine = {t * 100 + k, t * 100 + k + 50};
        auto r = b.submit(mine);
        if (!r.ok() || r->size() != 2 || (*r)[0] != mine[0] * 10 || (*r)[1] != mine[1] * 10) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(largest.load(), 8u);
  EXPECT_LT(calls.load(), kThreads * kEach) << "no two calls were ever merged";
  auto sizes = b.batch_sizes();
  uint64_t items = 0, batches = 0;
  for (size_t n = 0; n < sizes.size(); ++n) {
    items += n * sizes[n];
    batches += sizes[n];
  }
  EXPECT_EQ(items, static_cast<uint64_t>(kThreads * kEach * 2));
  EXPECT_EQ(batches, static_cast<uint64_t>(calls.load()));
}

TEST(DynamicBatcher, ALoneCallerRunsAfterTheWaitAndFailuresReachEveryone) {
  Batcher ok([](std::vector<int>& items) -> StatusOr<std::vector<int>> { return items; }, 4,
             std::chrono::milliseconds(1));
  auto r = ok.submit({1, 2, 3, 4, 5, 6});  // larger than max_batch: goes alone, whole
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(ok.submit({}).ok());
  Batcher bad([](std::vector<int>&) -> StatusOr<std::vector<int>> { return internal_error("model failed"); }, 4,
              std::chrono::milliseconds(5));
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      auto res = bad.submit({1});
      if (!res.ok() && res.status().message() == "model failed") ++failed;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 4);
}

}  // namespace
}  // namespace facelens

// The dynamic batcher: concurrent submissions merge into batches of at most max_batch items,
// every caller gets its own results in order, failures reach every caller of the batch.
// Deterministic: the batch function is held on a gate while the other callers queue up, and the
// test waits for their submissions with n_pending(), never for a length of time.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/batcher.h"

namespace facelens {
namespace {

using Batcher = runtime::DynamicBatcher<int, int>;

// A door the first batch waits at: the test opens it once the other callers are queued.
class Gate {
 public:
  void wait_open() {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_entered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, open_ = false;
};

void wait_pending(const Batcher& b, size_t n) {
  while (b.n_pending() < n) std::this_thread::yield();
}

// Batch sizes as {size: count} for the non-zero entries.
std::map<size_t, uint64_t> histogram(const Batcher& b) {
  std::map<size_t, uint64_t> out;
  const auto sizes = b.batch_sizes();
  for (size_t n = 0; n < sizes.size(); ++n)
    if (sizes[n]) out[n] = sizes[n];
  return out;
}

// Times ten, holding the first call at the gate.
Batcher::BatchFn times_ten(Gate* gate, std::atomic<int>* calls) {
  return [gate, calls](std::vector<int>& items) -> StatusOr<std::vector<int>> {
    if (calls->fetch_add(1) == 0) gate->wait_open();
    std::vector<int> out;
    for (int v : items) out.push_back(v * 10);
    return out;
  };
}

// A first caller fills a batch and is held in the batch function; eight callers of one item each
// queue meanwhile; they then go as one full batch, each with its own result.
TEST(DynamicBatcher, CallersQueuedDuringABatchMergeIntoTheNext) {
  Gate gate;
  std::atomic<int> calls{0};
  // The wait for a fuller batch is never needed here: an hour would show as a hung test.
  Batcher b(times_ten(&gate, &calls), /*max_batch=*/8, std::chrono::hours(1));
  StatusOr<std::vector<int>> first = std::vector<int>{};
  std::thread leader([&] { first = b.submit({1, 2, 3, 4, 5, 6, 7, 8}); });
  gate.wait_entered();
  std::vector<StatusOr<std::vector<int>>> results(8, std::vector<int>{});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) threads.emplace_back([&, t] { results[t] = b.submit({100 + t}); });
  wait_pending(b, 8);
  gate.open();
  leader.join();
  for (auto& th : threads) th.join();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, (std::vector<int>{10, 20, 30, 40, 50, 60, 70, 80}));
  for (int t = 0; t < 8; ++t) {
    ASSERT_TRUE(results[t].ok()) << t;
    EXPECT_EQ(*results[t], std::vector<int>{(100 + t) * 10}) << t;
  }
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(histogram(b), (std::map<size_t, uint64_t>{{8, 2}}));
  EXPECT_EQ(b.n_pending(), 0u);
}

// Callers' items stay together: five queued calls of 3 items with max_batch 8 go as 6, 6 and 3
// (a third call would make 9); a partial batch goes after max_wait.
TEST(DynamicBatcher, WholeCallsArePackedUpToMaxBatch) {
  Gate gate;
  std::atomic<int> calls{0};
  Batcher b(times_ten(&gate, &calls), /*max_batch=*/8, std::chrono::milliseconds(1));
  std::thread leader([&] { (void)b.submit({0, 0, 0, 0, 0, 0, 0, 0}); });
  gate.wait_entered();
  std::vector<StatusOr<std::vector<int>>> results(5, std::vector<int>{});
  std::vector<std::thread> threads;
  for (int t = 0; t < 5; ++t) threads.emplace_back([&, t] { results[t] = b.submit({t, t + 1, t + 2}); });
  wait_pending(b, 15);
  gate.open();
  leader.join();
  for (auto& th : threads) th.join();
  for (int t = 0; t < 5; ++t) {
    ASSERT_TRUE(results[t].ok()) << t;
    EXPECT_EQ(*results[t], (std::vector<int>{10 * t, 10 * (t + 1), 10 * (t + 2)})) << t;
  }
  EXPECT_EQ(histogram(b), (std::map<size_t, uint64_t>{{3, 1}, {6, 2}, {8, 1}}));
  EXPECT_EQ(calls.load(), 4);
}

TEST(DynamicBatcher, ALoneCallerRunsAfterTheWaitAndLargeCallsGoWhole) {
  Batcher ok([](std::vector<int>& items) -> StatusOr<std::vector<int>> { return items; }, 4,
             std::chrono::milliseconds(1));
  auto r = ok.submit({1, 2, 3, 4, 5, 6});  // larger than max_batch: goes alone, whole
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  auto one = ok.submit({7});  // alone: runs once the wait is over
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::vector<int>{7});
  auto none = ok.submit({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // The histogram's last slot counts every batch over max_batch.
  EXPECT_EQ(ok.batch_sizes(), (std::vector<uint64_t>{0, 1, 0, 0, 1}));
}

// A failing batch function fails every caller of that batch with its status; a function that
// returns the wrong number of results is an internal error for each caller.
TEST(DynamicBatcher, FailuresReachEveryCallerOfTheBatch) {
  Gate gate;
  std::atomic<int> calls{0};
  Batcher bad(
      [&](std::vector<int>&) -> StatusOr<std::vector<int>> {
        if (calls.fetch_add(1) == 0) gate.wait_open();
        return internal_error("model failed");
      },
      /*max_batch=*/4, std::chrono::hours(1));
  StatusOr<std::vector<int>> first = std::vector<int>{};
  std::thread leader([&] { first = bad.submit({1, 2, 3, 4}); });
  gate.wait_entered();
  std::vector<StatusOr<std::vector<int>>> results(4, std::vector<int>{});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { results[t] = bad.submit({t}); });
  wait_pending(bad, 4);
  gate.open();
  leader.join();
  for (auto& th : threads) th.join();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().message(), "model failed");
  for (int t = 0; t < 4; ++t) {
    ASSERT_FALSE(results[t].ok()) << t;
    EXPECT_EQ(results[t].status().code(), StatusCode::kInternal) << t;
    EXPECT_EQ(results[t].status().message(), "model failed") << t;
  }
  EXPECT_EQ(calls.load(), 2);

  Batcher short_by_one(
      [](std::vector<int>& items) -> StatusOr<std::vector<int>> { return std::vector<int>(items.size() - 1, 0); }, 4,
      std::chrono::milliseconds(1));
  auto r = short_by_one.submit({1, 2});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("1 results for 2 items"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace facelens

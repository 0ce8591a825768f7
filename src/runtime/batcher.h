// Dynamic batching: items submitted concurrently by many threads are merged into one call of a
// batch function (up to max_batch items, waiting at most max_wait for more). No thread of its
// own: the first caller of a batch leads it (waits, runs the function, hands out the results),
// the others wait for their results. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "facelens/status.h"

namespace facelens::runtime {

template <typename In, typename Out>
class DynamicBatcher {
 public:
  // Runs one batch: one result per item, in order (a failure fails the whole batch).
  using BatchFn = std::function<StatusOr<std::vector<Out>>(std::vector<In>&)>;

  DynamicBatcher(BatchFn fn, int max_batch, std::chrono::microseconds max_wait)
      : fn_(std::move(fn)), max_batch_(std::max(1, max_batch)), max_wait_(max_wait), sizes_(max_batch_ + 1, 0) {}

  // Submits `items` (kept together in one batch when they fit) and returns their results.
  StatusOr<std::vector<Out>> submit(std::vector<In> items) {
    if (items.empty()) return std::vector<Out>{};
    auto ticket = std::make_shared<Ticket>();
    ticket->items = std::move(items);
    std::unique_lock<std::mutex> lock(mu_);
    pending_.push_back(ticket);
    n_pending_ += ticket->items.size();
    cv_.notify_all();  // a leader waiting for a fuller batch may go now
    // Whoever finds no leader leads one batch; a caller leaves as soon as its own items are done.
    while (!ticket->done) {
      if (!leading_) {
        leading_ = true;
        run_one_batch(lock);
        leading_ = false;
        cv_.notify_all();
      } else {
        cv_.wait(lock, [&] { return ticket->done || !leading_; });
      }
    }
    if (!ticket->status.ok()) return ticket->status;
    return std::move(ticket->results);
  }

  // How many batches had each size (index = batch size in items).
  std::vector<uint64_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_;
  }
  int max_batch() const { return max_batch_; }
  // Items submitted and not yet taken into a batch (lets a caller, e.g. a test, wait until
  // submissions have arrived instead of sleeping).
  size_t n_pending() const {
    std::lock_guard<std::mutex> lock(mu_);
    return n_pending_;
  }

 private:
  struct Ticket {
    std::vector<In> items;
    std::vector<Out> results;
    Status status;
    bool done = false;
  };

  // Called with the lock held by the leader: waits up to max_wait for a full batch, runs it.
  void run_one_batch(std::unique_lock<std::mutex>& lock) {
    {
      const auto deadline = std::chrono::steady_clock::now() + max_wait_;
      cv_.wait_until(lock, deadline, [&] { return n_pending_ >= static_cast<size_t>(max_batch_); });
      // Take whole tickets up to max_batch items (a ticket larger than max_batch goes alone).
      std::vector<std::shared_ptr<Ticket>> batch;
      std::vector<In> items;
      while (!pending_.empty()) {
        auto& t = pending_.front();
        if (!batch.empty() && items.size() + t->items.size() > static_cast<size_t>(max_batch_)) break;
        for (auto& it : t->items) items.push_back(std::move(it));
        n_pending_ -= t->items.size();
        batch.push_back(t);
        pending_.erase(pending_.begin());
      }
      ++sizes_[std::min(items.size(), sizes_.size() - 1)];
      lock.unlock();
      StatusOr<std::vector<Out>> out = fn_(items);
      lock.lock();
      size_t k = 0;
      for (auto& t : batch) {
        const size_t n = t->items.size();
        if (!out.ok()) {
          t->status = out.status();
        } else if (out->size() != items.size()) {
          t->status = internal_error("batch function returned " + std::to_string(out->size()) + " results for " +
                                     std::to_string(items.size()) + " items");
        } else {
          t->results.assign(std::make_move_iterator(out->begin() + k), std::make_move_iterator(out->begin() + k + n));
        }
        k += n;
        t->done = true;
      }
    }
  }

  BatchFn fn_;
  const int max_batch_;
  const std::chrono::microseconds max_wait_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Ticket>> pending_;
  size_t n_pending_ = 0;
  bool leading_ = false;
  std::vector<uint64_t> sizes_;
};

}  // namespace facelens::runtime

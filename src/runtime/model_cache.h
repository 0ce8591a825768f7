// Loaded models, by key: loaded on first use, unloaded when idle for longer than a limit or when
// a memory budget would be exceeded (least recently used first), loaded again on the next use.
// A model in use by a call stays alive until that call ends (values are shared_ptr). Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facelens/status.h"

namespace facelens::runtime {

class ModelCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  struct Limits {
    double idle_unload_seconds = 0;    // 0 = never
    uint64_t memory_budget_bytes = 0;  // 0 = no budget
  };
  struct Loaded {
    std::string key;
    uint64_t bytes = 0;
    double idle_seconds = 0;
    int64_t loads = 0;  // times this key was loaded (reloads after eviction count)
  };

  explicit ModelCache(Limits limits, Clock clock = std::chrono::steady_clock::now)
      : limits_(limits), clock_(std::move(clock)) {}

  // The value for `key`, made by `make` when not loaded. `bytes` is the memory estimate used for
  // the budget. Evicts idle and over-budget entries (never the one returned).
  template <typename T, typename Make>
  StatusOr<std::shared_ptr<const T>> get(const std::string& key, uint64_t bytes, Make make) {
    std::unique_lock<std::mutex> lock(mu_);
    evict_locked(key);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.value) {
      it->second.last_used = clock_();
      return std::static_pointer_cast<const T>(it->second.value);
    }
    // Make without holding the lock (loading a model takes long); one loader per key at a time.
    std::shared_ptr<std::mutex> key_mu = key_mutex_locked(key);
    lock.unlock();
    std::lock_guard<std::mutex> key_lock(*key_mu);
    lock.lock();
    it = entries_.find(key);
    if (it != entries_.end() && it->second.value) {
      it->second.last_used = clock_();
      return std::static_pointer_cast<const T>(it->second.value);
    }
    lock.unlock();
    StatusOr<std::shared_ptr<const T>> made = make();
    lock.lock();
    if (!made.ok()) return made.status();
    Entry& e = entries_[key];
    e.value = *made;
    e.bytes = bytes;
    e.last_used = clock_();
    ++e.loads;
    evict_locked(key);
    return made;
  }

  // The loaded value for `key` without loading it, or null.
  template <typename T>
  std::shared_ptr<const T> peek(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : std::static_pointer_cast<const T>(it->second.value);
  }

  // Unloads what has been idle too long or is over budget; returns the keys unloaded.
  std::vector<std::string> collect();
  std::vector<Loaded> loaded() const;
  uint64_t loaded_bytes() const;

 private:
  struct Entry {
    std::shared_ptr<const void> value;
    uint64_t bytes = 0;
    std::chrono::steady_clock::time_point last_used;
    int64_t loads = 0;
  };
  std::vector<std::string> evict_locked(const std::string& keep);
  std::shared_ptr<std::mutex> key_mutex_locked(const std::string& key);

  Limits limits_;
  Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::shared_ptr<std::mutex>> key_mutexes_;
};

}  // namespace facelens::runtime

#include "runtime/model_cache.h"

#include <algorithm>

namespace facelens::runtime {

std::shared_ptr<std::mutex> ModelCache::key_mutex_locked(const std::string& key) {
  auto& m = key_mutexes_[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

std::vector<std::string> ModelCache::evict_locked(const std::string& keep) {
  std::vector<std::string> evicted;
  const auto now = clock_();
  if (limits_.idle_unload_seconds > 0) {
    for (auto& [key, e] : entries_) {
      if (!e.value || key == keep) continue;
      if (std::chrono::duration<double>(now - e.last_used).count() > limits_.idle_unload_seconds) {
        e.value.reset();
        evicted.push_back(key);
      }
    }
  }
  if (limits_.memory_budget_bytes > 0) {
    auto total = [&] {
      uint64_t t = 0;
      for (const auto& [k, e] : entries_)
        if (e.value) t += e.bytes;
      return t;
    };
    while (total() > limits_.memory_budget_bytes) {
      Entry* lru = nullptr;
      const std::string* lru_key = nullptr;
      for (auto& [key, e] : entries_) {
        if (!e.value || key == keep) continue;
        if (!lru || e.last_used < lru->last_used) {
          lru = &e;
          lru_key = &key;
        }
      }
      if (!lru) break;  // only `keep` is left: a single model over budget stays loaded
      lru->value.reset();
      evicted.push_back(*lru_key);
    }
  }
  return evicted;
}

std::vector<std::string> ModelCache::collect() {
  std::lock_guard<std::mutex> lock(mu_);
  return evict_locked("");
}

std::vector<ModelCache::Loaded> ModelCache::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Loaded> out;
  const auto now = clock_();
  for (const auto& [key, e] : entries_) {
    if (!e.value) continue;
    out.push_back({key, e.bytes, std::chrono::duration<double>(now - e.last_used).count(), e.loads});
  }
  return out;
}

uint64_t ModelCache::loaded_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t t = 0;
  for (const auto& [k, e] : entries_)
    if (e.value) t += e.bytes;
  return t;
}

}  // namespace facelens::runtime

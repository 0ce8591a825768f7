#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace facelens::bench {

double percentile(std::span<const double> sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

Summary summarize(std::span<const double> samples_ms, int items_per_run) {
  Summary s;
  if (samples_ms.empty()) return s;
  std::vector<double> sorted(samples_ms.begin(), samples_ms.end());
  std::sort(sorted.begin(), sorted.end());
  const double n = static_cast<double>(sorted.size());
  s.n = static_cast<int>(sorted.size());
  s.total_ms = std::accumulate(sorted.begin(), sorted.end(), 0.0);
  s.mean_ms = s.total_ms / n;
  s.min_ms = sorted.front();
  s.max_ms = sorted.back();
  s.p50_ms = percentile(sorted, 50);
  s.p95_ms = percentile(sorted, 95);
  s.p99_ms = percentile(sorted, 99);
  if (sorted.size() > 1) {
    double ss = 0;
    for (double v : sorted) ss += (v - s.mean_ms) * (v - s.mean_ms);
    s.stddev_ms = std::sqrt(ss / (n - 1));
  }
  const int items = std::max(items_per_run, 1);
  s.per_item_ms = s.mean_ms / items;
  s.throughput_items_per_s = s.total_ms > 0 ? items * n / (s.total_ms / 1000.0) : 0;
  return s;
}

}  // namespace facelens::bench

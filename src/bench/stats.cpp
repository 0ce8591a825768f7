#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

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

namespace {

double median_of(std::span<const double> v) {
  std::vector<double> s(v.begin(), v.end());
  std::sort(s.begin(), s.end());
  return percentile(s, 50);
}

std::string trim_number(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

const char* warmup_state_name(WarmupState s) {
  switch (s) {
    case WarmupState::kContinue: return "continue";
    case WarmupState::kStable: return "stable";
    case WarmupState::kFixed: return "fixed";
    case WarmupState::kMaxRuns: return "max_runs";
    case WarmupState::kMaxSeconds: return "max_seconds";
  }
  return "continue";
}

WarmupState warmup_state(std::span<const double> warm_ms, const WarmupRule& rule) {
  const int n = static_cast<int>(warm_ms.size());
  if (n < rule.min_runs) return WarmupState::kContinue;
  if (rule.max_runs <= rule.min_runs) return WarmupState::kFixed;
  const int w = std::max(rule.window, 1);
  if (n >= 2 * w) {
    const double before = median_of(warm_ms.subspan(n - 2 * w, w));
    const double last = median_of(warm_ms.subspan(n - w, w));
    if (before > 0 && std::abs(last - before) / before < rule.tolerance) return WarmupState::kStable;
  }
  if (n >= rule.max_runs) return WarmupState::kMaxRuns;
  if (std::accumulate(warm_ms.begin(), warm_ms.end(), 0.0) >= rule.max_seconds * 1000) return WarmupState::kMaxSeconds;
  return WarmupState::kContinue;
}

std::string warmup_rule_text(const WarmupRule& r) {
  if (r.max_runs <= r.min_runs) return std::to_string(r.min_runs) + " warm-up runs (a fixed count)";
  const std::string w = std::to_string(std::max(r.window, 1));
  return "at least " + std::to_string(r.min_runs) + " warm-up runs, then more until the median of the last " + w +
         " runs is within " + trim_number(r.tolerance * 100) + " % of the median of the " + w +
         " before them (at most " + std::to_string(r.max_runs) + " runs or " + trim_number(r.max_seconds) + " s)";
}

}  // namespace facelens::bench

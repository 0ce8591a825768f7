// Statistics of a benchmark's timed runs: mean, percentiles, spread and throughput.
//
//   std::vector<double> ms = {...};                    // one latency per timed run
//   bench::Summary s = bench::summarize(ms, /*items_per_run=*/8);
//   s.p95_ms; s.throughput_items_per_s;
//
// Pure functions, thread-safe. Units: milliseconds; throughput in items per second.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace facelens::bench {

struct Summary {
  int n = 0;  // timed runs
  double mean_ms = 0;
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  double min_ms = 0;
  double max_ms = 0;
  double stddev_ms = 0;               // sample standard deviation (n - 1 in the denominator); 0 when n < 2
  double total_ms = 0;                // sum of all runs
  double per_item_ms = 0;             // mean_ms / items_per_run
  double throughput_items_per_s = 0;  // items_per_run * n / total seconds
};

// The p-th percentile (p in [0, 100]) of `sorted` (ascending, non-empty) by linear interpolation
// between closest ranks: rank = p/100 * (n - 1) (NumPy's default, Hyndman & Fan type 7).
double percentile(std::span<const double> sorted, double p);

// Summary of the runs in `samples_ms` (any order; empty gives n = 0 and zeros).
Summary summarize(std::span<const double> samples_ms, int items_per_run);

// When the untimed warm-up runs of a benchmark cell stop: after at least `min_runs`, as soon as
// the median of the last `window` runs differs from the median of the `window` runs before it by
// less than `tolerance` (relative to the earlier median); at the latest after `max_runs` runs or
// once the warm-up has taken `max_seconds`. max_runs <= min_runs gives exactly min_runs runs.
// (Issue 20: five fixed runs left batch-1 times falling from 31.9 to 9.3 ms during the timed runs.)
struct WarmupRule {
  int min_runs = 5;
  int window = 3;
  double tolerance = 0.05;
  int max_runs = 50;
  double max_seconds = 30;
};

enum class WarmupState {
  kContinue,    // run once more
  kStable,      // the medians agree within the tolerance
  kFixed,       // min_runs done and max_runs <= min_runs: a fixed count
  kMaxRuns,     // stopped at max_runs without becoming stable
  kMaxSeconds,  // stopped at max_seconds without becoming stable
};
// "continue", "stable", "fixed", "max_runs", "max_seconds"
const char* warmup_state_name(WarmupState s);

// What to do after the warm-up runs `warm_ms` so far (in order; their sum is the time spent).
WarmupState warmup_state(std::span<const double> warm_ms, const WarmupRule& rule);

// The rule in words, for report.md: "at least 5 runs, then until the median of the last 3 runs is
// within 5 % of the 3 before (at most 50 runs or 30 s)".
std::string warmup_rule_text(const WarmupRule& rule);

}  // namespace facelens::bench

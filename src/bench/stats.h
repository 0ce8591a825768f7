// Statistics of a benchmark's timed runs: mean, percentiles, spread and throughput.
//
//   std::vector<double> ms = {...};                    // one latency per timed run
//   bench::Summary s = bench::summarize(ms, /*items_per_run=*/8);
//   s.p95_ms; s.throughput_items_per_s;
//
// Pure functions, thread-safe. Units: milliseconds; throughput in items per second.
#pragma once

#include <span>
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

}  // namespace facelens::bench

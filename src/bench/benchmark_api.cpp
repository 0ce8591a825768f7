// facelens/benchmark.h over the benchmark library (bench/benchmark.h).
#include "facelens/benchmark.h"

#include "bench/benchmark.h"

namespace facelens {

namespace {

bench::BenchOptions bench_options(const BenchmarkOptions& o) {
  bench::BenchOptions b;
  static_cast<BenchmarkOptions&>(b) = o;
  return b;
}

}  // namespace

Status validate_benchmark_options(const BenchmarkOptions& options) { return bench::validate(bench_options(options)); }

StatusOr<BenchmarkOutcome> run_benchmark(const BenchmarkOptions& options, const std::string& output_dir) {
  FACELENS_ASSIGN_OR_RETURN(auto report, bench::run_benchmark(bench_options(options)));
  FACELENS_RETURN_IF_ERROR(bench::write_outputs(report, output_dir));
  BenchmarkOutcome out;
  out.chart_files = report.charts.files;
  out.charts_note = report.charts.note;
  for (const auto& p : report.providers) out.providers.push_back({p.name, p.available, p.reason});
  out.n_failed = report.n_failed();
  return out;
}

}  // namespace facelens

// facelens/benchmark.h over the benchmark library (bench/benchmark.h).
#include "facelens/benchmark.h"

#include <filesystem>

#include "bench/benchmark.h"
#include "bench/sweep_photos.h"

namespace facelens {

namespace {

bench::BenchOptions bench_options(const BenchmarkOptions& o) {
  bench::BenchOptions b;
  static_cast<BenchmarkOptions&>(b) = o;
  return b;
}

}  // namespace

Status validate_benchmark_options(const BenchmarkOptions& options) { return bench::validate(bench_options(options)); }

StatusOr<std::vector<SweepPhoto>> make_sweep_photos(const std::string& source, const std::string& dir) {
  return bench::make_sweep_photos(source, dir);
}

StatusOr<BenchmarkOutcome> run_benchmark(const BenchmarkOptions& options, const std::string& output_dir) {
  bench::BenchOptions b = bench_options(options);
  if (b.sweep_photos_dir.empty()) b.sweep_photos_dir = (std::filesystem::path(output_dir) / "photos").string();
  FACELENS_ASSIGN_OR_RETURN(auto report, bench::run_benchmark(b));
  FACELENS_RETURN_IF_ERROR(bench::write_outputs(report, output_dir));
  BenchmarkOutcome out;
  out.chart_files = report.charts.files;
  out.charts_note = report.charts.note;
  for (const auto& p : report.providers) out.providers.push_back({p.name, p.available, p.reason});
  out.n_failed = report.n_failed();
  out.n_server_errors = report.n_server_errors();
  return out;
}

}  // namespace facelens

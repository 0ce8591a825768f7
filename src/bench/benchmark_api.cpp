// facelens/benchmark.h over the benchmark library (bench/benchmark.h).
#include "facelens/benchmark.h"

#include "bench/benchmark.h"

namespace facelens {

namespace {

bench::BenchOptions bench_options(const BenchmarkOptions& o) {
  bench::BenchOptions b;
  b.images = o.images;
  b.providers = o.providers;
  b.services = o.services;
  b.batches = o.batches;
  b.precisions = o.precisions;
  b.iterations = o.iterations;
  b.warmup = o.warmup;
  b.threads = o.threads;
  b.models_dir = o.models_dir;
  b.source_dir = o.source_dir;
  b.configured_commit = o.configured_commit;
  b.runtime = o.runtime;
  b.note = o.note;
  if (o.on_progress) {
    b.on_progress = [f = o.on_progress](const bench::Progress& p) {
      BenchmarkProgress q;
      switch (p.event) {
        case bench::Progress::Event::kStep: q.event = BenchmarkProgress::Event::kStep; break;
        case bench::Progress::Event::kRun: q.event = BenchmarkProgress::Event::kRun; break;
        case bench::Progress::Event::kStepDone: q.event = BenchmarkProgress::Event::kStepDone; break;
        case bench::Progress::Event::kNote: q.event = BenchmarkProgress::Event::kNote; break;
      }
      q.step = p.step;
      q.n_steps = p.n_steps;
      q.run = p.run;
      q.n_runs = p.n_runs;
      q.label = p.label;
      q.message = p.message;
      f(q);
    };
  }
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

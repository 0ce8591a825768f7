// The ROC chart of a calibration, drawn by the benchmark's gnuplot renderer (src/bench/charts.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>

#include "bench/charts.h"
#include "facelens/calibration.h"

namespace facelens {

StatusOr<RocChartsWritten> write_roc_charts(std::span<const ScoredPair> pairs, const AccuracyReport& report,
                                            const AccuracyOptions& options, const std::vector<std::string>& files) {
  namespace fs = std::filesystem;
  RocChartsWritten out;
  std::map<std::pair<fs::path, std::string>, std::vector<bench::ChartFormat>> wanted;
  for (const auto& c : files) {
    const fs::path p = fs::absolute(c);
    auto f = bench::parse_chart_format(p.extension().string());
    if (!f) return invalid_argument("--chart " + c + ": expected a file name ending in .png or .svg");
    wanted[{p.parent_path(), p.stem().string()}].push_back(*f);
  }
  if (wanted.empty()) return out;
  size_t n_same = 0;
  for (const auto& p : pairs) n_same += p.same;
  const size_t n_diff = pairs.size() - n_same;
  bench::RocChartInput in;
  // roc_curve runs from FAR 0 (the highest threshold) up, as the chart draws it.
  for (const auto& p : roc_curve(pairs)) in.curve.push_back({p.far, p.tar});
  for (const auto& t : report.tar_at_far) in.markers.push_back({t.far, t.tar.value, t.tar.lo, t.tar.hi});
  in.eer = report.eer.value;
  double min_far = n_diff ? 1.0 / static_cast<double>(n_diff) : 1.0;
  for (double f : options.fars) min_far = std::min(min_far, f);
  in.min_far = std::pow(10.0, std::floor(std::log10(min_far)));
  char title[256];
  std::snprintf(title, sizeof title, "ROC: %zu pairs, %zu identities; AUC %.4f [%.4f, %.4f], EER %.4f [%.4f, %.4f]",
                pairs.size(), report.n_identities, report.auc.value, report.auc.lo, report.auc.hi, report.eer.value,
                report.eer.lo, report.eer.hi);
  in.title = title;
  for (const auto& [where, formats] : wanted) {
    std::error_code ec;
    fs::create_directories(where.first, ec);
    if (ec) return invalid_argument("cannot create " + where.first.string() + ": " + ec.message());
    auto r = bench::render_gnuplot({bench::roc_chart(in, where.first, where.second)}, where.first, formats);
    if (!r.have_gnuplot) {
      out.notes.push_back("gnuplot not found (Debian: apt-get install gnuplot-nox): wrote " + where.second +
                          ".dat and its scripts in " + where.first.string() + " only");
      continue;
    }
    for (const auto& f : r.written) out.written.push_back(f.string());
    for (const auto& f : r.failed)
      out.notes.push_back("gnuplot failed to render " + f + " (run " + f + ".gp in " + where.first.string() +
                          " to see why)");
  }
  return out;
}

}  // namespace facelens

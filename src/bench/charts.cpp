// Charts with gnuplot (Debian: gnuplot-nox): the renderer (charts.h), the benchmark's charts (CPU
// vs GPU per service, latency distribution, throughput against batch size; each as SVG and PNG,
// with their data (.dat) and scripts (.gp) in DIR/charts) and the ROC chart of `calibrate`.
#include "bench/charts.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "bench/benchmark.h"

namespace facelens::bench {

namespace fs = std::filesystem;

std::string gnuplot_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

const char* chart_format_name(ChartFormat f) { return f == ChartFormat::kSvg ? "svg" : "png"; }

std::optional<ChartFormat> parse_chart_format(const std::string& extension) {
  std::string e = extension;
  if (!e.empty() && e[0] == '.') e.erase(0, 1);
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (e == "svg") return ChartFormat::kSvg;
  if (e == "png") return ChartFormat::kPng;
  return std::nullopt;
}

namespace {

std::string q(const std::string& s) { return gnuplot_quote(s); }

std::string fmt(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

bool write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

const Row* find_row(const BenchReport& rep, const std::string& service, const std::string& provider, int batch,
                    const std::string& precision) {
  for (const auto& r : rep.rows)
    if (r.service == service && r.provider == provider && r.batch == batch && r.precision == precision &&
        r.status == "ok" && r.summary.n > 0)
      return &r;
  return nullptr;
}

std::string label(const Row& r) {
  return r.service + " " + r.provider + (r.precision == "fp32" ? "" : " " + r.precision);
}

// facelens's CPU (and CUDA, when a cell really ran there) per service at batch b0, precision p0;
// the reference design's midpoints only beside the rows of its own models (--reference-design).
std::optional<Chart> cpu_vs_gpu(const BenchReport& rep, const fs::path& dir, int b0, const std::string& p0) {
  std::vector<std::string> services = rep.options.images.empty() ? std::vector<std::string>{} : rep.options.services;
  for (const auto& m : rep.reference_models) services.push_back(m.arch);
  struct Bar {
    std::string service;
    const Row* cpu = nullptr;
    const Row* gpu = nullptr;
    const ReferenceFigure* ref = nullptr;
  };
  std::vector<Bar> bars;
  bool any_gpu = false, any_ref = false;
  for (const auto& service : services) {
    Bar bar{service, find_row(rep, service, "cpu", b0, p0), find_row(rep, service, "cuda", b0, p0), nullptr};
    if (bar.gpu && bar.gpu->fell_back_to_cpu) bar.gpu = nullptr;  // never counted as GPU
    const Row* any = bar.cpu ? bar.cpu : bar.gpu;
    if (any && !any->reference.empty()) bar.ref = reference_figure_of(service);
    if (!bar.cpu && !bar.gpu) continue;
    any_gpu = any_gpu || bar.gpu;
    any_ref = any_ref || bar.ref;
    bars.push_back(bar);
  }
  if (bars.empty()) return std::nullopt;
  std::ostringstream d;
  d << "service \"facelens CPU\"" << (any_gpu ? " \"facelens CUDA\"" : "")
    << (any_ref ? " \"reference design CPU (midpoint)\" \"reference design GPU (midpoint)\"" : "") << "\n";
  for (const auto& bar : bars) {
    d << bar.service << " " << (bar.cpu ? fmt(bar.cpu->summary.mean_ms) : "?");
    if (any_gpu) d << " " << (bar.gpu ? fmt(bar.gpu->summary.mean_ms) : "?");
    if (any_ref)
      d << " " << (bar.ref ? fmt((bar.ref->cpu_ms[0] + bar.ref->cpu_ms[1]) / 2) : "?") << " "
        << (bar.ref ? fmt((bar.ref->gpu_ms[0] + bar.ref->gpu_ms[1]) / 2) : "?");
    d << "\n";
  }
  std::string title = "Mean latency per call, batch " + std::to_string(b0) + ", " + p0;
  for (const auto& p : rep.providers)
    if (p.name == "cuda" && !p.available) title += " (CUDA unavailable on this machine)";
  if (!any_gpu && title.find("unavailable") == std::string::npos) title += " (no GPU figure)";
  if (any_ref)
    title += "\\nreference design: its own, unstated hardware and image size; drawn only beside its own models";
  const int n_cols = 1 + (any_gpu ? 1 : 0) + (any_ref ? 2 : 0);
  const std::string dat = q((dir / "cpu_vs_gpu.dat").string());
  std::ostringstream b;
  b << "set datafile missing '?'\nset style data histogram\nset style histogram clustered gap 1\n"
    << "set style fill solid 0.85 border -1\nset logscale y\nset yrange [0.1:*]\nset grid ytics\nset key top left\n"
    << "set ylabel 'ms (log scale)'\nset title \"" << title << "\" noenhanced\n"
    << "plot " << dat << " using 2:xtic(1) title columnheader(2)";
  for (int c = 3; c <= n_cols + 1; ++c) b << ", '' using " << c << " title columnheader(" << c << ")";
  b << "\n";
  return Chart{"cpu_vs_gpu", d.str(), b.str()};
}

std::optional<Chart> latency_distribution(const BenchReport& rep, const fs::path& dir, int b0, const std::string& p0) {
  std::vector<const Row*> rows;
  for (const auto& r : rep.rows)
    if (r.batch == b0 && r.precision == p0 && r.status == "ok" && !r.samples_ms.empty()) rows.push_back(&r);
  if (rows.empty()) return std::nullopt;
  size_t n = 0;
  for (const auto* r : rows) n = std::max(n, r->samples_ms.size());
  std::ostringstream d;
  for (size_t i = 0; i < rows.size(); ++i) d << (i ? " " : "") << "\"" << label(*rows[i]) << "\"";
  d << "\n";
  for (size_t k = 0; k < n; ++k) {
    for (size_t i = 0; i < rows.size(); ++i)
      d << (i ? " " : "") << (k < rows[i]->samples_ms.size() ? fmt(rows[i]->samples_ms[k]) : "?");
    d << "\n";
  }
  std::ostringstream xt;
  for (size_t i = 0; i < rows.size(); ++i) xt << (i ? ", " : "") << q(label(*rows[i])) << " " << i + 1;
  const std::string dat = q((dir / "latency_distribution.dat").string());
  std::ostringstream b;
  b << "set datafile missing '?'\nset style data boxplot\nset style boxplot outliers pointtype 7\n"
    << "set style fill solid 0.4 border -1\nset pointsize 0.4\nset boxwidth 0.5\nset logscale y\nset grid ytics\n"
    << "set xtics (" << xt.str() << ") rotate by -30 scale 0\nset xrange [0.3:" << rows.size() + 0.7 << "]\n"
    << "set ylabel 'ms per run (log scale)'\nset key off\n"
    << "set title " << q("Latency distribution of the timed runs, batch " + std::to_string(b0) + ", " + p0) << "\n"
    << "plot for [i=1:" << rows.size() << "] " << dat << " using (i):i skip 1 notitle\n";
  return Chart{"latency_distribution", d.str(), b.str()};
}

std::optional<Chart> throughput_vs_batch(const BenchReport& rep, const fs::path& dir) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const Row*>> series;
  for (const auto& r : rep.rows) {
    if (r.status != "ok" || r.summary.n == 0) continue;
    std::string key = label(r) + (r.fell_back_to_cpu ? " (fell back to CPU)" : "");
    if (!series.count(key)) order.push_back(key);
    series[key].push_back(&r);
  }
  if (order.empty()) return std::nullopt;
  std::ostringstream d;
  for (size_t i = 0; i < order.size(); ++i) {
    d << "# " << order[i] << "\n";
    for (const auto* r : series[order[i]]) d << r->batch << " " << fmt(r->summary.throughput_items_per_s) << "\n";
    d << "\n\n";
  }
  const std::string dat = q((dir / "throughput_vs_batch.dat").string());
  std::ostringstream b;
  b << "set logscale x 2\nset logscale y\nset grid\nset key outside right\nset xlabel 'batch size'\n"
    << "set ylabel 'items/s (images or faces; log scale)'\nset title 'Throughput against batch size'\n"
    << "set offsets graph 0.05, graph 0.05, 0, 0\nset xtics (";
  for (size_t i = 0; i < rep.options.batches.size(); ++i) b << (i ? ", " : "") << rep.options.batches[i];
  b << ")\nplot ";
  for (size_t i = 0; i < order.size(); ++i)
    b << (i ? ", " : "") << (i ? "''" : dat) << " index " << i << " using 1:2 with linespoints pointtype 7 title "
      << q(order[i]);
  b << "\n";
  return Chart{"throughput_vs_batch", d.str(), b.str()};
}

}  // namespace

RenderResult render_gnuplot(const std::vector<Chart>& charts, const fs::path& dir,
                            const std::vector<ChartFormat>& formats) {
  RenderResult res;
  const CommandResult probe = run_command({"gnuplot", "--version"});
  res.have_gnuplot = probe.started && probe.exit_code == 0;
  std::string png_terminal = "png";
  if (res.have_gnuplot) {
    const CommandResult cairo = run_command({"gnuplot", "-e", "set terminal pngcairo"});
    if (cairo.started && cairo.exit_code == 0) png_terminal = "pngcairo";
  }
  std::error_code ec;
  for (const auto& c : charts) {
    write_file(dir / (c.name + ".dat"), c.data);
    for (ChartFormat f : formats) {
      const std::string kind = chart_format_name(f);
      const fs::path image = dir / (c.name + "." + kind);
      const fs::path script = dir / (c.name + "." + kind + ".gp");
      std::ostringstream s;
      if (f == ChartFormat::kSvg)
        s << "set terminal svg size 960,540 dynamic enhanced font 'sans,11' background rgb 'white'\n";
      else s << "set terminal " << png_terminal << " size 1280,720 enhanced font 'sans,11' background rgb 'white'\n";
      s << "set output " << q(image.string()) << "\n" << c.body << "set output\n";
      write_file(script, s.str());
      if (!res.have_gnuplot) continue;
      fs::remove(image, ec);
      const CommandResult r = run_command({"gnuplot", script.string()});
      std::error_code size_ec;
      const bool ok = r.started && r.exit_code == 0 && fs::exists(image) && fs::file_size(image, size_ec) > 0;
      if (ok) {
        res.written.push_back(image);
      } else {
        fs::remove(image, ec);  // no empty or half-written chart left behind
        res.failed.push_back(image.filename().string());
      }
    }
  }
  return res;
}

Chart roc_chart(const RocChartInput& in, const fs::path& dir, const std::string& name) {
  const double x0 = in.min_far > 0 ? in.min_far : 1e-4;
  std::ostringstream d;
  d << "# FAR TAR (the points at or left of the axis' left edge start the curve there)\n";
  // The curve from the axis' left edge: the best TAR with FAR <= x0 drawn at x0, then the rest.
  double y_left = 0;
  for (const auto& p : in.curve)
    if (p.far <= x0) y_left = std::max(y_left, p.tar);
  d << fmt(x0) << " " << fmt(y_left) << "\n";
  for (const auto& p : in.curve)
    if (p.far > x0) d << fmt(p.far) << " " << fmt(p.tar) << "\n";
  double y0 = y_left;
  d << "\n\n# FAR TAR lo hi\n";
  for (const auto& m : in.markers) {
    d << fmt(std::max(m.far, x0)) << " " << fmt(m.tar) << " " << fmt(m.lo) << " " << fmt(m.hi) << "\n";
    y0 = std::min(y0, m.lo);
  }
  d << "\n\n# EER\n";
  if (in.eer >= 0) d << fmt(std::max(in.eer, x0)) << " " << fmt(1 - in.eer) << "\n";
  else d << "? ?\n";
  // The lower edge: a tenth below the lowest TAR shown, so high-accuracy curves keep their detail.
  const double ymin = std::max(0.0, std::floor((y0 - 0.02) * 10) / 10);
  const std::string dat = q((dir / (name + ".dat")).string());
  std::ostringstream b;
  b << "set datafile missing '?'\nset logscale x\nset grid xtics ytics mxtics\nset key bottom right\n"
    << "set format x '10^{%L}'\nset xrange [" << fmt(x0) << ":1]\nset yrange [" << fmt(ymin) << ":1.005]\n"
    << "set xlabel 'false-accept rate (log scale)'\nset ylabel 'true-accept rate'\n"
    << "set title " << q(in.title) << " noenhanced\n"
    << "plot " << dat << " index 0 using 1:2 with lines linewidth 2 title 'ROC', "
    << "'' index 1 using 1:2:3:4 with yerrorbars pointtype 7 pointsize 1 title 'TAR at FAR (95 % interval)', "
    << "'' index 2 using 1:2 with points pointtype 6 pointsize 2 title 'equal error rate'\n";
  return Chart{name, d.str(), b.str()};
}

ChartsInfo render_charts(const BenchReport& rep, const std::string& out_dir) {
  ChartsInfo info;
  const fs::path dir = fs::absolute(fs::path(out_dir) / "charts");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    info.note = "charts not written: cannot create " + dir.string() + ": " + ec.message();
    return info;
  }
  const int b0 = rep.options.batches.empty() ? 1 : rep.options.batches.front();
  const std::string p0 = rep.options.precisions.empty() ? "fp32" : rep.options.precisions.front();
  std::vector<Chart> charts;
  std::vector<std::string> missing;
  if (auto c = cpu_vs_gpu(rep, dir, b0, p0)) charts.push_back(*c);
  else missing.push_back("cpu_vs_gpu (no figure)");
  if (auto c = latency_distribution(rep, dir, b0, p0)) charts.push_back(*c);
  else missing.push_back("latency_distribution (no measured run at batch " + std::to_string(b0) + ")");
  if (auto c = throughput_vs_batch(rep, dir)) charts.push_back(*c);
  else missing.push_back("throughput_vs_batch (no measured run)");

  const RenderResult rendered = render_gnuplot(charts, dir, {ChartFormat::kSvg, ChartFormat::kPng});
  for (const auto& f : rendered.written) info.files.push_back("charts/" + f.filename().string());
  const std::vector<std::string>& failed = rendered.failed;
  const bool have_gnuplot = rendered.have_gnuplot;
  if (!have_gnuplot) {
    info.note =
        "Charts not rendered: gnuplot was not found (Debian: apt-get install gnuplot-nox; scripts/setup.sh "
        "installs it). Their data and gnuplot scripts are in charts/: `gnuplot charts/NAME.svg.gp` renders one.";
    return info;
  }
  info.rendered = failed.empty() && !charts.empty();
  std::string note;
  if (!failed.empty())
    note += "gnuplot failed to render: " + [&] {
      std::string s;
      for (const auto& f : failed) s += (s.empty() ? "" : ", ") + f;
      return s;
    }() + " (run its script in charts/ to see why). ";
  if (!missing.empty()) {
    note += "Not drawn: ";
    for (size_t i = 0; i < missing.size(); ++i) note += (i ? ", " : "") + missing[i];
    note += ".";
  }
  info.note = note;
  return info;
}

}  // namespace facelens::bench

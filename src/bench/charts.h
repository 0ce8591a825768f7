// Charts drawn with gnuplot (Debian: gnuplot-nox): one renderer shared by the benchmark's charts
// and the ROC chart of `facelens calibrate`. Each chart keeps its data (NAME.dat) and scripts
// (NAME.svg.gp, NAME.png.gp) beside the image, so it can be rendered again or restyled by hand.
//
//   bench::Chart c = bench::roc_chart(roc, dir, "roc");
//   bench::RenderResult r = bench::render_gnuplot({c}, dir, {bench::ChartFormat::kPng});
//   // r.written: dir/roc.png; r.have_gnuplot false: only roc.dat and roc.png.gp were written
//
// Pure file output; runs the gnuplot program once per image. Thread-safe for distinct files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace facelens::bench {

enum class ChartFormat { kSvg, kPng };
const char* chart_format_name(ChartFormat f);                                 // "svg", "png" (the file extension)
std::optional<ChartFormat> parse_chart_format(const std::string& extension);  // "svg"/".svg", "png"/".png"

struct Chart {
  std::string name;  // file stem
  std::string data;  // contents of NAME.dat
  std::string body;  // gnuplot commands after the terminal and output lines
};

struct RenderResult {
  bool have_gnuplot = false;
  std::vector<std::filesystem::path> written;  // the images rendered
  std::vector<std::string> failed;             // image file names gnuplot did not render
};

// Writes DIR/NAME.dat and DIR/NAME.KIND.gp for each chart and format, and renders DIR/NAME.KIND
// when gnuplot is on PATH (an image that fails is removed, never left half-written). DIR exists.
RenderResult render_gnuplot(const std::vector<Chart>& charts, const std::filesystem::path& dir,
                            const std::vector<ChartFormat>& formats);

// A gnuplot single-quoted string ('' stands for one quote inside).
std::string gnuplot_quote(const std::string& s);

// The ROC of a verification test: true-accept rate against false-accept rate (log scale), with
// the TAR at chosen FARs as points with their confidence intervals and the equal error rate.
struct RocChartInput {
  struct Point {
    double far = 0, tar = 0;
  };
  struct Marker {
    double far = 0;
    double tar = 0, lo = 0, hi = 0;  // at that FAR, with the interval
  };
  std::vector<Point> curve;     // from FAR 0 up to FAR 1
  std::vector<Marker> markers;  // e.g. TAR at FAR 1e-2, 1e-3, 1e-4
  double eer = -1;              // < 0: not drawn
  double min_far = 1e-4;        // left edge of the axis (FAR 0 is drawn there)
  std::string title;
};
Chart roc_chart(const RocChartInput& in, const std::filesystem::path& dir, const std::string& name);

}  // namespace facelens::bench

#include "detect/tiling.h"

#include <algorithm>
#include <cmath>

namespace facelens::detect {

StatusOr<bool> parse_tiling(const std::string& name) {
  if (name == "on") return true;
  if (name == "off") return false;
  return invalid_argument("tiling '" + name + "': expected \"on\" or \"off\"");
}

StatusOr<TilingRule> tiling_rule_of(const models::ModelEntry& entry) {
  TilingRule r;
  const std::string where = "manifest entry '" + entry.id + "': ";
  auto on = parse_tiling(entry.string("tiling", "off"));
  if (!on.ok()) return invalid_argument(where + on.status().message() + ": fix \"tiling\"");
  r.enabled = *on;
  r.min_image_scale = static_cast<float>(entry.number("tiling_min_image_scale", r.min_image_scale));
  r.overlap = static_cast<float>(entry.number("tiling_overlap", r.overlap));
  const double tiles = entry.number("tiling_max_tiles", r.max_tiles);
  r.edge_margin = static_cast<float>(entry.number("tiling_edge_margin", r.edge_margin));
  if (!(r.min_image_scale >= 1)) return invalid_argument(where + "tiling_min_image_scale must be >= 1");
  if (!(r.overlap >= 0 && r.overlap <= 0.9f)) return invalid_argument(where + "tiling_overlap must be in [0, 0.9]");
  if (!(tiles >= 1 && tiles <= 64 && tiles == std::floor(tiles)))
    return invalid_argument(where + "tiling_max_tiles must be a whole number in [1, 64]");
  r.max_tiles = static_cast<int>(tiles);
  if (!(r.edge_margin >= 0)) return invalid_argument(where + "tiling_edge_margin must be >= 0");
  return r;
}

namespace {

// Start positions of n tiles of `size` over [0, length), the first at 0 and the last ending at length.
std::vector<int> starts(int length, int n, int size) {
  std::vector<int> s(static_cast<size_t>(n), 0);
  for (int i = 1; i < n; ++i)
    s[static_cast<size_t>(i)] =
        static_cast<int>(std::lround(static_cast<double>(i) * (length - size) / static_cast<double>(n - 1)));
  return s;
}

int tile_size(int length, int n, float overlap) {
  if (n <= 1) return length;
  const double size = length / (1.0 + (n - 1) * (1.0 - overlap));
  return std::min(length, static_cast<int>(std::ceil(size)));
}

}  // namespace

std::vector<Tile> plan_tiles(int w, int h, int input_w, int input_h, const TilingRule& rule) {
  if (w <= 0 || h <= 0 || input_w <= 0 || input_h <= 0) return {};
  const double sx = static_cast<double>(w) / input_w, sy = static_cast<double>(h) / input_h;
  if (std::max(sx, sy) < rule.min_image_scale) return {};
  int cols = std::max(1, static_cast<int>(std::lround(sx))), rows = std::max(1, static_cast<int>(std::lround(sy)));
  while (cols * rows > rule.max_tiles) {
    if (cols >= rows) --cols;
    else --rows;
  }
  if (cols * rows <= 1) return {};
  const int tw = tile_size(w, cols, rule.overlap), th = tile_size(h, rows, rule.overlap);
  std::vector<Tile> tiles;
  for (int y : starts(h, rows, th))
    for (int x : starts(w, cols, tw)) tiles.push_back({x, y, tw, th});
  return tiles;
}

bool cut_by_tile_edge(const Box& b, const Tile& t, int w, int h, float margin) {
  const float x0 = static_cast<float>(t.x), y0 = static_cast<float>(t.y);
  const float x1 = static_cast<float>(t.x + t.width), y1 = static_cast<float>(t.y + t.height);
  if (t.x > 0 && b.x1 < x0 + margin) return true;
  if (t.y > 0 && b.y1 < y0 + margin) return true;
  if (t.x + t.width < w && b.x2 > x1 - margin) return true;
  if (t.y + t.height < h && b.y2 > y1 - margin) return true;
  return false;
}

}  // namespace facelens::detect

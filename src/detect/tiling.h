// Tiled detection for photos much larger than the detector's input (issue 14, small faces): the
// whole photo at the model's scale as always, plus a grid of overlapping tiles, each run at the
// model's input size, so a face that shrinks below the model's smallest anchor in the whole-photo
// pass is seen larger in a tile. The manifest entry states the rule (flat keys, absent = off):
//
//   "tiling": "on" | "off"            run the tiles by default (EngineOptions::detect_tiling overrides)
//   "tiling_min_image_scale": 2.0     tile only when the photo's width / input width or height /
//                                     input height reaches this (smaller photos: one pass, unchanged)
//   "tiling_overlap": 0.25            fraction of a tile shared with its neighbour
//   "tiling_max_tiles": 4             at most this many tiles (grid cols x rows)
//   "tiling_edge_margin": 2           a tile's box that comes within this many model-input pixels of
//                                     a tile edge inside the photo is a cut face and is dropped (the
//                                     neighbouring tile, or the whole-photo pass, sees it whole)
//
// Merge (finish_tiled in decoders.h): the whole-photo candidates go through the entry's own
// suppression exactly as without tiles; the tile candidates, in the whole-photo pass's model-input
// frame, go through the same suppression among themselves; a tile face that the entry's rule would
// suppress against (or that would suppress) a whole-photo face is dropped. So tiles only add faces
// the whole-photo pass missed, and a photo whose faces are all found untiled keeps its boxes.
#pragma once

#include <vector>

#include "facelens/status.h"
#include "facelens/types.h"
#include "models/manifest.h"

namespace facelens::detect {

struct TilingRule {
  bool enabled = false;          // "tiling": "on"
  float min_image_scale = 2.0f;  // "tiling_min_image_scale"
  float overlap = 0.25f;         // "tiling_overlap", in [0, 0.9]
  int max_tiles = 4;             // "tiling_max_tiles", >= 1
  float edge_margin = 2.0f;      // "tiling_edge_margin", model-input pixels, >= 0
};

// "on" / "off" (the manifest's "tiling" value).
StatusOr<bool> parse_tiling(const std::string& name);

// The entry's tiling rule; InvalidArgument naming the entry and key when a value is out of range.
StatusOr<TilingRule> tiling_rule_of(const models::ModelEntry& entry);

// A tile: an integer rectangle of the photo.
struct Tile {
  int x = 0, y = 0, width = 0, height = 0;
};

// The tiles of a w x h photo for a model input of input_w x input_h: none when the photo is
// smaller than rule.min_image_scale times the input on both axes. Otherwise a cols x rows grid,
// cols = round(w / input_w) and rows = round(h / input_h) (at least 1; tiles near the model's own
// scale), the larger count lowered until cols x rows <= rule.max_tiles; tiles of equal size
// overlapping by rule.overlap of a tile, covering the photo exactly (the last tile ends at the
// edge). A 1 x 1 grid gives no tiles (the whole-photo pass is that tile).
std::vector<Tile> plan_tiles(int w, int h, int input_w, int input_h, const TilingRule& rule);

// Whether `box` (photo pixels, unclipped) is cut by an edge of `tile` that lies inside the w x h
// photo: it reaches within `margin` photo pixels of that edge, or beyond it. Edges on the photo's
// border never cut (faces cut by the photo itself are found as the whole-photo pass finds them).
bool cut_by_tile_edge(const Box& box, const Tile& tile, int w, int h, float margin);

}  // namespace facelens::detect

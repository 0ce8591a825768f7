#include <algorithm>
#include <cmath>

#include "detect/decoders.h"
#include "detect/families.h"
#include "detect/nms.h"
#include "image/tensor.h"

namespace facelens::detect {

StatusOr<LetterboxScale> parse_letterbox_scale(const std::string& name) {
  if (name == "fit") return LetterboxScale::kFit;
  if (name == "down_only") return LetterboxScale::kDownOnly;
  return invalid_argument("letterbox_scale '" + name + "': expected \"fit\" or \"down_only\"");
}

const char* letterbox_scale_name(LetterboxScale s) { return s == LetterboxScale::kFit ? "fit" : "down_only"; }

StatusOr<LetterboxScale> letterbox_scale_of(const models::ModelEntry& entry) {
  auto s = parse_letterbox_scale(entry.string("letterbox_scale", "fit"));
  if (!s.ok()) return invalid_argument("manifest entry '" + entry.id + "': " + s.status().message());
  return s;
}

Placement place(int w, int h, int input_width, int input_height, models::ResizeRule resize, const std::string& align,
                LetterboxScale scale) {
  Placement p;
  if (resize != models::ResizeRule::kLetterbox) {
    p.resized_width = input_width;
    p.resized_height = input_height;
    p.map.scale_x = static_cast<float>(input_width) / static_cast<float>(w);
    p.map.scale_y = static_cast<float>(input_height) / static_cast<float>(h);
    return p;
  }
  double s = std::min(static_cast<double>(input_width) / w, static_cast<double>(input_height) / h);
  if (scale == LetterboxScale::kDownOnly) s = std::min(s, 1.0);
  p.resized_width = std::clamp(static_cast<int>(std::floor(w * s + 1e-6)), 1, input_width);
  p.resized_height = std::clamp(static_cast<int>(std::floor(h * s + 1e-6)), 1, input_height);
  if (align == "center") {
    p.offset_x = (input_width - p.resized_width) / 2;
    p.offset_y = (input_height - p.resized_height) / 2;
  }
  // The exact scale of each axis after rounding the resized size (as insightface's det_scale).
  p.map.scale_x = static_cast<float>(p.resized_width) / static_cast<float>(w);
  p.map.scale_y = static_cast<float>(p.resized_height) / static_cast<float>(h);
  p.map.offset_x = static_cast<float>(p.offset_x);
  p.map.offset_y = static_cast<float>(p.offset_y);
  return p;
}

void ModelDetector::resized_size(int w, int h, int* resized_width, int* resized_height) const {
  const auto scale = letterbox_scale_of(entry_);
  const Placement p = place(w, h, entry_.input.width(), entry_.input.height(), entry_.input.resize,
                            entry_.string("letterbox_align", "top_left"), scale.ok() ? *scale : LetterboxScale::kFit);
  *resized_width = p.resized_width;
  *resized_height = p.resized_height;
}

std::vector<float> prepare_input(const Image& img, const models::ModelEntry& entry, InputMap* map) {
  return prepare_input(img, 0, 0, img.width, img.height, entry, map);
}

std::vector<float> prepare_input(const Image& whole, int rx, int ry, int rw, int rh, const models::ModelEntry& entry,
                                 InputMap* map) {
  const int w = entry.input.width(), h = entry.input.height(), c = entry.input.norm.channels();
  std::vector<float> input(static_cast<size_t>(c) * w * h);
  const auto scale = parse_letterbox_scale(entry.string("letterbox_scale", "fit"));
  const Placement p = place(rw, rh, w, h, entry.input.resize, entry.string("letterbox_align", "top_left"),
                            scale.ok() ? *scale : LetterboxScale::kFit);
  *map = p.map;
  if (entry.input.resize != models::ResizeRule::kLetterbox) {
    image::crop_resize_planar(whole, rx, ry, rw, rh, w, h, entry.input.norm, input.data());
    return input;
  }
  const bool region = rx != 0 || ry != 0 || rw != whole.width || rh != whole.height;
  const Image cropped = region ? image::crop(whole, rx, ry, rw, rh) : Image{};
  const Image& img = region ? cropped : whole;
  const auto pad = static_cast<uint8_t>(std::clamp(entry.number("pad_value", 0), 0.0, 255.0));
  Image canvas;
  canvas.width = w;
  canvas.height = h;
  canvas.pixels.assign(static_cast<size_t>(w) * h * 3, pad);
  const bool same = p.resized_width == img.width && p.resized_height == img.height;
  const Image resized = same ? Image{} : image::resize(img, p.resized_width, p.resized_height);
  const Image& src = same ? img : resized;
  for (int y = 0; y < src.height; ++y) {
    std::copy_n(src.row(y), static_cast<size_t>(src.width) * 3,
                canvas.pixels.data() + (static_cast<size_t>(y + p.offset_y) * w + p.offset_x) * 3);
  }
  image::to_planar(canvas, entry.input.norm, input.data());
  return input;
}

namespace {

// The box of side = height about the box's centre, clipped to [0,W-1]x[0,H-1] (faceplugin
// lib/fr_detect.js scaleResult).
Box square_of_height(const Box& b, int iw, int ih) {
  const float half = b.height() / 2, cx = (b.x1 + b.x2) / 2, cy = (b.y1 + b.y2) / 2;
  const float xmax = static_cast<float>(iw - 1), ymax = static_cast<float>(ih - 1);
  return {std::max(0.f, cx - half), std::max(0.f, cy - half), std::min(xmax, cx + half), std::min(ymax, cy + half)};
}

}  // namespace

std::vector<Detection> finish(std::vector<Candidate> cand, const InputMap& map, int iw, int ih,
                              const models::DetectorContract& contract, float suppress_threshold, int max_faces) {
  return finish_tiled(std::move(cand), {}, map, iw, ih, contract, suppress_threshold, max_faces);
}

std::vector<Detection> finish_tiled(std::vector<Candidate> cand, std::vector<Candidate> tiled, const InputMap& map,
                                    int iw, int ih, const models::DetectorContract& contract, float suppress_threshold,
                                    int max_faces) {
  if (contract.max_candidates > 0 && static_cast<int>(cand.size()) > contract.max_candidates) {
    std::stable_sort(cand.begin(), cand.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    cand.resize(static_cast<size_t>(contract.max_candidates));
  }
  // The whole photo's candidates first, then the tiles': [0, n_whole) and [n_whole, size).
  const size_t n_whole = cand.size();
  cand.insert(cand.end(), std::make_move_iterator(tiled.begin()), std::make_move_iterator(tiled.end()));
  std::vector<Box> boxes, unclipped, model_boxes;
  std::vector<float> scores;
  boxes.reserve(cand.size());
  unclipped.reserve(cand.size());
  model_boxes.reserve(cand.size());
  scores.reserve(cand.size());
  const float fw = static_cast<float>(iw), fh = static_cast<float>(ih);
  for (auto& c : cand) {
    model_boxes.push_back(c.box);
    Point a = map.to_original({c.box.x1, c.box.y1}), b = map.to_original({c.box.x2, c.box.y2});
    unclipped.push_back({a.x, a.y, b.x, b.y});
    c.box = {std::clamp(a.x, 0.f, fw), std::clamp(a.y, 0.f, fh), std::clamp(b.x, 0.f, fw), std::clamp(b.y, 0.f, fh)};
    if (c.keypoints)
      for (auto& k : *c.keypoints) k = map.to_original(k);
    boxes.push_back(c.box);
    scores.push_back(c.score);
  }
  const bool hard = contract.suppression == models::Suppression::kHardNmsIou;
  // The entry's suppression over the candidates [from, to), as indices into cand.
  auto suppress = [&](size_t from, size_t to) {
    std::vector<int> kept;
    if (suppress_threshold < 0) {
      for (size_t i = from; i < to; ++i) kept.push_back(static_cast<int>(i));
      return kept;
    }
    const auto& src = hard ? boxes : model_boxes;  // bottom_first_own_area: model-input pixels (its +1 px)
    // Without tiles the range is every candidate: suppressed in place, no copy.
    const bool all = from == 0 && to == src.size();
    std::vector<Box> part;
    std::vector<float> part_scores;
    if (!all) {
      part.assign(src.begin() + static_cast<std::ptrdiff_t>(from), src.begin() + static_cast<std::ptrdiff_t>(to));
      part_scores.assign(scores.begin() + static_cast<std::ptrdiff_t>(from),
                         scores.begin() + static_cast<std::ptrdiff_t>(to));
    }
    const auto& range = all ? src : part;
    const auto& range_scores = all ? scores : part_scores;
    kept = hard ? nms(range, range_scores, suppress_threshold, 0)
                : bottom_first_own_area(range, suppress_threshold, contract.suppression_pixel_offset);
    for (int& k : kept) k += static_cast<int>(from);
    return kept;
  };
  std::vector<int> order = suppress(0, n_whole);
  if (cand.size() > n_whole) {
    const std::vector<int> whole = order;
    for (int t : suppress(n_whole, cand.size())) {
      const bool conflict = std::any_of(whole.begin(), whole.end(), [&](int k) {
        return hard ? iou(boxes[k], boxes[t]) > suppress_threshold
                    : own_area_drops(model_boxes[k], model_boxes[t], suppress_threshold,
                                     contract.suppression_pixel_offset) ||
                          own_area_drops(model_boxes[t], model_boxes[k], suppress_threshold,
                                         contract.suppression_pixel_offset);
      });
      if (!conflict) order.push_back(t);
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  std::vector<Detection> out;
  for (int k : order) {
    if (boxes[k].area() <= 0) continue;
    if (max_faces > 0 && static_cast<int>(out.size()) >= max_faces) break;
    const Box crop =
        contract.box_shape == models::BoxShape::kSquareHeight ? square_of_height(unclipped[k], iw, ih) : cand[k].box;
    out.push_back({cand[k].box, crop, cand[k].score, cand[k].keypoints});
  }
  return out;
}

std::vector<Tile> ModelDetector::tiles_of(const Image& img) const {
  if (!tiling_.enabled || !nms_) return {};
  return plan_tiles(img.width, img.height, entry_.input.width(), entry_.input.height(), tiling_);
}

StatusOr<std::vector<Detection>> ModelDetector::detect(const Image& img) const {
  if (img.empty()) return invalid_argument("empty image given to the detector");
  const std::vector<int64_t> shape{1, entry_.input.norm.channels(), entry_.input.height(), entry_.input.width()};
  InputMap map;
  std::vector<float> input = prepare_input(img, entry_, &map);
  runtime::TensorRef ref{input, shape};
  FACELENS_ASSIGN_OR_RETURN(auto out, session_->run({&ref, 1}));
  FACELENS_ASSIGN_OR_RETURN(auto cand, decode(out));
  std::vector<Candidate> tiled;
  for (const Tile& t : tiles_of(img)) {
    InputMap tmap;
    std::vector<float> tin = prepare_input(img, t.x, t.y, t.width, t.height, entry_, &tmap);
    runtime::TensorRef tref{tin, shape};
    FACELENS_ASSIGN_OR_RETURN(auto tout, session_->run({&tref, 1}));
    FACELENS_ASSIGN_OR_RETURN(auto tc, decode(tout));
    const int cap = entry_.detector.max_candidates;
    if (cap > 0 && static_cast<int>(tc.size()) > cap) {
      std::stable_sort(tc.begin(), tc.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
      tc.resize(static_cast<size_t>(cap));
    }
    // Tile input pixels -> photo pixels -> the whole photo's input pixels (where finish_tiled merges).
    const float margin = tiling_.edge_margin / std::min(tmap.scale_x, tmap.scale_y);
    auto to_whole = [&](Point p) {
      Point o = tmap.to_original(p);
      o.x += static_cast<float>(t.x);
      o.y += static_cast<float>(t.y);
      return Point{o.x * map.scale_x + map.offset_x, o.y * map.scale_y + map.offset_y};
    };
    for (auto& c : tc) {
      Point a = tmap.to_original({c.box.x1, c.box.y1}), b = tmap.to_original({c.box.x2, c.box.y2});
      const Box photo{a.x + static_cast<float>(t.x), a.y + static_cast<float>(t.y), b.x + static_cast<float>(t.x),
                      b.y + static_cast<float>(t.y)};
      if (cut_by_tile_edge(photo, t, img.width, img.height, margin)) continue;
      Point wa = to_whole({c.box.x1, c.box.y1}), wb = to_whole({c.box.x2, c.box.y2});
      c.box = {wa.x, wa.y, wb.x, wb.y};
      if (c.keypoints)
        for (auto& k : *c.keypoints) k = to_whole(k);
      tiled.push_back(std::move(c));
    }
  }
  return finish_tiled(std::move(cand), std::move(tiled), map, img.width, img.height, entry_.detector,
                      nms_ ? options_.nms_iou : -1.f, options_.max_faces);
}

}  // namespace facelens::detect

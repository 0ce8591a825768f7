#include "convert/drift.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace facelens::models {

void Stats::add(double v) {
  min = std::min(min, v);
  max = std::max(max, v);
  sum += v;
  ++n;
}

DriftBounds default_bounds(const std::string& precision) {
  DriftBounds b;
  if (precision.rfind("int8", 0) == 0) {
    // Issue 9: INT8 embeddings at cosine >= 0.98 against FP32.
    b.min_cosine = 0.98;
    b.min_mean_cosine = 0.99;
    b.max_flip_ratio = 0.01;
    b.max_score_diff = 0.1;
    b.max_landmark_error = 0.05;
    b.max_probability_diff = 0.15;
    b.max_label_flip_ratio = 0.1;
    b.min_output_cosine = 0.95;
  } else {
    // Issue 9: FP16 embeddings at cosine >= 0.999 against FP32.
    b.min_cosine = 0.999;
    b.min_mean_cosine = 0.9995;
    b.max_flip_ratio = 0.002;
    b.max_score_diff = 0.02;
    b.max_landmark_error = 0.01;
    b.max_probability_diff = 0.02;
    b.max_label_flip_ratio = 0.02;
    b.min_output_cosine = 0.999;
  }
  return b;
}

static std::string fmt(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

void check_bounds(DriftReport& r, const DriftBounds& b) {
  r.violations.clear();
  auto add = [&](const std::string& s) { r.violations.push_back(s); };
  if (!r.output_cosine.empty() && r.output_cosine.min < b.min_output_cosine) {
    add("raw output cosine " + fmt(r.output_cosine.min) + " < " + fmt(b.min_output_cosine));
  }
  if (!r.embedding_cosine.empty()) {
    if (r.embedding_cosine.min < b.min_cosine)
      add("embedding cosine min " + fmt(r.embedding_cosine.min) + " < " + fmt(b.min_cosine));
    if (r.embedding_cosine.mean() < b.min_mean_cosine)
      add("embedding cosine mean " + fmt(r.embedding_cosine.mean()) + " < " + fmt(b.min_mean_cosine));
  }
  if (r.n_key_pairs > 0 && r.key_pair_flips > b.max_key_pair_flips) {
    add(std::to_string(r.key_pair_flips) + " of " + std::to_string(r.n_key_pairs) +
        " designated same/different pairs changed their decision (at most " + std::to_string(b.max_key_pair_flips) +
        ")");
  }
  if (r.n_pairs > 0 && static_cast<double>(r.decision_flips) / r.n_pairs > b.max_flip_ratio) {
    add(std::to_string(r.decision_flips) + " of " + std::to_string(r.n_pairs) +
        " face pairs changed their decision (at most " + fmt(100 * b.max_flip_ratio, 2) + "%)");
  }
  if (r.boxes_compared) {
    if (!r.box_iou.empty() && r.box_iou.min < b.min_box_iou)
      add("box IoU min " + fmt(r.box_iou.min) + " < " + fmt(b.min_box_iou));
    if (r.max_score_diff > b.max_score_diff)
      add("detector score difference " + fmt(r.max_score_diff) + " > " + fmt(b.max_score_diff));
    const double ratio =
        r.n_faces_original ? static_cast<double>(r.n_unmatched) / r.n_faces_original : (r.n_unmatched ? 1.0 : 0.0);
    if (ratio > b.max_unmatched_ratio)
      add(std::to_string(r.n_unmatched) + " faces found by one model only, of " + std::to_string(r.n_faces_original) +
          " (at most " + fmt(100 * b.max_unmatched_ratio, 1) + "%)");
  }
  if (!r.landmark_error.empty() && r.landmark_error.max > b.max_landmark_error)
    add("landmark error " + fmt(r.landmark_error.max) + " of the box size > " + fmt(b.max_landmark_error));
  if (r.max_probability_diff > b.max_probability_diff)
    add("class probability difference " + fmt(r.max_probability_diff) + " > " + fmt(b.max_probability_diff));
  if (r.n_labels > 0 && static_cast<double>(r.label_flips) / r.n_labels > b.max_label_flip_ratio)
    add(std::to_string(r.label_flips) + " of " + std::to_string(r.n_labels) + " decisions/labels changed (at most " +
        fmt(100 * b.max_label_flip_ratio, 1) + "%)");
}

BoxMatch match_boxes(std::span<const Box> a, std::span<const Box> b, double min_iou) {
  struct Cand {
    double iou;
    int i, j;
  };
  std::vector<Cand> c;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b.size(); ++j) {
      const double v = iou(a[i], b[j]);
      if (v >= min_iou) c.push_back({v, static_cast<int>(i), static_cast<int>(j)});
    }
  std::sort(c.begin(), c.end(), [](const Cand& x, const Cand& y) { return x.iou > y.iou; });
  std::vector<char> ua(a.size(), 0), ub(b.size(), 0);
  BoxMatch m;
  for (const auto& x : c) {
    if (ua[x.i] || ub[x.j]) continue;
    ua[x.i] = ub[x.j] = 1;
    m.pairs.push_back({x.i, x.j});
    m.ious.push_back(x.iou);
  }
  m.unmatched_a = static_cast<int>(std::count(ua.begin(), ua.end(), 0));
  m.unmatched_b = static_cast<int>(std::count(ub.begin(), ub.end(), 0));
  return m;
}

double cosine(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0 && bb == 0) return 1.0;
  if (aa == 0 || bb == 0) return 0.0;
  return ab / std::sqrt(aa * bb);
}

double tar_at_far(std::span<const double> genuine, std::span<const double> impostor, double far) {
  if (genuine.empty()) return 0;
  std::vector<double> imp(impostor.begin(), impostor.end());
  std::sort(imp.begin(), imp.end(), std::greater<double>());
  // Accept scores strictly above the (k+1)-th highest impostor, k = allowed false accepts.
  const size_t k = static_cast<size_t>(std::floor(far * static_cast<double>(imp.size())));
  const double thr = imp.empty() ? -std::numeric_limits<double>::infinity()
                                 : (k < imp.size() ? imp[k] : -std::numeric_limits<double>::infinity());
  size_t accepted = 0;
  for (double g : genuine) accepted += g > thr;
  return static_cast<double>(accepted) / static_cast<double>(genuine.size());
}

static nlohmann::ordered_json stats_json(const Stats& s) {
  if (s.empty()) return nullptr;
  return {{"min", s.min}, {"mean", s.mean()}, {"max", s.max}, {"n", s.n}};
}

std::string drift_report_json(const DriftReport& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["task"] = r.task;
  j["precision"] = r.precision;
  j["original"] = {{"path", r.original_path}, {"bytes", r.original_bytes}};
  j["converted"] = {{"path", r.converted_path}, {"bytes", r.converted_bytes}};
  if (r.original_bytes > 0) j["size_ratio"] = static_cast<double>(r.converted_bytes) / r.original_bytes;
  j["images"] = r.n_images;
  j["samples"] = r.n_samples;
  j["output_cosine"] = stats_json(r.output_cosine);
  j["max_abs_diff"] = r.max_abs_diff;
  if (!r.embedding_cosine.empty()) {
    j["embedding_cosine"] = stats_json(r.embedding_cosine);
    j["pairs"] = r.n_pairs;
    j["decision_flips"] = r.decision_flips;
    j["key_pairs"] = r.n_key_pairs;
    j["key_pair_flips"] = r.key_pair_flips;
    j["match_threshold"] = r.threshold;
    j["tar_at_far"] = {{"far", r.far}, {"original", r.tar_original}, {"converted", r.tar_converted}};
  }
  if (r.task == "detector") {
    j["boxes_compared"] = r.boxes_compared;
    j["box_iou"] = stats_json(r.box_iou);
    j["max_score_diff"] = r.max_score_diff;
    j["faces_original"] = r.n_faces_original;
    j["unmatched"] = r.n_unmatched;
  }
  if (!r.landmark_error.empty()) j["landmark_error"] = stats_json(r.landmark_error);
  if (r.task == "liveness" || r.task == "attribute") {
    j["max_probability_diff"] = r.max_probability_diff;
    j["labels"] = r.n_labels;
    j["label_flips"] = r.label_flips;
  }
  if (r.latency_original_ms > 0) {
    j["latency_ms"] = {{"original", r.latency_original_ms}, {"converted", r.latency_converted_ms}};
  }
  j["notes"] = r.notes;
  j["violations"] = r.violations;
  j["ok"] = r.ok();
  return j.dump();
}

std::string drift_report_text(const DriftReport& r) {
  std::string s = "drift of " + r.precision + " " + r.model + " (" + r.task + ") against the original, " +
                  std::to_string(r.n_images) + " images, " + std::to_string(r.n_samples) + " samples\n";
  if (r.original_bytes > 0) {
    s += "  size: " + std::to_string(r.original_bytes) + " -> " + std::to_string(r.converted_bytes) + " bytes (" +
         fmt(100.0 * r.converted_bytes / r.original_bytes, 1) + "%)\n";
  }
  if (!r.output_cosine.empty()) {
    s += "  raw outputs: cosine min " + fmt(r.output_cosine.min) + ", mean " + fmt(r.output_cosine.mean(), 5) +
         ", max abs diff " + fmt(r.max_abs_diff, 5) + "\n";
  }
  if (!r.embedding_cosine.empty()) {
    s += "  embeddings: cosine min " + fmt(r.embedding_cosine.min) + ", mean " + fmt(r.embedding_cosine.mean(), 5) +
         " over " + std::to_string(r.embedding_cosine.n) + " faces\n";
    s += "  decisions: " + std::to_string(r.decision_flips) + " of " + std::to_string(r.n_pairs) +
         " pairs changed at threshold " + fmt(r.threshold, 3) +
         " (designated pairs: " + std::to_string(r.key_pair_flips) + " of " + std::to_string(r.n_key_pairs) +
         "); TAR at FAR " + fmt(r.far, 3) + ": " + fmt(r.tar_original, 3) + " -> " + fmt(r.tar_converted, 3) + "\n";
  }
  if (r.task == "detector") {
    if (r.boxes_compared) {
      s += "  boxes: IoU min " + (r.box_iou.empty() ? std::string("-") : fmt(r.box_iou.min)) + ", mean " +
           (r.box_iou.empty() ? std::string("-") : fmt(r.box_iou.mean())) + "; score diff max " +
           fmt(r.max_score_diff) + "; " + std::to_string(r.n_unmatched) + " unmatched of " +
           std::to_string(r.n_faces_original) + " faces\n";
    } else {
      s += "  boxes: not compared (no decoder for this family in facelens): raw outputs only\n";
    }
  }
  if (!r.landmark_error.empty()) {
    s += "  landmarks: error max " + fmt(r.landmark_error.max) + ", mean " + fmt(r.landmark_error.mean()) +
         " of the box size\n";
  }
  if (r.task == "liveness" || r.task == "attribute") {
    s += "  probabilities: max diff " + fmt(r.max_probability_diff) + "; " + std::to_string(r.label_flips) + " of " +
         std::to_string(r.n_labels) + " decisions changed\n";
  }
  if (r.latency_original_ms > 0) {
    s += "  latency (median, 1 input): " + fmt(r.latency_original_ms, 2) + " ms -> " + fmt(r.latency_converted_ms, 2) +
         " ms\n";
  }
  for (const auto& n : r.notes) s += "  note: " + n + "\n";
  if (r.ok()) {
    s += "  within bounds\n";
  } else {
    for (const auto& v : r.violations) s += "  BOUND BROKEN: " + v + "\n";
  }
  return s;
}

}  // namespace facelens::models

#include "facelens/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>

namespace facelens {
namespace {

struct Split {
  std::vector<float> pos, neg;  // ascending
};

Split split(std::span<const ScoredPair> pairs) {
  Split s;
  for (const auto& p : pairs) (p.same ? s.pos : s.neg).push_back(p.score);
  std::sort(s.pos.begin(), s.pos.end());
  std::sort(s.neg.begin(), s.neg.end());
  return s;
}

ErrorRates rates(const Split& s, float t) {
  ErrorRates r;
  r.threshold = t;
  r.false_rejects = static_cast<size_t>(std::lower_bound(s.pos.begin(), s.pos.end(), t) - s.pos.begin());
  r.false_accepts = static_cast<size_t>(s.neg.end() - std::lower_bound(s.neg.begin(), s.neg.end(), t));
  r.far = s.neg.empty() ? 0.0 : static_cast<double>(r.false_accepts) / s.neg.size();
  r.frr = s.pos.empty() ? 0.0 : static_cast<double>(r.false_rejects) / s.pos.size();
  const size_t n = s.pos.size() + s.neg.size();
  r.accuracy = n ? 1.0 - static_cast<double>(r.false_accepts + r.false_rejects) / n : 0.0;
  return r;
}

float above(float v) { return std::nextafter(v, std::numeric_limits<float>::infinity()); }

}  // namespace

double roc_auc(std::span<const ScoredPair> pairs) {
  const Split s = split(pairs);
  if (s.pos.empty() || s.neg.empty()) return 0;
  double wins = 0;
  for (float p : s.pos) {
    auto lo = std::lower_bound(s.neg.begin(), s.neg.end(), p);
    auto hi = std::upper_bound(lo, s.neg.end(), p);
    wins += static_cast<double>(lo - s.neg.begin()) + 0.5 * static_cast<double>(hi - lo);
  }
  return wins / (static_cast<double>(s.pos.size()) * static_cast<double>(s.neg.size()));
}

ErrorRates rates_at(std::span<const ScoredPair> pairs, float threshold) { return rates(split(pairs), threshold); }

std::vector<RocPoint> roc_curve(std::span<const ScoredPair> pairs) {
  const Split s = split(pairs);
  std::vector<float> t;
  t.reserve(pairs.size() + 1);
  for (const auto& p : pairs) t.push_back(p.score);
  std::sort(t.begin(), t.end(), std::greater<float>());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  if (!t.empty()) t.insert(t.begin(), above(t.front()));
  std::vector<RocPoint> out;
  out.reserve(t.size());
  for (float th : t) {
    ErrorRates r = rates(s, th);
    out.push_back({th, r.far, 1.0 - r.frr});
  }
  return out;
}

size_t impostor_pairs_needed(double target_far) {
  if (!(target_far > 0)) return std::numeric_limits<size_t>::max();
  const double n = std::ceil(3.0 / target_far - 1e-9);  // 3 / 0.01 is 300, not 301 after rounding
  return n >= static_cast<double>(std::numeric_limits<size_t>::max()) ? std::numeric_limits<size_t>::max()
                                                                      : static_cast<size_t>(n);
}

StatusOr<ErrorRates> threshold_for_far(std::span<const ScoredPair> pairs, double target_far) {
  const Split s = split(pairs);
  if (s.pos.empty() || s.neg.empty())
    return invalid_argument("calibration needs both same-person and different-person pairs (got " +
                            std::to_string(s.pos.size()) + " and " + std::to_string(s.neg.size()) + ")");
  if (!(target_far >= 0 && target_far <= 1)) return invalid_argument("target FAR must be in [0, 1]");
  // Up to m impostor pairs may be accepted; the threshold goes just above the (m+1)-th highest.
  const size_t m = static_cast<size_t>(std::floor(target_far * static_cast<double>(s.neg.size()) + 1e-9));
  if (m >= s.neg.size()) return rates(s, std::min(s.pos.front(), s.neg.front()));
  return rates(s, above(s.neg[s.neg.size() - 1 - m]));
}

ErrorRates best_accuracy(std::span<const ScoredPair> pairs) {
  const Split s = split(pairs);
  std::vector<float> t;
  for (const auto& p : pairs) t.push_back(p.score);
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  if (!t.empty()) t.push_back(above(t.back()));
  ErrorRates best;
  best.accuracy = -1;
  for (float th : t) {
    ErrorRates r = rates(s, th);
    if (r.accuracy > best.accuracy) best = r;
  }
  if (best.accuracy < 0) best = ErrorRates{};
  return best;
}

// ---- weighted ROC (the bootstrap reweights pairs; weight 1 everywhere gives the plain figures) --

namespace {

struct WeightedRoc {
  // From the threshold above the highest score down to the lowest score: the fraction of the
  // impostor weight (far) and of the genuine weight (tar) at or above each threshold.
  std::vector<RocPoint> points;
  bool both = false;  // both classes have weight
};

// `order`: indices of `pairs` by descending score. weights[i] for pairs[i].
WeightedRoc weighted_roc(std::span<const ScoredPair> pairs, std::span<const size_t> order, std::span<const double> w) {
  WeightedRoc r;
  double wp = 0, wn = 0;
  for (size_t i = 0; i < pairs.size(); ++i) (pairs[i].same ? wp : wn) += w[i];
  r.both = wp > 0 && wn > 0;
  if (!r.both) return r;
  r.points.reserve(order.size() + 1);
  r.points.push_back({order.empty() ? 0.f : above(pairs[order.front()].score), 0.0, 0.0});
  double ap = 0, an = 0;
  for (size_t k = 0; k < order.size();) {
    const float t = pairs[order[k]].score;
    bool any = false;
    for (; k < order.size() && pairs[order[k]].score == t; ++k) {
      const size_t i = order[k];
      if (w[i] <= 0) continue;
      any = true;
      (pairs[i].same ? ap : an) += w[i];
    }
    if (any) r.points.push_back({t, std::min(1.0, an / wn), std::min(1.0, ap / wp)});
  }
  return r;
}

// Trapezoids over the ROC: ties between a genuine and an impostor score count half, as in the
// pairwise definition.
double auc_of(const std::vector<RocPoint>& roc) {
  double a = 0;
  for (size_t i = 1; i < roc.size(); ++i) a += (roc[i].far - roc[i - 1].far) * (roc[i].tar + roc[i - 1].tar) / 2;
  return a;
}

double eer_of(const std::vector<RocPoint>& roc, float* threshold) {
  // FAR rises from 0 and FRR = 1 - TAR falls from 1 along the points: the first point with
  // FAR >= FRR ends the segment that crosses.
  for (size_t k = 0; k < roc.size(); ++k) {
    const double far = roc[k].far, frr = 1 - roc[k].tar;
    if (far < frr) continue;
    if (k == 0) {
      if (threshold) *threshold = roc[k].threshold;
      return (far + frr) / 2;
    }
    const double far0 = roc[k - 1].far, frr0 = 1 - roc[k - 1].tar;
    const double d0 = frr0 - far0, d1 = far - frr;  // d0 > 0, d1 >= 0
    const double a = d0 / (d0 + d1);
    if (threshold) *threshold = a >= 0.5 ? roc[k].threshold : roc[k - 1].threshold;
    return far0 + a * (far - far0);
  }
  if (threshold && !roc.empty()) *threshold = roc.back().threshold;
  return roc.empty() ? 0.0 : (roc.back().far + 1 - roc.back().tar) / 2;
}

double tar_at(const std::vector<RocPoint>& roc, double far) {
  double best = 0;
  for (const auto& p : roc)
    if (p.far <= far + 1e-12) best = std::max(best, p.tar);
  return best;
}

std::vector<size_t> by_descending_score(std::span<const ScoredPair> pairs) {
  std::vector<size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pairs[a].score > pairs[b].score; });
  return order;
}

// Percentile (linear interpolation between order statistics) of sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, sorted.size() - 1);
  return sorted[i] + (pos - static_cast<double>(i)) * (sorted[j] - sorted[i]);
}

}  // namespace

double equal_error_rate(std::span<const ScoredPair> pairs, float* threshold) {
  const std::vector<double> w(pairs.size(), 1.0);
  const auto order = by_descending_score(pairs);
  const WeightedRoc r = weighted_roc(pairs, order, w);
  if (!r.both) return 0;
  return eer_of(r.points, threshold);
}

StatusOr<AccuracyReport> accuracy_with_ci(std::span<const ScoredPair> pairs, const AccuracyOptions& options) {
  if (!(options.confidence > 0 && options.confidence < 1))
    return invalid_argument("confidence must be in (0, 1), e.g. 0.95");
  for (double f : options.fars)
    if (!(f > 0 && f <= 1)) return invalid_argument("each FAR must be in (0, 1], got " + std::to_string(f));
  int n_ids = 0;
  size_t n_pos = 0;
  for (const auto& p : pairs) {
    if (p.identity_a < 0 || p.identity_b < 0)
      return invalid_argument("the bootstrap over identities needs the identity of both images of every pair");
    n_ids = std::max({n_ids, p.identity_a + 1, p.identity_b + 1});
    n_pos += p.same;
  }
  if (n_pos == 0 || n_pos == pairs.size())
    return invalid_argument("accuracy needs both same-person and different-person pairs (got " + std::to_string(n_pos) +
                            " and " + std::to_string(pairs.size() - n_pos) + ")");
  const auto order = by_descending_score(pairs);
  AccuracyReport rep;
  rep.n_identities = static_cast<size_t>(n_ids);
  {
    const std::vector<double> ones(pairs.size(), 1.0);
    const WeightedRoc r = weighted_roc(pairs, order, ones);
    rep.auc.value = auc_of(r.points);
    rep.eer.value = eer_of(r.points, &rep.eer_threshold);
    const size_t n_neg = pairs.size() - n_pos;
    for (double f : options.fars) {
      TarAtFar t;
      t.far = f;
      t.tar.value = tar_at(r.points, f);
      auto th = threshold_for_far(pairs, f);
      if (th.ok()) t.threshold = th->threshold;
      t.resolved = static_cast<double>(n_neg) * f >= 1.0 - 1e-9;
      rep.tar_at_far.push_back(t);
    }
  }
  // Bootstrap over identities.
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int> pick(0, n_ids - 1);
  std::vector<double> aucs, eers;
  std::vector<std::vector<double>> tars(options.fars.size());
  std::vector<int> copies(static_cast<size_t>(n_ids));
  std::vector<double> w(pairs.size());
  const size_t max_draws = 4 * options.n_resamples;
  while (rep.n_resamples < options.n_resamples && rep.n_resamples_drawn < max_draws) {
    ++rep.n_resamples_drawn;
    std::fill(copies.begin(), copies.end(), 0);
    for (int i = 0; i < n_ids; ++i) ++copies[static_cast<size_t>(pick(rng))];
    for (size_t i = 0; i < pairs.size(); ++i) {
      const int a = copies[static_cast<size_t>(pairs[i].identity_a)];
      const int b = copies[static_cast<size_t>(pairs[i].identity_b)];
      w[i] = pairs[i].identity_a == pairs[i].identity_b ? a : static_cast<double>(a) * b;
    }
    const WeightedRoc r = weighted_roc(pairs, order, w);
    if (!r.both) continue;
    ++rep.n_resamples;
    aucs.push_back(auc_of(r.points));
    eers.push_back(eer_of(r.points, nullptr));
    for (size_t k = 0; k < options.fars.size(); ++k) tars[k].push_back(tar_at(r.points, options.fars[k]));
  }
  const double lo_q = (1 - options.confidence) / 2, hi_q = 1 - lo_q;
  auto interval = [&](std::vector<double>& v, Estimate* e) {
    if (v.empty()) {
      e->lo = e->hi = e->value;
      return;
    }
    std::sort(v.begin(), v.end());
    e->lo = percentile(v, lo_q);
    e->hi = percentile(v, hi_q);
  };
  interval(aucs, &rep.auc);
  interval(eers, &rep.eer);
  for (size_t k = 0; k < options.fars.size(); ++k) interval(tars[k], &rep.tar_at_far[k].tar);
  return rep;
}

WorstErrors worst_errors(std::span<const ScoredPair> pairs, float threshold, size_t k) {
  WorstErrors w;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (!pairs[i].same && pairs[i].score >= threshold) w.false_accepts.push_back(i);
    if (pairs[i].same && pairs[i].score < threshold) w.false_rejects.push_back(i);
  }
  std::stable_sort(w.false_accepts.begin(), w.false_accepts.end(),
                   [&](size_t a, size_t b) { return pairs[a].score > pairs[b].score; });
  std::stable_sort(w.false_rejects.begin(), w.false_rejects.end(),
                   [&](size_t a, size_t b) { return pairs[a].score < pairs[b].score; });
  if (w.false_accepts.size() > k) w.false_accepts.resize(k);
  if (w.false_rejects.size() > k) w.false_rejects.resize(k);
  return w;
}

}  // namespace facelens

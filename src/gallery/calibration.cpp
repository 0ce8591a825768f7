#include "gallery/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace facelens::gallery {
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

}  // namespace facelens::gallery

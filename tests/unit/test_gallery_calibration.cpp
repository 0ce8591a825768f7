// Threshold calibration maths against brute-force definitions on random scored pairs.
#include <gtest/gtest.h>

#include <random>

#include "gallery/calibration.h"

namespace facelens::gallery {
namespace {

std::vector<ScoredPair> random_pairs(size_t n, uint32_t seed, bool ties) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> genuine(0.6f, 0.15f), impostor(0.1f, 0.1f);
  std::vector<ScoredPair> pairs;
  for (size_t i = 0; i < n; ++i) {
    const bool same = rng() % 4 == 0;
    float s = same ? genuine(rng) : impostor(rng);
    if (ties) s = std::round(s * 20) / 20;  // many equal scores
    pairs.push_back({s, same});
  }
  return pairs;
}

double brute_auc(const std::vector<ScoredPair>& pairs) {
  double wins = 0, n = 0;
  for (const auto& p : pairs)
    for (const auto& q : pairs)
      if (p.same && !q.same) {
        wins += p.score > q.score ? 1.0 : p.score == q.score ? 0.5 : 0.0;
        n += 1;
      }
  return wins / n;
}

TEST(Calibration, AucMatchesPairwiseDefinition) {
  for (bool ties : {false, true}) {
    auto pairs = random_pairs(600, ties ? 2 : 1, ties);
    EXPECT_NEAR(roc_auc(pairs), brute_auc(pairs), 1e-12) << "ties " << ties;
  }
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<ScoredPair>{{0.9f, true}, {0.1f, false}}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<ScoredPair>{{0.1f, true}, {0.9f, false}}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<ScoredPair>{{0.5f, true}, {0.5f, false}}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<ScoredPair>{{0.5f, true}}), 0.0);
}

TEST(Calibration, RatesCountDecisionsAtThreshold) {
  std::vector<ScoredPair> pairs = {{0.9f, true}, {0.5f, true}, {0.3f, true}, {0.6f, false}, {0.2f, false}, {0.5f, false}};
  ErrorRates r = rates_at(pairs, 0.5f);  // accept >= 0.5
  EXPECT_EQ(r.false_rejects, 1u);        // 0.3
  EXPECT_EQ(r.false_accepts, 2u);        // 0.6 and 0.5
  EXPECT_DOUBLE_EQ(r.frr, 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.far, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
}

TEST(Calibration, ThresholdForFarIsTheLowestMeetingTheTarget) {
  for (bool ties : {false, true}) {
    auto pairs = random_pairs(2000, 3, ties);
    for (double target : {0.0, 0.001, 0.01, 0.05, 0.2}) {
      auto t = threshold_for_far(pairs, target);
      ASSERT_TRUE(t.ok());
      EXPECT_LE(t->far, target + 1e-12);
      // Brute force: no lower candidate threshold (any score) meets the target.
      for (const auto& p : pairs) {
        if (p.score < t->threshold) {
          EXPECT_GT(rates_at(pairs, p.score).far, target) << "t " << p.score;
        }
      }
    }
  }
  EXPECT_FALSE(threshold_for_far(std::vector<ScoredPair>{{0.5f, true}}, 0.01).ok());
  EXPECT_FALSE(threshold_for_far(random_pairs(10, 4, false), 2.0).ok());
}

TEST(Calibration, RocCurveIsMonotoneAndBestAccuracyIsBest) {
  auto pairs = random_pairs(500, 5, true);
  auto roc = roc_curve(pairs);
  ASSERT_GE(roc.size(), 2u);
  EXPECT_DOUBLE_EQ(roc.front().far, 0.0);
  EXPECT_DOUBLE_EQ(roc.front().tar, 0.0);
  EXPECT_DOUBLE_EQ(roc.back().far, 1.0);
  EXPECT_DOUBLE_EQ(roc.back().tar, 1.0);
  for (size_t i = 1; i < roc.size(); ++i) {
    EXPECT_LT(roc[i].threshold, roc[i - 1].threshold);
    EXPECT_GE(roc[i].far, roc[i - 1].far);
    EXPECT_GE(roc[i].tar, roc[i - 1].tar);
  }
  ErrorRates best = best_accuracy(pairs);
  for (const auto& p : pairs) EXPECT_LE(rates_at(pairs, p.score).accuracy, best.accuracy + 1e-12);
}

}  // namespace
}  // namespace facelens::gallery

// Threshold calibration maths against brute-force definitions on random scored pairs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <limits>
#include <random>

#include "facelens/calibration.h"

namespace facelens {
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
  std::vector<ScoredPair> pairs = {{0.9f, true},  {0.5f, true},  {0.3f, true},
                                   {0.6f, false}, {0.2f, false}, {0.5f, false}};
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

// The rule of three behind `calibrate --write-config`'s refusal: 3 / FAR impostor pairs.
TEST(Calibration, ImpostorPairsNeededFollowTheRuleOfThree) {
  EXPECT_EQ(impostor_pairs_needed(0.01), 300u);
  EXPECT_EQ(impostor_pairs_needed(0.001), 3000u);
  EXPECT_EQ(impostor_pairs_needed(0.3), 10u);
  EXPECT_EQ(impostor_pairs_needed(0.007), 429u);  // ceil(428.57)
  EXPECT_EQ(impostor_pairs_needed(1.0), 3u);
  EXPECT_EQ(impostor_pairs_needed(0.0), std::numeric_limits<size_t>::max());
  EXPECT_EQ(impostor_pairs_needed(-1.0), std::numeric_limits<size_t>::max());
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

// Pairs of every two images of n_ids identities with `per_id` images each; genuine scores
// N(genuine_mean, 0.15) and impostor N(0.1, 0.1) (or fully separated when `separable`).
std::vector<ScoredPair> identity_pairs(int n_ids, int per_id, uint32_t seed, bool separable,
                                       float genuine_mean = 0.6f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> genuine(genuine_mean, 0.15f), impostor(0.1f, 0.1f);
  std::vector<int> ids;
  for (int i = 0; i < n_ids; ++i)
    for (int k = 0; k < per_id; ++k) ids.push_back(i);
  std::vector<ScoredPair> pairs;
  for (size_t a = 0; a < ids.size(); ++a)
    for (size_t b = a + 1; b < ids.size(); ++b) {
      const bool same = ids[a] == ids[b];
      float s = same ? genuine(rng) : impostor(rng);
      if (separable) s = same ? 0.7f + 0.2f * (s - genuine_mean) : -0.3f + 0.2f * (s - 0.1f);
      pairs.push_back({s, same, ids[a], ids[b]});
    }
  return pairs;
}

TEST(CalibrationBootstrap, SeparableSetHasAucOneWithIntervalOne) {
  auto pairs = identity_pairs(12, 3, 7, /*separable=*/true);
  AccuracyOptions o;
  o.n_resamples = 300;
  auto r = accuracy_with_ci(pairs, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_DOUBLE_EQ(r->auc.value, 1.0);
  EXPECT_DOUBLE_EQ(r->auc.lo, 1.0);
  EXPECT_DOUBLE_EQ(r->auc.hi, 1.0);
  EXPECT_DOUBLE_EQ(r->eer.value, 0.0);
  EXPECT_DOUBLE_EQ(r->eer.hi, 0.0);
  for (const auto& t : r->tar_at_far) {
    EXPECT_DOUBLE_EQ(t.tar.value, 1.0);
    EXPECT_DOUBLE_EQ(t.tar.lo, 1.0);
  }
  EXPECT_EQ(r->n_identities, 12u);
  EXPECT_EQ(r->n_resamples, 300u);
}

TEST(CalibrationBootstrap, EqualErrorRateByHand) {
  // Thresholds from the top: (FAR, FRR) = (0,1) (0,.75) (0,.5) (.25,.5) (.25,.25): they meet at 0.6.
  std::vector<ScoredPair> a = {{0.9f, true},  {0.8f, true},  {0.6f, true},  {0.3f, true},
                               {0.7f, false}, {0.4f, false}, {0.2f, false}, {0.1f, false}};
  float t = 0;
  EXPECT_NEAR(equal_error_rate(a, &t), 0.25, 1e-12);
  EXPECT_FLOAT_EQ(t, 0.6f);
  // (0,1) (0,2/3) (0,1/3) then (.5,1/3) at 0.7: FRR stays 1/3 while FAR goes 0 -> .5, so they
  // cross at FAR = 1/3, two thirds of the way: the threshold of the nearer point is 0.7.
  std::vector<ScoredPair> b = {{0.9f, true}, {0.8f, true}, {0.3f, true}, {0.7f, false}, {0.2f, false}};
  EXPECT_NEAR(equal_error_rate(b, &t), 1.0 / 3, 1e-12);
  EXPECT_FLOAT_EQ(t, 0.7f);
  EXPECT_DOUBLE_EQ(equal_error_rate(std::vector<ScoredPair>{{0.9f, true}, {0.1f, false}}), 0.0);
  EXPECT_DOUBLE_EQ(equal_error_rate(std::vector<ScoredPair>{{0.1f, true}, {0.9f, false}}), 1.0);
}

TEST(CalibrationBootstrap, PointEstimatesMatchThePlainFigures) {
  auto pairs = identity_pairs(20, 4, 11, false);
  AccuracyOptions o;
  o.n_resamples = 50;
  o.fars = {0.01, 0.001, 1e-4};
  auto r = accuracy_with_ci(pairs, o);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->auc.value, roc_auc(pairs), 1e-12);
  EXPECT_NEAR(r->eer.value, equal_error_rate(pairs), 1e-12);
  size_t n_neg = 0;
  for (const auto& p : pairs) n_neg += !p.same;  // 2880: 1e-2 and 1e-3 resolved, 1e-4 not
  for (const auto& t : r->tar_at_far) {
    auto th = threshold_for_far(pairs, t.far);
    ASSERT_TRUE(th.ok());
    EXPECT_NEAR(t.tar.value, 1 - th->frr, 1e-12) << t.far;
    EXPECT_FLOAT_EQ(t.threshold, th->threshold);
    EXPECT_EQ(t.resolved, n_neg * t.far >= 1) << t.far;
  }
}

TEST(CalibrationBootstrap, IntervalContainsEstimateAndNarrowsWithMoreIdentities) {
  AccuracyOptions o;
  o.n_resamples = 400;
  o.seed = 3;
  // Overlapping classes (AUC about 0.85), so that every statistic varies between resamples.
  auto small = accuracy_with_ci(identity_pairs(8, 3, 21, false, 0.3f), o);
  auto large = accuracy_with_ci(identity_pairs(64, 3, 21, false, 0.3f), o);
  ASSERT_TRUE(small.ok() && large.ok());
  for (const auto* r : {&*small, &*large}) {
    EXPECT_LE(r->auc.lo, r->auc.value);
    EXPECT_GE(r->auc.hi, r->auc.value);
    EXPECT_LE(r->eer.lo, r->eer.value);
    EXPECT_GE(r->eer.hi, r->eer.value);
    EXPECT_LE(r->tar_at_far[0].tar.lo, r->tar_at_far[0].tar.value);
    EXPECT_GE(r->tar_at_far[0].tar.hi, r->tar_at_far[0].tar.value);
    EXPECT_LT(r->auc.lo, r->auc.hi);  // not a degenerate interval on overlapping classes
    EXPECT_GT(r->auc.value, 0.7);
    EXPECT_LT(r->auc.value, 0.97);
  }
  EXPECT_LT(large->auc.hi - large->auc.lo, 0.6 * (small->auc.hi - small->auc.lo));
  EXPECT_LT(large->eer.hi - large->eer.lo, 0.6 * (small->eer.hi - small->eer.lo));
  // Seeded: the same seed gives the same interval, another seed another one.
  auto again = accuracy_with_ci(identity_pairs(8, 3, 21, false, 0.3f), o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->auc.lo, small->auc.lo);
  EXPECT_EQ(again->eer.hi, small->eer.hi);
  o.seed = 4;
  auto other = accuracy_with_ci(identity_pairs(8, 3, 21, false, 0.3f), o);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->auc.lo != small->auc.lo || other->auc.hi != small->auc.hi);
}

TEST(CalibrationBootstrap, RefusesPairsWithoutIdentitiesOrOneClass) {
  std::vector<ScoredPair> no_ids = {{0.9f, true}, {0.1f, false}};
  EXPECT_FALSE(accuracy_with_ci(no_ids, {}).ok());
  std::vector<ScoredPair> one_class = {{0.9f, true, 0, 0}, {0.8f, true, 1, 1}};
  EXPECT_FALSE(accuracy_with_ci(one_class, {}).ok());
  AccuracyOptions bad;
  bad.fars = {0};
  EXPECT_FALSE(accuracy_with_ci(identity_pairs(4, 2, 1, false), bad).ok());
}

TEST(CalibrationWorst, ErrorsAtTheThresholdWorstFirst) {
  std::vector<ScoredPair> pairs = {{0.9f, true},  {0.35f, true}, {0.2f, true},  {0.39f, true}, {0.45f, false},
                                   {0.8f, false}, {0.1f, false}, {0.8f, false}, {0.4f, false}, {0.05f, true}};
  WorstErrors w = worst_errors(pairs, 0.4f, 3);  // accept >= 0.4
  // False accepts: 0.8 (index 5), 0.8 (7), 0.45 (4), 0.4 (8): the three worst, ties by index.
  EXPECT_EQ(w.false_accepts, (std::vector<size_t>{5, 7, 4}));
  // False rejects: 0.05 (9), 0.2 (2), 0.35 (1), 0.39 (3).
  EXPECT_EQ(w.false_rejects, (std::vector<size_t>{9, 2, 1}));
  WorstErrors all = worst_errors(pairs, 0.4f, 100);
  EXPECT_EQ(all.false_accepts.size(), rates_at(pairs, 0.4f).false_accepts);
  EXPECT_EQ(all.false_rejects.size(), rates_at(pairs, 0.4f).false_rejects);
  EXPECT_TRUE(worst_errors(pairs, 0.0f, 5).false_rejects.empty());
  EXPECT_TRUE(worst_errors(pairs, 1.0f, 5).false_accepts.empty());
}

TEST(CalibrationRocCharts, OneChartPerStemAndOnlyPngOrSvg) {
  const auto pairs = identity_pairs(6, 3, 7, false);
  AccuracyOptions ao;
  ao.n_resamples = 20;
  auto acc = accuracy_with_ci(pairs, ao);
  ASSERT_TRUE(acc.ok()) << acc.status().to_string();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("facelens_roc_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto bad = write_roc_charts(pairs, *acc, ao, {(dir / "roc.jpg").string()});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir));  // refused before anything is written
  auto none = write_roc_charts(pairs, *acc, ao, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->written.empty());
  auto r = write_roc_charts(pairs, *acc, ao, {(dir / "a" / "roc.svg").string(), (dir / "a" / "roc.png").string()});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // The data and a script per format are written with or without gnuplot (whose absence is a note).
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "roc.dat"));
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "roc.svg.gp"));
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "roc.png.gp"));
  EXPECT_GE(r->written.size() + r->notes.size(), 1u);
  for (const auto& f : r->written) EXPECT_TRUE(std::filesystem::exists(f)) << f;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace facelens

// facelens — verification threshold calibration: ROC, AUC and error rates of scored pairs, and
// the ROC chart (one implementation shared by `facelens calibrate` and tools/bench/eval_recognition).
//
//   std::vector<facelens::ScoredPair> pairs = {{0.71f, true, 0, 0}, {0.12f, false, 0, 1}, ...};
//   double auc = facelens::roc_auc(pairs);
//   auto t = facelens::threshold_for_far(pairs, 1e-3);   // lowest threshold with FAR <= 0.1%
//   auto acc = facelens::accuracy_with_ci(pairs, {});      // AUC, EER, TAR@FAR with 95 % intervals
//   auto charts = facelens::write_roc_charts(pairs, *acc, {}, {"out/roc.svg", "out/roc.png"});
//
// Intervals come from a bootstrap over identities (pairs carry the identity of each image): each
// resample draws as many identities as there are, with replacement; a pair counts once per drawn
// copy of its identity (genuine) or per drawn copy of both identities (impostor). The interval
// is the percentile interval of the resampled statistic; the seed makes it reproducible.
//
// Decision rule everywhere: a pair is accepted as "same person" when score >= threshold.
// Pure functions, thread-safe (write_roc_charts: for distinct files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "facelens/status.h"

namespace facelens {

struct ScoredPair {
  float score = 0;    // similarity (cosine)
  bool same = false;  // genuine (same person) or impostor pair
  // Identities of the two images (0-based, for the bootstrap over identities); -1 = unknown.
  int identity_a = -1, identity_b = -1;
};

struct ErrorRates {
  float threshold = 0;
  size_t false_accepts = 0;  // impostor pairs with score >= threshold
  size_t false_rejects = 0;  // genuine pairs with score < threshold
  double far = 0;            // false_accepts / impostor pairs
  double frr = 0;            // false_rejects / genuine pairs
  double accuracy = 0;       // correct decisions / pairs
};

struct RocPoint {
  float threshold = 0;
  double far = 0;  // false-accept rate
  double tar = 0;  // true-accept rate = 1 - FRR
};

// Probability that a random genuine pair scores above a random impostor pair (ties count half).
// 0 when either class is empty.
double roc_auc(std::span<const ScoredPair> pairs);
ErrorRates rates_at(std::span<const ScoredPair> pairs, float threshold);
// One point per distinct score used as the threshold, from the highest threshold (FAR 0) down.
std::vector<RocPoint> roc_curve(std::span<const ScoredPair> pairs);
// The lowest threshold whose FAR is at most target_far (just above the impostor score that would
// exceed it). Needs both classes; with n impostor pairs, FAR below 1/n cannot be told from 0.
StatusOr<ErrorRates> threshold_for_far(std::span<const ScoredPair> pairs, double target_far);
// The different-person pairs a threshold for target_far needs before it may be used: ceil(3 / far).
// The "rule of three" (Hanley & Lippman-Hand, JAMA 1983): with no false accept among n impostor
// pairs, the 95 % upper confidence bound of the FAR is about 3 / n, so fewer pairs cannot show
// that the FAR is at most target_far. A far <= 0 can never be shown: SIZE_MAX.
size_t impostor_pairs_needed(double target_far);
// The lowest threshold (among the scores and just above the highest) with the best accuracy.
ErrorRates best_accuracy(std::span<const ScoredPair> pairs);

// Equal error rate: where FAR = FRR on the ROC, linearly interpolated between the two ROC points
// (distinct-score thresholds) around the crossing. *threshold (when given) gets the threshold of
// the nearer of those two points. 0 when either class is empty.
double equal_error_rate(std::span<const ScoredPair> pairs, float* threshold = nullptr);

// A statistic and its confidence interval [lo, hi].
struct Estimate {
  double value = 0;
  double lo = 0, hi = 0;
};

struct TarAtFar {
  double far = 0;       // the target false-accept rate
  Estimate tar;         // the best true-accept rate with FAR <= target
  float threshold = 0;  // the lowest threshold meeting the target (on all pairs)
  // False when there are fewer than 1/far impostor pairs: FAR that low cannot be told from 0,
  // and tar is the rate above the highest impostor score.
  bool resolved = false;
};

struct AccuracyOptions {
  std::vector<double> fars = {1e-2, 1e-3, 1e-4};
  size_t n_resamples = 1000;  // bootstrap resamples (0: no intervals, lo = hi = value)
  uint64_t seed = 1;
  double confidence = 0.95;  // of the percentile interval
};

struct AccuracyReport {
  Estimate auc, eer;
  float eer_threshold = 0;
  std::vector<TarAtFar> tar_at_far;  // in the order of AccuracyOptions::fars
  size_t n_identities = 0;
  size_t n_resamples = 0;        // resamples with both genuine and impostor pairs (the others are
  size_t n_resamples_drawn = 0;  // redrawn up to 4x n_resamples draws in all)
};

// AUC, EER and TAR at each FAR on all pairs, each with its bootstrap interval over identities.
// Needs both classes and identity_a/identity_b >= 0 on every pair.
StatusOr<AccuracyReport> accuracy_with_ci(std::span<const ScoredPair> pairs, const AccuracyOptions& options);

// The worst errors at `threshold` (accept when score >= threshold), at most k of each, as indices
// into `pairs`: false accepts by descending score, false rejects by ascending score (ties: lower
// index first).
struct WorstErrors {
  std::vector<size_t> false_accepts;
  std::vector<size_t> false_rejects;
};
WorstErrors worst_errors(std::span<const ScoredPair> pairs, float threshold, size_t k);

// The ROC chart of a calibration: TAR against FAR (log scale) with the TAR at each of
// options.fars as points with their intervals, the EER, and a title with the pair and identity
// counts, AUC and EER. Drawn with gnuplot (Debian: gnuplot-nox); each chart keeps its data
// (STEM.dat) and scripts (STEM.KIND.gp) beside the image so it can be rendered again by hand.
struct RocChartsWritten {
  std::vector<std::string> written;  // the images rendered
  std::vector<std::string> notes;    // what could not be rendered and why (gnuplot missing or failing)
};
// One chart per folder and file stem of `files` (each ending in .png or .svg; folders are
// created), in the formats asked for. kInvalidArgument for another extension or a folder that
// cannot be created. `report` and `options` are those of accuracy_with_ci on `pairs`.
StatusOr<RocChartsWritten> write_roc_charts(std::span<const ScoredPair> pairs, const AccuracyReport& report,
                                            const AccuracyOptions& options, const std::vector<std::string>& files);

}  // namespace facelens

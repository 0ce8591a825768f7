// Verification threshold calibration: ROC, AUC and error rates of scored pairs (one
// implementation shared by `facelens calibrate` and bench/eval_recognition).
//
//   std::vector<gallery::ScoredPair> pairs = {{0.71f, true}, {0.12f, false}, ...};
//   double auc = gallery::roc_auc(pairs);
//   auto t = gallery::threshold_for_far(pairs, 1e-3);   // lowest threshold with FAR <= 0.1%
//
// Decision rule everywhere: a pair is accepted as "same person" when score >= threshold.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "facelens/status.h"

namespace facelens::gallery {

struct ScoredPair {
  float score = 0;    // similarity (cosine)
  bool same = false;  // genuine (same person) or impostor pair
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
// The lowest threshold (among the scores and just above the highest) with the best accuracy.
ErrorRates best_accuracy(std::span<const ScoredPair> pairs);

}  // namespace facelens::gallery

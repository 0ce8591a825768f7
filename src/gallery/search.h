// The gallery's search over its IdentityTable: the choice of search for the gallery's size and
// options (exact, Hamming pre-filter, FAISS), identity scores aggregated from face scores (best,
// or mean of the top k), and the match decision.
//
//   gallery::Search search(table, options);     // callers hold the table's lock (shared)
//   auto face = search.decide(query, 5, 0.4f);  // top-5 identities, identity when >= 0.4
//
// Candidates of approximate searches are always re-scored exactly from the FP32 vectors.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "facelens/gallery.h"
#include "facelens/status.h"
#include "gallery/identity_table.h"
#include "gallery/index.h"

namespace facelens::gallery {

inline constexpr int kMaxTopK = 1000;

// Mean of the k best of `scores` (all of them when fewer), or the best for kBest or k <= 1; -inf
// when empty. Reorders `scores`.
float aggregate(std::vector<float>& scores, IdentityScore mode, int k);

class Search {
 public:
  Search(const IdentityTable& table, const GalleryOptions& options) : t_(table), o_(options) {}

  // The search in use for the gallery's size and options (kAuto resolved).
  IndexKind mode() const;
  // A FAISS index is wanted (built by the Gallery on the first search, see build_ann).
  bool want_ann() const;
  // The FAISS index of the table's vectors for the options.
  StatusOr<std::unique_ptr<Index>> build_ann() const;

  // The top-k identities for a query, best first (ties: lower identity id first).
  StatusOr<std::vector<Match>> top(std::span<const float> query, int top_k) const;
  // Top-k and the decision: the best identity when it reaches the threshold, else unknown.
  StatusOr<IdentifiedFace> decide(std::span<const float> query, int top_k, float threshold) const;
  // The score of the identity `name` (kNotFound naming `store` when absent or without faces).
  StatusOr<float> identity_score(std::span<const float> query, const std::string& name, const std::string& store) const;

 private:
  // One identity's score from its faces' FP32 vectors.
  float exact_identity_score(const IdentityTable::Identity& e, std::span<const float> q) const;
  // Every identity scored from every face in one pass over the (FP16) matrix with per-slot
  // aggregation; the identities that can still be in the top k re-scored exactly.
  std::vector<std::pair<float, int64_t>> score_all(std::span<const float> q, int top_k) const;

  const IdentityTable& t_;
  const GalleryOptions& o_;
};

}  // namespace facelens::gallery

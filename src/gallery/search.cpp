#include "gallery/search.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <set>

namespace facelens::gallery {

float aggregate(std::vector<float>& scores, IdentityScore mode, int k) {
  if (scores.empty()) return -std::numeric_limits<float>::infinity();
  if (mode == IdentityScore::kBest || k <= 1) return *std::max_element(scores.begin(), scores.end());
  const size_t n = std::min(scores.size(), static_cast<size_t>(k));
  std::partial_sort(scores.begin(), scores.begin() + n, scores.end(), std::greater<float>());
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += scores[i];
  return static_cast<float>(s / n);
}

IndexKind Search::mode() const {
  if (o_.index != IndexKind::kAuto) return o_.index;
  return t_.exact && t_.exact->size() >= o_.ann_min_faces ? IndexKind::kHamming : IndexKind::kExact;
}

bool Search::want_ann() const {
  return t_.exact && t_.exact->size() > 0 && (mode() == IndexKind::kHnsw || mode() == IndexKind::kIvf);
}

StatusOr<std::unique_ptr<Index>> Search::build_ann() const {
  AnnOptions a;
  a.kind = o_.index == IndexKind::kIvf ? AnnKind::kIvf : AnnKind::kHnsw;
  a.hnsw_m = o_.hnsw_m;
  a.hnsw_ef_construction = o_.hnsw_ef_construction;
  a.hnsw_ef_search = o_.hnsw_ef_search;
  a.ivf_nlist = o_.ivf_nlist;
  a.ivf_nprobe = o_.ivf_nprobe;
  return create_faiss_index(t_.exact->dim(), a, t_.exact->row_ids(), t_.exact->matrix());
}

StatusOr<std::vector<Match>> Search::top(std::span<const float> q, int top_k) const {
  if (top_k < 1 || top_k > kMaxTopK) return invalid_argument("top-k must be in 1.." + std::to_string(kMaxTopK));
  std::vector<Match> out;
  const auto& exact = t_.exact;
  if (!exact || exact->size() == 0) return out;
  if (static_cast<int>(q.size()) != exact->dim())
    return invalid_argument("embedding has " + std::to_string(q.size()) + " dimensions, the gallery " +
                            std::to_string(exact->dim()));
  std::vector<std::pair<float, int64_t>> scored;  // (score, identity id)
  const IndexKind kind = mode();
  if (kind == IndexKind::kHamming || (t_.ann && want_ann())) {
    const int ask = std::max(o_.ann_candidates, 4 * top_k);
    std::vector<Neighbor> cands;
    if (kind == IndexKind::kHamming) {
      FACELENS_ASSIGN_OR_RETURN(cands, exact->search_prefiltered(q, ask, std::max(ask, o_.hamming_candidates)));
    } else {
      FACELENS_ASSIGN_OR_RETURN(cands, t_.ann->search(q, ask));
    }
    std::set<int64_t> seen;
    for (const auto& c : cands) {
      auto fi = t_.face_identity.find(c.id);
      if (fi == t_.face_identity.end() || !seen.insert(fi->second.identity_id).second) continue;
      scored.push_back({exact_identity_score(t_.identities.at(fi->second.identity_id), q), fi->second.identity_id});
    }
  } else {
    scored = score_all(q, top_k);
  }
  const size_t n = std::min(scored.size(), static_cast<size_t>(top_k));
  std::partial_sort(scored.begin(), scored.begin() + n, scored.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  for (size_t i = 0; i < n; ++i) out.push_back({t_.identities.at(scored[i].second).name, scored[i].first});
  return out;
}

StatusOr<IdentifiedFace> Search::decide(std::span<const float> q, int top_k, float threshold) const {
  IdentifiedFace out;
  FACELENS_ASSIGN_OR_RETURN(out.matches, top(q, top_k));
  if (!out.matches.empty()) {
    out.score = out.matches[0].score;
    if (out.score >= threshold) out.identity = out.matches[0];
  }
  return out;
}

float Search::exact_identity_score(const IdentityTable::Identity& e, std::span<const float> q) const {
  std::vector<float> scores;
  for (int64_t f : e.faces)
    if (const float* v = t_.exact->vector(f)) scores.push_back(dot(v, q.data(), t_.exact->dim()));
  return aggregate(scores, o_.score, o_.score_top_k);
}

std::vector<std::pair<float, int64_t>> Search::score_all(std::span<const float> q, int top_k) const {
  const auto& exact = *t_.exact;
  const size_t n_rows = exact.size(), n_slots = t_.slot_identity.size();
  std::vector<float> scores(n_rows);
  const float bound = exact.score_all_approx(q, scores);
  const auto& tags = exact.row_tags();
  const float lowest = -std::numeric_limits<float>::infinity();
  std::vector<std::pair<float, int64_t>> out;
  const int k = o_.score == IdentityScore::kBest ? 1 : std::max(1, o_.score_top_k);
  // Per slot: its k best scores, descending (k = 1: the best).
  std::vector<float> top(n_slots * static_cast<size_t>(k), lowest);
  std::vector<int> count(n_slots, 0);
  for (size_t r = 0; r < n_rows; ++r) {
    const size_t slot = static_cast<size_t>(tags[r]);
    float* t = &top[slot * static_cast<size_t>(k)];
    ++count[slot];
    float s = scores[r];
    if (s <= t[k - 1]) continue;
    int i = k - 1;
    while (i > 0 && t[i - 1] < s) {
      t[i] = t[i - 1];
      --i;
    }
    t[i] = s;
  }
  for (size_t slot = 0; slot < n_slots; ++slot) {
    if (count[slot] == 0 || t_.slot_identity[slot] < 0) continue;
    const int m = std::min(count[slot], k);
    double sum = 0;
    for (int i = 0; i < m; ++i) sum += top[slot * static_cast<size_t>(k) + static_cast<size_t>(i)];
    out.push_back({static_cast<float>(sum / m), t_.slot_identity[slot]});
  }
  if (bound <= 0 || out.empty()) return out;
  // An aggregate (max or mean of the best k) of scores each within `bound` is within `bound`.
  const size_t kth = std::min(out.size(), static_cast<size_t>(top_k)) - 1;
  std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(kth), out.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  const float cut = out[kth].first - 2 * bound;
  std::vector<std::pair<float, int64_t>> exact_scored;
  for (const auto& [approx, id] : out)
    if (approx >= cut) exact_scored.push_back({exact_identity_score(t_.identities.at(id), q), id});
  return exact_scored;
}

StatusOr<float> Search::identity_score(std::span<const float> q, const std::string& name,
                                       const std::string& store) const {
  auto it = t_.by_name.find(name);
  if (it == t_.by_name.end()) return not_found("no identity '" + name + "' in the gallery " + store);
  const IdentityTable::Identity& e = t_.identities.at(it->second);
  if (!t_.exact || e.faces.empty()) return not_found("identity '" + name + "' has no enrolled face");
  if (static_cast<int>(q.size()) != t_.exact->dim())
    return invalid_argument("embedding has " + std::to_string(q.size()) + " dimensions, the gallery " +
                            std::to_string(t_.exact->dim()));
  return exact_identity_score(e, q);
}

}  // namespace facelens::gallery

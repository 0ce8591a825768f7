#include "facelens/gallery.h"

namespace facelens {

const char* index_kind_name(IndexKind k) {
  switch (k) {
    case IndexKind::kAuto: return "auto";
    case IndexKind::kExact: return "exact";
    case IndexKind::kHamming: return "hamming";
    case IndexKind::kHnsw: return "hnsw";
    case IndexKind::kIvf: return "ivf";
  }
  return "exact";
}

StatusOr<IndexKind> parse_index_kind(const std::string& name) {
  for (IndexKind k : {IndexKind::kAuto, IndexKind::kExact, IndexKind::kHamming, IndexKind::kHnsw, IndexKind::kIvf})
    if (name == index_kind_name(k)) return k;
  return invalid_argument("unknown gallery index '" + name + "': expected auto, exact, hamming, hnsw or ivf");
}

StatusOr<IdentityScore> parse_identity_score(const std::string& name) {
  if (name == "best") return IdentityScore::kBest;
  if (name == "mean") return IdentityScore::kMeanTopK;
  return invalid_argument("unknown identity score '" + name + "': expected best or mean");
}

StatusOr<Durability> parse_durability(const std::string& name) {
  if (name == "full") return Durability::kFull;
  if (name == "normal") return Durability::kNormal;
  return invalid_argument("unknown durability '" + name + "': expected full or normal");
}

}  // namespace facelens

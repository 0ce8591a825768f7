#include "facelens/gallery.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "gallery/index.h"
#include "gallery/quality.h"
#include "gallery/store.h"

namespace facelens {
namespace {

using json = nlohmann::ordered_json;

constexpr int kMaxTopK = 1000;
constexpr const char* kExportFormat = "facelens-gallery";
constexpr int kExportVersion = 1;

std::string sha256_hex(std::span<const uint8_t> bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

std::string base64_encode(const std::vector<uint8_t>& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), in.data(), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

StatusOr<std::vector<uint8_t>> base64_decode(const std::string& in) {
  if (in.size() % 4 != 0) return invalid_argument("crop: rgb_base64 is not base64 (length not a multiple of 4)");
  std::vector<uint8_t> out(3 * in.size() / 4);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return invalid_argument("crop: rgb_base64 is not base64");
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Status check_metadata(const std::optional<std::string>& meta) {
  if (!meta) return Status::Ok();
  json j = json::parse(*meta, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument("metadata must be a JSON object, e.g. {\"employee_id\": 42}; got: " + *meta);
  return Status::Ok();
}

std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

const Face& largest(const std::vector<Face>& faces) {
  return *std::max_element(faces.begin(), faces.end(),
                           [](const Face& a, const Face& b) { return a.box.area() < b.box.area(); });
}

// Mean of the k best of `scores` (all of them when fewer), or the best for k == 1.
float aggregate(std::vector<float>& scores, IdentityScore mode, int k) {
  if (scores.empty()) return -std::numeric_limits<float>::infinity();
  if (mode == IdentityScore::kBest || k <= 1) return *std::max_element(scores.begin(), scores.end());
  const size_t n = std::min(scores.size(), static_cast<size_t>(k));
  std::partial_sort(scores.begin(), scores.begin() + n, scores.end(), std::greater<float>());
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += scores[i];
  return static_cast<float>(s / n);
}

// The length of the valid UTF-8 sequence at s[i] (1..4), or 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;  // overlong, range, surrogate
  return n;
}

bool is_control(uint8_t c) { return c < 0x20 || c == 0x7F; }

constexpr int kSyncBatch = 4096;  // changes read from the log at a time

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

namespace {

// What is wrong with a name ("" when nothing): validate_identity_name's message without the
// example (which display_identity_name builds from this).
std::string name_problem(std::string_view name) {
  if (name.empty()) return "the identity needs a non-empty name";
  if (name.size() > kMaxIdentityNameBytes)
    return "identity name of " + std::to_string(name.size()) + " bytes, the limit is " +
           std::to_string(kMaxIdentityNameBytes) + ": use a shorter name";
  for (size_t i = 0; i < name.size();) {
    const size_t n = utf8_sequence(name, i);
    if (n == 0) return "identity name is not valid UTF-8 (byte " + std::to_string(i) + "): send names as UTF-8 text";
    if (n == 1 && is_control(static_cast<uint8_t>(name[i])))
      return "identity name has a control character (byte " + std::to_string(i) + "): names are printable text";
    i += n;
  }
  return "";
}

}  // namespace

Status validate_identity_name(std::string_view name) {
  const std::string problem = name_problem(name);
  if (problem.empty()) return Status::Ok();
  if (name.empty()) return invalid_argument(problem);
  return invalid_argument(problem + " (got '" + display_identity_name(name) + "')");
}

std::string display_identity_name(std::string_view name) {
  if (name_problem(name).empty()) return std::string(name);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < name.size();) {
    const size_t n = utf8_sequence(name, i);
    std::string piece;
    if (n == 0 || (n == 1 && is_control(static_cast<uint8_t>(name[i])))) {
      const auto c = static_cast<uint8_t>(name[i]);
      piece = std::string("\\x") + hex[c >> 4] + hex[c & 15];
      i += 1;
    } else {
      piece = std::string(name.substr(i, n));
      i += n;
    }
    if (out.size() + piece.size() > kMaxIdentityNameBytes) break;
    out += piece;
  }
  return out.empty() ? "?" : out;
}

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

struct Gallery::Impl {
  GalleryOptions options;
  std::shared_ptr<const Engine> engine;
  std::unique_ptr<gallery::Store> store;
  float threshold = 0;

  // Writers (store write + in-memory update) and syncs take write_mu first, then mu exclusively
  // for the in-memory part only; readers take mu shared.
  mutable std::mutex write_mu;
  mutable std::shared_mutex mu;

  // Sync with other processes (guarded by write_mu): the last change of the store's log applied
  // to memory, and the store's external version when it was.
  mutable int64_t applied_seq = 0;
  mutable int64_t seen_version = -1;
  mutable std::atomic<int64_t> last_check_ms{0};

  struct IdentityEntry {
    std::string name;
    int32_t slot = -1;
    std::vector<int64_t> faces;
  };
  // In-memory state: changed by writes and by syncs (which run from const searches too).
  mutable std::unordered_map<int64_t, IdentityEntry> identities;
  mutable std::unordered_map<std::string, int64_t> by_name;  // display names
  mutable std::vector<int64_t> slot_identity;  // slot -> identity id; -1 when free
  mutable std::vector<int32_t> free_slots;
  struct FaceRef {
    int64_t identity_id = 0;
    std::map<std::string, size_t>::iterator model;  // into model_faces
  };
  mutable std::unordered_map<int64_t, FaceRef> face_identity;
  mutable std::map<std::string, size_t> model_faces;  // model id -> stored faces
  mutable std::unique_ptr<gallery::ExactIndex> exact;
  mutable std::unique_ptr<gallery::Index> ann;  // built on the first search that wants it
  mutable size_t ann_removed = 0;              // removals since the ANN index was built

  // ---- in-memory state (callers hold mu exclusively) ----------------------------------------
  void clear() const {
    identities.clear();
    by_name.clear();
    slot_identity.clear();
    free_slots.clear();
    face_identity.clear();
    model_faces.clear();
    exact.reset();
    ann.reset();
    ann_removed = 0;
  }

  IdentityEntry& identity(int64_t id, const std::string& name) const {
    auto it = identities.find(id);
    if (it != identities.end()) return it->second;
    IdentityEntry e;
    e.name = name;
    if (!free_slots.empty()) {
      e.slot = free_slots.back();
      free_slots.pop_back();
      slot_identity[static_cast<size_t>(e.slot)] = id;
    } else {
      e.slot = static_cast<int32_t>(slot_identity.size());
      slot_identity.push_back(id);
    }
    by_name[name] = id;
    return identities.emplace(id, std::move(e)).first->second;
  }

  // Adds faces to memory; faces of another dimension than the index stay out of it (they can only
  // come from a mixed-model gallery, which every search refuses until reembed).
  Status add_faces(int64_t identity_id, const std::string& name, std::span<const int64_t> face_ids,
                   const std::vector<const std::vector<float>*>& vectors, const std::vector<std::string>& models) const {
    IdentityEntry& e = identity(identity_id, name);
    std::vector<int64_t> ids;
    std::vector<float> flat;
    std::vector<int32_t> tags;
    for (size_t i = 0; i < face_ids.size(); ++i) {
      auto model = model_faces.try_emplace(models[i], 0).first;
      ++model->second;
      face_identity[face_ids[i]] = {identity_id, model};
      e.faces.push_back(face_ids[i]);
      const auto& v = *vectors[i];
      if (!exact) exact = std::make_unique<gallery::ExactIndex>(static_cast<int>(v.size()));
      if (static_cast<int>(v.size()) != exact->dim()) continue;
      ids.push_back(face_ids[i]);
      flat.insert(flat.end(), v.begin(), v.end());
      tags.push_back(e.slot);
    }
    if (ids.empty()) return Status::Ok();
    FACELENS_RETURN_IF_ERROR(exact->add(ids, flat, tags));
    if (ann) FACELENS_RETURN_IF_ERROR(ann->add(ids, flat));
    return Status::Ok();
  }

  Status remove_identity(int64_t identity_id) const {
    auto id_it = identities.find(identity_id);
    if (id_it == identities.end()) return Status::Ok();
    const std::vector<int64_t> face_ids = id_it->second.faces;
    for (int64_t f : face_ids) {
      auto fi = face_identity.find(f);
      if (fi == face_identity.end()) continue;
      if (--fi->second.model->second == 0) model_faces.erase(fi->second.model);
      face_identity.erase(fi);
    }
    if (exact) FACELENS_RETURN_IF_ERROR(exact->remove(face_ids));
    if (ann) {
      FACELENS_RETURN_IF_ERROR(ann->remove(face_ids));
      ann_removed += face_ids.size();
      // Tombstones slow HNSW searches down: rebuild once they reach a tenth of the index.
      if (ann_removed * 10 > ann->size()) ann.reset();
    }
    slot_identity[static_cast<size_t>(id_it->second.slot)] = -1;
    free_slots.push_back(id_it->second.slot);
    auto bn = by_name.find(id_it->second.name);
    if (bn != by_name.end() && bn->second == identity_id) by_name.erase(bn);
    identities.erase(id_it);
    return Status::Ok();
  }

  // One change of the store's log to memory (callers hold mu exclusively). Idempotent: a change
  // this process made itself, or one a load already saw, changes nothing. True when memory cannot
  // follow and everything must be reloaded.
  StatusOr<bool> apply(const gallery::Change& c) const {
    switch (c.kind) {
      case gallery::ChangeKind::kAddIdentity:
        if (!c.name.empty() && !identities.count(c.identity_id)) identity(c.identity_id, display_identity_name(c.name));
        return false;
      case gallery::ChangeKind::kAddFace:
        // A face removed since (with its identity) has a kRemoveIdentity later in the log.
        if (face_identity.count(c.face_id) || !c.face_exists || c.name.empty()) return false;
        FACELENS_RETURN_IF_ERROR(
            add_faces(c.identity_id, display_identity_name(c.name), {&c.face_id, 1}, {&c.embedding}, {c.model_id}));
        return false;
      case gallery::ChangeKind::kRemoveIdentity:
        FACELENS_RETURN_IF_ERROR(remove_identity(c.identity_id));
        return false;
      case gallery::ChangeKind::kRenameIdentity: {
        auto it = identities.find(c.identity_id);
        if (c.name.empty()) return false;  // removed since
        // A stored identity memory never saw (rows written outside facelens): reload.
        if (it == identities.end()) return true;
        auto bn = by_name.find(it->second.name);
        if (bn != by_name.end() && bn->second == c.identity_id) by_name.erase(bn);
        it->second.name = display_identity_name(c.name);
        by_name[it->second.name] = c.identity_id;
        return false;
      }
      case gallery::ChangeKind::kReload:
        return true;
    }
    return true;
  }

  // Applies the store's changes after applied_seq (callers hold write_mu). `version` is the
  // store's external version read before the changes.
  Status sync_locked(int64_t version) const {
    for (;;) {
      FACELENS_ASSIGN_OR_RETURN(auto log, store->changes_since(applied_seq, kSyncBatch));
      bool reload = log.gap;
      if (!reload && !log.changes.empty()) {
        std::unique_lock<std::shared_mutex> lock(mu);
        for (const auto& c : log.changes) {
          FACELENS_ASSIGN_OR_RETURN(reload, apply(c));
          if (reload) break;
          applied_seq = c.seq;
        }
      }
      if (reload) {
        FACELENS_RETURN_IF_ERROR(load());
        break;
      }
      if (log.changes.size() < static_cast<size_t>(kSyncBatch)) break;
    }
    seen_version = version;
    return Status::Ok();
  }

  // Syncs when another process committed since the last sync (callers hold write_mu).
  Status sync_if_changed() const {
    FACELENS_ASSIGN_OR_RETURN(int64_t version, store->external_version());
    if (version == seen_version) return Status::Ok();
    return sync_locked(version);
  }

  // Called by searches: at most every sync_interval_ms, and never waiting for a write in progress
  // (that write syncs when it commits).
  Status maybe_sync() const {
    const int64_t now = steady_ms();
    if (options.sync_interval_ms > 0 && now - last_check_ms.load(std::memory_order_relaxed) < options.sync_interval_ms)
      return Status::Ok();
    std::unique_lock<std::mutex> write(write_mu, std::try_to_lock);
    if (!write.owns_lock()) return Status::Ok();
    last_check_ms.store(now, std::memory_order_relaxed);
    return sync_if_changed();
  }

  // Everything from the store (callers hold write_mu, or are alone). Changes committed while it
  // reads come after the sequence read first and are replayed by the next sync.
  Status load() const {
    FACELENS_ASSIGN_OR_RETURN(const int64_t seq, store->last_change());
    std::unique_lock<std::shared_mutex> lock(mu);
    clear();
    FACELENS_ASSIGN_OR_RETURN(auto ids, store->identities());
    std::unordered_map<int64_t, std::string> names;
    for (const auto& i : ids) names[i.id] = display_identity_name(i.name);
    for (const auto& [id, name] : names) identity(id, name);
    // Faces come in id order; consecutive faces of one identity go to memory together.
    std::vector<gallery::StoredFace> run;
    auto flush = [&]() -> Status {
      if (run.empty()) return Status::Ok();
      std::vector<int64_t> face_ids;
      std::vector<const std::vector<float>*> vectors;
      std::vector<std::string> models;
      for (const auto& f : run) {
        face_ids.push_back(f.id);
        vectors.push_back(&f.embedding);
        models.push_back(f.model_id);
      }
      Status s = add_faces(run.front().identity_id, names[run.front().identity_id], face_ids, vectors, models);
      run.clear();
      return s;
    };
    FACELENS_RETURN_IF_ERROR(store->for_each_face(/*with_crops=*/false, [&](gallery::StoredFace&& f) -> Status {
      // A face of an identity created after the identities were read: replayed from the log.
      if (!names.count(f.identity_id)) return Status::Ok();
      if (!run.empty() && (run.front().identity_id != f.identity_id || run.size() >= 4096)) FACELENS_RETURN_IF_ERROR(flush());
      run.push_back(std::move(f));
      return Status::Ok();
    }));
    FACELENS_RETURN_IF_ERROR(flush());
    applied_seq = seq;
    return Status::Ok();
  }

  // ---- checks --------------------------------------------------------------------------------
  std::string model_list() const {
    std::string s;
    for (const auto& [m, n] : model_faces) s += (s.empty() ? "" : ", ") + m;
    return s;
  }

  // Callers hold mu (shared is enough).
  Status check_model(const std::string& model) const {
    if (model_faces.empty()) return Status::Ok();
    if (model_faces.size() == 1 && model_faces.begin()->first == model) return Status::Ok();
    const std::string stored = model_list();
    std::string msg = "the gallery " + store->describe() + " holds embeddings of model '" + stored + "' but the " +
                      "recognizer is '" + model + "': embeddings of different models cannot be compared. Run " +
                      "`facelens gallery reembed --db " + options.db_path + "` to re-embed the stored faces with '" +
                      model + "'";
    if (model_faces.size() == 1) msg += " (or use the recognizer '" + stored + "')";
    return failed_precondition(msg);
  }

  // The engine's decode limits ([limits] of the config); the defaults without an engine.
  DecodeOptions decode_options() const { return engine ? engine->decode_options() : DecodeOptions{}; }
  Status need_engine(const char* what) const {
    if (engine) return Status::Ok();
    return failed_precondition(std::string(what) + " needs an Engine: open the Gallery with one");
  }

  // ---- search ----------------------------------------------------------------------------------
  // The search in use for the gallery's size and options.
  IndexKind mode() const {
    if (options.index != IndexKind::kAuto) return options.index;
    return exact && exact->size() >= options.ann_min_faces ? IndexKind::kHamming : IndexKind::kExact;
  }
  // A FAISS index is wanted (and built on the first search).
  bool want_ann() const {
    return exact && exact->size() > 0 && (mode() == IndexKind::kHnsw || mode() == IndexKind::kIvf);
  }

  gallery::AnnOptions ann_options() const {
    gallery::AnnOptions o;
    o.kind = options.index == IndexKind::kIvf ? gallery::AnnKind::kIvf : gallery::AnnKind::kHnsw;
    o.hnsw_m = options.hnsw_m;
    o.hnsw_ef_construction = options.hnsw_ef_construction;
    o.hnsw_ef_search = options.hnsw_ef_search;
    o.ivf_nlist = options.ivf_nlist;
    o.ivf_nprobe = options.ivf_nprobe;
    return o;
  }

  // Builds the ANN index when the gallery wants one and has none (takes mu exclusively).
  Status ensure_ann() const {
    {
      std::shared_lock<std::shared_mutex> lock(mu);
      if (ann || !want_ann()) return Status::Ok();
    }
    std::unique_lock<std::shared_mutex> lock(mu);
    if (ann || !want_ann()) return Status::Ok();
    FACELENS_ASSIGN_OR_RETURN(ann, gallery::create_faiss_index(exact->dim(), ann_options(), exact->row_ids(), exact->matrix()));
    ann_removed = 0;
    return Status::Ok();
  }

  // The top-k identities for a query (callers hold mu shared).
  StatusOr<std::vector<Match>> search(std::span<const float> q, int top_k) const {
    if (top_k < 1 || top_k > kMaxTopK) return invalid_argument("top-k must be in 1.." + std::to_string(kMaxTopK));
    std::vector<Match> out;
    if (!exact || exact->size() == 0) return out;
    if (static_cast<int>(q.size()) != exact->dim())
      return invalid_argument("embedding has " + std::to_string(q.size()) + " dimensions, the gallery " +
                              std::to_string(exact->dim()));
    std::vector<std::pair<float, int64_t>> scored;  // (score, identity id)
    const IndexKind kind = mode();
    if (kind == IndexKind::kHamming || (ann && want_ann())) {
      const int ask = std::max(options.ann_candidates, 4 * top_k);
      std::vector<gallery::Neighbor> cands;
      if (kind == IndexKind::kHamming) {
        FACELENS_ASSIGN_OR_RETURN(cands, exact->search_prefiltered(q, ask, std::max(ask, options.hamming_candidates)));
      } else {
        FACELENS_ASSIGN_OR_RETURN(cands, ann->search(q, ask));
      }
      std::set<int64_t> seen;
      for (const auto& c : cands) {
        auto fi = face_identity.find(c.id);
        if (fi == face_identity.end() || !seen.insert(fi->second.identity_id).second) continue;
        scored.push_back({exact_identity_score(identities.at(fi->second.identity_id), q), fi->second.identity_id});
      }
    } else {
      scored = score_all(q, top_k);
    }
    const size_t n = std::min(scored.size(), static_cast<size_t>(top_k));
    std::partial_sort(scored.begin(), scored.begin() + n, scored.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (size_t i = 0; i < n; ++i) out.push_back({identities.at(scored[i].second).name, scored[i].first});
    return out;
  }

  // Top-k and the decision: the best identity when it reaches the threshold, else unknown.
  StatusOr<IdentifiedFace> decide(std::span<const float> q, int top_k) const {
    IdentifiedFace out;
    FACELENS_ASSIGN_OR_RETURN(out.matches, search(q, top_k));
    if (!out.matches.empty()) {
      out.score = out.matches[0].score;
      if (out.score >= threshold) out.identity = out.matches[0];
    }
    return out;
  }

  // The identity score of one identity from its faces' FP32 vectors.
  float exact_identity_score(const IdentityEntry& e, std::span<const float> q) const {
    std::vector<float> scores;
    for (int64_t f : e.faces)
      if (const float* v = exact->vector(f)) scores.push_back(gallery::dot(v, q.data(), exact->dim()));
    return aggregate(scores, options.score, options.score_top_k);
  }

  // Every identity scored from every face in one pass over the (FP16) matrix with per-slot
  // aggregation; then the identities that can still be in the top k (approximate score within two
  // error bounds of the k-th) are re-scored exactly. Returns those, with exact scores.
  std::vector<std::pair<float, int64_t>> score_all(std::span<const float> q, int top_k) const {
    const size_t n_rows = exact->size(), n_slots = slot_identity.size();
    std::vector<float> scores(n_rows);
    const float bound = exact->score_all_approx(q, scores);
    const auto& tags = exact->row_tags();
    const float lowest = -std::numeric_limits<float>::infinity();
    std::vector<std::pair<float, int64_t>> out;
    const int k = options.score == IdentityScore::kBest ? 1 : std::max(1, options.score_top_k);
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
      if (count[slot] == 0 || slot_identity[slot] < 0) continue;
      const int m = std::min(count[slot], k);
      double sum = 0;
      for (int i = 0; i < m; ++i) sum += top[slot * static_cast<size_t>(k) + static_cast<size_t>(i)];
      out.push_back({static_cast<float>(sum / m), slot_identity[slot]});
    }
    if (bound <= 0 || out.empty()) return out;
    // An aggregate (max or mean of the best k) of scores each within `bound` is within `bound`.
    const size_t kth = std::min(out.size(), static_cast<size_t>(top_k)) - 1;
    std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(kth), out.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    const float cut = out[kth].first - 2 * bound;
    std::vector<std::pair<float, int64_t>> exact_scored;
    for (const auto& [approx, id] : out)
      if (approx >= cut) exact_scored.push_back({exact_identity_score(identities.at(id), q), id});
    return exact_scored;
  }

  StatusOr<float> identity_score(std::span<const float> q, const std::string& name) const {
    auto it = by_name.find(name);
    if (it == by_name.end()) return not_found("no identity '" + name + "' in the gallery " + store->describe());
    const IdentityEntry& e = identities.at(it->second);
    if (!exact || e.faces.empty()) return not_found("identity '" + name + "' has no enrolled face");
    if (static_cast<int>(q.size()) != exact->dim())
      return invalid_argument("embedding has " + std::to_string(q.size()) + " dimensions, the gallery " +
                              std::to_string(exact->dim()));
    return exact_identity_score(e, q);
  }

  // ---- writes ------------------------------------------------------------------------------------
  // Store write + memory update for new faces (caller holds write_mu). Once the store committed,
  // the answer is success: memory follows from the change log when it cannot follow directly.
  StatusOr<std::vector<int64_t>> add(std::vector<gallery::NewIdentityFaces>& items) {
    FACELENS_ASSIGN_OR_RETURN(auto added, store->add(items));
    std::vector<int64_t> ids;
    for (const auto& a : added) ids.push_back(a.face_id);
    const gallery::SeqRange written = store->last_write();
    if (written.first != applied_seq + 1) {
      // Another process wrote since the last sync: replay the log (ours included) in order.
      auto version = store->external_version();
      Status s = version.ok() ? sync_locked(*version) : version.status();
      if (!s.ok()) seen_version = -1;  // the next search retries
      return ids;
    }
    Status s = add_to_memory(items, added);
    if (!s.ok()) {
      // Committed: memory is rebuilt from the store rather than the enrolment refused.
      seen_version = -1;
      load().ok();
      return ids;
    }
    applied_seq = written.last;
    return ids;
  }

  Status add_to_memory(const std::vector<gallery::NewIdentityFaces>& items,
                       const std::vector<gallery::AddedFace>& added) {
    std::unique_lock<std::shared_mutex> lock(mu);
    size_t k = 0;
    for (const auto& item : items) {
      for (const auto& f : item.faces) {
        const auto& a = added[k++];
        FACELENS_RETURN_IF_ERROR(add_faces(a.identity_id, item.name, {&a.face_id, 1}, {&f.embedding}, {f.model_id}));
      }
      if (item.faces.empty()) {
        // A new identity without faces (imports): known by name from now on.
        FACELENS_ASSIGN_OR_RETURN(auto found, store->find_identity(item.name));
        if (found) identity(found->id, display_identity_name(found->name));
      }
    }
    return Status::Ok();
  }
};

Gallery::Gallery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gallery::~Gallery() = default;

StatusOr<std::unique_ptr<Gallery>> Gallery::open(const GalleryOptions& options, std::shared_ptr<const Engine> engine) {
  if (options.score_top_k < 1) return invalid_argument("score_top_k must be at least 1");
  if (options.ann_candidates < 1) return invalid_argument("ann_candidates must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->engine = std::move(engine);
  if (options.match_threshold >= 0) impl->threshold = options.match_threshold;
  else if (impl->engine) impl->threshold = impl->engine->match_threshold();
  else return invalid_argument("a gallery without an engine needs GalleryOptions::match_threshold");
  gallery::SqliteStoreOptions so;
  so.path = options.db_path;
  so.durability = options.durability;
  FACELENS_ASSIGN_OR_RETURN(impl->store, gallery::open_sqlite_store(so));
  FACELENS_ASSIGN_OR_RETURN(impl->seen_version, impl->store->external_version());
  FACELENS_RETURN_IF_ERROR(impl->load());
  impl->last_check_ms.store(steady_ms());
  return std::unique_ptr<Gallery>(new Gallery(std::move(impl)));
}

float Gallery::match_threshold() const { return impl_->threshold; }

StatusOr<EnrollResult> Gallery::enroll_file(const std::string& name, const std::string& path, const EnrollOptions& options) {
  auto bytes = read_file_bytes(path, impl_->decode_options().max_bytes);
  if (!bytes.ok()) return bytes.status().with_context(path);
  auto r = enroll(name, *bytes, options);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

StatusOr<EnrollResult> Gallery::enroll(const std::string& name, std::span<const uint8_t> bytes, const EnrollOptions& eo) {
  Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.need_engine("enroll"));
  FACELENS_RETURN_IF_ERROR(validate_identity_name(name));
  FACELENS_RETURN_IF_ERROR(check_metadata(eo.metadata_json));
  const std::string model = m.engine->recognizer_model_id();
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    FACELENS_RETURN_IF_ERROR(m.check_model(model));
  }
  EnrollResult result;
  result.name = name;
  result.image_sha256 = sha256_hex(bytes);
  // Refuse a duplicate before paying for the models (the store's unique index is the real guard).
  FACELENS_ASSIGN_OR_RETURN(auto owner, m.store->find_image(result.image_sha256));
  if (owner)
    return invalid_argument("duplicate image: already enrolled as '" + owner->name + "' (face " +
                            std::to_string(owner->face_id) + ")");
  FACELENS_ASSIGN_OR_RETURN(auto decoded, decode_image(bytes, m.decode_options()));
  const Image& image = decoded.image;
  AnalyzeOptions what;
  what.embedding = true;
  what.liveness = eo.require_live;
  const auto services = m.engine->services();
  // Attributes only for the pose check, and only when a pose model is configured.
  what.attributes = eo.max_pose_degrees > 0 && std::any_of(services.begin(), services.end(), [](const ServiceInfo& s) {
                      return s.service == "attribute" && s.family == "pose";
                    });
  FACELENS_ASSIGN_OR_RETURN(auto analysed, m.engine->analyze(image, what));
  result.n_faces_in_image = analysed.faces.size();
  if (analysed.faces.empty()) return invalid_argument("no face found: enrolment needs a photo with one visible face");
  if (analysed.faces.size() > 1 && !eo.largest_face)
    return invalid_argument(std::to_string(analysed.faces.size()) +
                            " faces found; enrolment needs exactly one (crop the photo, or enrol the largest face "
                            "with --largest / EnrollOptions::largest_face)");
  const Face& face = largest(analysed.faces);
  const float side = std::min(face.box.width(), face.box.height());
  if (eo.min_face_size > 0 && side < eo.min_face_size)
    return invalid_argument("face too small: " + std::to_string(static_cast<int>(face.box.width())) + "x" +
                            std::to_string(static_cast<int>(face.box.height())) + " px, the minimum is " +
                            std::to_string(static_cast<int>(eo.min_face_size)) + " px: use a closer or larger photo");
  if (eo.max_pose_degrees > 0 && face.attributes && face.attributes->pose) {
    const auto& p = *face.attributes->pose;
    if (std::abs(p[0]) > eo.max_pose_degrees || std::abs(p[1]) > eo.max_pose_degrees)
      return invalid_argument("extreme pose: yaw " + std::to_string(static_cast<int>(p[0])) + ", pitch " +
                              std::to_string(static_cast<int>(p[1])) + " degrees (limit " +
                              std::to_string(static_cast<int>(eo.max_pose_degrees)) + "): use a frontal photo");
  }
  if (eo.require_live) {
    if (!face.liveness) return internal_error("liveness was asked but not computed");
    if (!face.liveness->live)
      return invalid_argument("liveness check failed: score " + fixed3(face.liveness->score) + " below " +
                              fixed3(face.liveness->threshold) +
                              " (looks like a photo of a photo or of a screen): use a live capture");
  }
  FACELENS_ASSIGN_OR_RETURN(auto crop, m.engine->align_face(image, face));
  result.sharpness = gallery::laplacian_variance(crop);
  if (eo.min_sharpness > 0 && result.sharpness < eo.min_sharpness)
    return invalid_argument("face too blurred: sharpness " + std::to_string(static_cast<int>(result.sharpness)) +
                            " (variance of the Laplacian of the aligned face), the minimum is " +
                            std::to_string(static_cast<int>(eo.min_sharpness)) + ": use a sharper photo");
  gallery::StoredFace sf;
  sf.embedding = face.embedding;
  sf.model_id = model;
  sf.quality = static_cast<float>(result.sharpness);
  sf.box = face.box;
  sf.image_sha256 = result.image_sha256;
  if (eo.keep_crop) sf.crop = std::move(crop);
  std::vector<gallery::NewIdentityFaces> items(1);
  items[0].name = name;
  items[0].metadata = eo.metadata_json;
  items[0].faces.push_back(std::move(sf));
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.sync_if_changed());
  {
    // A reembed may have run while the models worked.
    std::shared_lock<std::shared_mutex> lock(m.mu);
    FACELENS_RETURN_IF_ERROR(m.check_model(model));
  }
  FACELENS_ASSIGN_OR_RETURN(auto ids, m.add(items));
  result.face_id = ids.at(0);
  result.face = face;
  return result;
}

StatusOr<std::vector<int64_t>> Gallery::enroll_embeddings(std::span<const EmbeddingEnrollment> items) {
  Impl& m = *impl_;
  std::vector<gallery::NewIdentityFaces> batch;
  batch.reserve(items.size());
  std::set<std::string> models;
  for (const auto& e : items) {
    FACELENS_RETURN_IF_ERROR(validate_identity_name(e.name));
    if (e.embedding.empty()) return invalid_argument("enrolment of '" + e.name + "' has no embedding");
    if (e.model_id.empty()) return invalid_argument("enrolment of '" + e.name + "' has no model id");
    FACELENS_RETURN_IF_ERROR(check_metadata(e.metadata_json));
    models.insert(e.model_id);
    gallery::NewIdentityFaces item;
    item.name = e.name;
    item.metadata = e.metadata_json;
    gallery::StoredFace f;
    f.embedding = e.embedding;
    f.model_id = e.model_id;
    f.box = e.box;
    f.image_sha256 = e.image_sha256;
    item.faces.push_back(std::move(f));
    batch.push_back(std::move(item));
  }
  if (models.size() > 1) return invalid_argument("embeddings of several models in one enrolment: enrol one model's at a time");
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.sync_if_changed());
  if (!models.empty()) {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    FACELENS_RETURN_IF_ERROR(m.check_model(*models.begin()));
    if (m.exact && m.exact->size() > 0 && static_cast<int>(items[0].embedding.size()) != m.exact->dim())
      return invalid_argument("embedding has " + std::to_string(items[0].embedding.size()) +
                              " dimensions, the gallery " + std::to_string(m.exact->dim()));
  }
  for (const auto& e : items)
    if (e.embedding.size() != items[0].embedding.size())
      return invalid_argument("embeddings of different dimensions in one enrolment");
  return m.add(batch);
}

StatusOr<IdentifyResult> Gallery::identify(const Image& image, int top_k) const {
  const Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.need_engine("identify"));
  const std::string model = m.engine->recognizer_model_id();
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    FACELENS_RETURN_IF_ERROR(m.check_model(model));
  }
  AnalyzeOptions what;
  what.embedding = true;
  FACELENS_ASSIGN_OR_RETURN(auto analysed, m.engine->analyze(image, what));
  FACELENS_RETURN_IF_ERROR(m.ensure_ann());
  IdentifyResult result;
  result.width = analysed.width;
  result.height = analysed.height;
  result.threshold = m.threshold;
  std::shared_lock<std::shared_mutex> lock(m.mu);
  FACELENS_RETURN_IF_ERROR(m.check_model(model));
  for (auto& f : analysed.faces) {
    FACELENS_ASSIGN_OR_RETURN(auto out, m.decide(f.embedding, top_k));
    out.face = std::move(f);
    result.faces.push_back(std::move(out));
  }
  return result;
}

StatusOr<IdentifyResult> Gallery::identify_file(const std::string& path, int top_k) const {
  auto decoded = decode_image_file(path, impl_->decode_options());
  if (!decoded.ok()) return decoded.status().with_context(path);
  auto r = identify(decoded->image, top_k);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

StatusOr<IdentifiedFace> Gallery::identify_embedding(std::span<const float> embedding, const std::string& model_id,
                                                     int top_k) const {
  const Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  FACELENS_RETURN_IF_ERROR(m.ensure_ann());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  FACELENS_RETURN_IF_ERROR(m.check_model(model_id));
  return m.decide(embedding, top_k);
}

StatusOr<GalleryVerifyResult> Gallery::verify_embedding(std::span<const float> embedding, const std::string& model_id,
                                                        const std::string& name) const {
  const Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  std::shared_lock<std::shared_mutex> lock(m.mu);
  FACELENS_RETURN_IF_ERROR(m.check_model(model_id));
  FACELENS_ASSIGN_OR_RETURN(float score, m.identity_score(embedding, name));
  GalleryVerifyResult v;
  v.name = name;
  v.score = score;
  v.threshold = m.threshold;
  v.match = score >= m.threshold;
  return v;
}

StatusOr<GalleryVerifyResult> Gallery::verify(const Image& image, const std::string& name) const {
  const Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.need_engine("verify"));
  const std::string model = m.engine->recognizer_model_id();
  FACELENS_RETURN_IF_ERROR(m.maybe_sync());
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    FACELENS_RETURN_IF_ERROR(m.check_model(model));
    if (!m.by_name.count(name)) return not_found("no identity '" + name + "' in the gallery " + m.store->describe());
  }
  AnalyzeOptions what;
  what.embedding = true;
  FACELENS_ASSIGN_OR_RETURN(auto analysed, m.engine->analyze(image, what));
  if (analysed.faces.empty()) return invalid_argument("no face found");
  const Face& face = largest(analysed.faces);
  FACELENS_ASSIGN_OR_RETURN(auto v, verify_embedding(face.embedding, model, name));
  v.face = face;
  return v;
}

StatusOr<GalleryVerifyResult> Gallery::verify_file(const std::string& path, const std::string& name) const {
  auto decoded = decode_image_file(path, impl_->decode_options());
  if (!decoded.ok()) return decoded.status().with_context(path);
  auto r = verify(decoded->image, name);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Status Gallery::remove(const std::string& name) {
  Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(validate_identity_name(name));
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.store->remove_identity(name).status());
  // Memory follows the log (this removal and anything other processes wrote before it). The
  // removal is committed: a failure here leaves the next search to retry, not this answer.
  auto version = m.store->external_version();
  if (!version.ok() || !m.sync_locked(*version).ok()) m.seen_version = -1;
  return Status::Ok();
}

Status Gallery::sync() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_ASSIGN_OR_RETURN(int64_t version, m.store->external_version());
  return m.sync_locked(version);
}

StatusOr<std::vector<NameProblem>> Gallery::check_names(bool repair) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_ASSIGN_OR_RETURN(auto ids, m.store->identities());
  std::set<std::string> taken;
  for (const auto& i : ids) taken.insert(i.name);
  std::vector<NameProblem> out;
  for (const auto& i : ids) {
    const std::string problem = name_problem(i.name);
    if (problem.empty()) continue;
    NameProblem p;
    p.identity_id = i.id;
    p.name = display_identity_name(i.name);
    p.problem = problem;
    p.repaired = p.name;
    for (int n = 2; taken.count(p.repaired); ++n) {
      const std::string suffix = "~" + std::to_string(n);
      std::string base = p.name.substr(0, kMaxIdentityNameBytes - suffix.size());
      while (!base.empty() && !name_problem(base).empty()) base.pop_back();  // not mid-character
      p.repaired = base + suffix;
    }
    taken.insert(p.repaired);
    if (repair) FACELENS_RETURN_IF_ERROR(m.store->rename_identity(i.id, p.repaired));
    out.push_back(std::move(p));
  }
  if (repair && !out.empty()) {
    FACELENS_ASSIGN_OR_RETURN(int64_t version, m.store->external_version());
    FACELENS_RETURN_IF_ERROR(m.sync_locked(version));
  }
  return out;
}

StatusOr<std::vector<IdentityInfo>> Gallery::list() const {
  FACELENS_ASSIGN_OR_RETURN(auto ids, impl_->store->identities());
  std::vector<IdentityInfo> out;
  out.reserve(ids.size());
  for (auto& i : ids)
    out.push_back({i.id, display_identity_name(i.name), std::move(i.metadata), std::move(i.created_at),
                   std::move(i.updated_at), i.n_faces});
  return out;
}

StatusOr<std::vector<FaceInfo>> Gallery::faces() const {
  FACELENS_ASSIGN_OR_RETURN(auto ids, impl_->store->identities());
  std::unordered_map<int64_t, std::string> names;
  for (const auto& i : ids) names[i.id] = display_identity_name(i.name);
  std::vector<FaceInfo> out;
  FACELENS_RETURN_IF_ERROR(impl_->store->for_each_face(false, [&](gallery::StoredFace&& f) -> Status {
    out.push_back({f.id, names[f.identity_id], f.model_id, f.quality, f.box, f.image_sha256, f.has_crop, f.created_at});
    return Status::Ok();
  }));
  return out;
}

StatusOr<std::string> Gallery::export_json(bool with_crops) const {
  FACELENS_ASSIGN_OR_RETURN(auto ids, impl_->store->identities());
  std::map<int64_t, json> faces;  // identity id -> faces array
  FACELENS_RETURN_IF_ERROR(impl_->store->for_each_face(with_crops, [&](gallery::StoredFace&& f) -> Status {
    json j;
    j["model_id"] = f.model_id;
    j["embedding"] = f.embedding;
    j["quality"] = f.quality;
    j["box"] = {f.box.x1, f.box.y1, f.box.x2, f.box.y2};
    j["image_sha256"] = f.image_sha256.empty() ? json(nullptr) : json(f.image_sha256);
    j["created_at"] = f.created_at;
    if (with_crops && !f.crop.empty())
      j["crop"] = {{"width", f.crop.width}, {"height", f.crop.height}, {"rgb_base64", base64_encode(f.crop.pixels)}};
    auto& arr = faces[f.identity_id];
    if (arr.is_null()) arr = json::array();
    arr.push_back(std::move(j));
    return Status::Ok();
  }));
  json out;
  out["format"] = kExportFormat;
  out["version"] = kExportVersion;
  json identities = json::array();
  for (const auto& i : ids) {
    json j;
    j["name"] = display_identity_name(i.name);
    j["metadata"] = json::parse(i.metadata, nullptr, /*allow_exceptions=*/false);
    if (j["metadata"].is_discarded()) j["metadata"] = json::object();
    j["created_at"] = i.created_at;
    j["updated_at"] = i.updated_at;
    auto it = faces.find(i.id);
    j["faces"] = it == faces.end() ? json::array() : std::move(it->second);
    identities.push_back(std::move(j));
  }
  out["identities"] = std::move(identities);
  // Stored text that is not UTF-8 (model ids, timestamps written by hand) becomes U+FFFD rather
  // than an exception.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<ImportResult> Gallery::import_json(const std::string& text) {
  Impl& m = *impl_;
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return invalid_argument("import: not a JSON object");
  if (doc.value("format", "") != kExportFormat)
    return invalid_argument(std::string("import: expected \"format\": \"") + kExportFormat + "\" (a `facelens gallery export` file)");
  if (!doc.contains("version") || !doc["version"].is_number_integer() || doc["version"].get<int>() > kExportVersion)
    return invalid_argument("import: unsupported export version (this facelens reads version " +
                            std::to_string(kExportVersion) + ")");
  if (!doc.contains("identities") || !doc["identities"].is_array()) return invalid_argument("import: no \"identities\" array");
  ImportResult result;
  std::vector<gallery::NewIdentityFaces> items;
  std::set<std::string> models, seen_images;
  size_t dim = 0;
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.sync_if_changed());
  for (const auto& ji : doc["identities"]) {
    const std::string where = "import: identity #" + std::to_string(items.size());
    if (!ji.is_object() || !ji.contains("name") || !ji["name"].is_string() || ji["name"].get<std::string>().empty())
      return invalid_argument(where + ": needs a non-empty \"name\"");
    gallery::NewIdentityFaces item;
    item.name = ji["name"].get<std::string>();
    if (Status valid = validate_identity_name(item.name); !valid.ok()) return valid.with_context(where);
    FACELENS_ASSIGN_OR_RETURN(auto existing, m.store->find_identity(item.name));
    if (ji.contains("metadata")) {
      if (!ji["metadata"].is_object()) return invalid_argument(where + ": \"metadata\" must be an object");
      if (!existing) item.metadata = ji["metadata"].dump();
    }
    if (!existing) {
      item.created_at = ji.value("created_at", "");
      item.updated_at = ji.value("updated_at", "");
    }
    if (ji.contains("faces") && !ji["faces"].is_array()) return invalid_argument(where + ": \"faces\" must be an array");
    for (const auto& jf : ji.value("faces", json::array())) {
      const std::string fw = where + " ('" + item.name + "') face #" + std::to_string(item.faces.size());
      if (!jf.is_object() || !jf.contains("embedding") || !jf["embedding"].is_array() || jf["embedding"].empty())
        return invalid_argument(fw + ": needs an \"embedding\" array");
      if (!jf.contains("model_id") || !jf["model_id"].is_string())
        return invalid_argument(fw + ": needs a \"model_id\"");
      gallery::StoredFace f;
      for (const auto& x : jf["embedding"]) {
        if (!x.is_number()) return invalid_argument(fw + ": embedding values must be numbers");
        f.embedding.push_back(x.get<float>());
      }
      if (dim == 0) dim = f.embedding.size();
      if (f.embedding.size() != dim) return invalid_argument(fw + ": embeddings of different dimensions");
      f.model_id = jf["model_id"].get<std::string>();
      models.insert(f.model_id);
      f.quality = jf.value("quality", 0.f);
      if (jf.contains("box")) {
        const auto& b = jf["box"];
        if (!b.is_array() || b.size() != 4) return invalid_argument(fw + ": \"box\" must be [x1, y1, x2, y2]");
        f.box = {b[0].get<float>(), b[1].get<float>(), b[2].get<float>(), b[3].get<float>()};
      }
      if (jf.contains("image_sha256") && jf["image_sha256"].is_string()) f.image_sha256 = jf["image_sha256"].get<std::string>();
      f.created_at = jf.value("created_at", "");
      if (jf.contains("crop")) {
        const auto& c = jf["crop"];
        if (!c.is_object() || !c.contains("rgb_base64") || !c["rgb_base64"].is_string())
          return invalid_argument(fw + ": \"crop\" needs width, height and rgb_base64");
        f.crop.width = c.value("width", 0);
        f.crop.height = c.value("height", 0);
        FACELENS_ASSIGN_OR_RETURN(f.crop.pixels, base64_decode(c["rgb_base64"].get<std::string>()));
        if (f.crop.width <= 0 || f.crop.height <= 0 ||
            f.crop.pixels.size() != static_cast<size_t>(f.crop.width) * f.crop.height * 3)
          return invalid_argument(fw + ": crop is not width x height RGB pixels");
      }
      if (!f.image_sha256.empty()) {
        FACELENS_ASSIGN_OR_RETURN(auto owner, m.store->find_image(f.image_sha256));
        if (owner || !seen_images.insert(f.image_sha256).second) {
          ++result.n_duplicates;
          continue;
        }
      }
      item.faces.push_back(std::move(f));
    }
    if (existing && item.faces.empty()) continue;
    result.n_faces += item.faces.size();
    ++result.n_identities;
    items.push_back(std::move(item));
  }
  if (models.size() > 1) return invalid_argument("import: the file mixes embeddings of several models");
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    if (!models.empty()) {
      Status s = m.check_model(*models.begin());
      if (!s.ok())
        return failed_precondition("import: the file holds embeddings of '" + *models.begin() +
                                   "', the gallery of '" + m.model_list() +
                                   "': import into an empty gallery, then run `facelens gallery reembed`");
    }
    if (m.exact && m.exact->size() > 0 && dim != 0 && static_cast<int>(dim) != m.exact->dim())
      return invalid_argument("import: embeddings have " + std::to_string(dim) + " dimensions, the gallery " +
                              std::to_string(m.exact->dim()));
  }
  FACELENS_RETURN_IF_ERROR(m.add(items).status());
  return result;
}

StatusOr<ReembedResult> Gallery::reembed(const std::function<void(size_t, size_t)>& progress) {
  Impl& m = *impl_;
  FACELENS_RETURN_IF_ERROR(m.need_engine("reembed"));
  ReembedResult result;
  result.to_model = m.engine->recognizer_model_id();
  if (result.to_model.empty()) return failed_precondition("reembed needs a recognizer (manifest defaults.recognizer)");
  std::lock_guard<std::mutex> write(m.write_mu);
  FACELENS_RETURN_IF_ERROR(m.sync_if_changed());
  size_t total = 0;
  {
    std::shared_lock<std::shared_mutex> lock(m.mu);
    result.from_model = m.model_list();
    for (const auto& [model, n] : m.model_faces) total += n;
  }
  constexpr size_t kBatch = 32;
  std::vector<gallery::EmbeddingUpdate> updates;
  std::vector<Image> crops;
  std::vector<int64_t> crop_ids;
  std::set<int64_t> missing_identities;
  size_t n_missing = 0;
  auto flush = [&]() -> Status {
    if (crops.empty()) return Status::Ok();
    FACELENS_ASSIGN_OR_RETURN(auto embeddings, m.engine->embed_aligned(crops));
    for (size_t i = 0; i < crops.size(); ++i) updates.push_back({crop_ids[i], std::move(embeddings[i]), result.to_model});
    crops.clear();
    crop_ids.clear();
    if (progress) progress(updates.size() + n_missing, total);
    return Status::Ok();
  };
  FACELENS_RETURN_IF_ERROR(m.store->for_each_face(/*with_crops=*/true, [&](gallery::StoredFace&& f) -> Status {
    if (f.crop.empty()) {
      ++n_missing;
      missing_identities.insert(f.identity_id);
      return Status::Ok();
    }
    crops.push_back(std::move(f.crop));
    crop_ids.push_back(f.id);
    return crops.size() >= kBatch ? flush() : Status::Ok();
  }));
  FACELENS_RETURN_IF_ERROR(flush());
  if (n_missing > 0) {
    std::string names;
    {
      std::shared_lock<std::shared_mutex> lock(m.mu);
      for (int64_t id : missing_identities) {
        auto it = m.identities.find(id);
        if (it != m.identities.end()) names += (names.empty() ? "" : ", ") + it->second.name;
      }
    }
    return failed_precondition(std::to_string(n_missing) + " face(s) have no stored aligned crop (enrolled with "
                               "keep_crop off, or imported without crops), so they cannot be re-embedded; nothing "
                               "was changed. Remove and re-enrol: " + names);
  }
  FACELENS_RETURN_IF_ERROR(m.store->update_embeddings(updates));
  FACELENS_RETURN_IF_ERROR(m.load());
  result.n_faces = updates.size();
  return result;
}

StatusOr<std::string> Gallery::integrity_check() const { return impl_->store->integrity_check(); }

GalleryStats Gallery::stats() const {
  const Impl& m = *impl_;
  m.maybe_sync().ok();  // stats are best effort: the last synced state when the store fails
  std::shared_lock<std::shared_mutex> lock(m.mu);
  GalleryStats s;
  s.store = m.store->describe();
  s.n_identities = m.identities.size();
  for (const auto& [model, n] : m.model_faces) s.n_faces += n;
  s.dim = m.exact ? m.exact->dim() : 0;
  s.model_id = m.model_list();
  s.index = index_kind_name(m.mode());
  s.threshold = m.threshold;
  return s;
}

}  // namespace facelens

// FAISS-backed approximate indexes. Every FAISS call is wrapped: its exceptions become Status.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "gallery/index.h"

namespace facelens::gallery {
namespace {

// faiss::Index::idx_t in every FAISS version (the namespace-level faiss::idx_t came with 1.7.4).
using FaissId = faiss::Index::idx_t;
static_assert(sizeof(FaissId) == sizeof(int64_t), "FAISS ids must be 64-bit");

template <typename F>
Status guarded(const char* what, F&& f) {
  try {
    f();
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return resource_exhausted(std::string("FAISS ") + what + ": out of memory");
  } catch (const std::exception& e) {
    return internal_error(std::string("FAISS ") + what + ": " + e.what());
  }
}

Status check_shape(int dim, std::span<const int64_t> ids, std::span<const float> vectors) {
  if (vectors.size() != ids.size() * static_cast<size_t>(dim))
    return invalid_argument("index add: expected " + std::to_string(ids.size()) + " x " + std::to_string(dim) +
                            " floats, got " + std::to_string(vectors.size()));
  return Status::Ok();
}

// Inner products with our dispatched SIMD dot(): Debian's libfaiss is built for baseline x86-64,
// where its own distance loops run scalar (6x slower at 512-d on an AVX2 machine).
struct SimdIpComputer final : faiss::FlatCodesDistanceComputer {
  SimdIpComputer(const float* xb, int d)
      : FlatCodesDistanceComputer(reinterpret_cast<const uint8_t*>(xb), d * sizeof(float)), xb_(xb), d_(d) {}
  void set_query(const float* x) override { q_ = x; }
  float distance_to_code(const uint8_t* code) override { return dot(q_, reinterpret_cast<const float*>(code), d_); }
  float symmetric_dis(FaissId i, FaissId j) override { return dot(xb_ + i * d_, xb_ + j * d_, d_); }

 private:
  const float* xb_;
  int d_;
  const float* q_ = nullptr;
};

// The flat storage under the HNSW graph, handing out SimdIpComputer.
struct SimdFlatIP final : faiss::IndexFlatIP {
  explicit SimdFlatIP(int d) : IndexFlatIP(d) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
    return new SimdIpComputer(get_xb(), static_cast<int>(d));
  }
};

// HNSW minimises a distance: it walks on the negated inner product.
struct NegatedComputer final : faiss::DistanceComputer {
  explicit NegatedComputer(faiss::DistanceComputer* inner) : inner_(inner) {}
  void set_query(const float* x) override { inner_->set_query(x); }
  float operator()(FaissId i) override { return -(*inner_)(i); }
  float symmetric_dis(FaissId i, FaissId j) override { return -inner_->symmetric_dis(i, j); }

 private:
  std::unique_ptr<faiss::DistanceComputer> inner_;
};

// HNSW over inner products. FAISS' HNSW cannot delete: removed ids become tombstones that search
// skips (asking for that many more results); the Gallery rebuilds when they pile up. A search
// walks the graph on the calling thread (FAISS' IndexHNSW::search opens an OpenMP team even for
// one query, which costs milliseconds on a busy machine); building uses FAISS' OpenMP threads.
class HnswIndex final : public Index {
 public:
  HnswIndex(int dim, const AnnOptions& o) : dim_(dim), index_(new SimdFlatIP(dim), o.hnsw_m) {
    index_.own_fields = true;
    index_.hnsw.efConstruction = o.hnsw_ef_construction;
    index_.hnsw.efSearch = o.hnsw_ef_search;
  }
  std::string name() const override { return "hnsw"; }
  int dim() const override { return dim_; }
  size_t size() const override { return labels_.size() - removed_.size(); }
  Status add(std::span<const int64_t> ids, std::span<const float> vectors) override {
    FACELENS_RETURN_IF_ERROR(check_shape(dim_, ids, vectors));
    if (ids.empty()) return Status::Ok();
    FACELENS_RETURN_IF_ERROR(
        guarded("HNSW add", [&] { index_.add(static_cast<FaissId>(ids.size()), vectors.data()); }));
    labels_.insert(labels_.end(), ids.begin(), ids.end());
    for (size_t i = labels_.size() - ids.size(); i < labels_.size(); ++i)
      label_of_[labels_[i]] = static_cast<int64_t>(i);
    return Status::Ok();
  }
  Status remove(std::span<const int64_t> ids) override {
    for (int64_t id : ids) {
      auto it = label_of_.find(id);
      if (it == label_of_.end()) continue;
      removed_.insert(it->second);
      label_of_.erase(it);
    }
    return Status::Ok();
  }
  StatusOr<std::vector<Neighbor>> search(std::span<const float> query, int k) const override {
    if (static_cast<int>(query.size()) != dim_) return invalid_argument("query dimension does not match the index");
    const int live = static_cast<int>(size());
    k = std::min(k, live);
    if (k <= 0) return std::vector<Neighbor>();
    const int ask = static_cast<int>(std::min<size_t>(labels_.size(), static_cast<size_t>(k) + removed_.size()));
    std::vector<float> d(ask);
    std::vector<FaissId> l(ask);
    FACELENS_RETURN_IF_ERROR(guarded("HNSW search", [&] {
      NegatedComputer dis(index_.storage->get_distance_computer());
      dis.set_query(query.data());
      faiss::VisitedTable visited(static_cast<int>(index_.ntotal));
      faiss::maxheap_heapify(ask, d.data(), l.data());
      index_.hnsw.search(dis, ask, l.data(), d.data(), visited);
      faiss::maxheap_reorder(ask, d.data(), l.data());
    }));
    std::vector<Neighbor> out;
    for (int i = 0; i < ask && static_cast<int>(out.size()) < k; ++i) {
      if (l[i] < 0 || removed_.count(l[i])) continue;
      out.push_back({labels_[static_cast<size_t>(l[i])], -d[i]});
    }
    return out;
  }

 private:
  int dim_;
  faiss::IndexHNSW index_;
  std::vector<int64_t> labels_;                    // FAISS label (insertion order) -> our id
  std::unordered_map<int64_t, int64_t> label_of_;  // live ids only
  std::unordered_set<int64_t> removed_;            // FAISS labels
};

// IVF-Flat over inner products, trained on the vectors it is built with; removal is exact.
class IvfIndex final : public Index {
 public:
  IvfIndex(int dim, int nlist, int nprobe)
      : dim_(dim), quantizer_(dim), index_(&quantizer_, dim, static_cast<size_t>(nlist), faiss::METRIC_INNER_PRODUCT) {
    index_.nprobe = static_cast<size_t>(std::max(1, std::min(nprobe, nlist)));
  }
  Status train(std::span<const float> vectors) {
    return guarded("IVF train", [&] { index_.train(static_cast<FaissId>(vectors.size() / dim_), vectors.data()); });
  }
  std::string name() const override { return "ivf"; }
  int dim() const override { return dim_; }
  size_t size() const override { return static_cast<size_t>(index_.ntotal); }
  Status add(std::span<const int64_t> ids, std::span<const float> vectors) override {
    FACELENS_RETURN_IF_ERROR(check_shape(dim_, ids, vectors));
    if (ids.empty()) return Status::Ok();
    return guarded("IVF add", [&] {
      index_.add_with_ids(static_cast<FaissId>(ids.size()), vectors.data(),
                          reinterpret_cast<const FaissId*>(ids.data()));
    });
  }
  Status remove(std::span<const int64_t> ids) override {
    if (ids.empty()) return Status::Ok();
    return guarded("IVF remove", [&] {
      faiss::IDSelectorBatch sel(ids.size(), reinterpret_cast<const FaissId*>(ids.data()));
      index_.remove_ids(sel);
    });
  }
  StatusOr<std::vector<Neighbor>> search(std::span<const float> query, int k) const override {
    if (static_cast<int>(query.size()) != dim_) return invalid_argument("query dimension does not match the index");
    k = std::min<int>(k, static_cast<int>(index_.ntotal));
    if (k <= 0) return std::vector<Neighbor>();
    std::vector<float> d(k);
    std::vector<FaissId> l(k);
    FACELENS_RETURN_IF_ERROR(guarded("IVF search", [&] { index_.search(1, query.data(), k, d.data(), l.data()); }));
    std::vector<Neighbor> out;
    for (int i = 0; i < k; ++i)
      if (l[i] >= 0) out.push_back({l[i], d[i]});
    return out;
  }

 private:
  int dim_;
  faiss::IndexFlatIP quantizer_;
  faiss::IndexIVFFlat index_;
};

}  // namespace

StatusOr<std::unique_ptr<Index>> create_faiss_index(int dim, const AnnOptions& options, std::span<const int64_t> ids,
                                                    std::span<const float> vectors) {
  if (dim <= 0) return invalid_argument("index dimension must be positive");
  FACELENS_RETURN_IF_ERROR(check_shape(dim, ids, vectors));
  if (options.kind == AnnKind::kHnsw) {
    if (options.hnsw_m < 2 || options.hnsw_ef_construction < 1 || options.hnsw_ef_search < 1)
      return invalid_argument("HNSW needs M >= 2, efConstruction >= 1 and efSearch >= 1");
    std::unique_ptr<HnswIndex> index;
    FACELENS_RETURN_IF_ERROR(guarded("HNSW create", [&] { index = std::make_unique<HnswIndex>(dim, options); }));
    FACELENS_RETURN_IF_ERROR(index->add(ids, vectors));
    return std::unique_ptr<Index>(std::move(index));
  }
  if (ids.empty()) return invalid_argument("an IVF index is trained on the gallery: give it at least one vector");
  const int n = static_cast<int>(ids.size());
  int nlist = options.ivf_nlist > 0 ? options.ivf_nlist : static_cast<int>(4 * std::sqrt(static_cast<double>(n)));
  // FAISS warns below 39 training points per centroid: use fewer cells on small galleries.
  nlist = std::max(1, std::min(nlist, n / 39));
  std::unique_ptr<IvfIndex> index;
  FACELENS_RETURN_IF_ERROR(
      guarded("IVF create", [&] { index = std::make_unique<IvfIndex>(dim, nlist, options.ivf_nprobe); }));
  FACELENS_RETURN_IF_ERROR(index->train(vectors));
  FACELENS_RETURN_IF_ERROR(index->add(ids, vectors));
  return std::unique_ptr<Index>(std::move(index));
}

}  // namespace facelens::gallery

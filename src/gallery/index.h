// Inner-product search over L2-normalised embeddings: an exact index (one contiguous float
// matrix, SIMD dot products) with an optional sign-code pre-filter, and FAISS approximate indexes
// (HNSW, IVF) for large galleries.
//
//   gallery::ExactIndex exact(512);
//   exact.add(ids, vectors);                       // vectors: ids.size() x 512 floats, row-major
//   auto top = exact.search(query, 5);             // best first
//   auto ann = gallery::create_faiss_index(512, {}, ids, vectors);   // HNSW by default
//
// Scores are inner products (= cosine similarities for unit vectors). Thread-safety: search is
// const and may run on many threads at once; add/remove need exclusive access (the Gallery holds
// a readers-writer lock). FAISS exceptions never leave this module: they become Status values.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "facelens/status.h"

namespace facelens::gallery {

struct Neighbor {
  int64_t id = 0;
  float score = 0;
};

class Index {
 public:
  virtual ~Index() = default;
  virtual std::string name() const = 0;  // "exact", "hnsw", "ivf"
  virtual int dim() const = 0;
  virtual size_t size() const = 0;  // vectors searchable now
  // vectors: ids.size() * dim() floats, row-major. Ids must be new.
  virtual Status add(std::span<const int64_t> ids, std::span<const float> vectors) = 0;
  // Unknown ids are ignored.
  virtual Status remove(std::span<const int64_t> ids) = 0;
  // The k best vectors by inner product, best first (fewer when the index holds fewer).
  virtual StatusOr<std::vector<Neighbor>> search(std::span<const float> query, int k) const = 0;
};

// Inner product of two dim-long vectors: AVX2+FMA when the CPU has it, else portable code.
float dot(const float* a, const float* b, int dim);
// The reference every optimised path is tested against: plain loop, double accumulator.
float dot_reference(const float* a, const float* b, int dim);
// out[i] = dot(rows + i * dim, query) for i < n_rows.
void dot_rows(const float* rows, size_t n_rows, int dim, const float* query, float* out);

// Sign-bit code of a vector (SimHash, Charikar 2002): bit d = (v[d] > 0), 64 dimensions per word.
// The Hamming distance h between two codes estimates the angle between the vectors:
// E[h] = bits * angle / pi.
void sign_code(const float* v, int dim, uint64_t* code);
// out[i] = Hamming distance between codes[i] and query (words_per_code words each); POPCNT when
// the CPU has it.
void hamming_rows(const uint64_t* codes, size_t n_rows, int words_per_code, const uint64_t* query, uint16_t* out);
void hamming_rows_reference(const uint64_t* codes, size_t n_rows, int words_per_code, const uint64_t* query,
                            uint16_t* out);

// Every vector scored: exact, and the store of record for re-scoring ANN candidates. Each row
// carries an int32 tag (the Gallery puts the identity's slot there) so that per-identity scores
// need no hash lookups. Removal moves the last row into the hole (O(dim)).
//
// Exact search scans an FP16 copy of the rows (half the memory traffic; F16C CPUs) whose scores
// are off by at most the bound score_all_approx() returns, then re-scores in FP32 every row that
// could still be in the top k: the result is the FP32 exact top k, at 1.5 times the scan speed.
// Memory per 512-d row: 2 KiB (FP32) + 1 KiB (FP16) + 64 bytes (sign code).
class ExactIndex final : public Index {
 public:
  explicit ExactIndex(int dim)
      : dim_(dim), words_((dim + 63) / 64), words_lo_((words_ + 1) / 2), words_hi_(words_ - words_lo_) {}
  std::string name() const override { return "exact"; }
  int dim() const override { return dim_; }
  size_t size() const override { return ids_.size(); }
  Status add(std::span<const int64_t> ids, std::span<const float> vectors) override;
  // Same, with a tag per row.
  Status add(std::span<const int64_t> ids, std::span<const float> vectors, std::span<const int32_t> tags);
  Status remove(std::span<const int64_t> ids) override;
  StatusOr<std::vector<Neighbor>> search(std::span<const float> query, int k) const override;
  // Approximate: the `candidates` rows nearest by Hamming distance of sign codes, re-scored
  // exactly; the k best of those (scores are exact). The scan reads the first half of every code
  // (32 bytes per 512-d row: 64x less than the floats), keeps the 8 x `candidates` nearest by that
  // half, then completes their distances with the second half.
  StatusOr<std::vector<Neighbor>> search_prefiltered(std::span<const float> query, int k, int candidates) const;

  // scores[r] = inner product of row r with the query, for every row (scores.size() == size()).
  void score_all(std::span<const float> query, std::span<float> scores) const;
  // Same from the FP16 copy (FP32 when the CPU has no F16C): |scores[r] - exact| <= returned bound.
  float score_all_approx(std::span<const float> query, std::span<float> scores) const;
  // The row's vector, or nullptr when the id is not stored.
  const float* vector(int64_t id) const;
  const std::vector<int64_t>& row_ids() const { return ids_; }
  const std::vector<int32_t>& row_tags() const { return tags_; }
  const std::vector<float>& matrix() const { return data_; }

 private:
  int dim_;
  std::vector<float> data_;     // size() x dim_, row-major
  std::vector<uint16_t> half_;  // the same in FP16 (when use_half_)
  bool use_half_ = true;        // F16C present and values within FP16's range
  float max_norm_ = 0;          // largest row norm added (a bound; not lowered by removals)
  // Sign codes in row order, split in two halves so that the first pass reads only the first half.
  int words_, words_lo_, words_hi_;
  std::vector<uint64_t> codes_lo_;  // size() x words_lo_
  std::vector<uint64_t> codes_hi_;  // size() x words_hi_
  std::vector<int64_t> ids_;
  std::vector<int32_t> tags_;
  std::unordered_map<int64_t, size_t> row_of_;
};

// The exact index searched through its sign-code pre-filter, as an Index (benchmarks, tests).
class PrefilteredIndex final : public Index {
 public:
  PrefilteredIndex(int dim, int candidates) : exact_(dim), candidates_(candidates) {}
  std::string name() const override { return "hamming"; }
  int dim() const override { return exact_.dim(); }
  size_t size() const override { return exact_.size(); }
  Status add(std::span<const int64_t> ids, std::span<const float> vectors) override { return exact_.add(ids, vectors); }
  Status remove(std::span<const int64_t> ids) override { return exact_.remove(ids); }
  StatusOr<std::vector<Neighbor>> search(std::span<const float> query, int k) const override {
    return exact_.search_prefiltered(query, k, candidates_);
  }

 private:
  ExactIndex exact_;
  int candidates_;
};

enum class AnnKind { kHnsw, kIvf };

struct AnnOptions {
  AnnKind kind = AnnKind::kHnsw;
  // HNSW (Malkov & Yashunin 2018): M links per node; efConstruction / efSearch candidate lists.
  // M=32 is the FAISS benchmarks' choice for high-dimensional data; ef values from tools/bench/gallery_bench.
  int hnsw_m = 32;
  int hnsw_ef_construction = 80;
  int hnsw_ef_search = 128;
  // IVF-Flat: nlist cells (0 = 4 * sqrt(n), the FAISS guideline), nprobe cells searched.
  int ivf_nlist = 0;
  int ivf_nprobe = 32;
};

// Builds an ANN index over the given vectors (IVF is trained on them, so give it the gallery, at
// least 39 * nlist vectors for a well-trained quantiser; fewer lowers nlist). Later add() calls
// extend it; HNSW removals are tombstones filtered at search time.
StatusOr<std::unique_ptr<Index>> create_faiss_index(int dim, const AnnOptions& options, std::span<const int64_t> ids,
                                                    std::span<const float> vectors);

}  // namespace facelens::gallery

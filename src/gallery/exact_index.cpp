#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "gallery/index.h"

namespace facelens::gallery {
namespace {

float dot_portable(const float* a, const float* b, int dim) {
  // Four partial sums: lets the compiler vectorise without -ffast-math.
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int d = 0;
  for (; d + 4 <= dim; d += 4) {
    s0 += a[d] * b[d];
    s1 += a[d + 1] * b[d + 1];
    s2 += a[d + 2] * b[d + 2];
    s3 += a[d + 3] * b[d + 3];
  }
  for (; d < dim; ++d) s0 += a[d] * b[d];
  return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FACELENS_HAVE_AVX2_PATH 1

__attribute__((target("avx2,fma"))) float hsum(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int dim) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int d = 0;
  for (; d + 32 <= dim; d += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d + 8), _mm256_loadu_ps(b + d + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d + 16), _mm256_loadu_ps(b + d + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d + 24), _mm256_loadu_ps(b + d + 24), s3);
  }
  for (; d + 8 <= dim; d += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), s0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; d < dim; ++d) s += a[d] * b[d];
  return s;
}

__attribute__((target("avx2,fma"))) void dot_rows_avx2(const float* rows, size_t n, int dim, const float* q,
                                                       float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot_avx2(rows + i * static_cast<size_t>(dim), q, dim);
}

// FP16 rows (IEEE binary16) against an FP32 query, FP32 accumulation.
__attribute__((target("avx2,fma,f16c"))) void dot_rows_f16(const uint16_t* rows, size_t n, int dim, const float* q,
                                                           float* out) {
  const size_t d = static_cast<size_t>(dim);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* r = rows + i * d;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t k = 0;
    for (; k + 32 <= d; k += 32) {
      s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k))),
                           _mm256_loadu_ps(q + k), s0);
      s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k + 8))),
                           _mm256_loadu_ps(q + k + 8), s1);
      s2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k + 16))),
                           _mm256_loadu_ps(q + k + 16), s2);
      s3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k + 24))),
                           _mm256_loadu_ps(q + k + 24), s3);
    }
    for (; k + 8 <= d; k += 8)
      s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k))),
                           _mm256_loadu_ps(q + k), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; k < d; ++k) s += _cvtsh_ss(r[k]) * q[k];
    out[i] = s;
  }
}

__attribute__((target("f16c"))) void to_half(const float* v, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = _cvtss_sh(v[i], _MM_FROUND_TO_NEAREST_INT);
}

bool cpu_has_f16c() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

__attribute__((target("popcnt"))) void hamming_rows_popcnt(const uint64_t* codes, size_t n, int words,
                                                           const uint64_t* q, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t* c = codes + i * static_cast<size_t>(words);
    int h = 0;
    for (int w = 0; w < words; ++w) h += __builtin_popcountll(c[w] ^ q[w]);
    out[i] = static_cast<uint16_t>(h);
  }
}

bool cpu_has_popcnt() {
  static const bool has = __builtin_cpu_supports("popcnt");
  return has;
}
#endif

using Candidates = std::vector<std::pair<uint16_t, uint32_t>>;  // (distance, row)

// Distances of m codes (W words each; W = 0: `words`) and, in the same pass, the rows within
// `radius` into the histogram and the candidates. Rows start at `base`.
template <int W>
inline void filter_block(const uint64_t* codes, size_t m, int words, const uint64_t* q, size_t radius, uint32_t base,
                         uint32_t* hist, Candidates& cand) {
  const int w = W > 0 ? W : words;
  for (size_t i = 0; i < m; ++i) {
    const uint64_t* c = codes + i * static_cast<size_t>(w);
    unsigned h = 0;
    for (int k = 0; k < w; ++k) h += static_cast<unsigned>(__builtin_popcountll(c[k] ^ q[k]));
    if (h > radius) continue;
    ++hist[h];
    cand.push_back({static_cast<uint16_t>(h), base + static_cast<uint32_t>(i)});
  }
}

#ifdef FACELENS_HAVE_AVX2_PATH
__attribute__((target("popcnt"))) void filter_block_popcnt(const uint64_t* codes, size_t m, int words,
                                                           const uint64_t* q, size_t radius, uint32_t base,
                                                           uint32_t* hist, Candidates& cand) {
  if (words == 4) filter_block<4>(codes, m, words, q, radius, base, hist, cand);  // 512-d: 256 bits
  else filter_block<0>(codes, m, words, q, radius, base, hist, cand);
}
#endif

void filter_rows(const uint64_t* codes, size_t m, int words, const uint64_t* q, size_t radius, uint32_t base,
                 uint32_t* hist, Candidates& cand) {
#ifdef FACELENS_HAVE_AVX2_PATH
  if (cpu_has_popcnt()) {
    filter_block_popcnt(codes, m, words, q, radius, base, hist, cand);
    return;
  }
#endif
  filter_block<0>(codes, m, words, q, radius, base, hist, cand);
}

}  // namespace

float dot_reference(const float* a, const float* b, int dim) {
  double s = 0;
  for (int d = 0; d < dim; ++d) s += static_cast<double>(a[d]) * b[d];
  return static_cast<float>(s);
}

float dot(const float* a, const float* b, int dim) {
#ifdef FACELENS_HAVE_AVX2_PATH
  if (cpu_has_avx2()) return dot_avx2(a, b, dim);
#endif
  return dot_portable(a, b, dim);
}

void dot_rows(const float* rows, size_t n_rows, int dim, const float* query, float* out) {
#ifdef FACELENS_HAVE_AVX2_PATH
  if (cpu_has_avx2()) {
    dot_rows_avx2(rows, n_rows, dim, query, out);
    return;
  }
#endif
  for (size_t i = 0; i < n_rows; ++i) out[i] = dot_portable(rows + i * static_cast<size_t>(dim), query, dim);
}

void sign_code(const float* v, int dim, uint64_t* code) {
  const int words = (dim + 63) / 64;
  for (int w = 0; w < words; ++w) code[w] = 0;
  for (int d = 0; d < dim; ++d)
    if (v[d] > 0) code[d / 64] |= uint64_t{1} << (d % 64);
}

void hamming_rows_reference(const uint64_t* codes, size_t n, int words, const uint64_t* q, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) {
    int h = 0;
    for (int w = 0; w < words; ++w)
      for (uint64_t x = codes[i * static_cast<size_t>(words) + w] ^ q[w]; x; x &= x - 1) ++h;
    out[i] = static_cast<uint16_t>(h);
  }
}

void hamming_rows(const uint64_t* codes, size_t n, int words, const uint64_t* q, uint16_t* out) {
#ifdef FACELENS_HAVE_AVX2_PATH
  if (cpu_has_popcnt()) {
    hamming_rows_popcnt(codes, n, words, q, out);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) {
    const uint64_t* c = codes + i * static_cast<size_t>(words);
    int h = 0;
    for (int w = 0; w < words; ++w) h += __builtin_popcountll(c[w] ^ q[w]);
    out[i] = static_cast<uint16_t>(h);
  }
}

Status ExactIndex::add(std::span<const int64_t> ids, std::span<const float> vectors) {
  std::vector<int32_t> tags(ids.size(), 0);
  return add(ids, vectors, tags);
}

Status ExactIndex::add(std::span<const int64_t> ids, std::span<const float> vectors, std::span<const int32_t> tags) {
  if (vectors.size() != ids.size() * static_cast<size_t>(dim_))
    return invalid_argument("index add: expected " + std::to_string(ids.size()) + " x " + std::to_string(dim_) +
                            " floats, got " + std::to_string(vectors.size()));
  if (tags.size() != ids.size()) return invalid_argument("index add: one tag per id expected");
  for (int64_t id : ids)
    if (row_of_.count(id)) return invalid_argument("index add: id " + std::to_string(id) + " is already indexed");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!row_of_.emplace(ids[i], ids_.size()).second)
      return invalid_argument("index add: id " + std::to_string(ids[i]) + " given twice");
    ids_.push_back(ids[i]);
    tags_.push_back(tags[i]);
  }
  data_.insert(data_.end(), vectors.begin(), vectors.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    double n2 = 0;
    for (int d = 0; d < dim_; ++d) n2 += static_cast<double>(vectors[i * dim_ + d]) * vectors[i * dim_ + d];
    max_norm_ = std::max(max_norm_, static_cast<float>(std::sqrt(n2)));
  }
#ifdef FACELENS_HAVE_AVX2_PATH
  // FP16 holds values up to 65504; beyond a norm of 1e4 (never for embeddings) stay in FP32.
  if (use_half_ && (!cpu_has_f16c() || max_norm_ > 1e4f)) {
    use_half_ = false;
    half_.clear();
    half_.shrink_to_fit();
  }
  if (use_half_) {
    half_.resize(data_.size());
    to_half(vectors.data(), vectors.size(), &half_[data_.size() - vectors.size()]);
  }
#else
  use_half_ = false;
#endif
  const size_t first = ids_.size() - ids.size();
  codes_lo_.resize(ids_.size() * static_cast<size_t>(words_lo_));
  codes_hi_.resize(ids_.size() * static_cast<size_t>(words_hi_));
  std::vector<uint64_t> code(static_cast<size_t>(words_));
  for (size_t i = 0; i < ids.size(); ++i) {
    sign_code(&vectors[i * static_cast<size_t>(dim_)], dim_, code.data());
    std::copy(code.begin(), code.begin() + words_lo_, &codes_lo_[(first + i) * static_cast<size_t>(words_lo_)]);
    std::copy(code.begin() + words_lo_, code.end(),
              codes_hi_.begin() + static_cast<std::ptrdiff_t>((first + i) * words_hi_));
  }
  return Status::Ok();
}

Status ExactIndex::remove(std::span<const int64_t> ids) {
  const size_t d = static_cast<size_t>(dim_);
  for (int64_t id : ids) {
    auto it = row_of_.find(id);
    if (it == row_of_.end()) continue;
    const size_t row = it->second, last = ids_.size() - 1;
    row_of_.erase(it);
    if (row != last) {
      std::memcpy(&data_[row * d], &data_[last * d], d * sizeof(float));
      if (!half_.empty()) std::memcpy(&half_[row * d], &half_[last * d], d * sizeof(uint16_t));
      std::copy_n(&codes_lo_[last * words_lo_], words_lo_, &codes_lo_[row * words_lo_]);
      std::copy_n(codes_hi_.begin() + static_cast<std::ptrdiff_t>(last * words_hi_), words_hi_,
                  codes_hi_.begin() + static_cast<std::ptrdiff_t>(row * words_hi_));
      ids_[row] = ids_[last];
      tags_[row] = tags_[last];
      row_of_[ids_[row]] = row;
    }
    ids_.pop_back();
    tags_.pop_back();
    data_.resize(last * d);
    if (!half_.empty()) half_.resize(last * d);
    codes_lo_.resize(last * static_cast<size_t>(words_lo_));
    codes_hi_.resize(last * static_cast<size_t>(words_hi_));
  }
  return Status::Ok();
}

void ExactIndex::score_all(std::span<const float> query, std::span<float> scores) const {
  dot_rows(data_.data(), ids_.size(), dim_, query.data(), scores.data());
}

float ExactIndex::score_all_approx(std::span<const float> query, std::span<float> scores) const {
#ifdef FACELENS_HAVE_AVX2_PATH
  if (use_half_) {
    dot_rows_f16(half_.data(), ids_.size(), dim_, query.data(), scores.data());
    // Each FP16 element is within a relative 2^-11 of the FP32 one, so the dot product is within
    // 2^-11 * sum |q_i x_i| <= 2^-11 * |q| * |x| (Cauchy-Schwarz); FP32 accumulation in either
    // path adds at most dim * 2^-24 relative to the same sum, counted twice.
    double q2 = 0;
    for (float v : query) q2 += static_cast<double>(v) * v;
    // Values below FP16's normal range (6.1e-5) are rounded to an absolute 2^-25 instead.
    const double rel = std::ldexp(1.0, -11) + 2.0 * dim_ * std::ldexp(1.0, -24);
    const double tiny = dim_ * std::ldexp(1.0, -25);
    return static_cast<float>((rel * max_norm_ + tiny) * std::sqrt(q2) * 1.001);
  }
#endif
  score_all(query, scores);
  return 0.f;
}

const float* ExactIndex::vector(int64_t id) const {
  auto it = row_of_.find(id);
  return it == row_of_.end() ? nullptr : &data_[it->second * static_cast<size_t>(dim_)];
}

StatusOr<std::vector<Neighbor>> ExactIndex::search(std::span<const float> query, int k) const {
  if (static_cast<int>(query.size()) != dim_)
    return invalid_argument("query has " + std::to_string(query.size()) + " dimensions, the index " +
                            std::to_string(dim_));
  const size_t n = std::min(ids_.size(), static_cast<size_t>(std::max(k, 0)));
  if (n == 0) return std::vector<Neighbor>();
  std::vector<float> approx(ids_.size());
  const float bound = score_all_approx(query, approx);
  // The n-th best approximate score: no row whose approximate score is 2 bounds below it can be
  // in the exact top n.
  std::vector<float> best(n, -std::numeric_limits<float>::infinity());
  for (float a : approx) {
    if (a <= best.back()) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), a, std::greater<float>()), a);
    best.pop_back();
  }
  const float cut = best.back() - 2 * bound;
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  };
  std::vector<Neighbor> out;
  for (size_t r = 0; r < approx.size(); ++r)
    if (approx[r] >= cut) out.push_back({ids_[r], dot(&data_[r * static_cast<size_t>(dim_)], query.data(), dim_)});
  const size_t m = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + m, out.end(), better);
  out.resize(m);
  return out;
}

}  // namespace facelens::gallery

namespace facelens::gallery {

StatusOr<std::vector<Neighbor>> ExactIndex::search_prefiltered(std::span<const float> query, int k,
                                                               int candidates) const {
  if (static_cast<int>(query.size()) != dim_)
    return invalid_argument("query has " + std::to_string(query.size()) + " dimensions, the index " +
                            std::to_string(dim_));
  const size_t n = ids_.size();
  if (candidates < 1) candidates = 1;
  if (n <= static_cast<size_t>(candidates)) return search(query, k);
  std::vector<uint64_t> q(static_cast<size_t>(words_));
  sign_code(query.data(), dim_, q.data());
  // Pass 1 streams the first halves in blocks: a histogram of the distances seen so far (within
  // the radius: nothing beyond it can matter again) gives the smallest radius holding `first`
  // rows; it only shrinks, so rows beyond it are dropped for good.
  const size_t want = static_cast<size_t>(candidates);
  const size_t first = words_hi_ > 0 ? 8 * want : want;
  constexpr size_t kBlock = 16384;
  std::vector<uint32_t> hist(static_cast<size_t>(words_lo_) * 64 + 1, 0);
  size_t radius = hist.size() - 1;
  Candidates cand;
  cand.reserve(4 * first + kBlock);
  auto prune = [&] {
    cand.erase(std::remove_if(cand.begin(), cand.end(), [&](const auto& c) { return c.first > radius; }), cand.end());
  };
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t m = std::min(kBlock, n - start);
    filter_rows(&codes_lo_[start * static_cast<size_t>(words_lo_)], m, words_lo_, q.data(), radius,
                static_cast<uint32_t>(start), hist.data(), cand);
    size_t within = 0, r = 0;
    for (; r < radius; ++r) {
      within += hist[r];
      if (within >= first) break;
    }
    radius = r;
    if (cand.size() > 4 * first) prune();
  }
  prune();
  // Pass 2: full distances of those, in row order (memory order).
  if (words_hi_ > 0) {
    std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    for (auto& c : cand) {
      uint16_t rest = 0;
      hamming_rows(&codes_hi_[static_cast<size_t>(c.second) * words_hi_], 1, words_hi_, q.data() + words_lo_, &rest);
      c.first = static_cast<uint16_t>(c.first + rest);
    }
  }
  // The `candidates` nearest (ties in row order).
  if (cand.size() > want) {
    std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(want), cand.end());
    cand.resize(want);
  }
  std::vector<uint32_t> rows;
  rows.reserve(cand.size());
  for (const auto& c : cand) rows.push_back(c.second);
  std::vector<Neighbor> out;
  out.reserve(rows.size());
  for (uint32_t r : rows) out.push_back({ids_[r], dot(&data_[r * static_cast<size_t>(dim_)], query.data(), dim_)});
  const size_t m = std::min(out.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(out.begin(), out.begin() + m, out.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  });
  out.resize(m);
  return out;
}

}  // namespace facelens::gallery

// Search indexes: the SIMD dot product against the reference, the exact index against brute
// force, and the FAISS indexes (HNSW, IVF) against the exact index on synthetic unit vectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "gallery/index.h"

namespace facelens::gallery {
namespace {

std::vector<float> unit_vectors(size_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n * static_cast<size_t>(dim));
  for (size_t i = 0; i < n; ++i) {
    float* row = &v[i * dim];
    double norm = 0;
    for (int d = 0; d < dim; ++d) {
      row[d] = nd(rng);
      norm += static_cast<double>(row[d]) * row[d];
    }
    for (int d = 0; d < dim; ++d) row[d] = static_cast<float>(row[d] / std::sqrt(norm));
  }
  return v;
}

// A probe of row `i`: the row plus noise, renormalised, at a cosine of about `cos` to it (what a
// second photo of an enrolled person looks like to a face recognizer).
std::vector<float> probe(const std::vector<float>& rows, size_t i, int dim, float cos, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  const float sigma = std::sqrt((1.f / (cos * cos) - 1.f) / dim);
  std::vector<float> q(rows.begin() + i * dim, rows.begin() + (i + 1) * dim);
  double norm = 0;
  for (auto& x : q) {
    x += sigma * nd(rng);
    norm += static_cast<double>(x) * x;
  }
  for (auto& x : q) x = static_cast<float>(x / std::sqrt(norm));
  return q;
}

std::vector<int64_t> iota_ids(size_t n, int64_t first) {
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

TEST(Dot, MatchesReferenceForEveryLength) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int dim : {1, 3, 7, 8, 9, 31, 32, 33, 64, 100, 128, 511, 512, 513, 1024}) {
    std::vector<float> a(dim), b(dim);
    for (auto& x : a) x = u(rng);
    for (auto& x : b) x = u(rng);
    const float ref = dot_reference(a.data(), b.data(), dim);
    EXPECT_NEAR(dot(a.data(), b.data(), dim), ref, 1e-5f * std::sqrt(static_cast<float>(dim))) << "dim " << dim;
    float row_out = 0;
    dot_rows(a.data(), 1, dim, b.data(), &row_out);
    EXPECT_NEAR(row_out, ref, 1e-5f * std::sqrt(static_cast<float>(dim))) << "dim " << dim;
  }
}

TEST(ExactIndex, TopKMatchesBruteForce) {
  const int dim = 64;
  const size_t n = 2000;
  auto rows = unit_vectors(n, dim, 2);
  ExactIndex index(dim);
  ASSERT_TRUE(index.add(iota_ids(n, 100), rows).ok());
  auto queries = unit_vectors(20, dim, 3);
  for (size_t qi = 0; qi < 20; ++qi) {
    const float* q = &queries[qi * dim];
    std::vector<std::pair<float, int64_t>> ref;
    for (size_t i = 0; i < n; ++i)
      ref.push_back({dot_reference(&rows[i * dim], q, dim), static_cast<int64_t>(100 + i)});
    std::sort(ref.begin(), ref.end(), std::greater<>());
    auto top = index.search({q, static_cast<size_t>(dim)}, 10);
    ASSERT_TRUE(top.ok());
    ASSERT_EQ(top->size(), 10u);
    for (size_t k = 0; k < 10; ++k) {
      EXPECT_EQ((*top)[k].id, ref[k].second) << "query " << qi << " rank " << k;
      EXPECT_NEAR((*top)[k].score, ref[k].first, 1e-5f);
    }
  }
  EXPECT_EQ(index.search({queries.data(), static_cast<size_t>(dim)}, 5000)->size(), n);
  EXPECT_FALSE(index.search({queries.data(), 3}, 1).ok());
}

// The FP16 scan is only a filter: near-ties closer than FP16 can tell apart must still come back
// in exact order, and every approximate score must lie within the bound it reports.
TEST(ExactIndex, HalfPrecisionScanStaysExactOnNearTies) {
  const int dim = 512;
  const size_t n_base = 3000, n_twins = 200;
  auto rows = unit_vectors(n_base, dim, 21);
  std::mt19937 rng(22);
  std::normal_distribution<float> nd;
  for (size_t t = 0; t < n_twins; ++t) {  // a twin of row t, 1e-4 away
    std::vector<float> twin(rows.begin() + t * dim, rows.begin() + (t + 1) * dim);
    double norm = 0;
    for (auto& x : twin) {
      x += 1e-4f * nd(rng) / std::sqrt(static_cast<float>(dim));
      norm += static_cast<double>(x) * x;
    }
    for (auto& x : twin) x = static_cast<float>(x / std::sqrt(norm));
    rows.insert(rows.end(), twin.begin(), twin.end());
  }
  const size_t n = n_base + n_twins;
  ExactIndex index(dim);
  ASSERT_TRUE(index.add(iota_ids(n, 0), rows).ok());
  for (int i = 0; i < 100; ++i) {
    auto q = probe(rows, rng() % n_twins, dim, 0.8f, rng);
    std::vector<float> approx(n);
    const float bound = index.score_all_approx(q, approx);
    std::vector<std::pair<float, int64_t>> ref;
    for (size_t r = 0; r < n; ++r) {
      const float exact = dot_reference(&rows[r * dim], q.data(), dim);
      ref.push_back({exact, static_cast<int64_t>(r)});
      const int64_t id = index.row_ids()[r];
      EXPECT_LE(std::abs(approx[r] - dot_reference(index.vector(id), q.data(), dim)), bound);
    }
    std::sort(ref.begin(), ref.end(), std::greater<>());
    auto top = index.search(q, 4);
    ASSERT_TRUE(top.ok());
    ASSERT_EQ(top->size(), 4u);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_EQ((*top)[k].id, ref[k].second) << "query " << i << " rank " << k;
      EXPECT_NEAR((*top)[k].score, ref[k].first, 2e-6f);
    }
  }
}

TEST(ExactIndex, RemoveKeepsRowsConsistent) {
  const int dim = 16;
  auto rows = unit_vectors(50, dim, 4);
  ExactIndex index(dim);
  std::vector<int32_t> tags(50);
  for (int i = 0; i < 50; ++i) tags[i] = i % 7;
  ASSERT_TRUE(index.add(iota_ids(50, 0), rows, tags).ok());
  EXPECT_FALSE(index.add(std::vector<int64_t>{3}, std::vector<float>(dim, 0.f)).ok());  // id taken
  std::vector<int64_t> gone = {0, 10, 49, 25, 1234};
  ASSERT_TRUE(index.remove(gone).ok());
  EXPECT_EQ(index.size(), 46u);
  for (int64_t id : {0, 10, 25, 49}) EXPECT_EQ(index.vector(id), nullptr);
  for (size_t r = 0; r < index.size(); ++r) {
    const int64_t id = index.row_ids()[r];
    ASSERT_NE(index.vector(id), nullptr);
    EXPECT_TRUE(std::equal(index.vector(id), index.vector(id) + dim, &rows[static_cast<size_t>(id) * dim]));
    EXPECT_EQ(index.row_tags()[r], id % 7);
  }
  // Every remaining row finds itself first.
  for (int64_t id : {1, 24, 48}) {
    auto top = index.search({&rows[id * dim], static_cast<size_t>(dim)}, 1);
    ASSERT_TRUE(top.ok());
    EXPECT_EQ((*top)[0].id, id);
  }
}

// FAISS against exact: on probes of enrolled vectors, recall@1 must be (nearly) perfect and the
// scores of what is returned must be the exact inner products.
void check_ann_agrees(AnnKind kind) {
  const int dim = 128;
  const size_t n = 4000;
  auto rows = unit_vectors(n, dim, 5);
  auto ids = iota_ids(n, 1000);
  ExactIndex exact(dim);
  ASSERT_TRUE(exact.add(ids, rows).ok());
  AnnOptions o;
  o.kind = kind;
  // Uniformly random vectors have no clusters: IVF's worst case, so it probes more cells here.
  o.ivf_nprobe = 64;
  auto ann = create_faiss_index(dim, o, ids, rows);
  ASSERT_TRUE(ann.ok()) << ann.status().to_string();
  EXPECT_EQ((*ann)->size(), n);
  std::mt19937 rng(6);
  int agree = 0;
  const int n_queries = 200;
  for (int i = 0; i < n_queries; ++i) {
    const size_t target = rng() % n;
    auto q = probe(rows, target, dim, 0.6f, rng);
    auto e = exact.search(q, 5);
    auto a = (*ann)->search(q, 5);
    ASSERT_TRUE(e.ok() && a.ok());
    ASSERT_FALSE(a->empty());
    agree += (*a)[0].id == (*e)[0].id;
    for (const auto& nb : *a) EXPECT_NEAR(nb.score, dot_reference(exact.vector(nb.id), q.data(), dim), 1e-4f);
    for (size_t k = 1; k < a->size(); ++k) EXPECT_GE((*a)[k - 1].score, (*a)[k].score);
  }
  EXPECT_GE(agree, n_queries * 99 / 100) << (*ann)->name() << " recall@1 too low";

  // Removed ids never come back; added ones are found.
  std::vector<int64_t> gone(ids.begin(), ids.begin() + 100);
  ASSERT_TRUE((*ann)->remove(gone).ok());
  EXPECT_EQ((*ann)->size(), n - 100);
  for (size_t i = 0; i < 100; i += 7) {
    auto a = (*ann)->search({&rows[i * dim], static_cast<size_t>(dim)}, 10);
    ASSERT_TRUE(a.ok());
    for (const auto& nb : *a) EXPECT_GE(nb.id, 1100);
  }
  auto extra = unit_vectors(10, dim, 7);
  auto extra_ids = iota_ids(10, 900000);
  ASSERT_TRUE((*ann)->add(extra_ids, extra).ok());
  for (size_t i = 0; i < 10; ++i) {
    auto a = (*ann)->search({&extra[i * dim], static_cast<size_t>(dim)}, 1);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ((*a)[0].id, extra_ids[i]);
  }
}

TEST(SignCodes, HammingMatchesReferenceAndEstimatesAngles) {
  std::mt19937 rng(8);
  for (int dim : {5, 64, 100, 512}) {
    const int words = (dim + 63) / 64;
    auto rows = unit_vectors(300, dim, 9);
    std::vector<uint64_t> codes(300 * words), q(words);
    for (size_t i = 0; i < 300; ++i) sign_code(&rows[i * dim], dim, &codes[i * words]);
    sign_code(&rows[0], dim, q.data());
    std::vector<uint16_t> fast(300), ref(300);
    hamming_rows(codes.data(), 300, words, q.data(), fast.data());
    hamming_rows_reference(codes.data(), 300, words, q.data(), ref.data());
    EXPECT_EQ(fast, ref) << "dim " << dim;
    EXPECT_EQ(fast[0], 0);
    for (size_t i = 0; i < 300; ++i) EXPECT_LE(fast[i], dim);
  }
  // 512 bits: the distance of a probe at cosine 0.6 is near 512 * acos(0.6) / pi = 151.
  auto rows = unit_vectors(1, 512, 10);
  double mean = 0;
  for (int i = 0; i < 200; ++i) {
    auto p = probe(rows, 0, 512, 0.6f, rng);
    uint64_t a[8], b[8];
    sign_code(rows.data(), 512, a);
    sign_code(p.data(), 512, b);
    uint16_t h = 0;
    hamming_rows(a, 1, 8, b, &h);
    mean += h / 200.0;
  }
  EXPECT_NEAR(mean, 512 * std::acos(0.6) / M_PI, 6);
}

TEST(ExactIndex, PrefilterFindsProbesAndScoresExactly) {
  const int dim = 256;
  const size_t n = 20000;
  auto rows = unit_vectors(n, dim, 12);
  ExactIndex index(dim);
  ASSERT_TRUE(index.add(iota_ids(n, 0), rows).ok());
  std::mt19937 rng(13);
  int agree = 0;
  for (int i = 0; i < 200; ++i) {
    const size_t target = rng() % n;
    auto q = probe(rows, target, dim, 0.6f, rng);
    auto e = index.search(q, 3);
    auto p = index.search_prefiltered(q, 3, 256);
    ASSERT_TRUE(e.ok() && p.ok());
    ASSERT_EQ(p->size(), 3u);
    agree += (*p)[0].id == (*e)[0].id;
    EXPECT_EQ((*e)[0].id, static_cast<int64_t>(target));
    for (const auto& nb : *p) EXPECT_NEAR(nb.score, dot_reference(index.vector(nb.id), q.data(), dim), 1e-5f);
  }
  EXPECT_GE(agree, 199);
  // Removal keeps codes and rows together.
  std::vector<int64_t> gone = {5, 6, 7};
  ASSERT_TRUE(index.remove(gone).ok());
  auto again = index.search_prefiltered({&rows[static_cast<size_t>(n - 1) * dim], static_cast<size_t>(dim)}, 1, 64);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].id, static_cast<int64_t>(n - 1));
  // Few rows: exact search.
  ExactIndex small(dim);
  ASSERT_TRUE(small.add(iota_ids(10, 0), std::vector<float>(rows.begin(), rows.begin() + 10 * dim)).ok());
  EXPECT_EQ(small.search_prefiltered({rows.data(), static_cast<size_t>(dim)}, 20, 64)->size(), 10u);
}

TEST(FaissIndex, HnswAgreesWithExact) { check_ann_agrees(AnnKind::kHnsw); }
TEST(FaissIndex, IvfAgreesWithExact) { check_ann_agrees(AnnKind::kIvf); }

TEST(FaissIndex, RefusesBadShapes) {
  AnnOptions o;
  EXPECT_FALSE(create_faiss_index(8, o, iota_ids(2, 0), std::vector<float>(15)).ok());
  o.kind = AnnKind::kIvf;
  EXPECT_FALSE(create_faiss_index(8, o, {}, {}).ok());
  o.kind = AnnKind::kHnsw;
  auto empty = create_faiss_index(8, o, {}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->search(std::vector<float>(8, 0.f), 3)->empty());
  EXPECT_FALSE((*empty)->search(std::vector<float>(7, 0.f), 3).ok());
}

}  // namespace
}  // namespace facelens::gallery

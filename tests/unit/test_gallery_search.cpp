// The Gallery at the embedding level (no models): identity scores (best, mean of top-k), top-k,
// unknown below the threshold, model-id mismatch, duplicates, removal, exact vs ANN agreement,
// export/import round trip, durability across reopening.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "facelens/gallery.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;
constexpr int kDim = 8;

// cos * e0 + sin * e_axis: a unit vector at cosine `cos` to the query e0.
std::vector<float> at_cos(float cos, int axis) {
  std::vector<float> v(kDim, 0.f);
  v[0] = cos;
  v[static_cast<size_t>(axis)] = std::sqrt(1 - cos * cos);
  return v;
}
const std::vector<float> kQuery = at_cos(1.f, 1);

EmbeddingEnrollment face(const std::string& name, std::vector<float> v, const std::string& sha = "",
                         const std::string& model = "model_a") {
  EmbeddingEnrollment e;
  e.name = name;
  e.embedding = std::move(v);
  e.model_id = model;
  e.image_sha256 = sha;
  return e;
}

// A: one very close face and two far ones; B: three fairly close faces.
std::vector<EmbeddingEnrollment> two_people() {
  return {face("A", at_cos(0.9f, 1)), face("A", at_cos(0.1f, 2)), face("A", at_cos(0.1f, 3)),
          face("B", at_cos(0.6f, 4)), face("B", at_cos(0.6f, 5)), face("B", at_cos(0.6f, 6))};
}

class GalleryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("facelens_gallery_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Gallery> open(GalleryOptions o = {}, const std::string& file = "g.db") {
    o.db_path = (dir_ / file).string();
    if (o.match_threshold < 0) o.match_threshold = 0.5f;
    auto g = Gallery::open(o);
    EXPECT_TRUE(g.ok()) << g.status().to_string();
    return g.ok() ? std::move(*g) : nullptr;
  }
  fs::path dir_;
};

TEST_F(GalleryTest, BestScoreRanksTheClosestFace) {
  auto g = open();
  ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
  auto r = g->identify_embedding(kQuery, "model_a", 5);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->matches.size(), 2u);
  EXPECT_EQ(r->matches[0].name, "A");
  EXPECT_NEAR(r->matches[0].score, 0.9f, 1e-5);
  EXPECT_EQ(r->matches[1].name, "B");
  EXPECT_NEAR(r->matches[1].score, 0.6f, 1e-5);
  ASSERT_TRUE(r->identity);
  EXPECT_EQ(r->identity->name, "A");
  EXPECT_NEAR(r->score, 0.9f, 1e-5);
  // top-k cuts the list.
  EXPECT_EQ(g->identify_embedding(kQuery, "model_a", 1)->matches.size(), 1u);
  EXPECT_FALSE(g->identify_embedding(kQuery, "model_a", 0).ok());
}

TEST_F(GalleryTest, MeanOfTopKPrefersConsistentFaces) {
  GalleryOptions o;
  o.score = IdentityScore::kMeanTopK;
  o.score_top_k = 3;
  auto g = open(o);
  ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
  auto r = g->identify_embedding(kQuery, "model_a", 5);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->matches.size(), 2u);
  EXPECT_EQ(r->matches[0].name, "B");
  EXPECT_NEAR(r->matches[0].score, 0.6f, 1e-5);
  EXPECT_NEAR(r->matches[1].score, (0.9f + 0.1f + 0.1f) / 3, 1e-5);
  // An identity with fewer faces than k averages what it has.
  ASSERT_TRUE(g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("C", at_cos(0.7f, 7))}).ok());
  r = g->identify_embedding(kQuery, "model_a", 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matches[0].name, "C");
  EXPECT_NEAR(r->matches[0].score, 0.7f, 1e-5);
  auto v = g->verify_embedding(kQuery, "model_a", "A");
  ASSERT_TRUE(v.ok());
  EXPECT_NEAR(v->score, 1.1f / 3, 1e-5);
  EXPECT_FALSE(v->match);
}

TEST_F(GalleryTest, BelowThresholdIsUnknown) {
  GalleryOptions o;
  o.match_threshold = 0.95f;
  auto g = open(o);
  ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
  auto r = g->identify_embedding(kQuery, "model_a", 3);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->identity);  // best is 0.9 < 0.95
  EXPECT_NEAR(r->score, 0.9f, 1e-5);
  EXPECT_EQ(r->matches.size(), 2u);  // near misses are still listed
  auto v = g->verify_embedding(kQuery, "model_a", "A");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->match);
  EXPECT_FLOAT_EQ(v->threshold, 0.95f);
  EXPECT_EQ(g->verify_embedding(kQuery, "model_a", "nobody").status().code(), StatusCode::kNotFound);
  // An empty gallery knows no one.
  auto empty = open({}, "empty.db");
  auto e = empty->identify_embedding(kQuery, "model_a", 3);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->identity);
  EXPECT_TRUE(e->matches.empty());
}

TEST_F(GalleryTest, ModelMismatchRefusedWithReembedHint) {
  auto g = open();
  ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
  auto r = g->identify_embedding(kQuery, "model_b", 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("facelens gallery reembed"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("model_a"), std::string::npos);
  EXPECT_FALSE(g->verify_embedding(kQuery, "model_b", "A").ok());
  auto add = g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("C", at_cos(0.2f, 7), "", "model_b")});
  EXPECT_EQ(add.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(g->stats().model_id, "model_a");
  // One call mixing models is refused outright.
  auto mixed = g->enroll_embeddings(
      std::vector<EmbeddingEnrollment>{face("C", at_cos(0.2f, 7)), face("D", at_cos(0.2f, 6), "", "model_b")});
  EXPECT_EQ(mixed.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GalleryTest, DuplicateImageDetected) {
  auto g = open();
  ASSERT_TRUE(g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("A", at_cos(0.9f, 1), "sha-1")}).ok());
  auto again = g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("B", at_cos(0.5f, 2), "sha-1")});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(again.status().message().find("already enrolled as 'A'"), std::string::npos);
  EXPECT_EQ(g->stats().n_faces, 1u);
  EXPECT_EQ(g->stats().n_identities, 1u);  // "B" was not created
}

TEST_F(GalleryTest, RemoveAndReopen) {
  {
    auto g = open();
    ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
    ASSERT_TRUE(g->remove("A").ok());
    EXPECT_EQ(g->remove("A").code(), StatusCode::kNotFound);
    auto r = g->identify_embedding(kQuery, "model_a", 5);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->matches.size(), 1u);
    EXPECT_EQ(r->matches[0].name, "B");
  }
  auto g = open();
  auto s = g->stats();
  EXPECT_EQ(s.n_identities, 1u);
  EXPECT_EQ(s.n_faces, 3u);
  EXPECT_EQ(s.dim, kDim);
  EXPECT_EQ(s.model_id, "model_a");
  auto list = g->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "B");
  EXPECT_EQ((*list)[0].n_faces, 3);
  EXPECT_EQ(*g->integrity_check(), "ok");
  // Removing the last identity frees the model: another model may now be enrolled.
  ASSERT_TRUE(g->remove("B").ok());
  EXPECT_TRUE(g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("C", at_cos(0.2f, 7), "", "model_b")}).ok());
}

// Exact and ANN galleries give the same identities for probes of enrolled people, with the
// scores of exact re-scoring (so they agree to the float).
void check_gallery_ann(IndexKind kind, const fs::path& dir) {
  const int dim = 64, n_people = 1500;
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  auto unit = [&](std::vector<float> v) {
    double n = 0;
    for (float x : v) n += static_cast<double>(x) * x;
    for (auto& x : v) x = static_cast<float>(x / std::sqrt(n));
    return v;
  };
  std::vector<std::vector<float>> base;
  std::vector<EmbeddingEnrollment> items;
  for (int p = 0; p < n_people; ++p) {
    std::vector<float> v(dim);
    for (auto& x : v) x = nd(rng);
    base.push_back(unit(v));
    for (int k = 0; k < 2; ++k) {  // two photos per person
      std::vector<float> f = base.back();
      for (auto& x : f) x += 0.08f * nd(rng);
      items.push_back(face("p" + std::to_string(p), unit(f)));
    }
  }
  GalleryOptions oe, oa;
  oe.db_path = (dir / "exact.db").string();
  oa.db_path = (dir / "ann.db").string();
  oe.match_threshold = oa.match_threshold = 0.5f;
  oe.index = IndexKind::kExact;
  oa.index = kind;
  auto ge = Gallery::open(oe);
  auto ga = Gallery::open(oa);
  ASSERT_TRUE(ge.ok() && ga.ok());
  ASSERT_TRUE((*ge)->enroll_embeddings(items).ok());
  ASSERT_TRUE((*ga)->enroll_embeddings(items).ok());
  int agree = 0;
  for (int i = 0; i < 200; ++i) {
    const int p = static_cast<int>(rng() % n_people);
    std::vector<float> q = base[static_cast<size_t>(p)];
    for (auto& x : q) x += 0.1f * nd(rng);
    q = unit(q);
    auto re = (*ge)->identify_embedding(q, "model_a", 3);
    auto ra = (*ga)->identify_embedding(q, "model_a", 3);
    ASSERT_TRUE(re.ok() && ra.ok()) << ra.status().to_string();
    ASSERT_FALSE(ra->matches.empty());
    EXPECT_EQ(re->matches[0].name, "p" + std::to_string(p));
    if (ra->matches[0].name == re->matches[0].name) {
      ++agree;
      EXPECT_FLOAT_EQ(ra->matches[0].score, re->matches[0].score);
    }
  }
  EXPECT_GE(agree, 198);
  EXPECT_EQ((*ga)->stats().index, kind == IndexKind::kIvf ? "ivf" : kind == IndexKind::kHnsw ? "hnsw" : "hamming");
  EXPECT_EQ((*ge)->stats().index, "exact");
  // Removal reaches the ANN index too.
  ASSERT_TRUE((*ga)->remove("p0").ok());
  auto r0 = (*ga)->identify_embedding(base[0], "model_a", 3);
  ASSERT_TRUE(r0.ok());
  for (const auto& m : r0->matches) EXPECT_NE(m.name, "p0");
}

// The exact gallery (FP16 scan + exact re-scoring) against brute-force identity scores in double
// precision, for both identity scores, on identities whose faces are near one another.
TEST_F(GalleryTest, ExactMatchesBruteForceIdentityScores) {
  const int dim = 128;
  std::mt19937 rng(31);
  std::normal_distribution<float> nd;
  auto unit = [](std::vector<float> v) {
    double n = 0;
    for (float x : v) n += static_cast<double>(x) * x;
    for (auto& x : v) x = static_cast<float>(x / std::sqrt(n));
    return v;
  };
  std::vector<EmbeddingEnrollment> items;
  std::map<std::string, std::vector<std::vector<float>>> faces;
  for (int p = 0; p < 300; ++p) {
    std::vector<float> base(dim);
    for (auto& x : base) x = nd(rng);
    const int n_faces = 1 + p % 4;
    for (int f = 0; f < n_faces; ++f) {
      std::vector<float> v = base;
      for (auto& x : v) x += 0.3f * nd(rng);
      v = unit(v);
      const std::string name = "p" + std::to_string(p);
      faces[name].push_back(v);
      items.push_back(face(name, v));
    }
  }
  for (IdentityScore mode : {IdentityScore::kBest, IdentityScore::kMeanTopK}) {
    GalleryOptions o;
    o.score = mode;
    o.score_top_k = 2;
    o.index = IndexKind::kExact;
    auto g = open(o, mode == IdentityScore::kBest ? "best.db" : "mean.db");
    ASSERT_TRUE(g->enroll_embeddings(items).ok());
    for (int i = 0; i < 50; ++i) {
      const auto& target = faces["p" + std::to_string(rng() % 300)];
      std::vector<float> q = target[0];
      for (auto& x : q) x += 0.5f * nd(rng);
      q = unit(q);
      std::vector<std::pair<double, std::string>> ref;
      for (const auto& [name, vs] : faces) {
        std::vector<double> s;
        for (const auto& v : vs) {
          double d = 0;
          for (int k = 0; k < dim; ++k) d += static_cast<double>(v[k]) * q[k];
          s.push_back(d);
        }
        std::sort(s.begin(), s.end(), std::greater<>());
        const size_t m = mode == IdentityScore::kBest ? 1 : std::min<size_t>(2, s.size());
        double sum = 0;
        for (size_t k = 0; k < m; ++k) sum += s[k];
        ref.push_back({sum / m, name});
      }
      std::sort(ref.begin(), ref.end(), std::greater<>());
      auto r = g->identify_embedding(q, "model_a", 5);
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->matches.size(), 5u);
      for (size_t k = 0; k < 5; ++k) {
        EXPECT_EQ(r->matches[k].name, ref[k].second) << "query " << i << " rank " << k;
        EXPECT_NEAR(r->matches[k].score, ref[k].first, 1e-5);
      }
    }
  }
}

TEST_F(GalleryTest, HnswAgreesWithExact) { check_gallery_ann(IndexKind::kHnsw, dir_); }
TEST_F(GalleryTest, IvfAgreesWithExact) { check_gallery_ann(IndexKind::kIvf, dir_); }
TEST_F(GalleryTest, HammingAgreesWithExact) { check_gallery_ann(IndexKind::kHamming, dir_); }

TEST_F(GalleryTest, AutoSwitchesBySize) {
  GalleryOptions o;
  o.ann_min_faces = 4;
  auto g = open(o);
  ASSERT_TRUE(g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("A", at_cos(0.9f, 1))}).ok());
  EXPECT_EQ(g->stats().index, "exact");
  ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
  EXPECT_EQ(g->stats().index, "hamming");
  auto r = g->identify_embedding(kQuery, "model_a", 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matches[0].name, "A");
}

TEST_F(GalleryTest, ExportImportRoundTrip) {
  auto g = open();
  auto items = two_people();
  items[0].metadata_json = R"({"employee": 7, "tags": ["a", "b"]})";
  items[0].image_sha256 = "sha-a0";
  items[3].box = {1.5f, 2.5f, 30.25f, 40.f};
  ASSERT_TRUE(g->enroll_embeddings(items).ok());
  auto exported = g->export_json(/*with_crops=*/true);
  ASSERT_TRUE(exported.ok());
  auto doc = nlohmann::json::parse(*exported);
  EXPECT_EQ(doc["format"], "facelens-gallery");
  EXPECT_EQ(doc["identities"].size(), 2u);
  EXPECT_EQ(doc["identities"][0]["metadata"]["employee"], 7);

  auto copy = open({}, "copy.db");
  auto imported = copy->import_json(*exported);
  ASSERT_TRUE(imported.ok()) << imported.status().to_string();
  EXPECT_EQ(imported->n_identities, 2u);
  EXPECT_EQ(imported->n_faces, 6u);
  EXPECT_EQ(imported->n_duplicates, 0u);
  auto again = copy->export_json(true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *exported);  // embeddings bit-exact, timestamps and metadata kept
  auto r = copy->identify_embedding(kQuery, "model_a", 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matches[0].name, "A");
  EXPECT_NEAR(r->matches[0].score, 0.9f, 1e-6);

  // Importing the same file again: the face with an image hash is a duplicate; the others are new.
  auto twice = copy->import_json(*exported);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->n_duplicates, 1u);
  EXPECT_EQ(twice->n_faces, 5u);

  // Embeddings of another model are refused; broken files say what is wrong.
  auto other = open({}, "other.db");
  ASSERT_TRUE(
      other->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("Z", at_cos(0.3f, 2), "", "model_b")}).ok());
  auto refused = other->import_json(*exported);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("reembed"), std::string::npos);
  EXPECT_EQ(other->import_json("[]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(other->import_json(R"({"format": "something"})").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GalleryTest, OpensWithoutAnEngineButNeedsAThreshold) {
  GalleryOptions o;
  o.db_path = (dir_ / "x.db").string();
  auto refused = Gallery::open(o);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("match_threshold"), std::string::npos);
  // With a threshold: vectors in, the decision out, against that threshold.
  o.match_threshold = 0.85f;
  auto g = Gallery::open(o);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_FLOAT_EQ((*g)->match_threshold(), 0.85f);
  ASSERT_TRUE((*g)->enroll_embeddings(two_people()).ok());
  auto a = (*g)->identify_embedding(kQuery, "model_a", 2);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(a->identity);
  EXPECT_EQ(a->identity->name, "A");  // 0.9 >= 0.85
  auto b = (*g)->identify_embedding(at_cos(0.f, 4), "model_a", 2);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->identity);  // B at 0.8 < 0.85: unknown
  ASSERT_FALSE(b->matches.empty());
  EXPECT_EQ(b->matches[0].name, "B");
  EXPECT_NEAR(b->score, 0.8f, 1e-5);
  auto v = (*g)->verify_embedding(kQuery, "model_a", "B");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->match);
  EXPECT_EQ((*g)->check_identity("nobody").code(), StatusCode::kNotFound);
  EXPECT_TRUE((*g)->check_identity("A").ok());
  EXPECT_EQ((*g)->check_model("model_b").code(), StatusCode::kFailedPrecondition);
  std::vector<EmbeddingEnrollment> bad_meta = {face("A", at_cos(0.9f, 1))};
  bad_meta[0].metadata_json = "[1, 2]";
  EXPECT_EQ((*g)->enroll_embeddings(bad_meta).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GalleryTest, IdentifyEmbeddingsAnswersAsOneAtATime) {
  auto g = open();
  ASSERT_TRUE(g->enroll_embeddings(two_people()).ok());
  const std::vector<std::vector<float>> probes = {kQuery, at_cos(0.f, 4), at_cos(0.2f, 7)};
  auto all = g->identify_embeddings(probes, "model_a", 2);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), probes.size());
  for (size_t i = 0; i < probes.size(); ++i) {
    auto one = g->identify_embedding(probes[i], "model_a", 2);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ((*all)[i].identity.has_value(), one->identity.has_value()) << i;
    ASSERT_EQ((*all)[i].matches.size(), one->matches.size()) << i;
    for (size_t k = 0; k < one->matches.size(); ++k) {
      EXPECT_EQ((*all)[i].matches[k].name, one->matches[k].name);
      EXPECT_FLOAT_EQ((*all)[i].matches[k].score, one->matches[k].score);
    }
  }
  EXPECT_EQ(g->identify_embeddings(probes, "model_b", 2).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(GalleryTest, CheckEnrollmentRefusesBeforeAnyEmbedding) {
  auto g = open();
  ASSERT_TRUE(g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("A", at_cos(0.9f, 1), "sha-1")}).ok());
  EXPECT_TRUE(g->check_enrollment("B", std::nullopt, "model_a", "sha-2").ok());
  EXPECT_TRUE(g->check_enrollment("B", std::nullopt, "model_a", "").ok());
  auto dup = g->check_enrollment("B", std::nullopt, "model_a", "sha-1");
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("already enrolled as 'A'"), std::string::npos) << dup.message();
  EXPECT_EQ(g->check_enrollment("", std::nullopt, "model_a", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->check_enrollment("B", std::string("[1]"), "model_a", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->check_enrollment("B", std::nullopt, "model_b", "").code(), StatusCode::kFailedPrecondition);
}

// Crops of 2x1 RGB pixels whose first byte says which unit axis their "embedding" is.
Image crop_for_axis(int axis) {
  Image img;
  img.width = 2;
  img.height = 1;
  img.pixels = {static_cast<uint8_t>(axis), 0, 0, 0, 0, 0};
  return img;
}

TEST_F(GalleryTest, ReembedReplacesEveryEmbeddingFromTheStoredCrops) {
  auto g = open();
  std::vector<EmbeddingEnrollment> items = {face("A", at_cos(0.9f, 1), "a"), face("B", at_cos(0.6f, 4), "b")};
  items[0].crop = crop_for_axis(2);
  items[1].crop = crop_for_axis(3);
  ASSERT_TRUE(g->enroll_embeddings(items).ok());
  // The new "model" maps a crop to the unit vector on the axis its first byte names.
  size_t calls = 0, last_done = 0, last_total = 0;
  auto embed = [&](std::span<const Image> crops) -> StatusOr<std::vector<std::vector<float>>> {
    ++calls;
    std::vector<std::vector<float>> out;
    for (const auto& c : crops) out.push_back(at_cos(0.f, c.pixels.at(0)));
    return out;
  };
  EXPECT_EQ(g->reembed("", embed).status().code(), StatusCode::kInvalidArgument);
  auto r = g->reembed("model_c", embed, [&](size_t done, size_t total) { last_done = done, last_total = total; });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->n_faces, 2u);
  EXPECT_EQ(r->from_model, "model_a");
  EXPECT_EQ(r->to_model, "model_c");
  EXPECT_EQ(calls, 1u);
  EXPECT_EQ(last_done, 2u);
  EXPECT_EQ(last_total, 2u);
  EXPECT_EQ(g->stats().model_id, "model_c");
  EXPECT_EQ(g->identify_embedding(kQuery, "model_a", 1).status().code(), StatusCode::kFailedPrecondition);
  auto b = g->identify_embedding(at_cos(0.f, 3), "model_c", 1);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  ASSERT_TRUE(b->identity);
  EXPECT_EQ(b->identity->name, "B");
  EXPECT_NEAR(b->score, 1.f, 1e-5);
  // A face without a crop: refused, nothing changed.
  ASSERT_TRUE(g->enroll_embeddings(std::vector<EmbeddingEnrollment>{face("C", at_cos(0.f, 5), "c", "model_c")}).ok());
  auto refused = g->reembed("model_d", embed);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("C"), std::string::npos);
  EXPECT_EQ(g->stats().model_id, "model_c");
}

}  // namespace
}  // namespace facelens

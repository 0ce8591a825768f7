// The face pipeline on the default models and the photos of ../shared/data: detection against
// known boxes, parity with the package's own pipeline (reference/pipeline_reference.json),
// verification, identification and liveness. Skips with a reason when data or models are absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "recognize/recognizer.h"

#include <unistd.h>

namespace facelens {
namespace {

namespace fs = std::filesystem;

class Pipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::data_dir().empty() || !testing::default_models_present()) return;
    EngineOptions o;
    o.models_dir = testing::models_dir();
    // The package runs its detector once on the whole photo: parity is with the untiled path, even
    // if the manifest's "tiling" is turned on (tiles add false faces on two_people.jpg and obama3.jpg).
    o.detect_tiling = false;
    auto e = Engine::create(o);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    engine_ = std::move(*e).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  // The default models with one manifest key changed: a temporary models folder (links to the
  // model files, an edited manifest.json) and an engine on it. Removes the folder when done.
  struct EditedEngine {
    fs::path dir;
    std::unique_ptr<Engine> engine;
    ~EditedEngine() {
      engine.reset();
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  };
  static std::unique_ptr<EditedEngine> engine_with(const std::string& model_id,
                                                   const std::function<void(nlohmann::json&)>& edit) {
    auto out = std::make_unique<EditedEngine>();
    out->dir = fs::temp_directory_path() / ("facelens_edited_" + std::to_string(::getpid()));
    fs::create_directories(out->dir);
    const fs::path src = testing::models_dir();
    for (const auto& f : fs::directory_iterator(src))
      if (f.path().extension() == ".onnx") fs::create_symlink(fs::absolute(f.path()), out->dir / f.path().filename());
    std::ifstream in(src / "manifest.json");
    auto m = nlohmann::json::parse(in);
    for (auto& entry : m["models"])
      if (entry["id"] == model_id) edit(entry);
    std::ofstream(out->dir / "manifest.json") << m.dump(2);
    EngineOptions o;
    o.models_dir = out->dir.string();
    auto e = Engine::create(o);
    if (!e.ok()) ADD_FAILURE() << e.status().to_string();
    else out->engine = std::move(*e);
    return out;
  }
  void SetUp() override {
    FACELENS_REQUIRE_DATA();
    FACELENS_REQUIRE_MODELS();
  }
  static std::string face(const std::string& rel) { return testing::data_dir() + "/faces/" + rel; }
  static ImageResult run(const std::string& rel, bool embed = true) {
    AnalyzeOptions what;
    what.embedding = embed;
    auto r = engine_->analyze_file(face(rel), what);
    EXPECT_TRUE(r.ok()) << rel << ": " << r.status().to_string();
    return r.ok() ? *r : ImageResult{};
  }
  static std::vector<float> embedding_of(const std::string& rel) {
    auto r = run(rel);
    EXPECT_EQ(r.faces.size(), 1u) << rel;
    return r.faces.empty() ? std::vector<float>{} : r.faces[0].embedding;
  }
  static inline Engine* engine_ = nullptr;
};

TEST_F(Pipeline, ObamaOneFaceWhereItsOwnTestsPutIt) {
  auto r = run("face_recognition/obama.jpg", false);
  EXPECT_EQ(r.width, 910);
  EXPECT_EQ(r.height, 1137);
  ASSERT_EQ(r.faces.size(), 1u);
  // face_recognition's CNN detector: top 144, right 608, bottom 389, left 363 (±25 px).
  const Box expected{363, 144, 608, 389};
  const Face& f = r.faces[0];
  EXPECT_GE(iou(f.box, expected), 0.5f) << f.box.x1 << "," << f.box.y1 << "," << f.box.x2 << "," << f.box.y2;
  ASSERT_TRUE(f.landmarks.has_value());
  for (const auto& p : *f.landmarks) {
    EXPECT_GE(p.x, f.box.x1);
    EXPECT_LE(p.x, f.box.x2);
    EXPECT_GE(p.y, f.box.y1);
    EXPECT_LE(p.y, f.box.y2);
  }
  const auto& lm = *f.landmarks;
  EXPECT_LT(lm[0].y, lm[3].y);  // left eye above left mouth corner
  EXPECT_LT(lm[1].y, lm[4].y);
  EXPECT_LT(lm[0].x, lm[1].x);  // left eye left of right eye
}

// Strict parity with the default models run the way their package runs them
// (reference/pipeline_reference.json, an independent implementation; its `about` states every
// step): every reference face found (IoU >= 0.9 with its raw box), five points within 1.5 px
// (median over all points), embedding cosine >= 0.995 for every face and >= 0.999 median, liveness
// within 0.02.
TEST_F(Pipeline, ParityWithPackagePipelineReference) {
  std::ifstream f(testing::data_dir() + "/reference/pipeline_reference.json");
  if (!f.good()) GTEST_SKIP() << "no reference/pipeline_reference.json in " << testing::data_dir();
  auto ref = nlohmann::json::parse(f);
  // fr_liveness deviates from the package by measurement in one key (B,G,R input, see its manifest
  // notes): its parity is checked with the package's R,G,B switched back.
  auto package_liveness = engine_with("fr_liveness", [](nlohmann::json& e) { e["input"]["color"] = "RGB"; });
  ASSERT_TRUE(package_liveness->engine);
  AnalyzeOptions live_only;
  live_only.landmarks = false;
  live_only.liveness = true;
  AnalyzeOptions what;
  what.embedding = true;
  what.landmarks = true;
  what.liveness = true;
  struct Worst {
    std::string where;
    float value;
  };
  Worst worst_iou{"", 1}, worst_cos{"", 1}, worst_point{"", 0}, worst_live{"", 0};
  std::vector<float> cosines, point_errors;
  int n_faces = 0, n_images = 0;
  for (auto& [image, expected] : ref["images"].items()) {
    if (!fs::exists(face(image))) continue;
    ++n_images;
    auto got = engine_->analyze_file(face(image), what);
    ASSERT_TRUE(got.ok()) << image << ": " << got.status().to_string();
    const ImageResult& r = *got;
    auto got_live = package_liveness->engine->analyze_file(face(image), live_only);
    ASSERT_TRUE(got_live.ok()) << image << ": " << got_live.status().to_string();
    ASSERT_EQ(got_live->faces.size(), r.faces.size()) << image;
    EXPECT_EQ(r.width, expected["width"].get<int>()) << image;
    EXPECT_EQ(r.height, expected["height"].get<int>()) << image;
    EXPECT_EQ(r.faces.size(), expected["faces"].size()) << image << ": extra or missing faces";
    for (size_t k = 0; k < expected["faces"].size(); ++k) {
      const auto& ef = expected["faces"][k];
      const std::string where = image + " face " + std::to_string(k);
      // facelens reports boxes clipped to the image; the reference's raw boxes are not.
      auto b = ef["raw_box"].get<std::vector<float>>();
      const float w = static_cast<float>(r.width), h = static_cast<float>(r.height);
      const Box eb{std::clamp(b[0], 0.f, w), std::clamp(b[1], 0.f, h), std::clamp(b[2], 0.f, w),
                   std::clamp(b[3], 0.f, h)};
      const Face* best = nullptr;
      float best_iou = 0;
      for (const auto& g : r.faces) {
        if (iou(g.box, eb) > best_iou) {
          best_iou = iou(g.box, eb);
          best = &g;
        }
      }
      EXPECT_GE(best_iou, 0.9f) << where << ": reference face not found";
      if (best_iou < worst_iou.value) worst_iou = {where, best_iou};
      if (!best || best_iou < 0.5f) continue;
      ++n_faces;
      ASSERT_TRUE(best->landmarks.has_value()) << where;
      for (int p = 0; p < 5; ++p) {
        const auto& ep = ef["five"][p];
        const float d =
            std::hypot((*best->landmarks)[p].x - ep[0].get<float>(), (*best->landmarks)[p].y - ep[1].get<float>());
        point_errors.push_back(d);
        if (d > worst_point.value) worst_point = {where + " point " + std::to_string(p), d};
      }
      const float c = recognize::cosine(best->embedding, ef["embedding"].get<std::vector<float>>());
      EXPECT_GE(c, 0.995f) << where;
      cosines.push_back(c);
      if (c < worst_cos.value) worst_cos = {where, c};
      const auto& package_live = got_live->faces[static_cast<size_t>(best - r.faces.data())].liveness;
      ASSERT_TRUE(best->liveness.has_value() && package_live.has_value()) << where;
      const auto live = ef["liveness_softmax"].get<std::vector<float>>();
      ASSERT_EQ(package_live->probabilities.size(), live.size()) << where;
      for (size_t i = 0; i < live.size(); ++i) {
        const float d = std::abs(package_live->probabilities[i] - live[i]);
        EXPECT_LE(d, 0.02f) << where << " liveness class " << i;
        if (d > worst_live.value) worst_live = {where, d};
      }
    }
  }
  if (n_images == 0) GTEST_SKIP() << "none of the reference's images is under " << testing::data_dir() << "/faces";
  auto median = [](std::vector<float> v) {
    if (v.empty()) return 0.f;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const float median_cos = median(cosines), median_point = median(point_errors);
  EXPECT_GE(median_cos, 0.999f);
  EXPECT_LE(median_point, 1.5f);
  EXPECT_GT(n_faces, 0);
  std::cout << "[ parity   ] " << n_images << " images, " << n_faces << " faces: median embedding cosine " << median_cos
            << ", median five-point error " << median_point << " px\n"
            << "[ worst    ] box IoU " << worst_iou.value << " (" << worst_iou.where << "); embedding cosine "
            << worst_cos.value << " (" << worst_cos.where << "); five-point error " << worst_point.value << " px ("
            << worst_point.where << "); liveness difference " << worst_live.value << " (" << worst_live.where << ")\n";
}

TEST_F(Pipeline, AlphaPngTwoPeopleAndPartialFace) {
  EXPECT_EQ(run("face_recognition/32bit.png", false).faces.size(), 1u);
  EXPECT_EQ(run("face_recognition/two_people.jpg", false).faces.size(), 2u);
  auto partial = run("face_recognition/obama_partial_face.jpg", false);
  ASSERT_GE(partial.faces.size(), 1u);
  // face_recognition's own tests put this face, cut by the left image edge, near top 142, right 191,
  // bottom 365, left 0. (The package's suppression keeps a box starting at x = 11.8, as
  // pipeline_reference.json does; the old score-ordered NMS kept one clipped at x = 0.)
  const Box& b = partial.faces[0].box;
  EXPECT_GE(iou(b, Box{0, 142, 191, 365}), 0.5f) << b.x1 << "," << b.y1 << "," << b.x2 << "," << b.y2;
  EXPECT_LT(b.x1, 20.f) << "the face touches the left edge";
}

TEST_F(Pipeline, SamePersonMatchesOtherPersonDoesNot) {
  auto o1 = embedding_of("face_recognition/obama.jpg");
  auto o2 = embedding_of("face_recognition/obama2.jpg");
  auto o3 = embedding_of("face_recognition/obama3.jpg");
  auto b = embedding_of("face_recognition/biden.jpg");
  const float t = engine_->match_threshold();
  EXPECT_TRUE(engine_->compare(o1, o2).match) << recognize::cosine(o1, o2);
  EXPECT_TRUE(engine_->compare(o1, o3).match) << recognize::cosine(o1, o3);
  EXPECT_TRUE(engine_->compare(o2, o3).match) << recognize::cosine(o2, o3);
  EXPECT_FALSE(engine_->compare(o1, b).match) << recognize::cosine(o1, b);
  EXPECT_GT(t, 0.f);
  EXPECT_LT(t, 1.f);
}

TEST_F(Pipeline, ResolutionsEmbedAlike) {
  std::vector<std::vector<float>> e;
  for (const char* r : {"240p", "480p", "720p", "1080p"})
    e.push_back(embedding_of(std::string("face_recognition/obama-") + r + ".jpg"));
  for (size_t i = 0; i < e.size(); ++i)
    for (size_t j = i + 1; j < e.size(); ++j) EXPECT_GE(recognize::cosine(e[i], e[j]), 0.9f) << i << " vs " << j;
}

TEST_F(Pipeline, KnnTestFacesFindTheirTrainPerson) {
  // Gallery: every face of knn/train/<person>/*.
  std::vector<std::pair<std::string, std::vector<float>>> gallery;
  for (const auto& person : fs::directory_iterator(face("face_recognition/knn/train"))) {
    for (const auto& img : fs::directory_iterator(person.path())) {
      auto r = run(fs::relative(img.path(), face("")).string());
      ASSERT_GE(r.faces.size(), 1u) << img.path();
      // The person is the largest face (biden2.jpg also has a low-score detection in the background).
      const Face& f = *std::max_element(r.faces.begin(), r.faces.end(),
                                        [](const Face& a, const Face& b) { return a.box.area() < b.box.area(); });
      gallery.emplace_back(person.path().filename().string(), f.embedding);
    }
  }
  auto nearest = [&](const std::vector<float>& q) {
    std::pair<std::string, float> best{"", -2.f};
    for (const auto& [name, e] : gallery) {
      float c = recognize::cosine(q, e);
      if (c > best.second) best = {name, c};
    }
    return best;
  };
  const float t = engine_->match_threshold();
  const std::map<std::string, std::set<std::string>> expected = {
      {"alex_lacamoire1.jpg", {"alex_lacamoire"}},
      {"johnsnow_test1.jpg", {"kit_harington"}},
      {"kit_with_rose.jpg", {"kit_harington", "rose_leslie"}},
      {"obama1.jpg", {"obama"}},
      {"obama_and_biden.jpg", {"obama", "biden"}}};
  for (const auto& [file, people] : expected) {
    auto r = run("face_recognition/knn/test/" + file);
    std::set<std::string> found;
    for (const auto& f : r.faces) {
      auto [name, score] = nearest(f.embedding);
      if (score >= t) {
        found.insert(name);
        EXPECT_TRUE(people.count(name)) << file << ": a face matched " << name << " at " << score;
      }
    }
    EXPECT_EQ(found, people) << file;
  }
}

TEST_F(Pipeline, BatchGivesTheSameAsSingleCalls) {
  std::vector<Image> images;
  for (const char* f : {"face_recognition/two_people.jpg", "face_recognition/obama.jpg"}) {
    auto d = decode_image_file(face(f), {});
    ASSERT_TRUE(d.ok());
    images.push_back(d->image);
  }
  AnalyzeOptions what;
  what.embedding = true;
  auto batch = engine_->analyze_batch(images, what);
  ASSERT_EQ(batch.size(), 2u);
  for (size_t i = 0; i < images.size(); ++i) {
    auto single = engine_->analyze(images[i], what);
    ASSERT_TRUE(single.ok() && batch[i].ok());
    ASSERT_EQ(single->faces.size(), batch[i]->faces.size());
    for (size_t k = 0; k < single->faces.size(); ++k)
      EXPECT_EQ(single->faces[k].embedding, batch[i]->faces[k].embedding);
  }
}

TEST_F(Pipeline, LivenessScoresAntispoofSamples) {
  AnalyzeOptions what;
  what.landmarks = false;
  what.liveness = true;
  std::map<std::string, float> score;
  for (const char* f : {"image_F1.jpg", "image_F2.jpg", "image_T1.jpg"}) {
    auto r = engine_->analyze_file(face(std::string("antispoof_samples/") + f), what);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_GE(r->faces.size(), 1u) << f;
    ASSERT_TRUE(r->faces[0].liveness.has_value());
    score[f] = r->faces[0].liveness->score;
    std::cout << "[ liveness ] " << f << ": live score " << score[f] << "\n";
  }
  // The live photo is called live, both spoofs (a printed photo, a screen) are not, at the
  // manifest's threshold (0.5). With the package's R,G,B input instead of B,G,R this fails: T1 0.012,
  // F2 0.573 (fr_liveness live_evidence in the manifest).
  EXPECT_GT(score["image_T1.jpg"], 0.5f);
  EXPECT_LT(score["image_F1.jpg"], 0.5f);
  EXPECT_LT(score["image_F2.jpg"], 0.5f);
}

}  // namespace
}  // namespace facelens

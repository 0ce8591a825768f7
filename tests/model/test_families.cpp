// The model families on real models: the extra models of ../shared/data/models through their
// entries in models/extra.json (detectors SCRFD, YuNet, YOLOv5-face, UltraFace-640; the 128-d
// MobileFaceNet; MiniFASNet V2 + V1SE fused), family recognition of every model file, and
// switching models by configuration. Skips with a reason when ../shared/data is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "models/family.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

#ifndef FACELENS_SOURCE_DIR
#define FACELENS_SOURCE_DIR "."
#endif

const char* const kDetectors[] = {"scrfd_500m_bnkps", "yunet_n_640_640", "yunet_n_dynamic", "yolov5face_500m_320",
                                  "ultraface_rfb_640"};

class Families : public ::testing::Test {
 protected:
  void SetUp() override {
    FACELENS_REQUIRE_DATA();
    if (!fs::exists(models() + "/scrfd_500m_bnkps.onnx"))
      GTEST_SKIP() << models() << " has no extra models (see ../shared/data/README.md): test skipped";
    if (!fs::exists(manifest())) GTEST_SKIP() << manifest() << " is missing: test skipped";
  }
  static std::string models() { return testing::data_dir() + "/models"; }
  static std::string manifest() { return std::string(FACELENS_SOURCE_DIR) + "/models/extra.json"; }
  static std::string face(const std::string& rel) { return testing::data_dir() + "/faces/" + rel; }

  // An engine on the extra models; `o` chooses the services.
  static std::unique_ptr<Engine> engine(EngineOptions o) {
    o.models_dir = models();
    o.manifest = manifest();
    o.runtime.provider = Provider::kCpu;
    auto e = Engine::create(o);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    return e.ok() ? std::move(*e) : nullptr;
  }
  static std::unique_ptr<Engine> with_detector(const std::string& id) {
    EngineOptions o;
    o.detector = id;
    return engine(o);
  }
  static std::vector<Face> faces(const Engine& e, const std::string& rel, const AnalyzeOptions& what = {}) {
    auto r = e.analyze_file(face(rel), what);
    EXPECT_TRUE(r.ok()) << rel << ": " << r.status().to_string();
    return r.ok() ? r->faces : std::vector<Face>{};
  }
  static Image load(const std::string& rel) {
    auto d = decode_image_file(face(rel), {});
    EXPECT_TRUE(d.ok()) << rel;
    return d.ok() ? d->image : Image{};
  }
};

TEST_F(Families, DetectorsFindObamaAtTheSamePlace) {
  std::map<std::string, Box> box;
  for (const char* id : kDetectors) {
    auto e = with_detector(id);
    ASSERT_TRUE(e);
    AnalyzeOptions what;
    what.landmarks = false;  // keypoints come from the detectors that have them
    auto f = faces(*e, "face_recognition/obama.jpg", what);
    ASSERT_EQ(f.size(), 1u) << id;
    box[id] = f[0].box;
    std::cout << id << ": box [" << f[0].box.x1 << ", " << f[0].box.y1 << ", " << f[0].box.x2 << ", " << f[0].box.y2
              << "] score " << f[0].score << "\n";
    if (std::string(id).rfind("ultraface", 0) == 0) {
      EXPECT_FALSE(f[0].landmarks) << id;
      continue;
    }
    ASSERT_TRUE(f[0].landmarks) << id << " has keypoints";
    const auto& p = *f[0].landmarks;
    for (const auto& q : p) {
      EXPECT_GE(q.x, f[0].box.x1) << id;
      EXPECT_LE(q.x, f[0].box.x2) << id;
      EXPECT_GE(q.y, f[0].box.y1) << id;
      EXPECT_LE(q.y, f[0].box.y2) << id;
    }
    EXPECT_LT(p[0].x, p[1].x) << id << ": left eye left of the right eye";
    EXPECT_LT(std::max(p[0].y, p[1].y), std::min(p[3].y, p[4].y)) << id << ": eyes above the mouth";
    EXPECT_LT(p[3].x, p[4].x) << id;
  }
  for (auto a = box.begin(); a != box.end(); ++a) {
    for (auto b = std::next(a); b != box.end(); ++b) {
      const float v = iou(a->second, b->second);
      std::cout << "IoU " << a->first << " / " << b->first << ": " << v << "\n";
      EXPECT_GE(v, 0.6f) << a->first << " vs " << b->first;
    }
  }
}

TEST_F(Families, DetectorsAgreeOnFaceCounts) {
  for (const char* id : kDetectors) {
    auto e = with_detector(id);
    ASSERT_TRUE(e);
    AnalyzeOptions what;
    what.landmarks = false;
    EXPECT_EQ(faces(*e, "face_recognition/two_people.jpg", what).size(), 2u) << id;
    EXPECT_EQ(faces(*e, "openface/longoria-cooper.jpg", what).size(), 2u) << id;
  }
}

// YuNet as OpenCV runs it (FaceDetectorYN: the image at its own size, padded, never enlarged):
// it finds the face in every 150x150 face_api_js crop. Enlarged to fill 640x640 (letterbox_scale
// "fit", facelens before) the face outgrew YuNet's priors and none of the 40 was found.
TEST_F(Families, YuNetFindsTightCropsAtTheirOwnSize) {
  for (const char* id : {"yunet_n_640_640", "yunet_n_dynamic"}) {
    auto e = with_detector(id);
    ASSERT_TRUE(e);
    AnalyzeOptions what;
    what.landmarks = false;
    size_t found = 0, images = 0;
    for (const auto& entry : fs::directory_iterator(face("face_api_js"))) {
      if (entry.path().extension() != ".png") continue;
      ++images;
      auto f = faces(*e, "face_api_js/" + entry.path().filename().string(), what);
      found += f.size() == 1;
      for (const auto& x : f) {
        EXPECT_GE(x.box.width(), 50.f) << id << " " << entry.path();  // a face, not a fragment
        EXPECT_LE(x.box.x2, 150.f) << id;
      }
    }
    std::cout << id << ": one face in " << found << " of " << images << " face_api_js crops\n";
    EXPECT_EQ(images, 40u);
    EXPECT_GE(found, 38u) << id;
  }
}

// SCRFD keypoints into the 128-d MobileFaceNet at its calibrated threshold (the manifest's).
TEST_F(Families, MobileFaceNet128WithScrfdKeypoints) {
  auto e = engine({});  // extra.json defaults: scrfd_500m_bnkps + mobilefacenet_128
  ASSERT_TRUE(e);
  EXPECT_EQ(e->recognizer_model_id(), "mobilefacenet_128");
  EXPECT_FLOAT_EQ(e->match_threshold(), 0.33f);
  const Image obama = load("face_recognition/obama.jpg");
  auto same = e->verify(obama, load("face_recognition/obama2.jpg"));
  auto other = e->verify(obama, load("face_recognition/biden.jpg"));
  ASSERT_TRUE(same.ok()) << same.status().to_string();
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  std::cout << "mobilefacenet_128: obama/obama2 " << same->similarity << ", obama/biden " << other->similarity
            << " (threshold " << same->threshold << ")\n";
  EXPECT_TRUE(same->match);
  EXPECT_FALSE(other->match);
  EXPECT_EQ(same->face_a.embedding.size(), 128u);
  for (const auto& s : e->services())
    if (s.service == "landmarks") ADD_FAILURE() << "SCRFD gives keypoints: no landmark model is configured or loaded";
}

// MobileFaceNet-128 normalised as its weights were trained (foamliu/MobileFaceNet data_gen.py:
// ImageNet mean/std on R,G,B): on 53 labelled photos of 15 people with YuNet keypoints every
// genuine pair scores above every impostor pair, and the manifest threshold lies between them.
// With (x-127.5)/128 (before) the classes overlapped (AUC 0.99995).
TEST_F(Families, MobileFaceNet128SeparatesTheLabelledPhotos) {
  EngineOptions o;
  o.detector = "yunet_n_640_640";
  auto e = engine(o);
  ASSERT_TRUE(e);
  std::vector<std::pair<std::string, std::string>> photos;  // (person, path relative to faces/)
  for (const auto& entry : fs::directory_iterator(face("face_api_js"))) {
    if (entry.path().extension() != ".png") continue;
    std::string person = entry.path().stem().string();
    while (!person.empty() && std::isdigit(static_cast<unsigned char>(person.back()))) person.pop_back();
    photos.push_back({person, "face_api_js/" + entry.path().filename().string()});
  }
  for (const auto& d : fs::directory_iterator(face("face_recognition/knn/train")))
    for (const auto& f : fs::directory_iterator(d.path()))
      photos.push_back({d.path().filename().string(), "face_recognition/knn/train/" + d.path().filename().string() +
                                                          "/" + f.path().filename().string()});
  for (const char* n : {"lennon-1", "lennon-2", "clapton-1", "clapton-2"})
    photos.push_back({std::string(n).substr(0, std::string(n).find('-')), std::string("openface/") + n + ".jpg"});
  AnalyzeOptions what;
  what.embedding = true;
  std::vector<std::pair<std::string, std::vector<float>>> emb;
  for (const auto& [person, rel] : photos) {
    auto f = faces(*e, rel, what);
    if (f.empty()) continue;
    const auto& big =
        *std::max_element(f.begin(), f.end(), [](const Face& a, const Face& b) { return a.box.area() < b.box.area(); });
    emb.push_back({person, big.embedding});
  }
  EXPECT_GE(emb.size(), 52u) << "YuNet should find a face in (nearly) every labelled photo";
  float max_impostor = -1, min_genuine = 1;
  for (size_t i = 0; i < emb.size(); ++i)
    for (size_t j = i + 1; j < emb.size(); ++j) {
      const float s = e->compare(emb[i].second, emb[j].second).similarity;
      if (emb[i].first == emb[j].first) min_genuine = std::min(min_genuine, s);
      else max_impostor = std::max(max_impostor, s);
    }
  std::cout << "mobilefacenet_128 + yunet keypoints, " << emb.size() << " photos: highest impostor " << max_impostor
            << ", lowest genuine " << min_genuine << ", threshold " << e->match_threshold() << "\n";
  EXPECT_LT(max_impostor, min_genuine);
  EXPECT_LT(max_impostor, e->match_threshold());
  EXPECT_GE(min_genuine, e->match_threshold());
}

// MiniFASNet V2 (scale 2.7) + V1SE (scale 4.0), softmax each, fused.
TEST_F(Families, FusedMiniFasNetOnTheAntiSpoofSamples) {
  auto fused = engine({});  // extra.json: minifasnet_v2_80 with fuse_with minifasnet_v1se_80
  ASSERT_TRUE(fused);
  EngineOptions v2o, v1o;
  v2o.liveness_files = {models() + "/minifasnet_v2_80.onnx"};
  v1o.liveness_files = {models() + "/minifasnet_v1se_80.onnx"};
  auto v2 = engine(v2o), v1 = engine(v1o);
  ASSERT_TRUE(v2 && v1);
  AnalyzeOptions what;
  what.landmarks = false;
  what.liveness = true;
  const std::map<std::string, bool> live = {{"image_F1.jpg", false}, {"image_F2.jpg", false}, {"image_T1.jpg", true}};
  for (const auto& [name, want] : live) {
    const std::string rel = "antispoof_samples/" + name;
    auto f = faces(*fused, rel, what), a = faces(*v2, rel, what), b = faces(*v1, rel, what);
    ASSERT_EQ(f.size(), 1u) << name;
    ASSERT_TRUE(f[0].liveness && a.size() == 1 && b.size() == 1);
    const float sa = a[0].liveness->score, sb = b[0].liveness->score;
    std::cout << name << ": fused live score " << f[0].liveness->score << " (V2 " << sa << ", V1SE " << sb << ")\n";
    EXPECT_NEAR(f[0].liveness->score, (sa + sb) / 2, 1e-5) << name;
    EXPECT_EQ(f[0].liveness->live, want) << name << " live score " << f[0].liveness->score;
  }
  bool listed = false;
  for (const auto& s : fused->services())
    if (s.service == "liveness") listed = s.model_id == "minifasnet_v2_80+minifasnet_v1se_80" && s.loaded;
  EXPECT_TRUE(listed) << "services() shows both fused liveness models";
}

// Every real model is named by its signature alone, and found by its sha256 in the manifests.
TEST_F(Families, EveryExtraModelIsRecognised) {
  auto extra = models::load_manifest(manifest());
  ASSERT_TRUE(extra.ok()) << extra.status().to_string();
  for (const auto& e : extra->models) {
    const std::string path = models() + "/" + e.file;
    auto by_signature = models::entry_for_file(path, {});
    ASSERT_TRUE(by_signature.ok()) << e.id << ": " << by_signature.status().to_string();
    EXPECT_EQ(by_signature->entry.family, e.family) << e.id;
    EXPECT_EQ(by_signature->how, "signature");
    models::FileModelOptions o;
    o.manifests = {&*extra};
    auto by_hash = models::entry_for_file(path, o);
    ASSERT_TRUE(by_hash.ok());
    EXPECT_EQ(by_hash->how, "manifest");
    EXPECT_EQ(by_hash->entry.id, e.id);
    std::cout << e.file << ": " << models::name(by_signature->entry.family) << "\n";
  }
}

TEST_F(Families, EveryDefaultModelIsRecognised) {
  FACELENS_REQUIRE_MODELS();
  auto manifests = models::load_known_manifests(testing::models_dir());
  ASSERT_FALSE(manifests.empty());
  models::FileModelOptions o;
  for (const auto& m : manifests) o.manifests.push_back(&m);
  for (const auto& e : manifests[0].models) {
    auto fm = models::entry_for_file(testing::models_dir() + "/" + e.file, o);
    ASSERT_TRUE(fm.ok()) << e.id << ": " << fm.status().to_string();
    EXPECT_EQ(fm->entry.family, e.family);
    EXPECT_EQ(fm->how, "manifest");
  }
  // The default detector, recogniser and liveness models fit their families by signature too
  // (a 512-d recognizer is ambiguous: ArcFace first, MobileFaceNet among the alternatives).
  for (const char* f : {"fr_detect", "fr_feature", "fr_liveness", "fr_landmark"}) {
    auto fm = models::entry_for_file(testing::models_dir() + "/" + f + ".onnx", {});
    ASSERT_TRUE(fm.ok()) << f << ": " << fm.status().to_string();
    std::vector<std::optional<models::Family>> fits(fm->alternatives.begin(), fm->alternatives.end());
    fits.insert(fits.begin(), fm->entry.family);
    EXPECT_NE(std::find(fits.begin(), fits.end(), manifests[0].find(f)->family), fits.end()) << f;
  }
}

// A detector is switched by configuration alone: a manifest id, or a file (whose entry is then
// found by its sha256): the same faces either way.
TEST_F(Families, SwitchingIsConfigurationOnly) {
  EngineOptions by_id, by_file;
  by_id.detector = "yunet_n_dynamic";
  by_file.detector_file = models() + "/yunet_n_dynamic.onnx";
  auto a = engine(by_id), b = engine(by_file);
  ASSERT_TRUE(a && b);
  auto fa = faces(*a, "openface/longoria-cooper.jpg"), fb = faces(*b, "openface/longoria-cooper.jpg");
  ASSERT_EQ(fa.size(), 2u);
  ASSERT_EQ(fb.size(), fa.size());
  for (size_t i = 0; i < fa.size(); ++i) EXPECT_GT(iou(fa[i].box, fb[i].box), 0.999f);
  std::string family;
  for (const auto& s : b->services())
    if (s.service == "detector") family = s.family;
  EXPECT_EQ(family, "yunet");
  // The recognizer too: the 128-d model as a file next to the default 512-d one.
  EngineOptions rec;
  rec.recognizer_file = models() + "/mobilefacenet_128.onnx";
  rec.detector = "scrfd_500m_bnkps";
  auto c = engine(rec);
  ASSERT_TRUE(c);
  AnalyzeOptions what;
  what.embedding = true;
  auto fc = faces(*c, "face_recognition/obama.jpg", what);
  ASSERT_EQ(fc.size(), 1u);
  EXPECT_EQ(fc[0].embedding.size(), 128u);
}

}  // namespace
}  // namespace facelens

// Tiled detection with the default detector (issue 14, small faces) against its reference, the
// untiled detector: on photos whose faces are all large it gives the same faces; on a mosaic of
// small faces, composed here from the one-face photos of ../shared/data/faces so that the faces
// are known by construction, it finds strictly more of them. Skips with a reason without the
// photos or the default models.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "image/tensor.h"

namespace facelens {
namespace {

class TiledDetection : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::data_dir().empty()) GTEST_SKIP() << "no ../shared/data/faces (FACELENS_TEST_DATA)";
    if (!testing::default_models_present()) GTEST_SKIP() << "default models absent from " << testing::models_dir();
    for (bool tiled : {false, true}) {
      EngineOptions o;
      o.models_dir = testing::models_dir();
      o.detect_tiling = tiled;
      auto e = Engine::create(o);
      ASSERT_TRUE(e.ok()) << e.status().to_string();
      (tiled ? tiled_ : untiled_) = std::move(*e);
    }
    boxes_only_.landmarks = false;
  }
  std::vector<Box> faces(const Engine& e, const Image& img) const {
    auto r = e.analyze(img, boxes_only_);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    std::vector<Box> out;
    if (r.ok())
      for (const auto& f : r->faces) out.push_back(f.box);
    return out;
  }
  Image load(const std::string& rel) const {
    auto d = decode_image_file(testing::data_dir() + "/faces/" + rel, {});
    EXPECT_TRUE(d.ok()) << rel << ": " << d.status().to_string();
    return d.ok() ? d->image : Image{};
  }
  // A g x g mosaic (w x h) of one-face photos, each stretched into its cell, and the known faces:
  // the untiled detector's box on each photo alone (where the face is large), mapped.
  Image mosaic(int g, int w, int h, std::vector<Box>* truth) const {
    static const char* kPhotos[] = {"openface/adams.jpg",
                                    "openface/carell.jpg",
                                    "openface/clapton-1.jpg",
                                    "openface/clapton-2.jpg",
                                    "openface/lennon-1.jpg",
                                    "openface/lennon-2.jpg",
                                    "face_recognition/obama.jpg",
                                    "face_recognition/biden.jpg",
                                    "face_recognition/knn/train/rose_leslie/img1.jpg",
                                    "face_recognition/knn/train/kit_harington/john1.jpeg",
                                    "face_recognition/knn/train/alex_lacamoire/img1.jpg",
                                    "face_recognition/knn/train/biden/biden2.jpg"};
    Image canvas;
    canvas.width = w;
    canvas.height = h;
    canvas.pixels.assign(static_cast<size_t>(w) * h * 3, 128);
    const int cw = w / g, ch = h / g;
    for (int k = 0; k < g * g; ++k) {
      const Image src = load(kPhotos[k % std::size(kPhotos)]);
      const auto alone = faces(*untiled_, src);
      EXPECT_EQ(alone.size(), 1u) << kPhotos[k % std::size(kPhotos)];
      const Image cell = image::resize(src, cw, ch);
      const int ox = (k % g) * cw, oy = (k / g) * ch;
      for (int y = 0; y < ch; ++y)
        std::copy_n(cell.row(y), static_cast<size_t>(cw) * 3,
                    canvas.pixels.data() + (static_cast<size_t>(oy + y) * w + ox) * 3);
      const float sx = static_cast<float>(cw) / src.width, sy = static_cast<float>(ch) / src.height;
      for (const Box& b : alone) truth->push_back({ox + b.x1 * sx, oy + b.y1 * sy, ox + b.x2 * sx, oy + b.y2 * sy});
    }
    return canvas;
  }
  static bool found(const std::vector<Box>& boxes, const Box& t) {
    return std::any_of(boxes.begin(), boxes.end(), [&](const Box& b) { return iou(b, t) >= 0.4f; });
  }
  // Every face of `ref` has a face in `got` at IoU >= 0.9 (tiles keep the whole photo's faces).
  static void expect_kept(const std::vector<Box>& ref, const std::vector<Box>& got, const std::string& where) {
    for (const Box& r : ref) {
      float best = 0;
      for (const Box& b : got) best = std::max(best, iou(r, b));
      EXPECT_GE(best, 0.9f) << where;
    }
  }

  std::unique_ptr<Engine> untiled_, tiled_;
  AnalyzeOptions boxes_only_;
};

TEST_F(TiledDetection, LargeFacesGiveTheUntiledFaces) {
  // 1280x960 and 1920x1080 are tiled (>= 2x the 320x240 input); every face here is large.
  std::vector<Box> truth;
  const Image m = mosaic(2, 1280, 960, &truth);
  const auto ref = faces(*untiled_, m);
  for (const Box& t : truth) EXPECT_TRUE(found(ref, t)) << "a large face the untiled detector misses";
  const auto got = faces(*tiled_, m);
  EXPECT_EQ(got.size(), ref.size()) << "2x2 mosaic: the same faces, none added";
  expect_kept(ref, got, "2x2 mosaic");
  // Real photos: the whole photo's faces stay. Tiles may add a false face on a real photo (one on
  // obama3.jpg, measured: why tiling is off by default), so only the kept faces are asserted.
  for (const char* photo :
       {"face_recognition/obama-1080p.jpg", "openface/lennon-1.jpg", "face_recognition/obama3.jpg"}) {
    const Image img = load(photo);
    const auto r = faces(*untiled_, img), t = faces(*tiled_, img);
    EXPECT_GE(t.size(), r.size()) << photo;
    expect_kept(r, t, photo);
    std::cout << photo << ": untiled " << r.size() << " faces, tiled " << t.size() << "\n";
  }
}

TEST_F(TiledDetection, SmallFacesMosaicFindsMore) {
  // 36 faces in 320x240 cells of a 1920x1440 photo: in the whole-photo pass (6x downscaled) a
  // face is 10-20 px, near the model's smallest anchor; in a tile it is twice that.
  std::vector<Box> truth;
  const Image m = mosaic(6, 1920, 1440, &truth);
  ASSERT_EQ(truth.size(), 36u);
  const auto ref = faces(*untiled_, m), got = faces(*tiled_, m);
  size_t ref_hits = 0, hits = 0;
  for (const Box& t : truth) {
    ref_hits += found(ref, t);
    hits += found(got, t);
    if (found(ref, t)) {
      EXPECT_TRUE(found(got, t)) << "tiling lost a face the whole-photo pass finds";
    }
  }
  std::cout << "6x6 mosaic: untiled finds " << ref_hits << " of 36 faces, tiled " << hits << "\n";
  EXPECT_GT(hits, ref_hits);
  // Tiles may add false faces too (2 here, measured); more false than known faces added would
  // mean the merge or the cut-face rule is broken.
  size_t false_faces = 0;
  for (const Box& b : got) false_faces += !found(truth, b);
  std::cout << "6x6 mosaic: tiles add " << false_faces << " false faces\n";
  EXPECT_LT(false_faces, hits - ref_hits);
}

}  // namespace
}  // namespace facelens

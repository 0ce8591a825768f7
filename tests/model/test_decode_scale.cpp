// Engine::analyze_bytes decodes a JPEG only at the resolution each stage needs (a DCT-scaled
// image for the detector, the faces from it or from a finer decode): its answers against the same
// pipeline on a full decode of the same photo, over every photo of ../shared/data/faces and over
// 12-13 megapixel photos made here from a shared one (baseline, progressive, with an ICC profile,
// EXIF-rotated). Skips with a reason when data or models are absent.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/test_env.h"
#include "facelens/engine.h"
#include "image/tensor.h"
#include "recognize/recognizer.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;

class DecodeScale : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::data_dir().empty() || !testing::default_models_present()) return;
    EngineOptions o;
    o.models_dir = testing::models_dir();
    auto e = Engine::create(o);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    engine_ = std::move(*e).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override {
    if (testing::data_dir().empty()) GTEST_SKIP() << "no test data (set FACELENS_TEST_DATA to ../shared/data)";
    if (!engine_) GTEST_SKIP() << "default models absent from " << testing::models_dir() << " (run scripts/setup.sh)";
  }

  struct Worst {
    float iou = 1, cosine = 1;
    std::string iou_at, cosine_at;
    int n_faces = 0;
  };
  // analyze_bytes(bytes) against analyze() of the full decode: the same faces, box IoU >= 0.99
  // and embedding cosine >= 0.995 for each. Returns the decode scale used for detection.
  static double expect_same_as_full(const std::vector<uint8_t>& bytes, const std::string& name, Worst* worst) {
    AnalyzeOptions what;
    what.embedding = true;
    auto full = decode_image(bytes, engine_->decode_options());
    EXPECT_TRUE(full.ok()) << name << ": " << full.status().to_string();
    if (!full.ok()) return 0;
    auto expected = engine_->analyze(full->image, what);
    auto got = engine_->analyze_bytes(bytes, what);
    EXPECT_TRUE(expected.ok() && got.ok()) << name;
    if (!expected.ok() || !got.ok()) return 0;
    EXPECT_EQ(got->width, full->image.width) << name;
    EXPECT_EQ(got->height, full->image.height) << name;
    EXPECT_EQ(got->faces.size(), expected->faces.size()) << name << ": faces found differ";
    for (size_t i = 0; i < expected->faces.size(); ++i) {
      const Face& e = expected->faces[i];
      const Face* best = nullptr;
      float best_iou = 0;
      for (const auto& g : got->faces) {
        if (iou(g.box, e.box) > best_iou) {
          best_iou = iou(g.box, e.box);
          best = &g;
        }
      }
      const std::string where = name + " face " + std::to_string(i);
      EXPECT_GE(best_iou, 0.99f) << where;
      if (best_iou < worst->iou) *worst = {best_iou, worst->cosine, where, worst->cosine_at, worst->n_faces};
      if (!best) continue;
      ++worst->n_faces;
      const float c = recognize::cosine(best->embedding, e.embedding);
      EXPECT_GE(c, 0.995f) << where;
      if (c < worst->cosine) {
        worst->cosine = c;
        worst->cosine_at = where;
      }
    }
    return got->decode_scale;
  }

  static Engine* engine_;
};

Engine* DecodeScale::engine_ = nullptr;

std::vector<uint8_t> read_all(const std::string& path) {
  auto b = read_file_bytes(path, 1 << 30);
  return b.ok() ? *b : std::vector<uint8_t>{};
}

// The APP2 ICC_PROFILE segments of a JPEG, markers included.
std::vector<uint8_t> icc_segments(const std::vector<uint8_t>& jpeg) {
  std::vector<uint8_t> out;
  size_t i = 2;
  while (i + 4 <= jpeg.size() && jpeg[i] == 0xFF && jpeg[i + 1] != 0xDA) {
    const size_t len = (size_t{jpeg[i + 2]} << 8) | jpeg[i + 3];
    if (i + 2 + len > jpeg.size()) break;
    if (jpeg[i + 1] == 0xE2 && len > 16 && std::memcmp(&jpeg[i + 4], "ICC_PROFILE", 11) == 0)
      out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(i),
                 jpeg.begin() + static_cast<std::ptrdiff_t>(i + 2 + len));
    i += 2 + len;
  }
  return out;
}

// `img` encoded as a 4:2:0 JPEG (quality 90), with `segments` put right after SOI and, when
// orientation > 1, an Exif APP1 segment giving that orientation.
std::vector<uint8_t> encode(const Image& img, bool progressive, const std::vector<uint8_t>& segments, int orientation) {
  tjhandle h = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long n = 0;
  const int rc = tjCompress2(h, img.pixels.data(), img.width, 0, img.height, TJPF_RGB, &out, &n, TJSAMP_420, 90,
                             progressive ? TJFLAG_PROGRESSIVE : 0);
  std::vector<uint8_t> jpeg;
  if (rc == 0) jpeg.assign(out, out + n);
  tjFree(out);
  tjDestroy(h);
  if (jpeg.size() < 2) return {};
  std::vector<uint8_t> extra = segments;
  if (orientation > 1) {
    // APP1 "Exif", big-endian TIFF header, IFD0 with one SHORT entry 0x0112 = orientation.
    const uint8_t exif[] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
                            'M',  'M',  0, 42, 0,   0,   0,   8,   0, 1,
                            1,    0x12, 0, 3,  0,   0,   0,   1,   0, static_cast<uint8_t>(orientation),
                            0,    0,    0, 0,  0,   0};
    extra.insert(extra.end(), exif, exif + sizeof(exif));
  }
  jpeg.insert(jpeg.begin() + 2, extra.begin(), extra.end());
  return jpeg;
}

// `img` turned 90 degrees counterclockwise: stored(x, y) = img(width - 1 - y, x).
Image turned_counterclockwise(const Image& img) {
  Image out;
  out.width = img.height;
  out.height = img.width;
  out.pixels.resize(img.pixels.size());
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      std::copy_n(img.row(x) + static_cast<size_t>(img.width - 1 - y) * 3, 3,
                  out.pixels.data() + (static_cast<size_t>(y) * out.width + x) * 3);
  return out;
}

TEST_F(DecodeScale, EverySharedPhotoAnswersAsItsFullDecode) {
  Worst worst;
  int n_photos = 0, n_scaled = 0;
  for (const auto& entry : fs::recursive_directory_iterator(testing::data_dir() + "/faces")) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!entry.is_regular_file() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png")) continue;
    const std::string name = fs::relative(entry.path(), testing::data_dir()).string();
    const double scale = expect_same_as_full(read_all(entry.path().string()), name, &worst);
    ++n_photos;
    if (scale < 1) ++n_scaled;
  }
  if (n_photos == 0) GTEST_SKIP() << "no jpg/jpeg/png photo under " << testing::data_dir() << "/faces";
  std::cout << "[ scaled   ] " << n_photos << " photos (" << n_scaled << " detected on a DCT-scaled decode), "
            << worst.n_faces << " faces: worst box IoU " << worst.iou << " (" << worst.iou_at
            << "), worst embedding cosine " << worst.cosine << " (" << worst.cosine_at << ")\n";
}

TEST_F(DecodeScale, LargePhotosAnswerAsTheirFullDecode) {
  const std::string source = testing::data_dir() + "/faces/face_recognition/obama3.jpg";
  const std::vector<uint8_t> bytes = read_all(source);
  if (bytes.empty()) GTEST_SKIP() << "no " << source;
  auto small = decode_image(bytes, {});
  ASSERT_TRUE(small.ok()) << small.status().to_string();
  // 2333x1434 -> 4666x2868 (13.4 megapixels), the size of a phone photo.
  const Image large = image::resize(small->image, small->image.width * 2, small->image.height * 2);
  const std::vector<uint8_t> icc = icc_segments(bytes);
  ASSERT_FALSE(icc.empty()) << source << " has no ICC profile any more: pick a photo with one";
  struct Variant {
    const char* name;
    bool progressive;
    bool with_icc;
    int orientation;
  };
  Worst worst;
  for (const Variant& v : {Variant{"baseline", false, false, 1}, Variant{"progressive", true, false, 1},
                           Variant{"baseline+icc", false, true, 1}, Variant{"progressive+icc", true, true, 1},
                           Variant{"baseline+icc, EXIF orientation 6", false, true, 6}}) {
    // Orientation 6 displays the stored pixels turned 90 degrees clockwise: store them turned back.
    const Image stored = v.orientation == 6 ? turned_counterclockwise(large) : large;
    const auto jpeg = encode(stored, v.progressive, v.with_icc ? icc : std::vector<uint8_t>{}, v.orientation);
    ASSERT_FALSE(jpeg.empty()) << v.name;
    const double scale = expect_same_as_full(jpeg, std::string("large ") + v.name, &worst);
    EXPECT_LT(scale, 1.0) << v.name << ": a 13 megapixel photo should be detected on a downscaled decode";
  }
  EXPECT_GT(worst.n_faces, 0);
  std::cout << "[ large    ] " << worst.n_faces << " faces: worst box IoU " << worst.iou << " (" << worst.iou_at
            << "), worst embedding cosine " << worst.cosine << " (" << worst.cosine_at << ")\n";
}

}  // namespace
}  // namespace facelens

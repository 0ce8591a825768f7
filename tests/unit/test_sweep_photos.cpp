// The benchmark's photo sweep (src/bench/sweep_photos.h): every file has the asked size, JPEG
// process (SOF0 baseline / SOF2 progressive), restart markers (DRI and RSTn present or absent) and
// chroma sampling, read back from the file's own markers; two runs give byte-identical files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include "bench/sweep_photos.h"
#include "facelens/image.h"

namespace {

using facelens::Image;
namespace bench = facelens::bench;
namespace fs = std::filesystem;

// What the markers of a JPEG say, read without libjpeg (an independent check of the encoder).
struct Markers {
  int sof = -1;  // 0xC0 baseline, 0xC2 progressive
  int width = 0, height = 0;
  int luma_sampling = 0;               // 0x22 = 2x2 (4:2:0 with 1x1 chroma), 0x11 = 1x1
  int chroma_sampling = 0;             // of the first chroma component
  std::vector<int> restart_intervals;  // every DRI's value, in file order (one per scan when set per scan)
  int n_rst = 0;                       // RST0-7 markers in the entropy-coded data
  int n_sos = 0;
};

Markers read_markers(const std::vector<uint8_t>& b) {
  Markers m;
  size_t i = 2;  // after SOI
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) {
      ++i;
      continue;
    }
    const int marker = b[i + 1];
    if (marker == 0xD9) break;  // EOI
    if (marker >= 0xD0 && marker <= 0xD7) {
      ++m.n_rst;
      i += 2;
      continue;
    }
    if (marker == 0x00 || marker == 0xFF) {  // stuffed byte or fill
      ++i;
      continue;
    }
    const size_t len = (static_cast<size_t>(b[i + 2]) << 8) | b[i + 3];
    const uint8_t* p = &b[i + 4];
    if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
      m.sof = marker;
      m.height = (p[1] << 8) | p[2];
      m.width = (p[3] << 8) | p[4];
      m.luma_sampling = p[7];
      m.chroma_sampling = p[10];
    } else if (marker == 0xDD) {
      m.restart_intervals.push_back((p[0] << 8) | p[1]);
    } else if (marker == 0xDA) {
      ++m.n_sos;
    }
    i += 2 + len;
    if (marker == 0xDA) {
      // Entropy-coded data: count RSTn until the next marker that is not RSTn or a stuffed 0xFF00.
      while (i + 1 < b.size()) {
        if (b[i] == 0xFF && b[i + 1] != 0x00 && !(b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7)) break;
        if (b[i] == 0xFF && b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7) ++m.n_rst;
        i += (b[i] == 0xFF) ? 2 : 1;
      }
    }
  }
  return m;
}

// A textured source with the aspect ratio of obama3.jpg (1434x2333): gradients, rings and a
// fixed pseudo-random grain, so that the encoder has detail to code at every size.
Image synthetic_source() {
  Image img;
  img.width = 717;
  img.height = 1166;
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
  uint32_t state = 12345;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      state = state * 1664525u + 1013904223u;
      const int grain = static_cast<int>(state >> 28) - 8;
      const double r = std::hypot(x - 358.0, y - 500.0);
      uint8_t* px = &img.pixels[(static_cast<size_t>(y) * img.width + x) * 3];
      px[0] = static_cast<uint8_t>(std::clamp(static_cast<int>(128 + 100 * std::sin(r / 9.0)) + grain, 0, 255));
      px[1] = static_cast<uint8_t>(std::clamp(x * 255 / img.width + grain, 0, 255));
      px[2] = static_cast<uint8_t>(std::clamp(y * 255 / img.height - grain, 0, 255));
    }
  return img;
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(SweepPhotos, SpecsCoverTheIssueSweep) {
  std::map<double, int> per_size;
  int progressive = 0, restart = 0, s444 = 0, sent = 0;
  for (const auto& s : bench::sweep_specs()) {
    ++per_size[s.megapixels];
    progressive += s.progressive;
    restart += s.restart_rows > 0;
    s444 += s.subsampling == bench::ChromaSubsampling::k444;
    sent += s.sent_to_server;
  }
  EXPECT_EQ(per_size, (std::map<double, int>{{0.3, 4}, {2.0, 4}, {2.6, 5}, {13.0, 4}}));
  EXPECT_EQ(progressive, 8);
  EXPECT_EQ(restart, 8);
  EXPECT_EQ(s444, 1);
  EXPECT_EQ(sent, 3);  // 0.3, 2.6 and 13 MP
}

TEST(SweepPhotos, FilesHaveTheAskedSizeModeRestartsAndSamplingAndAreDeterministic) {
  const fs::path dir = fs::path(::testing::TempDir()) / "facelens_sweep_photos";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string source = (dir / "source.png").string();
  const Image src = synthetic_source();
  ASSERT_TRUE(facelens::write_png(src, source).ok());

  auto first = bench::make_sweep_photos(source, (dir / "a").string());
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto second = bench::make_sweep_photos(source, (dir / "b").string());
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  ASSERT_EQ(first->size(), bench::sweep_specs().size());
  ASSERT_EQ(second->size(), first->size());

  for (size_t i = 0; i < first->size(); ++i) {
    const auto& spec = bench::sweep_specs()[i];
    const auto& p = (*first)[i];
    SCOPED_TRACE(spec.name);
    EXPECT_EQ(p.name, spec.name);
    const auto bytes = read_all(p.path);
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(static_cast<int64_t>(bytes.size()), p.bytes);
    EXPECT_EQ(bytes, read_all((*second)[i].path)) << "two runs made different files";

    const Markers m = read_markers(bytes);
    EXPECT_EQ(m.sof, spec.progressive ? 0xC2 : 0xC0);
    EXPECT_EQ(m.n_sos > 1, spec.progressive);
    EXPECT_EQ(m.width, p.width);
    EXPECT_EQ(m.height, p.height);
    EXPECT_NEAR(static_cast<double>(m.width) * m.height / 1e6, spec.megapixels, spec.megapixels * 0.01);
    EXPECT_NEAR(static_cast<double>(m.width) / m.height, static_cast<double>(src.width) / src.height, 0.002);
    if (spec.restart_rows > 0) {
      // One MCU row per segment: before the first scan (interleaved: baseline, or a progressive
      // DC scan) the interval is the MCUs of a row, 16 px wide at 4:2:0 and 8 at 4:4:4; a
      // progressive file's single-component AC scans get their own DRI, in 8x8 blocks.
      const int mcu = spec.subsampling == bench::ChromaSubsampling::k420 ? 16 : 8;
      ASSERT_FALSE(m.restart_intervals.empty());
      EXPECT_EQ(m.restart_intervals.front(), (m.width + mcu - 1) / mcu);
      for (int v : m.restart_intervals) EXPECT_GT(v, 0);
      EXPECT_GT(m.n_rst, 0);
    } else {
      EXPECT_TRUE(m.restart_intervals.empty());
      EXPECT_EQ(m.n_rst, 0);
    }
    if (spec.subsampling == bench::ChromaSubsampling::k420) {
      EXPECT_EQ(m.luma_sampling, 0x22);
      EXPECT_EQ(p.subsampling, "4:2:0");
    } else {
      EXPECT_EQ(m.luma_sampling, 0x11);
      EXPECT_EQ(p.subsampling, "4:4:4");
    }
    EXPECT_EQ(m.chroma_sampling, 0x11);
    EXPECT_EQ(p.progressive, spec.progressive);
    EXPECT_EQ(p.restart_rows, spec.restart_rows);

    // facelens decodes it to the same size.
    auto decoded = facelens::decode_image(bytes, {});
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(decoded->image.width, p.width);
    EXPECT_EQ(decoded->image.height, p.height);
  }
  fs::remove_all(dir);
}

TEST(SweepPhotos, UnusableSourceIsInvalidArgument) {
  auto r = bench::make_sweep_photos("/no/such/photo.jpg", ::testing::TempDir());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), facelens::StatusCode::kInvalidArgument);
}

}  // namespace

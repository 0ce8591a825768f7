// Image decoding, EXIF orientation, PNG writing, drawing, and the planar tensors and crops made
// for the models. Synthetic images are built in the test (JPEG with TurboJPEG, WebP with libwebp,
// PNG and BMP byte by byte) and compared with what went in; real files from ../shared/data are
// checked when present.
#include <gtest/gtest.h>
#include <lcms2.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/encode.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "common/test_env.h"
#include "facelens/image.h"
#include "image/draw.h"
#include "image/exif.h"
#include "image/icc.h"
#include "image/tensor.h"

namespace facelens {
namespace {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------------------------
// Helpers: images and encoders

Image make_image(int width, int height) {
  Image img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  return img;
}

// A deterministic pattern that exercises every channel value.
Image make_pattern(int width, int height) {
  Image img = make_image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = img.pixels.data() + (static_cast<size_t>(y) * width + x) * 3;
      p[0] = static_cast<uint8_t>(x * 7 + y * 3);
      p[1] = static_cast<uint8_t>(x * y + 11);
      p[2] = static_cast<uint8_t>(255 - x - 2 * y);
    }
  }
  return img;
}

// A smooth gradient: JPEG keeps it within a few levels.
Image make_gradient(int width, int height) {
  Image img = make_image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = img.pixels.data() + (static_cast<size_t>(y) * width + x) * 3;
      p[0] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
      p[2] = 128;
    }
  }
  return img;
}

std::array<int, 3> pixel_at(const Image& img, int x, int y) {
  const uint8_t* p = img.row(y) + static_cast<size_t>(x) * 3;
  return {p[0], p[1], p[2]};
}

void fill_rect(Image& img, int x0, int y0, int w, int h, std::array<uint8_t, 3> c) {
  for (int y = y0; y < y0 + h; ++y) {
    for (int x = x0; x < x0 + w; ++x) {
      uint8_t* p = img.pixels.data() + (static_cast<size_t>(y) * img.width + x) * 3;
      p[0] = c[0];
      p[1] = c[1];
      p[2] = c[2];
    }
  }
}

// Expects the pixel at (x, y) within `tolerance` of `expected` on each channel.
void expect_near_pixel(const Image& img, int x, int y, std::array<int, 3> expected, int tolerance) {
  const auto p = pixel_at(img, x, y);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(p[c], expected[c], tolerance) << "pixel (" << x << ", " << y << ") channel " << c;
  }
}

Bytes encode_jpeg(const uint8_t* pixels, int width, int height, int pixel_format, int subsamp, int quality) {
  tjhandle handle = tjInitCompress();
  EXPECT_NE(handle, nullptr);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc =
      tjCompress2(handle, pixels, width, /*pitch=*/0, height, pixel_format, &out, &size, subsamp, quality, /*flags=*/0);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(handle);
  Bytes bytes(out, out + size);
  tjFree(out);
  tjDestroy(handle);
  return bytes;
}

Bytes encode_jpeg(const Image& img, int quality = 95, int subsamp = TJSAMP_444) {
  return encode_jpeg(img.pixels.data(), img.width, img.height, TJPF_RGB, subsamp, quality);
}

// Inserts an APP1 Exif segment with IFD0 = {Orientation (0x0112, SHORT) = orientation} right
// after SOI, in little- or big-endian TIFF byte order.
Bytes with_exif_orientation(const Bytes& jpeg, int orientation, bool little_endian) {
  auto u16 = [&](Bytes& out, uint16_t v) {
    if (little_endian) {
      out.push_back(static_cast<uint8_t>(v));
      out.push_back(static_cast<uint8_t>(v >> 8));
    } else {
      out.push_back(static_cast<uint8_t>(v >> 8));
      out.push_back(static_cast<uint8_t>(v));
    }
  };
  auto u32 = [&](Bytes& out, uint32_t v) {
    if (little_endian) {
      u16(out, static_cast<uint16_t>(v));
      u16(out, static_cast<uint16_t>(v >> 16));
    } else {
      u16(out, static_cast<uint16_t>(v >> 16));
      u16(out, static_cast<uint16_t>(v));
    }
  };
  Bytes tiff;
  tiff.push_back(little_endian ? 'I' : 'M');
  tiff.push_back(little_endian ? 'I' : 'M');
  u16(tiff, 42);
  u32(tiff, 8);       // IFD0 offset
  u16(tiff, 2);       // two entries
  u16(tiff, 0x010F);  // Make, ASCII, 4 bytes inline: "Cam"
  u16(tiff, 2);
  u32(tiff, 4);
  tiff.insert(tiff.end(), {'C', 'a', 'm', 0});
  u16(tiff, 0x0112);  // Orientation, SHORT, 1
  u16(tiff, 3);
  u32(tiff, 1);
  u16(tiff, static_cast<uint16_t>(orientation));
  u16(tiff, 0);
  u32(tiff, 0);  // no next IFD
  Bytes payload = {'E', 'x', 'i', 'f', 0, 0};
  payload.insert(payload.end(), tiff.begin(), tiff.end());
  const size_t length = payload.size() + 2;
  Bytes segment = {0xFF, 0xE1, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  segment.insert(segment.end(), payload.begin(), payload.end());
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), segment.begin(), segment.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

uint32_t crc32_of(const uint8_t* data, size_t n) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void put_be32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void put_le16(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

void put_le32(Bytes& out, uint32_t v) {
  put_le16(out, v & 0xFFFF);
  put_le16(out, v >> 16);
}

void put_png_chunk(Bytes& out, const char* type, const Bytes& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_be32(out, crc32_of(out.data() + start, out.size() - start));
}

// A zlib stream of stored (uncompressed) deflate blocks.
Bytes zlib_stored(const Bytes& raw) {
  Bytes out = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(raw.size() - pos, 65535);
    out.push_back(pos + n == raw.size() ? 1 : 0);
    put_le16(out, static_cast<uint32_t>(n));
    put_le16(out, static_cast<uint32_t>(~n & 0xFFFF));
    out.insert(out.end(), raw.begin() + pos, raw.begin() + pos + n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t v : raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(out, (b << 16) | a);
  return out;
}

Bytes png_ihdr(uint32_t width, uint32_t height, int bit_depth, int color_type, int interlace) {
  Bytes ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0,
                           static_cast<uint8_t>(interlace)});
  return ihdr;
}

const Bytes kPngSignature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

struct PngSpec {
  int width = 0;
  int height = 0;
  int bit_depth = 8;
  int color_type = 2;  // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
  bool interlaced = false;
  std::vector<uint16_t> samples;  // width * height * channels, unpacked
  Bytes plte;                     // palette: RGB triples
  Bytes trns;

  int channels() const {
    switch (color_type) {
      case 0:
      case 3: return 1;
      case 4: return 2;
      case 6: return 4;
      default: return 3;
    }
  }
};

// Packs the pixels x0, x0 + dx, ... of row y, after filter type 0.
Bytes png_scanline(const PngSpec& spec, int y, int x0, int dx) {
  Bytes row = {0};
  const int ch = spec.channels();
  int bit = 0;
  uint8_t acc = 0;
  for (int x = x0; x < spec.width; x += dx) {
    for (int c = 0; c < ch; ++c) {
      const uint16_t v = spec.samples[(static_cast<size_t>(y) * spec.width + x) * ch + c];
      if (spec.bit_depth == 16) {
        row.push_back(static_cast<uint8_t>(v >> 8));
        row.push_back(static_cast<uint8_t>(v));
      } else if (spec.bit_depth == 8) {
        row.push_back(static_cast<uint8_t>(v));
      } else {
        acc = static_cast<uint8_t>(acc | (v << (8 - spec.bit_depth - bit)));
        bit += spec.bit_depth;
        if (bit == 8) {
          row.push_back(acc);
          acc = 0;
          bit = 0;
        }
      }
    }
  }
  if (bit != 0) row.push_back(acc);
  return row;
}

Bytes make_png(const PngSpec& spec) {
  Bytes raw;
  if (!spec.interlaced) {
    for (int y = 0; y < spec.height; ++y) {
      const Bytes row = png_scanline(spec, y, 0, 1);
      raw.insert(raw.end(), row.begin(), row.end());
    }
  } else {
    // Adam7 passes: x0, y0, dx, dy (PNG spec 8.2).
    const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                              {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    for (const auto& p : passes) {
      if (p[0] >= spec.width) continue;
      for (int y = p[1]; y < spec.height; y += p[3]) {
        const Bytes row = png_scanline(spec, y, p[0], p[2]);
        raw.insert(raw.end(), row.begin(), row.end());
      }
    }
  }
  Bytes out = kPngSignature;
  put_png_chunk(out, "IHDR",
                png_ihdr(spec.width, spec.height, spec.bit_depth, spec.color_type, spec.interlaced ? 1 : 0));
  if (!spec.plte.empty()) put_png_chunk(out, "PLTE", spec.plte);
  if (!spec.trns.empty()) put_png_chunk(out, "tRNS", spec.trns);
  put_png_chunk(out, "IDAT", zlib_stored(raw));
  put_png_chunk(out, "IEND", {});
  return out;
}

// A PNG of just a signature, an IHDR claiming width x height, and IEND.
Bytes png_header_only(uint32_t width, uint32_t height) {
  Bytes out = kPngSignature;
  put_png_chunk(out, "IHDR", png_ihdr(width, height, 8, 2, 0));
  put_png_chunk(out, "IEND", {});
  return out;
}

struct BmpSpec {
  int32_t width = 0;
  int32_t height = 0;  // negative: top-down
  int bpp = 24;
  uint32_t compression = 0;
  uint32_t masks[3] = {0, 0, 0};  // BI_BITFIELDS only
  Bytes palette;                  // BGRX quads
  uint32_t n_colors = 0;
};

// Builds a BMP; `write_row(y, row)` appends the bytes of image row y (top row is y = 0).
template <typename RowWriter>
Bytes make_bmp(const BmpSpec& spec, RowWriter write_row) {
  const int h = std::abs(spec.height);
  const size_t stride = (static_cast<size_t>(spec.width) * spec.bpp + 31) / 32 * 4;
  const bool masks = spec.compression == 3;
  const uint32_t offset = static_cast<uint32_t>(14 + 40 + (masks ? 12 : 0) + spec.palette.size());
  Bytes out = {'B', 'M'};
  put_le32(out, static_cast<uint32_t>(offset + stride * h));
  put_le32(out, 0);
  put_le32(out, offset);
  put_le32(out, 40);
  put_le32(out, static_cast<uint32_t>(spec.width));
  put_le32(out, static_cast<uint32_t>(spec.height));
  put_le16(out, 1);
  put_le16(out, static_cast<uint32_t>(spec.bpp));
  put_le32(out, spec.compression);
  put_le32(out, static_cast<uint32_t>(stride * h));
  put_le32(out, 2835);
  put_le32(out, 2835);
  put_le32(out, spec.n_colors);
  put_le32(out, 0);
  if (masks) {
    for (uint32_t m : spec.masks) put_le32(out, m);
  }
  out.insert(out.end(), spec.palette.begin(), spec.palette.end());
  for (int i = 0; i < h; ++i) {
    // Stored rows go bottom-up unless the height is negative.
    const int y = spec.height < 0 ? i : h - 1 - i;
    Bytes row;
    write_row(y, row);
    row.resize(stride, 0);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

Bytes make_bmp24(const Image& img, bool top_down) {
  BmpSpec spec;
  spec.width = img.width;
  spec.height = top_down ? -img.height : img.height;
  return make_bmp(spec, [&](int y, Bytes& row) {
    for (int x = 0; x < img.width; ++x) {
      const auto p = pixel_at(img, x, y);
      row.insert(row.end(), {static_cast<uint8_t>(p[2]), static_cast<uint8_t>(p[1]), static_cast<uint8_t>(p[0])});
    }
  });
}

DecodedImage decode_ok(const Bytes& bytes, const DecodeOptions& options = {}) {
  StatusOr<DecodedImage> decoded = decode_image(bytes, options);
  EXPECT_TRUE(decoded.ok()) << decoded.status().to_string();
  if (!decoded.ok()) return {};
  const Image& img = decoded->image;
  EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width) * img.height * 3);
  return *decoded;
}

void expect_same_pixels(const Image& actual, const Image& expected) {
  ASSERT_EQ(actual.width, expected.width);
  ASSERT_EQ(actual.height, expected.height);
  ASSERT_EQ(actual.pixels.size(), expected.pixels.size());
  size_t n_diff = 0;
  for (size_t i = 0; i < actual.pixels.size(); ++i) n_diff += actual.pixels[i] != expected.pixels[i];
  EXPECT_EQ(n_diff, 0u) << "bytes that differ";
}

// Expects a non-OK status of `code`, reached in well under a second.
void expect_refused(std::span<const uint8_t> bytes, StatusCode code, const DecodeOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  StatusOr<DecodedImage> decoded = decode_image(bytes, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(decoded.ok()) << "decoded " << decoded->image.width << "x" << decoded->image.height;
  EXPECT_EQ(decoded.status().code(), code) << decoded.status().to_string();
  EXPECT_FALSE(decoded.status().message().empty());
  EXPECT_LT(seconds, 2.0);
}

std::string data_file(const std::string& relative) { return testing::data_dir() + "/faces/" + relative; }

Bytes read_data_file(const std::string& relative) {
  StatusOr<Bytes> bytes = read_file_bytes(data_file(relative), 64 << 20);
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  return bytes.ok() ? *bytes : Bytes{};
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("facelens_test_image_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// ---------------------------------------------------------------------------------------------
// Real files (skipped without ../shared/data)

TEST(ImageRealFiles, ObamaJpegDecodesTo910x1137) {
  FACELENS_REQUIRE_DATA();
  StatusOr<DecodedImage> decoded = decode_image_file(data_file("face_recognition/obama.jpg"), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->format, ImageFormat::kJpeg);
  EXPECT_EQ(decoded->image.width, 910);
  EXPECT_EQ(decoded->image.height, 1137);
  EXPECT_EQ(decoded->original_width, 910);
  EXPECT_EQ(decoded->original_height, 1137);
  EXPECT_EQ(decoded->scale, 1.0);
  EXPECT_EQ(decoded->image.pixels.size(), 910u * 1137u * 3u);

  const Bytes bytes = read_data_file("face_recognition/obama.jpg");
  StatusOr<ImageHeader> header = read_image_header(bytes);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->format, ImageFormat::kJpeg);
  EXPECT_EQ(header->width, 910);
  EXPECT_EQ(header->height, 1137);
}

TEST(ImageRealFiles, ObamaJpegDctDownscale) {
  FACELENS_REQUIRE_DATA();
  DecodeOptions options;
  options.min_width = 300;
  options.min_height = 300;
  const DecodedImage d = decode_ok(read_data_file("face_recognition/obama.jpg"), options);
  EXPECT_EQ(d.image.width, 455);   // ceil(910 / 2)
  EXPECT_EQ(d.image.height, 569);  // ceil(1137 / 2)
  EXPECT_EQ(d.scale, 0.5);
  EXPECT_EQ(d.original_width, 910);
  EXPECT_EQ(d.original_height, 1137);
}

// resize_area averages the whole-number part of each scale in blocks, then the rest by area
// weights: against OpenCV's one-pass INTER_AREA (resize_area_exact) it differs by rounding, by
// edges moved within one block, and by the left-out edge (under one block).
TEST(ImageResizeArea, BlocksThenAreaIsWithinAFewLevelsOfOnePass) {
  FACELENS_REQUIRE_DATA();
  const DecodedImage d = decode_ok(read_data_file("face_recognition/obama3.jpg"), {});
  struct Size {
    int w, h;
  };
  for (const Size s : {Size{640, 480}, Size{320, 240}, Size{301, 417}, Size{d.image.width / 3, d.image.height / 2},
                       Size{d.image.width * 2 / 3, d.image.height * 3 / 4}}) {
    const Image fast = image::resize_area(d.image, s.w, s.h);
    const Image exact = image::resize_area_exact(d.image, s.w, s.h);
    ASSERT_EQ(fast.width, s.w);
    ASSERT_EQ(fast.height, s.h);
    ASSERT_EQ(fast.pixels.size(), exact.pixels.size());
    // A sharp edge moves by up to one block (the first pass's grid), so a few samples differ more.
    double sum = 0;
    size_t over_8 = 0;
    for (size_t i = 0; i < fast.pixels.size(); ++i) {
      const int diff = std::abs(fast.pixels[i] - exact.pixels[i]);
      sum += diff;
      over_8 += diff > 8;
    }
    const double n = static_cast<double>(fast.pixels.size());
    std::printf("%dx%d from %dx%d: mean difference %.2f levels, %.2f %% over 8\n", s.w, s.h, d.image.width,
                d.image.height, sum / n, 100.0 * static_cast<double>(over_8) / n);
    // Measured on this photo: 0.9-2.1 levels on average, 0.8-4.5 % of samples over 8 (the most
    // where the first pass leaves little to the second, e.g. 4.5 x 9.7 -> 4 x 9 blocks); a wrong
    // offset, channel or rounding gives tens of levels.
    EXPECT_LT(sum / n, 2.5) << s.w << "x" << s.h;
    EXPECT_LT(static_cast<double>(over_8) / n, 0.06) << s.w << "x" << s.h;
  }
  // Scales under 2 on both axes are one separable pass of OpenCV's area weights (within a level of
  // OpenCV's, its float rounding); whole-number scales are exact block means (OpenCV's too, up to
  // its rounding).
  for (const Size under2 :
       {Size{d.image.width * 3 / 4, d.image.height - 1}, Size{d.image.width * 5 / 8, d.image.height * 4 / 7}}) {
    const Image fast = image::resize_area(d.image, under2.w, under2.h);
    const Image exact = image::resize_area_exact(d.image, under2.w, under2.h);
    ASSERT_EQ(fast.pixels.size(), exact.pixels.size());
    for (size_t i = 0; i < fast.pixels.size(); ++i)
      ASSERT_LE(std::abs(fast.pixels[i] - exact.pixels[i]), 1) << under2.w << "x" << under2.h << " " << i;
  }
  const Image even = image::crop(d.image, 0, 0, d.image.width / 2 * 2, d.image.height / 2 * 2);
  const Image half = image::resize_area(even, even.width / 2, even.height / 2);
  const Image half_exact = image::resize_area_exact(even, even.width / 2, even.height / 2);
  ASSERT_EQ(half.pixels.size(), half_exact.pixels.size());
  for (size_t i = 0; i < half.pixels.size(); ++i) ASSERT_LE(std::abs(half.pixels[i] - half_exact.pixels[i]), 1) << i;
  // A rectangle is resized as if it were the whole image.
  const image::CropRect rect{101, 57, 700, 903};
  EXPECT_EQ(image::resize_area(d.image, rect, 233, 127).pixels,
            image::resize_area(image::crop(d.image, rect.x, rect.y, rect.w, rect.h), 233, 127).pixels);
}

// Whole-number scales are block means, rounded half up: those of a table for blocks up to 1024
// pixels, of a float per pixel above; both against the mean computed here, on noise (every sum
// level reached) and on white (the largest sum of a block).
TEST(ImageResizeArea, WholeNumberScalesAreRoundedBlockMeans) {
  struct Case {
    int fx, fy, bw, bh;
  };
  for (const Case c : {Case{2, 4, 37, 23}, Case{3, 3, 29, 31}, Case{1, 5, 40, 9}, Case{7, 2, 11, 13},
                       Case{40, 40, 5, 3}, Case{1, 257, 6, 2}}) {
    for (const bool white : {false, true}) {
      Image img;
      img.width = c.fx * c.bw + std::min(c.fx, c.bw) - 1;  // a part-block edge, left out
      img.height = c.fy * c.bh;
      img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
      uint32_t state = 12345;
      for (auto& p : img.pixels) {
        state = state * 1664525u + 1013904223u;
        p = white ? 255 : static_cast<uint8_t>(state >> 24);
      }
      const Image out = image::resize_area(img, c.bw, c.bh);
      ASSERT_EQ(out.pixels.size(), static_cast<size_t>(c.bw) * c.bh * 3);
      for (int by = 0; by < c.bh; ++by)
        for (int bx = 0; bx < c.bw; ++bx)
          for (int ch = 0; ch < 3; ++ch) {
            uint32_t sum = 0;
            for (int y = 0; y < c.fy; ++y)
              for (int x = 0; x < c.fx; ++x) sum += img.row(by * c.fy + y)[(bx * c.fx + x) * 3 + ch];
            const int area = c.fx * c.fy;
            const int want = static_cast<int>((2 * sum + area) / (2 * area));  // round half up
            ASSERT_EQ(out.row(by)[bx * 3 + ch], want) << c.fx << "x" << c.fy << " at " << bx << "," << by << " " << ch;
          }
    }
  }
}

TEST(ImageRealFiles, RgbaPngDecodesToRgb) {
  FACELENS_REQUIRE_DATA();
  StatusOr<DecodedImage> decoded = decode_image_file(data_file("face_recognition/32bit.png"), {});
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->format, ImageFormat::kPng);
  EXPECT_EQ(decoded->image.width, 626);
  EXPECT_EQ(decoded->image.height, 1200);
  EXPECT_EQ(decoded->image.pixels.size(), 626u * 1200u * 3u);
  const auto& px = decoded->image.pixels;
  EXPECT_NE(std::count(px.begin(), px.end(), px[0]), static_cast<std::ptrdiff_t>(px.size()));
}

// Embedded ICC profiles (a JPEG's APP2 chunks, a PNG's iCCP) are converted to sRGB, as browsers
// and libvips do; off, the pixels are the file's own. These two files carry non-sRGB profiles that
// move the default pipeline's embeddings when ignored (issue 14).
TEST(ImageRealFiles, IccProfilesAreConvertedToSrgb) {
  FACELENS_REQUIRE_DATA();
  for (const char* f : {"face_recognition/alex-lacamoire.png", "face_recognition/knn/train/kit_harington/john2.jpeg"}) {
    DecodeOptions raw;
    raw.convert_to_srgb = false;
    auto managed = decode_image_file(data_file(f), {});
    auto own = decode_image_file(data_file(f), raw);
    ASSERT_TRUE(managed.ok() && own.ok()) << f;
    ASSERT_EQ(managed->image.pixels.size(), own->image.pixels.size()) << f;
    double mean_abs = 0;
    for (size_t i = 0; i < own->image.pixels.size(); ++i)
      mean_abs += std::abs(int{managed->image.pixels[i]} - int{own->image.pixels[i]});
    mean_abs /= static_cast<double>(own->image.pixels.size());
    EXPECT_GT(mean_abs, 0.5) << f << ": the profile changed nothing";
    EXPECT_LT(mean_abs, 20) << f << ": a colour conversion, not a different image";
  }
  // john2.jpeg's profile is not taken for sRGB's; lcms's own sRGB profile is.
  const std::vector<uint8_t> john2 =
      image::scan_jpeg_markers(read_data_file("face_recognition/knn/train/kit_harington/john2.jpeg")).icc_profile;
  ASSERT_FALSE(john2.empty());
  EXPECT_FALSE(image::describes_srgb(john2));
  cmsHPROFILE srgb = cmsCreate_sRGBProfile();
  cmsUInt32Number size = 0;
  ASSERT_TRUE(cmsSaveProfileToMem(srgb, nullptr, &size));
  std::vector<uint8_t> srgb_bytes(size);
  ASSERT_TRUE(cmsSaveProfileToMem(srgb, srgb_bytes.data(), &size));
  cmsCloseProfile(srgb);
  EXPECT_TRUE(image::describes_srgb(srgb_bytes));
  // A file without a profile decodes the same either way.
  DecodeOptions raw;
  raw.convert_to_srgb = false;
  auto a = decode_image_file(data_file("face_recognition/32bit.png"), {});
  auto b = decode_image_file(data_file("face_recognition/32bit.png"), raw);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->image.pixels, b->image.pixels);
}

// A profile that is sRGB's own (the "sRGB IEC61966-2.1" cameras embed: obama3.jpg) is not
// applied: the transform would cost a pass over every pixel and change none by more than a level,
// which Little CMS itself confirms here on the file's pixels.
TEST(ImageRealFiles, AnSrgbProfileLeavesThePixelsAsTheyAre) {
  FACELENS_REQUIRE_DATA();
  const Bytes bytes = read_data_file("face_recognition/obama3.jpg");
  DecodeOptions raw;
  raw.convert_to_srgb = false;
  const DecodedImage managed = decode_ok(bytes, {});
  const DecodedImage own = decode_ok(bytes, raw);
  EXPECT_EQ(managed.image.pixels, own.image.pixels);
  // The file's profile converted by Little CMS.
  const std::vector<uint8_t> icc = image::scan_jpeg_markers(bytes).icc_profile;
  ASSERT_FALSE(icc.empty());
  const std::span<const uint8_t> profile(icc);
  EXPECT_TRUE(image::describes_srgb(profile));
  cmsHPROFILE in = cmsOpenProfileFromMem(profile.data(), static_cast<cmsUInt32Number>(profile.size()));
  ASSERT_NE(in, nullptr);
  cmsHPROFILE srgb = cmsCreate_sRGBProfile();
  cmsHTRANSFORM t = cmsCreateTransform(in, TYPE_RGB_8, srgb, TYPE_RGB_8, INTENT_PERCEPTUAL, 0);
  ASSERT_NE(t, nullptr);
  Image converted = own.image;
  cmsDoTransform(t, converted.pixels.data(), converted.pixels.data(),
                 static_cast<cmsUInt32Number>(converted.width) * converted.height);
  cmsDeleteTransform(t);
  cmsCloseProfile(srgb);
  cmsCloseProfile(in);
  int worst = 0;
  for (size_t i = 0; i < converted.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int{converted.pixels[i]} - int{own.image.pixels[i]}));
  EXPECT_LE(worst, 1) << "the profile is not sRGB: it must be applied";
}

TEST(ImageRealFiles, GreyFaceApiPngsDecodeTo150x150Grey) {
  FACELENS_REQUIRE_DATA();
  int n_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data_file("face_api_js"))) {
    if (entry.path().extension() != ".png") continue;
    ++n_files;
    StatusOr<DecodedImage> decoded = decode_image_file(entry.path().string(), {});
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    const Image& img = decoded->image;
    EXPECT_EQ(img.width, 150) << entry.path();
    EXPECT_EQ(img.height, 150) << entry.path();
    size_t n_colour = 0;
    for (size_t i = 0; i + 2 < img.pixels.size(); i += 3) {
      n_colour += img.pixels[i] != img.pixels[i + 1] || img.pixels[i] != img.pixels[i + 2];
    }
    EXPECT_EQ(n_colour, 0u) << entry.path() << ": grey PNG must give R = G = B";
  }
  EXPECT_EQ(n_files, 40);
}

TEST(ImageRealFiles, AllJpegsAndPngsDecodeToTheirHeaderSize) {
  FACELENS_REQUIRE_DATA();
  int n_files = 0;
  for (const char* folder : {"openface", "face_recognition", "antispoof_samples"}) {
    for (const auto& entry : std::filesystem::directory_iterator(data_file(folder))) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".jpg" && ext != ".png") continue;
      ++n_files;
      StatusOr<Bytes> bytes = read_file_bytes(entry.path().string(), 64 << 20);
      ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
      StatusOr<ImageHeader> header = read_image_header(*bytes);
      ASSERT_TRUE(header.ok()) << entry.path() << ": " << header.status().to_string();
      StatusOr<DecodedImage> decoded = decode_image(*bytes, {});
      ASSERT_TRUE(decoded.ok()) << entry.path() << ": " << decoded.status().to_string();
      EXPECT_EQ(decoded->image.width, header->width) << entry.path();
      EXPECT_EQ(decoded->image.height, header->height) << entry.path();
      EXPECT_EQ(decoded->format, header->format) << entry.path();
    }
  }
  EXPECT_GE(n_files, 20);
  // Known sizes: a progressive JPEG, and one with a big-endian Exif block.
  const DecodedImage lennon = decode_ok(read_data_file("openface/lennon-1.jpg"));
  EXPECT_EQ(lennon.image.width, 1400);
  EXPECT_EQ(lennon.image.height, 1050);
  const DecodedImage longoria = decode_ok(read_data_file("openface/longoria-cooper.jpg"));
  EXPECT_EQ(longoria.image.width, 293);
  EXPECT_EQ(longoria.image.height, 473);
}

TEST(ImageRealFiles, TruncatedRealJpegIsRefused) {
  FACELENS_REQUIRE_DATA();
  const Bytes bytes = read_data_file("face_recognition/obama.jpg");
  ASSERT_FALSE(bytes.empty());
  expect_refused(std::span(bytes).first(bytes.size() / 2), StatusCode::kInvalidArgument);
  expect_refused(std::span(bytes).first(bytes.size() - 2), StatusCode::kInvalidArgument);
}

TEST(ImageRealFiles, TruncatedRealPngIsRefused) {
  FACELENS_REQUIRE_DATA();
  const Bytes bytes = read_data_file("face_recognition/32bit.png");
  ASSERT_FALSE(bytes.empty());
  expect_refused(std::span(bytes).first(bytes.size() / 2), StatusCode::kInvalidArgument);
}

TEST(ImageRealFiles, LimitsRefuseRealFiles) {
  FACELENS_REQUIRE_DATA();
  DecodeOptions small_pixels;
  small_pixels.max_pixels = 1000;
  StatusOr<DecodedImage> decoded = decode_image_file(data_file("face_recognition/obama.jpg"), small_pixels);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(decoded.status().message().find("max_pixels"), std::string::npos);
  EXPECT_NE(decoded.status().message().find("910x1137"), std::string::npos);

  DecodeOptions small_bytes;
  small_bytes.max_bytes = 1000;
  decoded = decode_image_file(data_file("face_recognition/obama.jpg"), small_bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(decoded.status().message().find("max_bytes"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// JPEG

TEST(ImageJpeg, RoundTripIsClose) {
  const Image img = make_gradient(96, 64);
  const DecodedImage d = decode_ok(encode_jpeg(img));
  EXPECT_EQ(d.format, ImageFormat::kJpeg);
  ASSERT_EQ(d.image.width, 96);
  ASSERT_EQ(d.image.height, 64);
  int max_diff = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(int{img.pixels[i]} - int{d.image.pixels[i]}));
  }
  EXPECT_LE(max_diff, 8);
}

TEST(ImageJpeg, GreyJpegGivesEqualChannels) {
  std::vector<uint8_t> grey(40 * 24);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i % 40 * 6);
  const Bytes jpeg = encode_jpeg(grey.data(), 40, 24, TJPF_GRAY, TJSAMP_GRAY, 95);
  const DecodedImage d = decode_ok(jpeg);
  ASSERT_EQ(d.image.width, 40);
  ASSERT_EQ(d.image.height, 24);
  for (int y = 0; y < 24; ++y) {
    for (int x = 0; x < 40; ++x) {
      const auto p = pixel_at(d.image, x, y);
      ASSERT_EQ(p[0], p[1]);
      ASSERT_EQ(p[0], p[2]);
      ASSERT_NEAR(p[0], grey[static_cast<size_t>(y) * 40 + x], 10);
    }
  }
}

TEST(ImageJpeg, CmykJpegIsConvertedToRgb) {
  // Adobe-style inverted CMYK: (C, M, Y, K) = (255, 0, 0, 255) is pure red, (0, 255, 0, 255)
  // green, (255, 255, 0, 128) a half-dark yellow-ish (128, 128, 0).
  const int w = 32, h = 16;
  std::vector<uint8_t> cmyk(static_cast<size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = cmyk.data() + (static_cast<size_t>(y) * w + x) * 4;
      const uint8_t v[3][4] = {{255, 0, 0, 255}, {0, 255, 0, 255}, {255, 255, 0, 128}};
      std::memcpy(p, v[std::min(x / 11, 2)], 4);
    }
  }
  const DecodedImage d = decode_ok(encode_jpeg(cmyk.data(), w, h, TJPF_CMYK, TJSAMP_444, 98));
  ASSERT_EQ(d.image.width, w);
  ASSERT_EQ(d.image.height, h);
  expect_near_pixel(d.image, 4, 8, {255, 0, 0}, 8);
  expect_near_pixel(d.image, 16, 8, {0, 255, 0}, 8);
  expect_near_pixel(d.image, 28, 8, {128, 128, 0}, 8);
}

TEST(ImageJpeg, DctDownscaleKeepsAtLeastTheMinimum) {
  const Bytes jpeg = encode_jpeg(make_gradient(1600, 1200), 90, TJSAMP_420);
  DecodeOptions options;
  options.min_width = 320;
  options.min_height = 240;
  DecodedImage d = decode_ok(jpeg, options);
  EXPECT_EQ(d.image.width, 400);
  EXPECT_EQ(d.image.height, 300);
  EXPECT_EQ(d.scale, 0.25);
  EXPECT_EQ(d.original_width, 1600);
  EXPECT_EQ(d.original_height, 1200);
  // The gradient survives: red follows x, green follows y.
  expect_near_pixel(d.image, 200, 150, {128, 128, 128}, 6);
  expect_near_pixel(d.image, 2, 2, {1, 1, 128}, 6);

  options.min_width = 800;
  options.min_height = 600;
  d = decode_ok(jpeg, options);
  EXPECT_EQ(d.image.width, 800);
  EXPECT_EQ(d.scale, 0.5);

  options.min_width = 801;  // 1/2 would give 800: stay at full size
  d = decode_ok(jpeg, options);
  EXPECT_EQ(d.image.width, 1600);
  EXPECT_EQ(d.image.height, 1200);
  EXPECT_EQ(d.scale, 1.0);

  options.min_width = 100;  // only one of the two set: full size
  options.min_height = 0;
  d = decode_ok(jpeg, options);
  EXPECT_EQ(d.image.width, 1600);

  options.min_width = 10;  // 1/8 is the largest downscale
  options.min_height = 10;
  d = decode_ok(jpeg, options);
  EXPECT_EQ(d.image.width, 200);
  EXPECT_EQ(d.image.height, 150);
  EXPECT_EQ(d.scale, 0.125);
}

// 64x32: top-left red, top-right green, bottom-left blue, bottom-right white (32x16 each).
Image make_quadrants() {
  Image img = make_image(64, 32);
  fill_rect(img, 0, 0, 32, 16, {255, 0, 0});
  fill_rect(img, 32, 0, 32, 16, {0, 255, 0});
  fill_rect(img, 0, 16, 32, 16, {0, 0, 255});
  fill_rect(img, 32, 16, 32, 16, {255, 255, 255});
  return img;
}

constexpr std::array<int, 3> kRed = {255, 0, 0};
constexpr std::array<int, 3> kGreen = {0, 255, 0};
constexpr std::array<int, 3> kBlue = {0, 0, 255};
constexpr std::array<int, 3> kWhite = {255, 255, 255};
constexpr int kJpegTolerance = 12;

TEST(ImageExif, Orientation6RotatesClockwise) {
  for (bool little_endian : {true, false}) {
    const Bytes jpeg = with_exif_orientation(encode_jpeg(make_quadrants()), 6, little_endian);
    EXPECT_EQ(image::scan_jpeg_markers(jpeg).orientation, 6);
    const DecodedImage d = decode_ok(jpeg);
    ASSERT_EQ(d.image.width, 32);
    ASSERT_EQ(d.image.height, 64);
    EXPECT_EQ(d.original_width, 32);
    EXPECT_EQ(d.original_height, 64);
    // The stored top-left corner (red) is now top-right; the left column became the top row.
    expect_near_pixel(d.image, 31, 0, kRed, kJpegTolerance);
    expect_near_pixel(d.image, 24, 8, kRed, kJpegTolerance);
    expect_near_pixel(d.image, 24, 56, kGreen, kJpegTolerance);
    expect_near_pixel(d.image, 8, 8, kBlue, kJpegTolerance);
    expect_near_pixel(d.image, 8, 56, kWhite, kJpegTolerance);

    StatusOr<ImageHeader> header = read_image_header(jpeg);
    ASSERT_TRUE(header.ok()) << header.status().to_string();
    EXPECT_EQ(header->width, 32);
    EXPECT_EQ(header->height, 64);
  }
}

TEST(ImageExif, Orientation3Rotates180) {
  const DecodedImage d = decode_ok(with_exif_orientation(encode_jpeg(make_quadrants()), 3, /*little_endian=*/true));
  ASSERT_EQ(d.image.width, 64);
  ASSERT_EQ(d.image.height, 32);
  expect_near_pixel(d.image, 63, 31, kRed, kJpegTolerance);
  expect_near_pixel(d.image, 48, 24, kRed, kJpegTolerance);
  expect_near_pixel(d.image, 16, 24, kGreen, kJpegTolerance);
  expect_near_pixel(d.image, 48, 8, kBlue, kJpegTolerance);
  expect_near_pixel(d.image, 16, 8, kWhite, kJpegTolerance);
}

TEST(ImageExif, Orientation8RotatesCounterClockwise) {
  const Bytes jpeg = with_exif_orientation(encode_jpeg(make_quadrants()), 8, /*little_endian=*/false);
  const DecodedImage d = decode_ok(jpeg);
  ASSERT_EQ(d.image.width, 32);
  ASSERT_EQ(d.image.height, 64);
  expect_near_pixel(d.image, 0, 63, kRed, kJpegTolerance);
  expect_near_pixel(d.image, 8, 56, kRed, kJpegTolerance);
  expect_near_pixel(d.image, 8, 8, kGreen, kJpegTolerance);
  expect_near_pixel(d.image, 24, 56, kBlue, kJpegTolerance);
  expect_near_pixel(d.image, 24, 8, kWhite, kJpegTolerance);
}

TEST(ImageExif, OrientationCanBeIgnored) {
  DecodeOptions options;
  options.apply_exif_orientation = false;
  const DecodedImage d =
      decode_ok(with_exif_orientation(encode_jpeg(make_quadrants()), 6, /*little_endian=*/true), options);
  ASSERT_EQ(d.image.width, 64);
  ASSERT_EQ(d.image.height, 32);
  EXPECT_EQ(d.original_width, 64);
  expect_near_pixel(d.image, 8, 8, kRed, kJpegTolerance);
}

TEST(ImageExif, DownscaleMinimumAppliesToTheUprightImage) {
  const Bytes jpeg =
      with_exif_orientation(encode_jpeg(make_gradient(1600, 1200), 85, TJSAMP_420), 6, /*little_endian=*/true);
  DecodeOptions options;
  options.min_width = 240;
  options.min_height = 320;
  const DecodedImage d = decode_ok(jpeg, options);
  EXPECT_EQ(d.image.width, 300);
  EXPECT_EQ(d.image.height, 400);
  EXPECT_EQ(d.original_width, 1200);
  EXPECT_EQ(d.original_height, 1600);
  EXPECT_EQ(d.scale, 0.25);
}

TEST(ImageExif, AllEightOrientationsOnA3x2Image) {
  // Stored image:  a b c
  //                d e f      (pixel value = letter index, in all three channels)
  const char* expected[9] = {nullptr,    "abc/def",  "cba/fed",  "fed/cba", "def/abc",  // 1..4
                             "ad/be/cf", "da/eb/fc", "fc/eb/da", "cf/be/ad"};           // 5..8
  for (int orientation = 1; orientation <= 8; ++orientation) {
    Image img = make_image(3, 2);
    for (size_t i = 0; i < 6; ++i) std::memset(img.pixels.data() + i * 3, static_cast<int>(i), 3);
    image::apply_orientation(img, orientation);
    std::string got;
    for (int y = 0; y < img.height; ++y) {
      if (y > 0) got += '/';
      for (int x = 0; x < img.width; ++x) got += static_cast<char>('a' + pixel_at(img, x, y)[0]);
    }
    EXPECT_EQ(got, expected[orientation]) << "orientation " << orientation;
  }
}

TEST(ImageExif, MalformedExifIsIgnoredSafely) {
  // TIFF headers that lie about offsets and counts read as orientation 1, never out of bounds.
  const std::vector<Bytes> cases = {
      {},
      {'I', 'I'},
      {'I', 'I', 42, 0, 8, 0, 0, 0},                                                  // IFD past the end
      {'I', 'I', 42, 0, 0xFF, 0xFF, 0xFF, 0xFF},                                      // offset near 4 GiB
      {'M', 'M', 0, 42, 0, 0, 0, 8, 0xFF, 0xFF},                                      // 65535 entries, none present
      {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0},                          // entry cut short
      {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0},  // value 9
      {'X', 'X', 42, 0, 8, 0, 0, 0},
  };
  for (const Bytes& tiff : cases) EXPECT_EQ(image::parse_exif_orientation(tiff), 1);
  const Bytes good = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 5, 0, 0, 0};
  EXPECT_EQ(image::parse_exif_orientation(good), 5);

  // Random Exif payloads inside a real JPEG: decoding always succeeds at the stored or swapped
  // size.
  std::mt19937 rng(7);
  const Bytes base = encode_jpeg(make_quadrants());
  for (int i = 0; i < 200; ++i) {
    Bytes jpeg = with_exif_orientation(base, 1 + i % 8, i % 2 == 0);
    for (int k = 0; k < 4; ++k) jpeg[4 + 6 + rng() % 30] = static_cast<uint8_t>(rng());
    const DecodedImage d = decode_ok(jpeg);
    EXPECT_TRUE((d.image.width == 64 && d.image.height == 32) || (d.image.width == 32 && d.image.height == 64));
  }
}

TEST(ImageJpeg, TruncatedSyntheticJpegIsRefused) {
  const Bytes jpeg = encode_jpeg(make_pattern(256, 256), 90);
  expect_refused(std::span(jpeg).first(jpeg.size() / 2), StatusCode::kInvalidArgument);
  expect_refused(std::span(jpeg).first(jpeg.size() - 2), StatusCode::kInvalidArgument);  // no EOI
  expect_refused(std::span(jpeg).first(200), StatusCode::kInvalidArgument);
  expect_refused(std::span(jpeg).first(3), StatusCode::kInvalidArgument);
}

TEST(ImageJpeg, ZeroSizeJpegIsRefused) {
  Bytes jpeg = encode_jpeg(make_pattern(16, 16));
  // SOF0 payload: length(2) precision(1) height(2) width(2).
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 7] = 0;
      jpeg[i + 8] = 0;  // width 0
      break;
    }
  }
  expect_refused(jpeg, StatusCode::kInvalidArgument);
  EXPECT_EQ(read_image_header(jpeg).status().code(), StatusCode::kInvalidArgument);
}

// Offset of the first marker `code` (0xFF code) in a JPEG, or 0.
size_t find_marker(const Bytes& jpeg, uint8_t code) {
  for (size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == code) return i;
  }
  return 0;
}

TEST(ImageJpeg, ExtraneousBytesBeforeAMarkerAreTolerated) {
  // libjpeg warns ("Corrupt JPEG data: 2 extraneous bytes before marker 0xdb") even while
  // reading the header, and decodes the image in full: common in camera files.
  const Bytes clean = encode_jpeg(make_gradient(48, 32));
  Bytes junk = clean;
  const size_t dqt = find_marker(junk, 0xDB);
  ASSERT_GT(dqt, 0u);
  junk.insert(junk.begin() + static_cast<std::ptrdiff_t>(dqt), {0x12, 0x34});
  StatusOr<ImageHeader> header = read_image_header(junk);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->width, 48);
  expect_same_pixels(decode_ok(junk).image, decode_ok(clean).image);
}

// Offset of the first byte of entropy-coded data (after the SOS segment).
size_t scan_data_start(const Bytes& jpeg) {
  const size_t sos = find_marker(jpeg, 0xDA);
  if (sos == 0) return 0;
  return sos + 2 + (static_cast<size_t>(jpeg[sos + 2]) << 8 | jpeg[sos + 3]);
}

// A 96x64 gradient with 40 bytes of junk inserted in the middle of its image data, as a broken
// upload or a bad copy leaves it: libjpeg warns ("Corrupt JPEG data: ...") and, left alone,
// decodes on into garbage.
Bytes jpeg_with_corrupt_data() {
  Bytes jpeg = encode_jpeg(make_gradient(96, 64), 90);
  const size_t start = scan_data_start(jpeg), eoi = jpeg.size() - 2;
  EXPECT_GT(start, 0u);
  const size_t mid = start + (eoi - start) / 2;
  Bytes junk(40);
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(0x11 * (i % 13) + 1);  // no 0xFF
  jpeg.insert(jpeg.begin() + static_cast<std::ptrdiff_t>(mid), junk.begin(), junk.end());
  return jpeg;
}

TEST(ImageJpegWarnings, CorruptImageDataIsRefusedByDefault) {
  const Bytes jpeg = jpeg_with_corrupt_data();
  StatusOr<DecodedImage> d = decode_image(jpeg, {});
  ASSERT_FALSE(d.ok()) << "a JPEG with damaged image data decoded";
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("Corrupt JPEG data"), std::string::npos) << d.status().message();
  DecodeOptions all;
  all.jpeg_warnings = JpegWarnings::kAll;
  EXPECT_EQ(decode_image(jpeg, all).status().code(), StatusCode::kInvalidArgument);
  // Lenient: decoded as libjpeg can (the old behaviour), the full size, differing from the clean
  // image where the junk went in.
  DecodeOptions lenient;
  lenient.jpeg_warnings = JpegWarnings::kLenient;
  const DecodedImage damaged = decode_ok(jpeg, lenient);
  EXPECT_EQ(damaged.image.width, 96);
  EXPECT_EQ(damaged.image.height, 64);
  const DecodedImage clean = decode_ok(encode_jpeg(make_gradient(96, 64), 90));
  EXPECT_NE(damaged.image.pixels, clean.image.pixels);
}

TEST(ImageJpegWarnings, FlippedBytesInImageDataAreRefused) {
  // Every single-byte change of the image data that libjpeg warns about is refused in strict mode
  // and decodes in lenient mode; a change it cannot tell from data is decoded either way.
  const Bytes clean = encode_jpeg(make_gradient(64, 48), 90);
  const size_t start = scan_data_start(clean), eoi = clean.size() - 2;
  DecodeOptions lenient;
  lenient.jpeg_warnings = JpegWarnings::kLenient;
  int refused = 0;
  for (size_t i = start; i < eoi; i += 3) {
    Bytes b = clean;
    b[i] = static_cast<uint8_t>(b[i] ^ 0x5A);
    if (b[i] == 0xFF || (i > 0 && b[i - 1] == 0xFF)) continue;  // no new markers or stuffing
    StatusOr<DecodedImage> strict = decode_image(b, {});
    if (!strict.ok()) {
      ++refused;
      EXPECT_NE(strict.status().message().find("Corrupt JPEG data"), std::string::npos) << strict.status().message();
      EXPECT_TRUE(decode_image(b, lenient).ok()) << "byte " << i;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(ImageJpegWarnings, MetadataWarningsDecodeInStrictMode) {
  // An unknown JFIF major version (2) is a warning about metadata only: decoded (same pixels) in
  // strict mode, refused only when every warning is.
  const Bytes clean = encode_jpeg(make_gradient(48, 32));
  Bytes jfif = clean;
  const size_t app0 = find_marker(jfif, 0xE0);
  ASSERT_GT(app0, 0u);
  ASSERT_EQ(std::memcmp(&jfif[app0 + 4], "JFIF", 5), 0);
  jfif[app0 + 9] = 2;  // major version
  expect_same_pixels(decode_ok(jfif).image, decode_ok(clean).image);
  DecodeOptions all;
  all.jpeg_warnings = JpegWarnings::kAll;
  EXPECT_EQ(decode_image(jfif, all).status().code(), StatusCode::kInvalidArgument);
}

TEST(ImageJpegWarnings, NamesParseAndRoundTrip) {
  for (JpegWarnings w : {JpegWarnings::kStrict, JpegWarnings::kAll, JpegWarnings::kLenient}) {
    auto parsed = parse_jpeg_warnings(jpeg_warnings_name(w));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, w);
  }
  auto bad = parse_jpeg_warnings("relaxed");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("lenient"), std::string::npos);
}

TEST(ImageRealFiles, EveryPhotoDecodesInStrictMode) {
  // The default (strict) refuses damaged data only: every photo of ../shared/data/faces decodes.
  FACELENS_REQUIRE_DATA();
  int n_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data_file(""))) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".webp" && ext != ".bmp") continue;
    ++n_files;
    StatusOr<Bytes> bytes = read_file_bytes(entry.path().string(), 64 << 20);
    ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
    StatusOr<DecodedImage> decoded = decode_image(*bytes, {});
    EXPECT_TRUE(decoded.ok()) << entry.path() << ": " << decoded.status().to_string();
  }
  EXPECT_GE(n_files, 70);
}

TEST(ImageJpeg, SubsamplingOutsideTurboJpegsListStillDecodes) {
  // Sampling factors Y 2x2, Cb 1x1, Cr 1x2: libjpeg decodes that (here the block order no longer
  // matches the data, so the pixels are scrambled, with "Corrupt JPEG data" warnings, which only
  // the lenient mode accepts), but
  // libjpeg-turbo 2.1's tjDecompressHeader3 cannot name the subsampling and fails: the size must
  // come from the SOF marker instead.
  const Bytes clean = encode_jpeg(make_gradient(32, 32), 90, TJSAMP_444);
  Bytes odd = clean;
  const size_t sof = find_marker(odd, 0xC0);
  ASSERT_GT(sof, 0u);
  ASSERT_EQ(odd[sof + 9], 3);  // three components: id, sampling, table each
  odd[sof + 11] = 0x22;
  odd[sof + 14] = 0x11;
  odd[sof + 17] = 0x12;
  tjhandle handle = tjInitDecompress();
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  EXPECT_NE(tjDecompressHeader3(handle, odd.data(), odd.size(), &w, &h, &subsamp, &colorspace), 0);
  EXPECT_NE(std::string(tjGetErrorStr2(handle)).find("subsampling"), std::string::npos);
  tjDestroy(handle);

  StatusOr<ImageHeader> header = read_image_header(odd);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->width, 32);
  EXPECT_EQ(header->height, 32);
  // The scrambled data warns: refused by default (strict), decoded at its size when lenient.
  EXPECT_NE(decode_image(odd, {}).status().message().find("Corrupt JPEG data"), std::string::npos);
  DecodeOptions lenient;
  lenient.jpeg_warnings = JpegWarnings::kLenient;
  const DecodedImage d = decode_ok(odd, lenient);
  EXPECT_EQ(d.image.width, 32);
  EXPECT_EQ(d.image.height, 32);
}

// ---------------------------------------------------------------------------------------------
// PNG

TEST(ImagePng, WritePngRoundTripIsExact) {
  const Image img = make_pattern(37, 23);
  const std::string path = temp_path("roundtrip.png");
  ASSERT_TRUE(write_png(img, path).ok());
  StatusOr<DecodedImage> decoded = decode_image_file(path, {});
  std::filesystem::remove(path);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->format, ImageFormat::kPng);
  expect_same_pixels(decoded->image, img);
}

TEST(ImagePng, WritePngRefusesBadInput) {
  Image empty;
  EXPECT_EQ(write_png(empty, temp_path("empty.png")).code(), StatusCode::kInvalidArgument);
  Image inconsistent = make_image(4, 4);
  inconsistent.pixels.resize(10);
  EXPECT_EQ(write_png(inconsistent, temp_path("bad.png")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write_png(make_pattern(4, 4), "/nonexistent_dir_facelens/x.png").code(), StatusCode::kNotFound);
}

// Expected RGB of a spec's pixel i given how the decoder maps samples to 8 bits.
Image expected_rgb(const PngSpec& spec) {
  Image img = make_image(spec.width, spec.height);
  const int ch = spec.channels();
  auto to8 = [&](uint16_t v) -> uint8_t {
    switch (spec.bit_depth) {
      case 16: return static_cast<uint8_t>((v * 255u + 32895u) >> 16);
      case 8: return static_cast<uint8_t>(v);
      default: return static_cast<uint8_t>(v * 255 / ((1 << spec.bit_depth) - 1));
    }
  };
  for (size_t i = 0; i < static_cast<size_t>(spec.width) * spec.height; ++i) {
    const uint16_t* s = spec.samples.data() + i * ch;
    uint8_t* p = img.pixels.data() + i * 3;
    if (spec.color_type == 3) {
      p[0] = spec.plte[s[0] * 3];
      p[1] = spec.plte[s[0] * 3 + 1];
      p[2] = spec.plte[s[0] * 3 + 2];
    } else if (ch <= 2) {
      p[0] = p[1] = p[2] = to8(s[0]);
    } else {
      p[0] = to8(s[0]);
      p[1] = to8(s[1]);
      p[2] = to8(s[2]);
    }
  }
  return img;
}

PngSpec png_spec(int width, int height, int bit_depth, int color_type, uint32_t seed) {
  PngSpec spec;
  spec.width = width;
  spec.height = height;
  spec.bit_depth = bit_depth;
  spec.color_type = color_type;
  std::mt19937 rng(seed);
  const uint32_t max = color_type == 3 ? 5 : (1u << bit_depth) - 1;  // palette: 6 entries
  spec.samples.resize(static_cast<size_t>(width) * height * spec.channels());
  for (auto& s : spec.samples) s = static_cast<uint16_t>(rng() % (max + 1));
  if (color_type == 3) {
    spec.plte = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 1, 2, 3};
  }
  return spec;
}

TEST(ImagePng, EveryColourTypeAndDepthDecodesToRgb) {
  struct Case {
    int bit_depth, color_type;
    bool interlaced;
    bool trns;
  };
  const Case cases[] = {
      {8, 2, false, false},  {16, 2, false, false}, {8, 6, false, false}, {16, 6, false, false}, {8, 0, false, false},
      {16, 0, false, false}, {1, 0, false, false},  {2, 0, false, false}, {4, 0, false, false},  {8, 4, false, false},
      {16, 4, false, false}, {8, 3, false, false},  {4, 3, false, false}, {8, 3, false, true},   {8, 2, false, true},
      {8, 0, false, true},   {8, 2, true, false},   {1, 0, true, false},  {8, 3, true, true},    {16, 6, true, false},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    PngSpec spec = png_spec(13, 11, c.bit_depth, c.color_type, seed++);
    spec.interlaced = c.interlaced;
    if (c.trns) {
      if (c.color_type == 3) spec.trns = {0, 128, 255};
      if (c.color_type == 2) spec.trns = {0, 0, 0, 0, 0, 0};
      if (c.color_type == 0) spec.trns = {0, 0};
    }
    SCOPED_TRACE("bit depth " + std::to_string(c.bit_depth) + ", colour type " + std::to_string(c.color_type) +
                 (c.interlaced ? ", interlaced" : "") + (c.trns ? ", tRNS" : ""));
    const DecodedImage d = decode_ok(make_png(spec));
    EXPECT_EQ(d.format, ImageFormat::kPng);
    expect_same_pixels(d.image, expected_rgb(spec));
  }
}

TEST(ImagePng, SixteenBitScalesToNearestEightBit) {
  PngSpec spec = png_spec(4, 1, 16, 0, 3);
  spec.samples = {0, 257 * 200, 65535, 257 * 17 + 100};
  const DecodedImage d = decode_ok(make_png(spec));
  ASSERT_EQ(d.image.width, 4);
  EXPECT_EQ(pixel_at(d.image, 0, 0)[0], 0);
  EXPECT_EQ(pixel_at(d.image, 1, 0)[0], 200);
  EXPECT_EQ(pixel_at(d.image, 2, 0)[0], 255);
  EXPECT_EQ(pixel_at(d.image, 3, 0)[0], 17);
}

TEST(ImagePng, HugeIhdrIsReadButNotDecoded) {
  const Bytes png = png_header_only(65535, 65535);
  StatusOr<ImageHeader> header = read_image_header(png);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  EXPECT_EQ(header->format, ImageFormat::kPng);
  EXPECT_EQ(header->width, 65535);
  EXPECT_EQ(header->height, 65535);
  expect_refused(png, StatusCode::kOutOfRange);
  StatusOr<DecodedImage> decoded = decode_image(png, {});
  EXPECT_NE(decoded.status().message().find("65535x65535"), std::string::npos);
  EXPECT_NE(decoded.status().message().find("max_pixels"), std::string::npos);
  // Within the pixel limit, the missing image data is found without a huge allocation.
  const Bytes medium = png_header_only(4000, 3000);
  expect_refused(medium, StatusCode::kInvalidArgument);
}

TEST(ImagePng, MalformedPngsAreRefused) {
  expect_refused(png_header_only(0, 10), StatusCode::kInvalidArgument);
  expect_refused(png_header_only(10, 0), StatusCode::kInvalidArgument);
  EXPECT_FALSE(read_image_header(png_header_only(0, 10)).ok());
  expect_refused(png_header_only(0x80000000u, 1), StatusCode::kInvalidArgument);

  const Bytes good = make_png(png_spec(20, 20, 8, 2, 9));
  ASSERT_TRUE(decode_image(good, {}).ok());
  expect_refused(std::span(good).first(good.size() / 2), StatusCode::kInvalidArgument);
  expect_refused(std::span(good).first(good.size() - 12), StatusCode::kInvalidArgument);  // no IEND
  expect_refused(std::span(good).first(30), StatusCode::kInvalidArgument);

  Bytes bad_crc = good;
  bad_crc[bad_crc.size() - 20] ^= 0x55;  // inside IDAT: its CRC no longer matches
  expect_refused(bad_crc, StatusCode::kInvalidArgument);

  std::mt19937 rng(42);
  Bytes random = kPngSignature;
  for (int i = 0; i < 4000; ++i) random.push_back(static_cast<uint8_t>(rng()));
  expect_refused(random, StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// BMP

TEST(ImageBmp, Uncompressed24BitBottomUpAndTopDownAreExact) {
  const Image img = make_pattern(13, 7);  // 39-byte rows: padded to 40
  for (bool top_down : {false, true}) {
    const DecodedImage d = decode_ok(make_bmp24(img, top_down));
    EXPECT_EQ(d.format, ImageFormat::kBmp);
    expect_same_pixels(d.image, img);
    StatusOr<ImageHeader> header = read_image_header(make_bmp24(img, top_down));
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header->width, 13);
    EXPECT_EQ(header->height, 7);
  }
}

TEST(ImageBmp, ThirtyTwoBitRgbAndBitfieldsAreExact) {
  const Image img = make_pattern(9, 5);
  BmpSpec rgb;
  rgb.width = 9;
  rgb.height = 5;
  rgb.bpp = 32;
  expect_same_pixels(decode_ok(make_bmp(rgb,
                                        [&](int y, Bytes& row) {
                                          for (int x = 0; x < 9; ++x) {
                                            const auto p = pixel_at(img, x, y);
                                            row.insert(row.end(),
                                                       {static_cast<uint8_t>(p[2]), static_cast<uint8_t>(p[1]),
                                                        static_cast<uint8_t>(p[0]), 0});
                                          }
                                        }))
                         .image,
                     img);

  BmpSpec fields;  // R in the low byte, then G, then B, alpha on top (RGBA byte order)
  fields.width = 9;
  fields.height = -5;
  fields.bpp = 32;
  fields.compression = 3;
  fields.masks[0] = 0x000000FF;
  fields.masks[1] = 0x0000FF00;
  fields.masks[2] = 0x00FF0000;
  expect_same_pixels(decode_ok(make_bmp(fields,
                                        [&](int y, Bytes& row) {
                                          for (int x = 0; x < 9; ++x) {
                                            const auto p = pixel_at(img, x, y);
                                            row.insert(row.end(),
                                                       {static_cast<uint8_t>(p[0]), static_cast<uint8_t>(p[1]),
                                                        static_cast<uint8_t>(p[2]), 0x80});
                                          }
                                        }))
                         .image,
                     img);
}

TEST(ImageBmp, SixteenBitAndPalettedDecode) {
  // 16-bit X1R5G5B5: 5-bit values scale to 0..255 (31 -> 255, 16 -> 132).
  BmpSpec spec16;
  spec16.width = 3;
  spec16.height = 1;
  spec16.bpp = 16;
  const DecodedImage d16 = decode_ok(make_bmp(spec16, [&](int, Bytes& row) {
    put_le16(row, 31u << 10);
    put_le16(row, 31u << 5);
    put_le16(row, (16u << 10) | 16u);
  }));
  ASSERT_EQ(d16.image.width, 3);
  EXPECT_EQ(pixel_at(d16.image, 0, 0), (std::array<int, 3>{255, 0, 0}));
  EXPECT_EQ(pixel_at(d16.image, 1, 0), (std::array<int, 3>{0, 255, 0}));
  EXPECT_EQ(pixel_at(d16.image, 2, 0), (std::array<int, 3>{132, 0, 132}));

  // 8-bit palette of 3 colours (BGRX), index 7 is past it and reads black.
  BmpSpec spec8;
  spec8.width = 5;
  spec8.height = 2;
  spec8.bpp = 8;
  spec8.n_colors = 3;
  spec8.palette = {0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0};
  const DecodedImage d8 = decode_ok(make_bmp(spec8, [&](int y, Bytes& row) {
    row.insert(row.end(), {0, 1, 2, static_cast<uint8_t>(y), 7});
  }));
  ASSERT_EQ(d8.image.width, 5);
  ASSERT_EQ(d8.image.height, 2);
  EXPECT_EQ(pixel_at(d8.image, 0, 0), kRed);
  EXPECT_EQ(pixel_at(d8.image, 1, 0), kGreen);
  EXPECT_EQ(pixel_at(d8.image, 2, 0), kBlue);
  EXPECT_EQ(pixel_at(d8.image, 3, 0), kRed);
  EXPECT_EQ(pixel_at(d8.image, 3, 1), kGreen);
  EXPECT_EQ(pixel_at(d8.image, 4, 1), (std::array<int, 3>{0, 0, 0}));

  // 1-bit, width 11 (not a multiple of 8): a checkerboard of black and white.
  BmpSpec spec1;
  spec1.width = 11;
  spec1.height = 3;
  spec1.bpp = 1;
  spec1.palette = {0, 0, 0, 0, 255, 255, 255, 0};
  const DecodedImage d1 = decode_ok(make_bmp(spec1, [&](int y, Bytes& row) {
    const uint8_t pattern = y % 2 == 0 ? 0xAA : 0x55;  // 1010... or 0101...
    row.insert(row.end(), {pattern, pattern});
  }));
  ASSERT_EQ(d1.image.width, 11);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 11; ++x) {
      const int v = ((x + y) % 2 == 0) ? 255 : 0;
      EXPECT_EQ(pixel_at(d1.image, x, y), (std::array<int, 3>{v, v, v})) << x << "," << y;
    }
  }
}

TEST(ImageBmp, MalformedBmpsAreRefused) {
  const Image img = make_pattern(8, 8);
  const Bytes good = make_bmp24(img, false);
  auto with_le32 = [&](size_t offset, uint32_t v) {
    Bytes b = good;
    for (int i = 0; i < 4; ++i) b[offset + i] = static_cast<uint8_t>(v >> (8 * i));
    return b;
  };
  expect_refused(with_le32(18, 0), StatusCode::kInvalidArgument);            // width 0
  expect_refused(with_le32(22, 0), StatusCode::kInvalidArgument);            // height 0
  expect_refused(with_le32(18, 0xFFFFFFF0u), StatusCode::kInvalidArgument);  // width -16
  expect_refused(with_le32(22, 0x80000000u), StatusCode::kInvalidArgument);  // height INT32_MIN
  EXPECT_FALSE(read_image_header(with_le32(18, 0)).ok());
  // A header claiming 100000 x 100000 with 200 bytes of data: over the limit, never allocated.
  Bytes huge = with_le32(18, 100000);
  for (int i = 0; i < 4; ++i) huge[22 + i] = static_cast<uint8_t>(100000u >> (8 * i));
  expect_refused(huge, StatusCode::kOutOfRange);
  // Within the limit but the pixel data is missing.
  Bytes big = with_le32(18, 5000);
  for (int i = 0; i < 4; ++i) big[22 + i] = static_cast<uint8_t>(5000u >> (8 * i));
  expect_refused(big, StatusCode::kInvalidArgument);
  expect_refused(std::span(good).first(good.size() - 1), StatusCode::kInvalidArgument);
  expect_refused(std::span(good).first(20), StatusCode::kInvalidArgument);
  expect_refused(with_le32(10, 0xFFFFFF00u), StatusCode::kInvalidArgument);  // data offset
  expect_refused(with_le32(14, 77), StatusCode::kInvalidArgument);           // header size
  expect_refused(with_le32(30, 1), StatusCode::kInvalidArgument);            // RLE8
  Bytes bpp7 = good;
  bpp7[28] = 7;
  expect_refused(bpp7, StatusCode::kInvalidArgument);
  // A palette bigger than 8-bit indices allow, and a 32-bit bit-field BMP with an empty mask.
  BmpSpec pal;
  pal.width = 2;
  pal.height = 2;
  pal.bpp = 8;
  pal.n_colors = 100000;
  expect_refused(make_bmp(pal, [](int, Bytes& row) { row = {0, 0}; }), StatusCode::kInvalidArgument);
  BmpSpec fields;
  fields.width = 2;
  fields.height = 2;
  fields.bpp = 32;
  fields.compression = 3;
  fields.masks[0] = 0xFF;
  fields.masks[1] = 0;
  fields.masks[2] = 0xF0F00000;
  expect_refused(make_bmp(fields, [](int, Bytes& row) { row.resize(8); }), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// WebP

TEST(ImageWebp, LosslessRoundTripIsExact) {
  const Image img = make_pattern(31, 17);
  uint8_t* out = nullptr;
  const size_t size = WebPEncodeLosslessRGB(img.pixels.data(), img.width, img.height, img.width * 3, &out);
  ASSERT_GT(size, 0u);
  const Bytes webp(out, out + size);
  WebPFree(out);
  const DecodedImage d = decode_ok(webp);
  EXPECT_EQ(d.format, ImageFormat::kWebp);
  expect_same_pixels(d.image, img);
  StatusOr<ImageHeader> header = read_image_header(webp);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->width, 31);
  EXPECT_EQ(header->height, 17);

  expect_refused(std::span(webp).first(webp.size() / 2), StatusCode::kInvalidArgument);
  expect_refused(std::span(webp).first(16), StatusCode::kInvalidArgument);
}

TEST(ImageWebp, AlphaIsDroppedAndColoursKept) {
  const Image img = make_pattern(10, 6);
  std::vector<uint8_t> rgba;
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    rgba.insert(rgba.end(), {img.pixels[i], img.pixels[i + 1], img.pixels[i + 2], 200});
  }
  uint8_t* out = nullptr;
  const size_t size = WebPEncodeLosslessRGBA(rgba.data(), 10, 6, 40, &out);
  ASSERT_GT(size, 0u);
  const Bytes webp(out, out + size);
  WebPFree(out);
  expect_same_pixels(decode_ok(webp).image, img);
}

TEST(ImageWebp, LossyRoundTripIsClose) {
  const Image img = make_gradient(64, 48);
  uint8_t* out = nullptr;
  const size_t size = WebPEncodeRGB(img.pixels.data(), 64, 48, 64 * 3, 95, &out);
  ASSERT_GT(size, 0u);
  const Bytes webp(out, out + size);
  WebPFree(out);
  const DecodedImage d = decode_ok(webp);
  ASSERT_EQ(d.image.width, 64);
  expect_near_pixel(d.image, 32, 24, pixel_at(img, 32, 24), 10);
}

// ---------------------------------------------------------------------------------------------
// Malformed input, limits, options and files

TEST(ImageMalformed, NonImagesAreRefused) {
  expect_refused({}, StatusCode::kInvalidArgument);
  const Bytes one = {0xFF};
  expect_refused(one, StatusCode::kInvalidArgument);
  const std::string text = "hello world";
  const Bytes hello(text.begin(), text.end());
  expect_refused(hello, StatusCode::kInvalidArgument);
  StatusOr<DecodedImage> decoded = decode_image(hello, {});
  EXPECT_NE(decoded.status().message().find("JPEG, PNG, WebP or BMP"), std::string::npos) << decoded.status().message();
  EXPECT_EQ(read_image_header({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read_image_header(hello).status().code(), StatusCode::kInvalidArgument);
  const Bytes riff = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
  expect_refused(riff, StatusCode::kInvalidArgument);
}

TEST(ImageMalformed, RandomBytesWithMagicAreRefused) {
  std::mt19937 rng(1234);
  const std::vector<Bytes> magics = {
      {0xFF, 0xD8, 0xFF}, {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10}, kPngSignature, {'B', 'M'}};
  for (const Bytes& magic : magics) {
    for (int trial = 0; trial < 20; ++trial) {
      Bytes bytes = magic;
      const size_t n = 1 + rng() % 5000;
      for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(rng()));
      const auto start = std::chrono::steady_clock::now();
      StatusOr<DecodedImage> decoded = decode_image(bytes, {});
      EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
      ASSERT_FALSE(decoded.ok());
      EXPECT_TRUE(decoded.status().code() == StatusCode::kInvalidArgument ||
                  decoded.status().code() == StatusCode::kOutOfRange)
          << decoded.status().to_string();
    }
  }
}

TEST(ImageMalformed, LimitsAreEnforcedBeforeDecoding) {
  const Bytes jpeg = encode_jpeg(make_pattern(100, 80));
  DecodeOptions options;
  options.max_bytes = static_cast<int64_t>(jpeg.size()) - 1;
  expect_refused(jpeg, StatusCode::kOutOfRange, options);
  options.max_bytes = static_cast<int64_t>(jpeg.size());
  EXPECT_TRUE(decode_image(jpeg, options).ok());

  options = {};
  options.max_pixels = 100 * 80 - 1;
  expect_refused(jpeg, StatusCode::kOutOfRange, options);
  options.max_pixels = 100 * 80;
  EXPECT_TRUE(decode_image(jpeg, options).ok());

  // The same limit holds for every format.
  DecodeOptions tiny;
  tiny.max_pixels = 10;
  expect_refused(make_bmp24(make_pattern(4, 4), false), StatusCode::kOutOfRange, tiny);
  expect_refused(make_png(png_spec(4, 4, 8, 2, 1)), StatusCode::kOutOfRange, tiny);
}

TEST(ImageMalformed, BadOptionsAreRefused) {
  const Bytes jpeg = encode_jpeg(make_pattern(8, 8));
  DecodeOptions options;
  options.max_pixels = 0;
  expect_refused(jpeg, StatusCode::kInvalidArgument, options);
  options = {};
  options.max_bytes = -1;
  expect_refused(jpeg, StatusCode::kInvalidArgument, options);
  options = {};
  options.min_width = -5;
  expect_refused(jpeg, StatusCode::kInvalidArgument, options);
}

// Random byte flips and cuts of valid files of every format: each decode returns (an image of
// consistent size or an error) without crashing, hanging or reading out of bounds.
TEST(ImageMalformed, MutatedFilesNeverCrash) {
  const Image img = make_pattern(40, 30);
  uint8_t* webp_out = nullptr;
  const size_t webp_size = WebPEncodeLosslessRGB(img.pixels.data(), img.width, img.height, img.width * 3, &webp_out);
  const Bytes webp(webp_out, webp_out + webp_size);
  WebPFree(webp_out);
  PngSpec palette = png_spec(40, 30, 4, 3, 5);
  palette.interlaced = true;
  const std::vector<Bytes> seeds = {
      encode_jpeg(img, 90, TJSAMP_420),
      with_exif_orientation(encode_jpeg(img, 80, TJSAMP_422), 6, true),
      make_png(png_spec(40, 30, 8, 6, 4)),
      make_png(palette),
      make_bmp24(img, true),
      webp,
  };
  DecodeOptions options;
  options.max_pixels = 1 << 20;  // keep garbage-size decodes small
  std::mt19937 rng(99);
  const char* names[] = {"jpeg 4:2:0", "jpeg 4:2:2 exif", "png rgba", "png palette interlaced", "bmp", "webp"};
  std::vector<int> n_ok(seeds.size(), 0), n_error(seeds.size(), 0), n_cut_ok(seeds.size(), 0);
  for (size_t s = 0; s < seeds.size(); ++s) {
    // The unmutated file decodes to the image that went in (size and orientation).
    const StatusOr<DecodedImage> original = decode_image(seeds[s], options);
    ASSERT_TRUE(original.ok()) << names[s] << ": " << original.status().to_string();
    const bool rotated = s == 1;  // EXIF orientation 6: a quarter turn
    EXPECT_EQ(original->image.width, rotated ? img.height : img.width) << names[s];
    EXPECT_EQ(original->image.height, rotated ? img.width : img.height) << names[s];
    for (int trial = 0; trial < 150; ++trial) {
      Bytes bytes = seeds[s];
      const int n_flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < n_flips; ++i) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      if (trial % 3 == 0) bytes.resize(1 + rng() % bytes.size());
      const bool cut = bytes.size() < seeds[s].size();
      StatusOr<DecodedImage> decoded = decode_image(bytes, options);
      (void)read_image_header(bytes);
      // The same bytes decode the same way again (no uninitialised memory, no hidden state).
      StatusOr<DecodedImage> again = decode_image(bytes, options);
      ASSERT_EQ(again.ok(), decoded.ok()) << names[s] << " trial " << trial;
      if (decoded.ok()) {
        ++n_ok[s];
        if (cut) ++n_cut_ok[s];
        const Image& out = decoded->image;
        ASSERT_GT(out.width, 0);
        ASSERT_GT(out.height, 0);
        ASSERT_LE(static_cast<int64_t>(out.width) * out.height, options.max_pixels);
        ASSERT_EQ(out.pixels.size(), static_cast<size_t>(out.width) * out.height * 3);
        ASSERT_EQ(again->image.width, out.width);
        ASSERT_EQ(again->image.height, out.height);
        ASSERT_EQ(again->image.pixels, out.pixels) << names[s] << " trial " << trial;
      } else {
        ++n_error[s];
        const StatusCode code = decoded.status().code();
        EXPECT_TRUE(code == StatusCode::kInvalidArgument || code == StatusCode::kOutOfRange)
            << decoded.status().to_string();
        EXPECT_EQ(again.status().code(), code);
      }
    }
    std::cout << "[ values   ] " << names[s] << ": " << n_ok[s] << " decoded (" << n_cut_ok[s] << " cut), "
              << n_error[s] << " refused\n";
  }
  for (size_t s = 0; s < seeds.size(); ++s) {
    // Every format refuses some of its damaged files, and none that was cut short (a missing end
    // is refused, never filled in; for JPEG see decode.cpp's "truncated" rule).
    EXPECT_GT(n_error[s], 0) << names[s];
    EXPECT_EQ(n_cut_ok[s], 0) << names[s];
  }
  // Formats without checksums still decode damage that leaves a well-formed stream: the decoder
  // refuses what is broken, not everything that changed (PNG's chunk CRCs refuse every flip here).
  for (size_t s : {0, 1, 4, 5}) EXPECT_GT(n_ok[s], 0) << names[s];
}

TEST(ImageFiles, ReadFileBytes) {
  const std::string path = temp_path("bytes.bin");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite("0123456789", 1, 10, f);
    std::fclose(f);
  }
  StatusOr<Bytes> bytes = read_file_bytes(path, 10);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "0123456789");
  EXPECT_EQ(read_file_bytes(path, 9).status().code(), StatusCode::kOutOfRange);
  StatusOr<DecodedImage> decoded = decode_image_file(path, {});
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find(path), std::string::npos);
  std::filesystem::remove(path);
  EXPECT_EQ(read_file_bytes(path, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(decode_image_file(path, {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(read_file_bytes(std::filesystem::temp_directory_path().string(), 10).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ImageFiles, FormatNames) {
  EXPECT_STREQ(image_format_name(ImageFormat::kJpeg), "jpeg");
  EXPECT_STREQ(image_format_name(ImageFormat::kPng), "png");
  EXPECT_STREQ(image_format_name(ImageFormat::kWebp), "webp");
  EXPECT_STREQ(image_format_name(ImageFormat::kBmp), "bmp");
  EXPECT_STREQ(image_format_name(ImageFormat::kUnknown), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Drawing

int count_colour(const Image& img, std::array<int, 3> c) {
  int n = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) n += pixel_at(img, x, y) == c;
  }
  return n;
}

TEST(ImageDraw, BoxOutlinesInRgbOrder) {
  Image img = make_image(100, 80);
  image::draw_box(img, Box{10, 20, 60, 50}, {255, 0, 0}, 2);
  EXPECT_EQ(pixel_at(img, 10, 20), kRed);                           // corner
  EXPECT_EQ(pixel_at(img, 35, 20), kRed);                           // top edge
  EXPECT_EQ(pixel_at(img, 60, 35), kRed);                           // right edge
  EXPECT_EQ(pixel_at(img, 35, 35), (std::array<int, 3>{0, 0, 0}));  // inside stays
  EXPECT_EQ(pixel_at(img, 5, 5), (std::array<int, 3>{0, 0, 0}));
  // Partly outside, wildly outside, NaN, absurd thickness: clipped or ignored.
  image::draw_box(img, Box{-50, -50, 20, 200}, {0, 255, 0}, 1);
  EXPECT_EQ(pixel_at(img, 20, 70), kGreen);
  image::draw_box(img, Box{-1e30f, 1e30f, 1e30f, -1e30f}, {0, 0, 255}, 1000000);
  image::draw_box(img, Box{std::nanf(""), 0, 10, 10}, {0, 0, 255}, 1);
  Image empty;
  image::draw_box(empty, Box{0, 0, 10, 10}, {0, 0, 255}, 1);
  EXPECT_TRUE(empty.pixels.empty());
}

TEST(ImageDraw, PointIsAFilledDisc) {
  Image img = make_image(50, 50);
  image::draw_point(img, Point{25, 25}, {0, 0, 255}, 3);
  EXPECT_EQ(pixel_at(img, 25, 25), kBlue);
  EXPECT_EQ(pixel_at(img, 27, 25), kBlue);
  EXPECT_EQ(pixel_at(img, 25, 30), (std::array<int, 3>{0, 0, 0}));
  const int n = count_colour(img, kBlue);
  EXPECT_GT(n, 20);
  EXPECT_LT(n, 40);
  image::draw_point(img, Point{-100, 1e9f}, {0, 0, 255}, -4);
  image::draw_point(img, Point{0, 0}, {0, 255, 0}, 1 << 30);
  EXPECT_EQ(count_colour(img, kGreen), 50 * 50);
}

TEST(ImageDraw, LabelStartsAtItsTopLeftCorner) {
  Image img = make_image(200, 60);
  image::draw_label(img, Point{20, 20}, "Obama 0.98", {255, 255, 255});
  int n_changed = 0, n_outside = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      if (pixel_at(img, x, y) == std::array<int, 3>{0, 0, 0}) continue;
      ++n_changed;
      n_outside += x < 18 || y < 18;
    }
  }
  EXPECT_GT(n_changed, 50);
  EXPECT_EQ(n_outside, 0);
  image::draw_label(img, Point{1e20f, -1e20f}, "off image", {255, 0, 0});
  image::draw_label(img, Point{0, 0}, "", {255, 0, 0});
  EXPECT_EQ(count_colour(img, kRed), 0);
}

// Planar tensors and crops for the models (src/image/tensor.h).

TEST(Tensor, PlanarNormalisationAndColourOrder) {
  Image img;
  img.width = 2;
  img.height = 1;
  img.pixels = {255, 0, 127, 1, 2, 3};
  image::Normalization rgb{image::ChannelOrder::kRGB, {127, 127, 127}, {128, 128, 128}};
  std::vector<float> out(6);
  image::to_planar(img, rgb, out.data());
  EXPECT_FLOAT_EQ(out[0], 1.0f);            // R of pixel 0
  EXPECT_FLOAT_EQ(out[2], -127.f / 128.f);  // G of pixel 0
  EXPECT_FLOAT_EQ(out[4], 0.f);             // B of pixel 0
  image::Normalization bgr{image::ChannelOrder::kBGR, {0, 0, 0}, {1, 1, 1}};
  image::to_planar(img, bgr, out.data());
  EXPECT_FLOAT_EQ(out[0], 127.f);  // first plane is B
  EXPECT_FLOAT_EQ(out[1], 3.f);
  EXPECT_FLOAT_EQ(out[4], 255.f);  // last plane is R
  image::Normalization gray{image::ChannelOrder::kGray, {0, 0, 0}, {256, 1, 1}};
  image::to_planar(img, gray, out.data());
  EXPECT_NEAR(out[0], std::nearbyint(0.299f * 255 + 0.114f * 127) / 256.f, 1e-6);
}

TEST(Tensor, CropResizeClipsAndScales) {
  Image img;
  img.width = 4;
  img.height = 4;
  img.pixels.assign(4 * 4 * 3, 10);
  std::vector<float> out(3 * 8 * 8, -1);
  image::crop_resize_planar(img, -2, -2, 4, 4, 8, 8, {}, out.data());  // clipped to the 2x2 corner
  for (float v : out) EXPECT_FLOAT_EQ(v, 10.f);
  image::crop_resize_planar(img, 10, 10, 4, 4, 8, 8, {}, out.data());  // fully outside -> zeros
  for (float v : out) EXPECT_FLOAT_EQ(v, 0.f);
}

TEST(Liveness, ScaledCropStaysInside) {
  auto r = image::scaled_crop({100, 100, 200, 200}, 2.7f, 1000, 1000);
  EXPECT_EQ(r.w, 270);
  EXPECT_EQ(r.x, 15);  // centre 150 - 135
  auto edge = image::scaled_crop({0, 0, 100, 100}, 2.7f, 1000, 1000);
  EXPECT_EQ(edge.x, 0);
  EXPECT_EQ(edge.y, 0);
  EXPECT_EQ(edge.w, 270);
  auto big = image::scaled_crop({10, 10, 90, 90}, 4.0f, 100, 100);  // scale limited by the image
  EXPECT_LE(big.x + big.w, 100);
  EXPECT_GE(big.x, 0);
}

}  // namespace
}  // namespace facelens

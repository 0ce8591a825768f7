// Writes the seed corpus of a fuzz target into OUT_DIR (a target without seeds here starts from
// an empty input). image_decode:
//   - tiny images made here, one per decoder path: JPEG (4:4:4, 4:2:0, 4:2:2, grey, CMYK,
//     progressive, with an EXIF orientation, baseline and progressive with a restart marker every
//     row of MCUs, which decode in stripes), PNG (RGB, RGBA, grey, grey+alpha, 16-bit, palette),
//     BMP (24-bit bottom-up, 32-bit top-down, 8-bit palette), WebP (lossy, lossless with alpha);
//   - with DATA_DIR (../shared/data), small versions of its photos: files up to 16 KiB copied as
//     they are, larger ones decoded, shrunk to at most 64 px and encoded again in their format.
//   facelens_fuzz_seeds TARGET OUT_DIR [DATA_DIR]
// A new target's seeds: one function below and one line in main's table.
#include <png.h>
#include <turbojpeg.h>
// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
// clang-format on
#include <webp/encode.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "facelens/image.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write(const fs::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// width x height x channels, a gradient with some structure.
Bytes pattern(int w, int h, int channels) {
  Bytes px(static_cast<size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        px[(static_cast<size_t>(y) * w + x) * channels + c] =
            static_cast<uint8_t>((x * 37 + y * 11 + c * 80) ^ (x * y));
  return px;
}

Bytes jpeg(const Bytes& px, int w, int h, int pixel_format, int subsamp, int flags) {
  tjhandle t = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  Bytes b;
  if (tjCompress2(t, px.data(), w, 0, h, pixel_format, &out, &size, subsamp, 85, flags) == 0) b.assign(out, out + size);
  tjFree(out);
  tjDestroy(t);
  return b;
}

// 4:2:0 RGB through the libjpeg API, which writes restart markers (TurboJPEG does not): one every
// row of MCUs, so that the decoder's striped path applies. libjpeg's default error handler ends
// the program on an error; none is expected for these fixed inputs.
Bytes jpeg_with_restarts(const Bytes& rgb, int w, int h, bool progressive) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &out, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 85, TRUE);
  c.restart_in_rows = 1;
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(rgb.data() + static_cast<size_t>(c.next_scanline) * w * 3);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  Bytes b(out, out + size);
  std::free(out);
  return b;
}

// An APP1 Exif segment (big-endian TIFF) with Orientation = `orientation`, after SOI.
Bytes with_exif(const Bytes& j, int orientation) {
  const uint8_t app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
                          'M',  'M',  0,    42,   0,   0,   0,   8,   0, 1,
                          0x01, 0x12, 0,    3,    0,   0,   0,   1,   0, static_cast<uint8_t>(orientation),
                          0,    0,    0,    0,    0,   0};
  if (j.size() < 2) return j;
  Bytes b;
  b.reserve(j.size() + sizeof app1);
  b.push_back(j[0]);
  b.push_back(j[1]);
  for (uint8_t x : app1) b.push_back(x);
  for (size_t i = 2; i < j.size(); ++i) b.push_back(j[i]);
  return b;
}

Bytes png(const Bytes& px, int w, int h, png_uint_32 format, const Bytes& colormap = {}, int n_colors = 0) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = format;
  img.colormap_entries = static_cast<png_uint_32>(n_colors);
  png_alloc_size_t size = 0;
  const void* cmap = colormap.empty() ? nullptr : colormap.data();
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, cmap)) return {};
  Bytes b(size);
  if (!png_image_write_to_memory(&img, b.data(), &size, 0, px.data(), 0, cmap)) return {};
  b.resize(size);
  return b;
}

void le16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void le32(Bytes& b, uint32_t v) {
  le16(b, v & 0xFFFF);
  le16(b, v >> 16);
}

// A BMP: bits 24 (BGR, rows padded to 4 bytes), 32 (BGRX) or 8 (a 256-entry palette).
Bytes bmp(int w, int h, int bits, bool top_down) {
  const size_t stride = (static_cast<size_t>(w) * bits / 8 + 3) / 4 * 4;
  const uint32_t palette = bits == 8 ? 256 * 4 : 0;
  const uint32_t offset = 14 + 40 + palette;
  Bytes b;
  b.push_back('B');
  b.push_back('M');
  le32(b, offset + static_cast<uint32_t>(stride * h));
  le32(b, 0);
  le32(b, offset);
  le32(b, 40);
  le32(b, static_cast<uint32_t>(w));
  le32(b, static_cast<uint32_t>(top_down ? -h : h));
  le16(b, 1);
  le16(b, static_cast<uint32_t>(bits));
  le32(b, 0);
  le32(b, static_cast<uint32_t>(stride * h));
  le32(b, 2835);
  le32(b, 2835);
  le32(b, bits == 8 ? 256 : 0);
  le32(b, 0);
  for (uint32_t i = 0; i < palette / 4; ++i) le32(b, i * 0x010101u);
  const Bytes px = pattern(w, h, 4);
  for (int y = 0; y < h; ++y) {
    Bytes row(stride, 0);
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < bits / 8; ++c)
        row[static_cast<size_t>(x) * (bits / 8) + c] = px[(static_cast<size_t>(y) * w + x) * 4 + c];
    b.insert(b.end(), row.begin(), row.end());
  }
  return b;
}

Bytes webp(const Bytes& px, int w, int h, bool lossless_rgba) {
  uint8_t* out = nullptr;
  const size_t n = lossless_rgba ? WebPEncodeLosslessRGBA(px.data(), w, h, w * 4, &out)
                                 : WebPEncodeRGB(px.data(), w, h, w * 3, 80, &out);
  Bytes b(out, out + n);
  WebPFree(out);
  return b;
}

// Nearest-neighbour shrink to at most `side` pixels on the longer side.
facelens::Image shrink(const facelens::Image& in, int side) {
  const double s = std::min(1.0, static_cast<double>(side) / std::max(in.width, in.height));
  facelens::Image out;
  out.width = std::max(1, static_cast<int>(in.width * s));
  out.height = std::max(1, static_cast<int>(in.height * s));
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      const int sx = std::min(in.width - 1, static_cast<int>(x / s)),
                sy = std::min(in.height - 1, static_cast<int>(y / s));
      std::memcpy(&out.pixels[(static_cast<size_t>(y) * out.width + x) * 3],
                  &in.pixels[(static_cast<size_t>(sy) * in.width + sx) * 3], 3);
    }
  return out;
}

int from_data(const fs::path& data, const fs::path& out) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(data, ec)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".webp" && ext != ".bmp") continue;
    const std::string name = "data_" + std::to_string(n++) + "_" + e.path().filename().string();
    auto bytes = facelens::read_file_bytes(e.path().string(), 64 << 20);
    if (!bytes.ok()) continue;
    if (bytes->size() <= 16 * 1024) {
      write(out / name, *bytes);
      continue;
    }
    auto decoded = facelens::decode_image(*bytes, {});
    if (!decoded.ok()) continue;
    const facelens::Image small = shrink(decoded->image, 64);
    Bytes b;
    const int sw = small.width, sh = small.height;
    if (decoded->format == facelens::ImageFormat::kJpeg)
      b = jpeg(small.pixels, sw, sh, TJPF_RGB, TJSAMP_420, /*flags=*/0);
    else if (decoded->format == facelens::ImageFormat::kWebp) b = webp(small.pixels, sw, sh, /*lossless_rgba=*/false);
    else b = png(small.pixels, sw, sh, PNG_FORMAT_RGB);
    if (!b.empty()) write(out / name, b);
  }
  return n;
}

int image_decode_seeds(const fs::path& out, const char* data_dir) {
  const int w = 13, h = 9;
  const Bytes rgb = pattern(w, h, 3), rgba = pattern(w, h, 4), grey = pattern(w, h, 1), cmyk = pattern(w, h, 4);
  const Bytes grey16 = pattern(w, h, 2), ga = pattern(w, h, 2);
  write(out / "jpeg_444.jpg", jpeg(rgb, w, h, TJPF_RGB, TJSAMP_444, /*flags=*/0));
  write(out / "jpeg_420.jpg", jpeg(rgb, w, h, TJPF_RGB, TJSAMP_420, /*flags=*/0));
  write(out / "jpeg_422.jpg", jpeg(rgb, w, h, TJPF_RGB, TJSAMP_422, /*flags=*/0));
  write(out / "jpeg_grey.jpg", jpeg(grey, w, h, TJPF_GRAY, TJSAMP_GRAY, /*flags=*/0));
  write(out / "jpeg_cmyk.jpg", jpeg(cmyk, w, h, TJPF_CMYK, TJSAMP_444, /*flags=*/0));
  write(out / "jpeg_progressive.jpg", jpeg(rgb, w, h, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE));
  {
    // Three rows of 16x16 MCUs: a baseline file cuts at rows 1 and 2, a progressive one at row 1.
    const int rw = 40, rh = 40;
    const Bytes big = pattern(rw, rh, 3);
    write(out / "jpeg_restarts.jpg", jpeg_with_restarts(big, rw, rh, /*progressive=*/false));
    write(out / "jpeg_progressive_restarts.jpg", jpeg_with_restarts(big, rw, rh, /*progressive=*/true));
  }
  write(out / "jpeg_exif6.jpg", with_exif(jpeg(rgb, w, h, TJPF_RGB, TJSAMP_444, /*flags=*/0), 6));
  write(out / "png_rgb.png", png(rgb, w, h, PNG_FORMAT_RGB));
  write(out / "png_rgba.png", png(rgba, w, h, PNG_FORMAT_RGBA));
  write(out / "png_grey.png", png(grey, w, h, PNG_FORMAT_GRAY));
  write(out / "png_grey_alpha.png", png(ga, w, h, PNG_FORMAT_GA));
  write(out / "png_grey16.png", png(grey16, w, h, PNG_FORMAT_LINEAR_Y));
  Bytes index(static_cast<size_t>(w) * h), cmap(16 * 3);
  for (size_t i = 0; i < index.size(); ++i) index[i] = static_cast<uint8_t>(i % 16);
  for (size_t i = 0; i < cmap.size(); ++i) cmap[i] = static_cast<uint8_t>(i * 5);
  write(out / "png_palette.png", png(index, w, h, PNG_FORMAT_RGB_COLORMAP, cmap, 16));
  write(out / "bmp_24.bmp", bmp(w, h, 24, /*top_down=*/false));
  write(out / "bmp_32_top_down.bmp", bmp(w, h, 32, /*top_down=*/true));
  write(out / "bmp_8_palette.bmp", bmp(w, h, 8, /*top_down=*/false));
  write(out / "webp_lossy.webp", webp(rgb, w, h, /*lossless_rgba=*/false));
  write(out / "webp_lossless_alpha.webp", webp(rgba, w, h, /*lossless_rgba=*/true));
  int n_data = 0;
  if (data_dir && fs::is_directory(data_dir)) {
    n_data = from_data(data_dir, out);
  } else {
    std::printf("facelens_fuzz_seeds: no data folder%s%s: only the made-up seeds\n", data_dir ? " at " : " given",
                data_dir ? data_dir : "");
  }
  std::printf("facelens_fuzz_seeds: 18 made-up seeds and %d from the data folder in %s\n", n_data, out.c_str());
  return 0;
}

// HTTP requests as clients send them: plain, keep-alive pairs (pipelined), chunked, multipart,
// JSON, 100-continue. The parser's fuzz target cuts and mutates them.
int http_request_seeds(const fs::path& out, const char* /*data_dir*/) {
  const std::string multipart_body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n--XyZ\r\nContent-Disposition: form-data; "
      "name=\"top_k\"\r\n\r\n3\r\n--XyZ--\r\n";
  const std::string json_body = R"({"image":"/9j/2Q==","identity":"ada","metadata":{"a":[1,2,{"b":null}]}})";
  const std::pair<const char*, std::string> requests[] = {
      {"get.http", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"pipelined.http",
       "GET /ready HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models?x=%41&y HTTP/1.1\r\nHost: x\r\n"
       "Connection: close\r\n\r\n"},
      {"chunked.http",
       "POST /v1/detect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
       "Content-Type: image/jpeg\r\n\r\n4\r\n\xff\xd8\xff\xd9\r\n0;ext=1\r\nTrailer: t\r\n\r\n"},
      {"multipart.http",
       "POST /v1/embed HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
       "Content-Length: " +
           std::to_string(multipart_body.size()) + "\r\n\r\n" + multipart_body},
      {"json.http",
       "POST /v1/verify HTTP/1.0\r\nContent-Type: application/json\r\nX-Request-Id: r1\r\n"
       "Content-Length: " +
           std::to_string(json_body.size()) + "\r\n\r\n" + json_body},
      {"continue.http",
       "POST /v1/identities/ada/faces HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
       "X-API-Key: k\r\nContent-Length: 4\r\n\r\n\xff\xd8\xff\xd9"},
  };
  for (const auto& [name, bytes] : requests) write(out / name, Bytes(bytes.begin(), bytes.end()));
  std::printf("facelens_fuzz_seeds: %zu made-up requests in %s\n", std::size(requests), out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TARGET OUT_DIR [DATA_DIR]\n", argv[0]);
    return 2;
  }
  const std::string target = argv[1];
  const fs::path out = argv[2];
  const char* data = argc > 3 ? argv[3] : nullptr;
  fs::create_directories(out);
  struct Seeds {
    const char* target;
    int (*write)(const fs::path&, const char*);
  };
  static constexpr Seeds kSeeds[] = {
      {"image_decode", image_decode_seeds},
      {"http_request", http_request_seeds},
  };
  for (const auto& s : kSeeds)
    if (target == s.target) return s.write(out, data);
  std::printf("facelens_fuzz_seeds: no seeds for %s: it starts from an empty input\n", target.c_str());
  std::ofstream(out / "empty");
  return 0;
}

// facelens — decoded images and image decoding.
//
//   facelens::DecodeOptions opt;                 // 50 Mpx / 64 MiB limits, EXIF applied
//   auto img = facelens::decode_image(bytes, opt);  // bytes: std::span<const uint8_t>
//   if (!img.ok()) return img.status();          // corrupt/truncated/unknown/too large
//   // img->width, img->height, img->pixels: 8-bit RGB, row-major, no padding
//
// Formats: JPEG (libjpeg-turbo), PNG (8/16-bit, grey, palette, alpha), WebP, BMP. The header is
// validated before any pixel buffer is allocated: sizes of zero, over `max_pixels` or over the
// byte limit are refused. Alpha is dropped (composited over nothing: colour channels kept).
// Functions here are thread-safe (no shared state); an Image is a plain value.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens {

// An 8-bit RGB image, interleaved, row-major, stride = 3 * width bytes.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  bool empty() const { return width <= 0 || height <= 0; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kBmp };
const char* image_format_name(ImageFormat format);

// What libjpeg-turbo's warnings do. It reports damaged data it can step over as a warning and
// decodes on, filling what it lost with grey or garbage: a face on such an image is not found.
enum class JpegWarnings {
  kStrict,   // warnings that mean damaged image data ("Corrupt JPEG data: ...", a premature end,
             // bad Huffman or arithmetic codes, inconsistent scans) refuse the image; warnings about
             // metadata only (unknown JFIF revision or Adobe transform, a bad ICC marker) do not
  kAll,      // every warning refuses the image
  kLenient,  // only fatal errors and truncated files refuse it (damaged data decodes as it can)
};
// "strict", "all", "lenient" (config [limits] jpeg_warnings); unknown names list the known ones.
const char* jpeg_warnings_name(JpegWarnings w);
StatusOr<JpegWarnings> parse_jpeg_warnings(const std::string& name);

struct DecodeOptions {
  int64_t max_pixels = 50'000'000;         // refuse larger images (width * height, before scaling)
  int64_t max_bytes = 64LL * 1024 * 1024;  // refuse larger encoded inputs
  bool apply_exif_orientation = true;      // JPEG EXIF orientation tag (1..8)
  // JPEG and PNG: convert pixels described by an embedded RGB ICC profile to sRGB (as browsers and
  // libvips do); images without a profile are taken as sRGB.
  bool convert_to_srgb = true;
  // JPEG only: when both are > 0, decode with the largest DCT-domain downscale (1/2, 1/4, 1/8)
  // that keeps the decoded image at least min_width x min_height. 0 = full size.
  int min_width = 0;
  int min_height = 0;
  JpegWarnings jpeg_warnings = JpegWarnings::kStrict;
  // JPEG only: threads for a file (baseline or progressive) whose restart markers cut its scans at
  // rows of MCUs (camera files often have them): the stripes decode at once, to the same pixels as
  // one thread. 0 = automatic (a thread per 0.25 Mpx, or per 0.1 Mpx for a progressive file, up
  // to the hardware threads), 1 = always one thread.
  int decode_threads = 0;
};

// What a decode found, besides the pixels.
struct DecodedImage {
  Image image;
  ImageFormat format = ImageFormat::kUnknown;
  int original_width = 0;  // after EXIF orientation, before any DCT downscale
  int original_height = 0;
  // image pixel = original pixel * scale (1 unless a DCT downscale was applied).
  double scale = 1.0;
};

// Reads only the header: format and size (after EXIF orientation). Never allocates pixels.
struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
};
StatusOr<ImageHeader> read_image_header(std::span<const uint8_t> bytes);
// The limits decode_image applies before it allocates anything, on the header alone: the byte
// limit, a readable header of a supported format, a size within max_pixels; the same errors
// (kOutOfRange over a limit, kInvalidArgument for data that is no image). A cheap refusal at the
// edge of a service, before the image is queued or decoded.
StatusOr<ImageHeader> check_image(std::span<const uint8_t> bytes, const DecodeOptions& options);

StatusOr<DecodedImage> decode_image(std::span<const uint8_t> bytes, const DecodeOptions& options);
// Reads the file (refusing files over options.max_bytes before reading them) and decodes it.
StatusOr<DecodedImage> decode_image_file(const std::string& path, const DecodeOptions& options);
// Reads a whole file into memory, refusing files over max_bytes.
StatusOr<std::vector<uint8_t>> read_file_bytes(const std::string& path, int64_t max_bytes);

// Draws each face on `image` in place (for --draw): its box in green, its landmarks in red and its
// detection score above the box; lines 2 px thick or width/400 on large images. Coordinates
// outside the image are clipped.
void draw_faces(Image& image, std::span<const Face> faces);

// Encodes an image as PNG (for --draw and debugging).
Status write_png(const Image& image, const std::string& path);
// The same PNG in memory (the service's face crops).
StatusOr<std::vector<uint8_t>> encode_png(const Image& image);
// Encodes an image as JPEG (4:2:0, accurate DCT) at quality 1..100.
inline constexpr int kDefaultJpegQuality = 90;  // libjpeg's "high quality" range, as cjpeg -quality 90
Status write_jpeg(const Image& image, const std::string& path, int quality);
// The format a file name asks for by its extension, case-insensitive: .png -> kPng, .jpg and .jpeg
// -> kJpeg; any other is kInvalidArgument naming the accepted ones.
StatusOr<ImageFormat> image_format_for_path(const std::string& path);
// Writes PNG or JPEG (kDefaultJpegQuality) as image_format_for_path(path) says.
Status write_image(const Image& image, const std::string& path);

}  // namespace facelens

// Image decoding: the format is sniffed from its magic bytes, the header is read and checked
// against the limits, and only then are pixels allocated and decoded: JPEG with TurboJPEG
// (libjpeg-turbo 2.1 API), PNG with libpng, WebP with libwebp, BMP with the parser below.
#include <png.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <system_error>

#include "facelens/image.h"
#include "image/exif.h"
#include "image/icc.h"
#include "image/jpeg_parallel.h"

namespace facelens {
namespace {

constexpr const char* kSupportedFormats = "JPEG, PNG, WebP or BMP";
// Largest width or height accepted whatever max_pixels says: libpng's default user limit
// (PNG_USER_WIDTH_MAX / PNG_USER_HEIGHT_MAX in pnglibconf.h). Keeps 3 * width inside int.
constexpr int64_t kMaxSide = 1'000'000;
// Progressive JPEGs with thousands of scans take minutes to decode; libjpeg-turbo's own fuzzers
// (fuzz/*.cc) cap them with TJPARAM_SCANLIMIT = 500.
constexpr int kMaxJpegScans = 500;

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

uint16_t load_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

ImageFormat detect_format(std::span<const uint8_t> b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat::kJpeg;
  if (b.size() >= 8 && std::memcmp(b.data(), kPngSignature, 8) == 0) return ImageFormat::kPng;
  if (b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0 && std::memcmp(b.data() + 8, "WEBP", 4) == 0) {
    return ImageFormat::kWebp;
  }
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return ImageFormat::kBmp;
  return ImageFormat::kUnknown;
}

Status unknown_format(std::span<const uint8_t> bytes) {
  std::string first;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i) {
    char hex[4];
    std::snprintf(hex, sizeof(hex), "%s%02x", i ? " " : "", bytes[i]);
    first += hex;
  }
  return invalid_argument("unrecognised image data (" + std::to_string(bytes.size()) + " bytes, starting " + first +
                          "): expected a " + kSupportedFormats + " file");
}

std::string size_string(int64_t width, int64_t height) { return std::to_string(width) + "x" + std::to_string(height); }

Status check_options(const DecodeOptions& options) {
  if (options.max_pixels <= 0 || options.max_bytes <= 0) {
    return invalid_argument("DecodeOptions.max_pixels and max_bytes must be > 0, got " +
                            std::to_string(options.max_pixels) + " and " + std::to_string(options.max_bytes));
  }
  if (options.decode_threads < 0) {
    return invalid_argument("DecodeOptions.decode_threads must be >= 0 (0 = automatic), got " +
                            std::to_string(options.decode_threads));
  }
  if (options.min_width < 0 || options.min_height < 0) {
    return invalid_argument("DecodeOptions.min_width and min_height must be >= 0 (0 = full size), got " +
                            std::to_string(options.min_width) + " and " + std::to_string(options.min_height));
  }
  return Status::Ok();
}

// The encoded size against max_bytes (decode_image and check_image refuse alike).
Status check_byte_limit(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  if (static_cast<uint64_t>(bytes.size()) <= static_cast<uint64_t>(options.max_bytes)) return Status::Ok();
  return out_of_range("encoded image is " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                      std::to_string(options.max_bytes) +
                      " bytes: compress it more, or raise DecodeOptions.max_bytes (the "
                      "max_bytes config limit) to accept it");
}

// The header checks every decoder runs before it allocates pixels.
Status check_dimensions(int64_t width, int64_t height, const DecodeOptions& options, const char* format) {
  if (width <= 0 || height <= 0) {
    return invalid_argument(std::string(format) + " header gives a size of " + size_string(width, height) +
                            ": expected at least 1x1 pixels (the file is corrupt)");
  }
  if (width > kMaxSide || height > kMaxSide) {
    return out_of_range(std::string(format) + " image is " + size_string(width, height) + ": a side over " +
                        std::to_string(kMaxSide) + " pixels is not supported; downscale the image before sending it");
  }
  const int64_t n_pixels = width * height;
  if (n_pixels > options.max_pixels) {
    return out_of_range(std::string(format) + " image is " + size_string(width, height) + " = " +
                        std::to_string(n_pixels) + " pixels, over the limit of " + std::to_string(options.max_pixels) +
                        " pixels: downscale it, or raise DecodeOptions.max_pixels (the "
                        "max_pixels config limit) to accept it");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// JPEG (TurboJPEG)

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

struct JpegHeader {
  int width = 0;  // as stored, before orientation
  int height = 0;
  int colorspace = TJCS_RGB;
  std::string warning;  // the last warning while reading the header (markers before the image data)
};

// Reads the JPEG header with TurboJPEG. libjpeg-turbo 2.1 fails the header for two kinds of file
// it still decodes: a warning (e.g. extraneous bytes before a marker) with the size read, and a
// chroma subsampling outside its TJSAMP_* list; the latter takes the size from `layout`.
StatusOr<JpegHeader> read_jpeg_header(tjhandle handle, std::span<const uint8_t> bytes,
                                      const image::JpegLayout& layout) {
  JpegHeader header;
  int subsamp = 0;
  if (tjDecompressHeader3(handle, bytes.data(), static_cast<unsigned long>(bytes.size()), &header.width, &header.height,
                          &subsamp, &header.colorspace) == 0) {
    return header;
  }
  const std::string message = tjGetErrorStr2(handle);
  if (tjGetErrorCode(handle) == TJERR_WARNING && header.width > 0 && header.height > 0) {
    header.warning = message;
    return header;
  }
  if (message.find("subsampling type") != std::string::npos && layout.n_components > 0) {
    header.width = layout.width;
    header.height = layout.height;
    header.colorspace = layout.n_components == 4 ? TJCS_CMYK : layout.n_components == 1 ? TJCS_GRAY : TJCS_YCbCr;
    return header;
  }
  return invalid_argument("corrupt JPEG header: " + message + " (expected a complete JPEG file)");
}

// True for libjpeg warnings that mean damaged image data (jerror.h: JWRN_EXTRANEOUS_DATA,
// JWRN_HIT_MARKER, JWRN_HUFF_BAD_CODE, JWRN_ARITH_BAD_CODE, JWRN_MUST_RESYNC, JWRN_JPEG_EOF,
// JWRN_NOT_SEQUENTIAL, JWRN_BOGUS_PROGRESSION); false for those about metadata (JWRN_JFIF_MAJOR,
// JWRN_ADOBE_XFORM, JWRN_BOGUS_ICC).
bool jpeg_warning_means_corrupt_data(const std::string& message) {
  if (message.find("ICC marker") != std::string::npos) return false;
  for (const char* corrupt :
       {"Corrupt JPEG data", "Premature end", "Invalid SOS parameters", "Inconsistent progression"})
    if (message.find(corrupt) != std::string::npos) return true;
  return false;
}

StatusOr<TjHandle> make_decompressor() {
  TjHandle handle(tjInitDecompress());
  if (!handle) {
    return resource_exhausted(std::string("cannot create a TurboJPEG decompressor: ") + tjGetErrorStr2(nullptr));
  }
  return handle;
}

// Adobe CMYK/YCCK JPEGs store inverted CMYK (255 = no ink): R = C * K / 255 and so on.
void cmyk_to_rgb(const std::vector<uint8_t>& cmyk, std::vector<uint8_t>& rgb) {
  const size_t n = cmyk.size() / 4;
  for (size_t i = 0; i < n; ++i) {
    const unsigned k = cmyk[i * 4 + 3];
    for (int c = 0; c < 3; ++c) {
      rgb[i * 3 + c] = static_cast<uint8_t>((cmyk[i * 4 + c] * k + 127) / 255);
    }
  }
}

StatusOr<DecodedImage> decode_jpeg(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  FACELENS_ASSIGN_OR_RETURN(TjHandle handle, make_decompressor());
  const image::JpegLayout layout = image::scan_jpeg_markers(bytes);
  FACELENS_ASSIGN_OR_RETURN(JpegHeader header, read_jpeg_header(handle.get(), bytes, layout));
  FACELENS_RETURN_IF_ERROR(check_dimensions(header.width, header.height, options, "JPEG"));
  if (layout.n_scans > kMaxJpegScans) {
    return invalid_argument("JPEG has " + std::to_string(layout.n_scans) + " scans, over the limit of " +
                            std::to_string(kMaxJpegScans) + ": re-encode it as a baseline JPEG");
  }
  if (!layout.has_eoi) {
    return invalid_argument(
        "truncated JPEG: no end-of-image marker after the image data "
        "(expected a complete file; was the upload cut short?)");
  }
  const int orientation = options.apply_exif_orientation ? layout.orientation : 1;
  const bool swap = image::orientation_swaps_axes(orientation);
  const int upright_w = swap ? header.height : header.width;
  const int upright_h = swap ? header.width : header.height;

  // The largest power-of-two DCT downscale (1/2, 1/4, 1/8: the SIMD-accelerated ones) that keeps
  // the upright image at least min_width x min_height.
  tjscalingfactor factor{1, 1};
  if (options.min_width > 0 && options.min_height > 0) {
    int n_factors = 0;
    const tjscalingfactor* factors = tjGetScalingFactors(&n_factors);
    for (int i = 0; factors != nullptr && i < n_factors; ++i) {
      const tjscalingfactor f = factors[i];
      if (f.num != 1 || f.denom <= factor.denom) continue;
      if (TJSCALED(upright_w, f) >= options.min_width && TJSCALED(upright_h, f) >= options.min_height) {
        factor = f;
      }
    }
  }
  const int out_w = TJSCALED(header.width, factor);
  const int out_h = TJSCALED(header.height, factor);

  DecodedImage result;
  result.format = ImageFormat::kJpeg;
  result.original_width = upright_w;
  result.original_height = upright_h;
  result.scale = static_cast<double>(factor.num) / factor.denom;
  Image& img = result.image;
  img.width = out_w;
  img.height = out_h;
  img.pixels.resize(static_cast<size_t>(out_w) * out_h * 3);

  const bool cmyk = header.colorspace == TJCS_CMYK || header.colorspace == TJCS_YCCK;
  std::vector<uint8_t> cmyk_pixels;
  if (cmyk) cmyk_pixels.resize(static_cast<size_t>(out_w) * out_h * 4);
  uint8_t* dst = cmyk ? cmyk_pixels.data() : img.pixels.data();
  const int pixel_format = cmyk ? TJPF_CMYK : TJPF_RGB;
  // libjpeg-turbo returns -1 for warnings too. A fatal error, or a truncated file (which libjpeg
  // pads with grey and reports as a warning), is always refused; other warnings as
  // options.jpeg_warnings says. Strict modes stop at the first warning (TJFLAG_STOPONWARNING);
  // when that one is harmless (metadata) the image is decoded again without stopping and the
  // last warning, if any, is judged the same way.
  const auto decompress = [&](int flags) {
    return tjDecompress2(handle.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), dst, out_w,
                         /*pitch=*/0, out_h, pixel_format, flags) == 0;
  };
  // A warning the header read gave too is about the markers before the image data (e.g. junk
  // between two tables): the pixels are whole, so only kAll refuses it.
  const auto refusal = [&]() -> Status {
    const std::string message = tjGetErrorStr2(handle.get());
    if (tjGetErrorCode(handle.get()) == TJERR_FATAL || message.find("Premature end") != std::string::npos)
      return invalid_argument("corrupt JPEG: " + message + " (expected a complete JPEG file)");
    const bool refuse = options.jpeg_warnings == JpegWarnings::kAll ||
                        (options.jpeg_warnings == JpegWarnings::kStrict && message != header.warning &&
                         jpeg_warning_means_corrupt_data(message));
    if (!refuse) return Status::Ok();
    return invalid_argument("corrupt JPEG data: " + message +
                            " (the image is damaged: re-export or re-encode it; decode options jpeg_warnings = "
                            "lenient accept it)");
  };
  const bool strict = options.jpeg_warnings != JpegWarnings::kLenient;
  // A file cut by restart markers (baseline or progressive) decodes in stripes on several threads,
  // to the same pixels; anything unusual there (a warning the header read gave too) decodes on one
  // thread.
  const auto stripe_output = cmyk ? image::JpegStripeOutput::kCmyk : image::JpegStripeOutput::kRgb;
  const bool striped =
      header.warning.empty() && factor.num == 1 &&
      image::decode_jpeg_parallel(bytes, factor.denom, stripe_output, dst, out_w, out_h, options.decode_threads);
  if (!striped && !decompress(strict ? TJFLAG_STOPONWARNING : 0)) {
    FACELENS_RETURN_IF_ERROR(refusal());
    if (strict && !decompress(0)) FACELENS_RETURN_IF_ERROR(refusal());
  }
  if (cmyk) cmyk_to_rgb(cmyk_pixels, img.pixels);
  else if (options.convert_to_srgb) image::to_srgb(img, layout.icc_profile);
  image::apply_orientation(img, orientation);
  return result;
}

StatusOr<ImageHeader> jpeg_image_header(std::span<const uint8_t> bytes) {
  FACELENS_ASSIGN_OR_RETURN(TjHandle handle, make_decompressor());
  const image::JpegLayout layout = image::scan_jpeg_markers(bytes);
  FACELENS_ASSIGN_OR_RETURN(JpegHeader header, read_jpeg_header(handle.get(), bytes, layout));
  if (header.width <= 0 || header.height <= 0) {
    return invalid_argument("corrupt JPEG header: a size of " + size_string(header.width, header.height) +
                            ", expected at least 1x1 pixels");
  }
  const bool swap = image::orientation_swaps_axes(layout.orientation);
  return ImageHeader{ImageFormat::kJpeg, swap ? header.height : header.width, swap ? header.width : header.height};
}

// ---------------------------------------------------------------------------------------------
// PNG (libpng)

// The IHDR chunk, read by hand so that the size is checked before libpng allocates anything.
StatusOr<ImageHeader> png_image_header(std::span<const uint8_t> bytes) {
  constexpr size_t kIhdrEnd = 8 + 8 + 13;  // signature, chunk length and type, IHDR data
  if (bytes.size() < kIhdrEnd || load_be32(bytes.data() + 8) != 13 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0) {
    return invalid_argument(
        "corrupt PNG: expected an IHDR chunk of 13 bytes right after the "
        "signature");
  }
  const uint32_t width = load_be32(bytes.data() + 16);
  const uint32_t height = load_be32(bytes.data() + 20);
  constexpr uint32_t kPngMaxDim = 0x7FFFFFFF;  // PNG spec 11.2.2: at most 2^31 - 1
  if (width == 0 || height == 0 || width > kPngMaxDim || height > kPngMaxDim) {
    return invalid_argument("corrupt PNG: IHDR gives a size of " + size_string(width, height) +
                            ", expected 1 to 2^31-1 pixels per side");
  }
  return ImageHeader{ImageFormat::kPng, static_cast<int>(width), static_cast<int>(height)};
}

// Where libpng reads from, and where its error callback leaves the message before it longjmps.
struct PngSource {
  std::span<const uint8_t> bytes;
  size_t pos = 0;
  char error[200] = {};
};

void png_on_error(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->error, sizeof(source->error), "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

void png_read_from_span(png_structp png, png_bytep out, size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source->bytes.size() - source->pos) {
    png_error(png, "unexpected end of data (the file is truncated)");
  }
  std::memcpy(out, source->bytes.data() + source->pos, length);
  source->pos += length;
}

// Runs `step` under libpng's setjmp; false when libpng reported an error. A longjmp skips
// destructors, so `step` keeps only trivially destructible locals.
template <typename Step>
bool png_guarded(png_structp png, Step& step) {
  if (setjmp(png_jmpbuf(png))) return false;
  step();
  return true;
}

class PngReadStruct {
 public:
  explicit PngReadStruct(PngSource* source) {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, source, png_on_error, png_on_warning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngReadStruct() {
    if (png_ != nullptr) png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr);
  }
  PngReadStruct(const PngReadStruct&) = delete;
  PngReadStruct& operator=(const PngReadStruct&) = delete;

  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

StatusOr<DecodedImage> decode_png(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  FACELENS_ASSIGN_OR_RETURN(ImageHeader header, png_image_header(bytes));
  FACELENS_RETURN_IF_ERROR(check_dimensions(header.width, header.height, options, "PNG"));

  PngSource source{bytes};
  PngReadStruct reader(&source);
  if (!reader.ok()) return resource_exhausted("cannot create a libpng reader (out of memory?)");
  png_structp png = reader.png();
  png_infop info = reader.info();

  // Reads the chunks up to the image data and sets the transforms to 8-bit RGB: palette
  // expanded, grey to RGB, 16-bit scaled, alpha and tRNS dropped (colour channels kept).
  png_uint_32 width = 0, height = 0;
  size_t rowbytes = 0;
  int channels = 0, bit_depth = 0;
  std::vector<uint8_t> icc_profile;  // the iCCP chunk, when there is one
  auto read_info = [&] {
    png_set_read_fn(png, &source, png_read_from_span);
    png_set_user_limits(png, static_cast<png_uint_32>(kMaxSide), static_cast<png_uint_32>(kMaxSide));
    png_read_info(png, info);
    png_charp icc_name = nullptr;
    int icc_compression = 0;
    png_bytep icc_data = nullptr;
    png_uint_32 icc_length = 0;
    if (png_get_iCCP(png, info, &icc_name, &icc_compression, &icc_data, &icc_length) != 0 && icc_data != nullptr)
      icc_profile.assign(icc_data, icc_data + icc_length);
    int color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_scale_16(png);
    if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS)) {
      png_set_strip_alpha(png);
    }
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    rowbytes = png_get_rowbytes(png, info);
    channels = png_get_channels(png, info);
    bit_depth = png_get_bit_depth(png, info);
  };
  if (!png_guarded(png, read_info)) {
    return invalid_argument(std::string("corrupt PNG: ") + source.error + " (expected a complete PNG file)");
  }
  if (static_cast<int64_t>(width) != header.width || static_cast<int64_t>(height) != header.height) {
    return invalid_argument("corrupt PNG: libpng read a size of " + size_string(width, height) +
                            ", the IHDR chunk says " + size_string(header.width, header.height));
  }
  if (channels != 3 || bit_depth != 8 || rowbytes != size_t{width} * 3) {
    return internal_error("libpng produced " + std::to_string(channels) + " channels of " + std::to_string(bit_depth) +
                          " bits, expected 8-bit RGB");
  }

  DecodedImage result;
  result.format = ImageFormat::kPng;
  result.original_width = header.width;
  result.original_height = header.height;
  Image& img = result.image;
  img.width = header.width;
  img.height = header.height;
  img.pixels.resize(rowbytes * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = img.pixels.data() + rowbytes * y;
  auto read_rows = [&] {
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
  };
  if (!png_guarded(png, read_rows)) {
    return invalid_argument(std::string("corrupt PNG: ") + source.error + " (expected a complete PNG file)");
  }
  if (options.convert_to_srgb) image::to_srgb(img, icc_profile);
  return result;
}

// ---------------------------------------------------------------------------------------------
// WebP (libwebp)

StatusOr<WebPBitstreamFeatures> webp_features(std::span<const uint8_t> bytes) {
  WebPBitstreamFeatures features;
  const VP8StatusCode code = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (code != VP8_STATUS_OK) {
    return invalid_argument("corrupt WebP header (libwebp status " + std::to_string(code) +
                            "): expected a complete WebP file");
  }
  return features;
}

StatusOr<DecodedImage> decode_webp(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  FACELENS_ASSIGN_OR_RETURN(WebPBitstreamFeatures features, webp_features(bytes));
  FACELENS_RETURN_IF_ERROR(check_dimensions(features.width, features.height, options, "WebP"));
  if (features.has_animation) {
    return invalid_argument("animated WebP is not supported: send a single still frame");
  }
  DecodedImage result;
  result.format = ImageFormat::kWebp;
  result.original_width = features.width;
  result.original_height = features.height;
  Image& img = result.image;
  img.width = features.width;
  img.height = features.height;
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
  if (WebPDecodeRGBInto(bytes.data(), bytes.size(), img.pixels.data(), img.pixels.size(), img.width * 3) == nullptr) {
    return invalid_argument("corrupt or truncated WebP: libwebp could not decode the " +
                            size_string(img.width, img.height) + " image (expected a complete WebP file)");
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// BMP (own parser). Layout: Microsoft "Bitmap Storage" (BITMAPFILEHEADER, BITMAPCOREHEADER,
// BITMAPINFOHEADER and its V2..V5 extensions). Supported: uncompressed 1/4/8-bit palette,
// 16/24/32-bit, and BI_BITFIELDS / BI_ALPHABITFIELDS 16/32-bit.

constexpr size_t kBmpFileHeaderSize = 14;
constexpr uint32_t kBiRgb = 0;
constexpr uint32_t kBiBitfields = 3;
constexpr uint32_t kBiAlphaBitfields = 6;

// One colour channel of a bit-field pixel: (pixel & mask) >> shift, scaled to 0..255.
struct BmpChannel {
  uint32_t mask = 0;
  int shift = 0;
  uint32_t max = 0;  // mask >> shift

  uint8_t extract(uint32_t pixel) const {
    const uint32_t v = (pixel & mask) >> shift;
    return static_cast<uint8_t>((uint64_t{v} * 255 + max / 2) / max);
  }
};

struct BmpLayout {
  int64_t width = 0;
  int64_t height = 0;
  bool top_down = false;
  int bits_per_pixel = 0;
  uint32_t compression = kBiRgb;
  size_t data_offset = 0;
  size_t palette_offset = 0;
  size_t n_palette = 0;
  size_t palette_entry_size = 4;
  BmpChannel channels[3];  // R, G, B for 16/32-bit
};

Status bmp_error(const std::string& what) {
  return invalid_argument("corrupt or unsupported BMP: " + what +
                          " (supported: uncompressed 1/4/8/16/24/32-bit and BI_BITFIELDS "
                          "16/32-bit; re-save the image as PNG or JPEG otherwise)");
}

bool make_channel(uint32_t mask, int bits_per_pixel, BmpChannel* channel) {
  if (mask == 0 || (bits_per_pixel < 32 && (mask >> bits_per_pixel) != 0)) return false;
  int shift = 0;
  while (((mask >> shift) & 1u) == 0) ++shift;
  const uint32_t max = mask >> shift;
  if ((max & (max + 1)) != 0) return false;  // bits must be contiguous
  *channel = BmpChannel{mask, shift, max};
  return true;
}

StatusOr<BmpLayout> parse_bmp_layout(std::span<const uint8_t> bytes) {
  const size_t n = bytes.size();
  const uint8_t* b = bytes.data();
  if (n < kBmpFileHeaderSize + 4) return bmp_error("the file is shorter than its headers");
  BmpLayout layout;
  layout.data_offset = load_le32(b + 10);
  const uint32_t dib_size = load_le32(b + kBmpFileHeaderSize);
  if (dib_size != 12 && dib_size != 40 && dib_size != 52 && dib_size != 56 && dib_size != 108 && dib_size != 124) {
    return bmp_error("unknown info header size " + std::to_string(dib_size));
  }
  if (n - kBmpFileHeaderSize < dib_size) return bmp_error("the info header is truncated");
  const uint8_t* dib = b + kBmpFileHeaderSize;
  uint32_t n_colors_used = 0;
  if (dib_size == 12) {  // BITMAPCOREHEADER: unsigned 16-bit sizes, bottom-up, RGB triples
    layout.width = load_le16(dib + 4);
    layout.height = load_le16(dib + 6);
    layout.bits_per_pixel = load_le16(dib + 10);
    layout.palette_entry_size = 3;
  } else {
    layout.width = static_cast<int32_t>(load_le32(dib + 4));
    const int32_t height = static_cast<int32_t>(load_le32(dib + 8));
    if (height == std::numeric_limits<int32_t>::min()) return bmp_error("a height of -2^31");
    layout.top_down = height < 0;
    layout.height = std::abs(static_cast<int64_t>(height));
    layout.bits_per_pixel = load_le16(dib + 14);
    layout.compression = load_le32(dib + 16);
    n_colors_used = load_le32(dib + 32);
  }
  const int bpp = layout.bits_per_pixel;
  const bool bitfields = layout.compression == kBiBitfields || layout.compression == kBiAlphaBitfields;
  if (layout.compression != kBiRgb && !bitfields) {
    return bmp_error("compression type " + std::to_string(layout.compression));
  }
  if (bitfields ? (bpp != 16 && bpp != 32)
                : (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)) {
    return bmp_error(std::to_string(bpp) + " bits per pixel" +
                     (bitfields ? std::string(" with BI_BITFIELDS") : std::string()));
  }
  if (bitfields) {
    // The masks follow a 40-byte header, or are its fields 40..51 in the V2+ headers: the same
    // place in the file.
    const size_t masks = kBmpFileHeaderSize + 40;
    if (n < masks + 12) return bmp_error("the BI_BITFIELDS masks are truncated");
    for (int c = 0; c < 3; ++c) {
      if (!make_channel(load_le32(b + masks + 4 * c), bpp, &layout.channels[c])) {
        return bmp_error("bit-field mask " + std::to_string(c) +
                         " is empty, not contiguous or "
                         "wider than the pixel");
      }
    }
  } else if (bpp == 16) {  // BI_RGB 16-bit is X1R5G5B5
    make_channel(0x7C00, bpp, &layout.channels[0]);
    make_channel(0x03E0, bpp, &layout.channels[1]);
    make_channel(0x001F, bpp, &layout.channels[2]);
  }
  if (bpp <= 8) {
    const size_t max_colors = size_t{1} << bpp;
    layout.n_palette = n_colors_used == 0 ? max_colors : n_colors_used;
    if (layout.n_palette > max_colors) {
      return bmp_error("a palette of " + std::to_string(n_colors_used) + " colours for " + std::to_string(bpp) +
                       "-bit pixels");
    }
    layout.palette_offset = kBmpFileHeaderSize + dib_size;
    if ((n - layout.palette_offset) / layout.palette_entry_size < layout.n_palette) {
      return bmp_error("the palette is truncated");
    }
  }
  return layout;
}

StatusOr<ImageHeader> bmp_image_header(std::span<const uint8_t> bytes) {
  FACELENS_ASSIGN_OR_RETURN(BmpLayout layout, parse_bmp_layout(bytes));
  if (layout.width <= 0 || layout.height <= 0 || layout.width > std::numeric_limits<int>::max() ||
      layout.height > std::numeric_limits<int>::max()) {
    return bmp_error("a size of " + size_string(layout.width, layout.height));
  }
  return ImageHeader{ImageFormat::kBmp, static_cast<int>(layout.width), static_cast<int>(layout.height)};
}

StatusOr<DecodedImage> decode_bmp(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  FACELENS_ASSIGN_OR_RETURN(BmpLayout layout, parse_bmp_layout(bytes));
  FACELENS_RETURN_IF_ERROR(check_dimensions(layout.width, layout.height, options, "BMP"));
  const size_t w = static_cast<size_t>(layout.width);
  const size_t h = static_cast<size_t>(layout.height);
  const int bpp = layout.bits_per_pixel;
  const size_t stride = (w * bpp + 31) / 32 * 4;
  if (layout.data_offset > bytes.size() || (bytes.size() - layout.data_offset) / stride < h) {
    return bmp_error("the pixel data is truncated: expected " + std::to_string(stride * h) + " bytes at offset " +
                     std::to_string(layout.data_offset) + ", the file has " + std::to_string(bytes.size()) + " bytes");
  }

  DecodedImage result;
  result.format = ImageFormat::kBmp;
  result.original_width = static_cast<int>(w);
  result.original_height = static_cast<int>(h);
  Image& img = result.image;
  img.width = static_cast<int>(w);
  img.height = static_cast<int>(h);
  img.pixels.resize(w * h * 3);

  const uint8_t* palette = bytes.data() + layout.palette_offset;
  const bool bitfields = bpp == 16 || (bpp == 32 && layout.compression != kBiRgb);
  for (size_t y = 0; y < h; ++y) {
    const uint8_t* src = bytes.data() + layout.data_offset + (layout.top_down ? y : h - 1 - y) * stride;
    uint8_t* dst = img.pixels.data() + y * w * 3;
    for (size_t x = 0; x < w; ++x, dst += 3) {
      if (bpp <= 8) {
        const size_t bit = x * bpp;
        const unsigned shift = 8 - bpp - static_cast<unsigned>(bit % 8);
        const size_t index = (src[bit / 8] >> shift) & ((1u << bpp) - 1);
        if (index < layout.n_palette) {
          const uint8_t* entry = palette + index * layout.palette_entry_size;
          dst[0] = entry[2];
          dst[1] = entry[1];
          dst[2] = entry[0];
        } else {
          dst[0] = dst[1] = dst[2] = 0;  // index past the palette: black, as browsers do
        }
      } else if (bitfields) {
        const uint32_t pixel = bpp == 16 ? load_le16(src + x * 2) : load_le32(src + x * 4);
        for (int c = 0; c < 3; ++c) dst[c] = layout.channels[c].extract(pixel);
      } else {
        const uint8_t* p = src + x * (bpp / 8);  // BGR or BGRX
        dst[0] = p[2];
        dst[1] = p[1];
        dst[2] = p[0];
      }
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------

StatusOr<DecodedImage> decode_checked(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  switch (detect_format(bytes)) {
    case ImageFormat::kJpeg: return decode_jpeg(bytes, options);
    case ImageFormat::kPng: return decode_png(bytes, options);
    case ImageFormat::kWebp: return decode_webp(bytes, options);
    case ImageFormat::kBmp: return decode_bmp(bytes, options);
    case ImageFormat::kUnknown: break;
  }
  return unknown_format(bytes);
}

}  // namespace

const char* jpeg_warnings_name(JpegWarnings w) {
  switch (w) {
    case JpegWarnings::kStrict: return "strict";
    case JpegWarnings::kAll: return "all";
    case JpegWarnings::kLenient: return "lenient";
  }
  return "strict";
}

StatusOr<JpegWarnings> parse_jpeg_warnings(const std::string& name) {
  for (JpegWarnings w : {JpegWarnings::kStrict, JpegWarnings::kAll, JpegWarnings::kLenient})
    if (name == jpeg_warnings_name(w)) return w;
  return invalid_argument("unknown jpeg_warnings '" + name + "': expected strict, all or lenient");
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kPng: return "png";
    case ImageFormat::kWebp: return "webp";
    case ImageFormat::kBmp: return "bmp";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

StatusOr<ImageHeader> read_image_header(std::span<const uint8_t> bytes) {
  if (bytes.empty()) {
    return invalid_argument(std::string("empty image data: expected the bytes of a ") + kSupportedFormats + " file");
  }
  switch (detect_format(bytes)) {
    case ImageFormat::kJpeg: return jpeg_image_header(bytes);
    case ImageFormat::kPng: return png_image_header(bytes);
    case ImageFormat::kWebp: {
      FACELENS_ASSIGN_OR_RETURN(WebPBitstreamFeatures features, webp_features(bytes));
      return ImageHeader{ImageFormat::kWebp, features.width, features.height};
    }
    case ImageFormat::kBmp: return bmp_image_header(bytes);
    case ImageFormat::kUnknown: break;
  }
  return unknown_format(bytes);
}

StatusOr<ImageHeader> check_image(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  FACELENS_RETURN_IF_ERROR(check_options(options));
  FACELENS_RETURN_IF_ERROR(check_byte_limit(bytes, options));
  FACELENS_ASSIGN_OR_RETURN(ImageHeader header, read_image_header(bytes));
  // The decoders' names for the formats, so that the messages are theirs.
  const char* name = header.format == ImageFormat::kJpeg   ? "JPEG"
                     : header.format == ImageFormat::kPng  ? "PNG"
                     : header.format == ImageFormat::kWebp ? "WebP"
                                                           : "BMP";
  FACELENS_RETURN_IF_ERROR(check_dimensions(header.width, header.height, options, name));
  return header;
}

StatusOr<DecodedImage> decode_image(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  FACELENS_RETURN_IF_ERROR(check_options(options));
  if (bytes.empty()) {
    return invalid_argument(std::string("empty image data: expected the bytes of a ") + kSupportedFormats + " file");
  }
  FACELENS_RETURN_IF_ERROR(check_byte_limit(bytes, options));
  try {
    return decode_checked(bytes, options);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("out of memory while decoding a " + std::to_string(bytes.size()) +
                              "-byte image: lower DecodeOptions.max_pixels or free memory");
  }
}

StatusOr<std::vector<uint8_t>> read_file_bytes(const std::string& path, int64_t max_bytes) {
  if (max_bytes <= 0) {
    return invalid_argument("max_bytes must be > 0, got " + std::to_string(max_bytes));
  }
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return not_found("no such file: '" + path + "' (check the path)");
  }
  if (!std::filesystem::is_regular_file(st)) {
    return invalid_argument("'" + path + "' is not a regular file: expected an image file");
  }
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return not_found("cannot read the size of '" + path + "': " + ec.message());
  if (size > static_cast<uintmax_t>(max_bytes)) {
    return out_of_range("'" + path + "' is " + std::to_string(size) + " bytes, over the limit of " +
                        std::to_string(max_bytes) +
                        " bytes: raise DecodeOptions.max_bytes (the max_bytes config limit) to "
                        "accept it");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return failed_precondition("cannot open '" + path + "' for reading: " + std::strerror(errno) +
                               " (check its permissions)");
  }
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc&) {
    return resource_exhausted("out of memory reading " + std::to_string(size) + " bytes from '" + path + "'");
  }
  file.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<uintmax_t>(file.gcount()) != size) {
    return failed_precondition("read " + std::to_string(file.gcount()) + " of " + std::to_string(size) +
                               " bytes from '" + path + "': the file changed while it was read; try again");
  }
  return bytes;
}

StatusOr<DecodedImage> decode_image_file(const std::string& path, const DecodeOptions& options) {
  FACELENS_RETURN_IF_ERROR(check_options(options));
  FACELENS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file_bytes(path, options.max_bytes));
  StatusOr<DecodedImage> decoded = decode_image(bytes, options);
  if (!decoded.ok()) return decoded.status().with_context("'" + path + "'");
  return decoded;
}

}  // namespace facelens

// Fuzz target: image decoding (JPEG, PNG, WebP, BMP and unknown bytes) through the public API,
// with the options a caller sets varied by the input's size: EXIF orientation on or off, a DCT
// downscale minimum, and the three JPEG warning modes; JPEGs also decode on one thread and in
// stripes (restart markers), which must agree. The limits keep one input under ~16 Mpx so
// that a run stays in memory and time. Every successful decode must be self-consistent.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "facelens/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace facelens;
  const std::span<const uint8_t> bytes(data, size);
  DecodeOptions o;
  o.max_pixels = 16'000'000;
  o.apply_exif_orientation = (size / 3) % 2 == 0;
  if ((size / 6) % 2 == 1) o.min_width = o.min_height = 16;
  o.jpeg_warnings = size % 3 == 0 ? JpegWarnings::kStrict : size % 3 == 1 ? JpegWarnings::kLenient : JpegWarnings::kAll;

  const StatusOr<ImageHeader> header = read_image_header(bytes);
  const StatusOr<DecodedImage> decoded = decode_image(bytes, o);
  // JPEG: the striped decode of files with restart markers (forced to 3 threads) against one
  // thread: the same verdict and the same pixels.
  if (size >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
    DecodeOptions one = o, striped = o;
    one.decode_threads = 1;
    striped.decode_threads = 3;
    const StatusOr<DecodedImage> a = decode_image(bytes, one);
    const StatusOr<DecodedImage> b = decode_image(bytes, striped);
    if (a.ok() != b.ok()) std::abort();
    if (!a.ok() && a.status().message() != b.status().message()) std::abort();
    if (a.ok() && a->image.pixels != b->image.pixels) std::abort();
  }
  if (!decoded.ok()) return 0;
  const Image& img = decoded->image;
  // A decoded image has pixels for its size, a size within the limits, and a header that agrees.
  if (img.width <= 0 || img.height <= 0) std::abort();
  if (img.pixels.size() != static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3) std::abort();
  if (static_cast<int64_t>(decoded->original_width) * decoded->original_height > o.max_pixels) std::abort();
  if (!header.ok() || header->format != decoded->format) std::abort();
  if (o.min_width == 0 && o.apply_exif_orientation && (header->width != img.width || header->height != img.height))
    std::abort();
  return 0;
}

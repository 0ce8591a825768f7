// PNG writing with libpng (8-bit RGB, default compression). libpng reports errors by longjmp;
// the calls that can fail run inside png_guarded, which keeps no objects with destructors.
#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "facelens/image.h"

namespace facelens {
namespace {

struct PngSink {
  char error[200] = {};
};

void png_on_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
  std::snprintf(sink->error, sizeof(sink->error), "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

template <typename Step>
bool png_guarded(png_structp png, Step& step) {
  if (setjmp(png_jmpbuf(png))) return false;
  step();
  return true;
}

class PngWriteStruct {
 public:
  explicit PngWriteStruct(PngSink* sink) {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, png_on_error, png_on_warning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngWriteStruct() {
    if (png_ != nullptr) png_destroy_write_struct(&png_, info_ ? &info_ : nullptr);
  }
  PngWriteStruct(const PngWriteStruct&) = delete;
  PngWriteStruct& operator=(const PngWriteStruct&) = delete;

  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

Status open_error(const std::string& path, int error) {
  const std::string message = "cannot create '" + path + "': " + std::strerror(error);
  if (error == ENOENT || error == ENOTDIR) {
    return not_found(message + " (does its folder exist?)");
  }
  return failed_precondition(message + " (check the folder's permissions and free space)");
}

}  // namespace

Status write_png(const Image& image, const std::string& path) {
  if (image.empty() || image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return invalid_argument("cannot write " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                            " image with " + std::to_string(image.pixels.size()) +
                            " bytes as PNG: expected a non-empty image with 3 * width * height "
                            "bytes of RGB");
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) return open_error(path, errno);

  PngSink sink;
  PngWriteStruct writer(&sink);
  if (!writer.ok()) return resource_exhausted("cannot create a libpng writer (out of memory?)");
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.row(y));
  png_structp png = writer.png();
  png_infop info = writer.info();
  std::FILE* out = file.get();
  auto write = [&] {
    png_init_io(png, out);
    png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows.data());
    png_write_end(png, nullptr);
  };
  const bool written = png_guarded(png, write);
  const bool flushed = written && std::fflush(out) == 0 && !std::ferror(out);
  const int error = errno;
  const bool closed = std::fclose(file.release()) == 0;
  if (!written || !flushed || !closed) {
    std::remove(path.c_str());
    const std::string reason = written ? std::strerror(error) : sink.error;
    return failed_precondition("cannot write PNG '" + path + "': " + reason +
                               " (check free disk space and permissions)");
  }
  return Status::Ok();
}

StatusOr<std::vector<uint8_t>> encode_png(const Image& image) {
  if (image.empty() || image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return invalid_argument("cannot encode a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                            " image with " + std::to_string(image.pixels.size()) +
                            " bytes as PNG: expected a non-empty image with 3 * width * height bytes of RGB");
  }
  PngSink sink;
  PngWriteStruct writer(&sink);
  if (!writer.ok()) return resource_exhausted("cannot create a libpng writer (out of memory?)");
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.row(y));
  std::vector<uint8_t> out;
  png_structp png = writer.png();
  png_infop info = writer.info();
  auto write = [&] {
    png_set_write_fn(
        png, &out,
        [](png_structp p, png_bytep data, png_size_t n) {
          auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
          v->insert(v->end(), data, data + n);
        },
        [](png_structp) {});
    png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows.data());
    png_write_end(png, nullptr);
  };
  if (!png_guarded(png, write)) return internal_error(std::string("cannot encode PNG: ") + sink.error);
  return out;
}

}  // namespace facelens

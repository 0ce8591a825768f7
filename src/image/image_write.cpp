// Writing images (for --draw): JPEG through the TurboJPEG API, PNG through png_io.cpp, the format
// chosen by the file's extension.
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "facelens/image.h"

namespace facelens {
namespace {

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};
struct TjBufferDeleter {
  void operator()(unsigned char* buffer) const { tjFree(buffer); }
};

}  // namespace

StatusOr<ImageFormat> image_format_for_path(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (ext == ".png") return ImageFormat::kPng;
  if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::kJpeg;
  return invalid_argument("cannot tell the image format of '" + path + "' from its extension" +
                          (ext.empty() ? std::string(" (none)") : " (" + ext + ")") +
                          ": name the file .png, .jpg or .jpeg");
}

Status write_jpeg(const Image& image, const std::string& path, int quality) {
  if (image.empty() || image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return invalid_argument("cannot write " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                            " image with " + std::to_string(image.pixels.size()) +
                            " bytes as JPEG: expected a non-empty image with 3 * width * height bytes of RGB");
  }
  if (quality < 1 || quality > 100) {
    return invalid_argument("JPEG quality " + std::to_string(quality) + ": expected 1 to 100");
  }
  std::unique_ptr<void, TjDeleter> tj(tjInitCompress());
  if (!tj) return resource_exhausted(std::string("cannot create a TurboJPEG compressor: ") + tjGetErrorStr2(nullptr));
  unsigned char* raw = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj.get(), image.pixels.data(), image.width, image.width * 3, image.height, TJPF_RGB, &raw,
                             &size, TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  std::unique_ptr<unsigned char, TjBufferDeleter> buffer(raw);
  if (rc != 0) return internal_error(std::string("JPEG encoding failed: ") + tjGetErrorStr2(tj.get()));
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    const int error = errno;
    const std::string message = "cannot create '" + path + "': " + std::strerror(error);
    if (error == ENOENT || error == ENOTDIR) return not_found(message + " (does its folder exist?)");
    return failed_precondition(message + " (check the folder's permissions and free space)");
  }
  const bool written = std::fwrite(buffer.get(), 1, size, file) == size && std::fflush(file) == 0;
  const int error = errno;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    std::remove(path.c_str());
    return failed_precondition("cannot write JPEG '" + path + "': " + std::strerror(error) +
                               " (check free disk space and permissions)");
  }
  return Status::Ok();
}

Status write_image(const Image& image, const std::string& path) {
  FACELENS_ASSIGN_OR_RETURN(ImageFormat format, image_format_for_path(path));
  return format == ImageFormat::kJpeg ? write_jpeg(image, path, kDefaultJpegQuality) : write_png(image, path);
}

}  // namespace facelens

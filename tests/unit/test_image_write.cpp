// write_image / write_jpeg: the format follows the file name's extension (--draw).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "facelens/image.h"

namespace facelens {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("facelens_test_image_write_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

// A smooth gradient: JPEG keeps it within a few levels.
Image gradient(int width, int height) {
  Image img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = img.pixels.data() + (static_cast<size_t>(y) * width + x) * 3;
      p[0] = static_cast<uint8_t>(x * 255 / width);
      p[1] = static_cast<uint8_t>(y * 255 / height);
      p[2] = 128;
    }
  return img;
}

TEST(ImageWrite, FormatFollowsTheExtension) {
  EXPECT_EQ(*image_format_for_path("a/b.png"), ImageFormat::kPng);
  EXPECT_EQ(*image_format_for_path("B.PNG"), ImageFormat::kPng);
  EXPECT_EQ(*image_format_for_path("x.jpg"), ImageFormat::kJpeg);
  EXPECT_EQ(*image_format_for_path("x.JPEG"), ImageFormat::kJpeg);
  for (const char* bad : {"x.gif", "x", "x.webp", "dir.png/x.bmp"}) {
    auto f = image_format_for_path(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    for (const char* ext : {".png", ".jpg", ".jpeg"})
      EXPECT_NE(f.status().message().find(ext), std::string::npos) << f.status().message();
  }
}

TEST(ImageWrite, JpegAndPngBytesAsNamed) {
  const Image img = gradient(64, 48);
  for (const auto& [name, format] : {std::pair{"w.jpg", ImageFormat::kJpeg}, std::pair{"w.jpeg", ImageFormat::kJpeg},
                                     std::pair{"w.png", ImageFormat::kPng}}) {
    const std::string path = temp_path(name);
    ASSERT_TRUE(write_image(img, path).ok()) << name;
    auto decoded = decode_image_file(path, {});
    std::filesystem::remove(path);
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(decoded->format, format) << name;
    ASSERT_EQ(decoded->image.width, 64);
    ASSERT_EQ(decoded->image.height, 48);
    int worst = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i)
      worst = std::max(worst, std::abs(int(decoded->image.pixels[i]) - int(img.pixels[i])));
    EXPECT_LE(worst, format == ImageFormat::kPng ? 0 : 12) << name;
  }
  EXPECT_EQ(write_image(img, temp_path("w.gif")).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(temp_path("w.gif")));
  EXPECT_EQ(write_jpeg(img, "/nonexistent_dir_facelens/x.jpg", 90).code(), StatusCode::kNotFound);
  EXPECT_EQ(write_jpeg(img, temp_path("q.jpg"), 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write_jpeg(Image{}, temp_path("e.jpg"), 90).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace facelens

#include "bench/sweep_photos.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
// clang-format on

#include <cmath>
#include <csetjmp>
#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>

namespace facelens::bench {

namespace {

// libjpeg reports errors through error_exit, which must not return: jump back to the caller.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

Image resized(const Image& src, int width, int height) {
  if (src.width == width && src.height == height) return src;
  Image out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<size_t>(width) * height * 3);
  const cv::Mat in(src.height, src.width, CV_8UC3, const_cast<uint8_t*>(src.pixels.data()));
  cv::Mat dst(height, width, CV_8UC3, out.pixels.data());
  const bool shrink = static_cast<int64_t>(width) * height < static_cast<int64_t>(src.width) * src.height;
  cv::resize(in, dst, dst.size(), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

// Everything libjpeg allocates lives in `c` and `buffer`; the jump target owns no C++ object
// with a destructor between setjmp and longjmp.
Status encode(const Image& img, const SweepSpec& spec, std::vector<uint8_t>* out) {
  jpeg_compress_struct c{};
  JpegError err{};
  c.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_jpeg_error;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&c);
    std::free(buffer);
    return internal_error(std::string("libjpeg could not encode ") + spec.name + ": " + err.message);
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(img.width);
  c.image_height = static_cast<JDIMENSION>(img.height);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, kSweepJpegQuality, /*force_baseline=*/TRUE);
  const int h = spec.subsampling == ChromaSubsampling::k420 ? 2 : 1;
  c.comp_info[0].h_samp_factor = h;
  c.comp_info[0].v_samp_factor = h;
  for (int i = 1; i < 3; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  if (spec.progressive) jpeg_simple_progression(&c);
  c.restart_in_rows = spec.restart_rows;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.row(static_cast<int>(c.next_scanline)));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  out->assign(buffer, buffer + size);
  jpeg_destroy_compress(&c);
  std::free(buffer);
  return Status::Ok();
}

}  // namespace

const char* chroma_subsampling_name(ChromaSubsampling s) { return s == ChromaSubsampling::k420 ? "4:2:0" : "4:4:4"; }

const std::vector<SweepSpec>& sweep_specs() {
  // Sizes of the issue-17 sweep: a small upload, a 2 MP and a 2.6 MP phone photo, a 12-14 MP
  // camera photo. Restart markers every MCU row, as cameras write them (obama-1080p.jpg has one
  // every 2 rows).
  static const std::vector<SweepSpec> kSpecs = [] {
    struct Size {
      const char* label;
      double mp;
    };
    const Size sizes[] = {{"0.3mp", 0.3}, {"2mp", 2.0}, {"2.6mp", 2.6}, {"13mp", 13.0}};
    std::vector<SweepSpec> specs;
    for (const auto& s : sizes) {
      for (bool progressive : {false, true}) {
        for (int rst : {0, 1}) {
          const std::string label = s.label;
          SweepSpec spec{label + (progressive ? "-progressive" : "-baseline") + (rst ? "-rst" : ""),
                         s.mp,
                         progressive,
                         rst,
                         ChromaSubsampling::k420,
                         false};
          spec.sent_to_server = rst == 0 && ((progressive && label == "13mp") ||
                                             (!progressive && (label == "0.3mp" || label == "2.6mp")));
          specs.push_back(spec);
        }
      }
      if (std::string(s.label) == "2.6mp")
        specs.push_back({"2.6mp-baseline-444", s.mp, false, 0, ChromaSubsampling::k444, false});
    }
    return specs;
  }();
  return kSpecs;
}

std::pair<int, int> sweep_size(const SweepSpec& spec, int src_width, int src_height) {
  const double aspect = static_cast<double>(src_width) / src_height;
  const int height = static_cast<int>(std::lround(std::sqrt(spec.megapixels * 1e6 / aspect)));
  const int width = static_cast<int>(std::lround(height * aspect));
  return {std::max(width, 1), std::max(height, 1)};
}

StatusOr<std::vector<uint8_t>> encode_sweep_jpeg(const Image& source, const SweepSpec& spec) {
  if (source.empty()) return invalid_argument("the sweep's source image is empty");
  const auto [w, h] = sweep_size(spec, source.width, source.height);
  std::vector<uint8_t> out;
  FACELENS_RETURN_IF_ERROR(encode(resized(source, w, h), spec, &out));
  return out;
}

StatusOr<std::vector<SweepPhoto>> make_sweep_photos(const std::string& source_path, const std::string& dir) {
  auto decoded = decode_image_file(source_path, {});
  if (!decoded.ok())
    return invalid_argument("sweep source " + source_path + ": " + decoded.status().message() +
                            " (pass a photo with a face, e.g. ../shared/data/faces/face_recognition/obama3.jpg)");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return invalid_argument("cannot create " + dir + ": " + ec.message());
  std::vector<SweepPhoto> photos;
  for (const auto& spec : sweep_specs()) {
    FACELENS_ASSIGN_OR_RETURN(auto bytes, encode_sweep_jpeg(decoded->image, spec));
    const auto [w, h] = sweep_size(spec, decoded->image.width, decoded->image.height);
    SweepPhoto p;
    p.name = spec.name;
    p.path = (std::filesystem::path(dir) / (spec.name + ".jpg")).string();
    p.width = w;
    p.height = h;
    p.megapixels = static_cast<double>(w) * h / 1e6;
    p.bytes = static_cast<int64_t>(bytes.size());
    p.progressive = spec.progressive;
    p.restart_rows = spec.restart_rows;
    p.subsampling = chroma_subsampling_name(spec.subsampling);
    p.sent_to_server = spec.sent_to_server;
    std::ofstream f(p.path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f) return invalid_argument("cannot write " + p.path + ": check the folder's permissions and free space");
    photos.push_back(std::move(p));
  }
  return photos;
}

}  // namespace facelens::bench

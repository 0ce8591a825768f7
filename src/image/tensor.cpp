#include "image/tensor.h"

#include <algorithm>
#include <opencv2/imgproc.hpp>

namespace facelens::image {

static cv::Mat wrap(const Image& img) {
  return cv::Mat(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.pixels.data()));
}

void to_planar(const Image& img, const Normalization& norm, float* out) {
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  const uint8_t* p = img.pixels.data();
  if (norm.order == ChannelOrder::kGray) {
    // ITU-R BT.601 luma, as OpenCV's RGB2GRAY computes it (kBGR: the weights of R and B swapped).
    const float inv = 1.f / norm.std[0];
    const bool swapped = norm.gray_source == GraySource::kBGR;
    const float wr = swapped ? 0.114f : 0.299f, wb = swapped ? 0.299f : 0.114f;
    for (size_t i = 0; i < plane; ++i, p += 3) {
      float g = wr * p[0] + 0.587f * p[1] + wb * p[2];
      out[i] = (std::nearbyint(g) - norm.mean[0]) * inv;
    }
    return;
  }
  // Source is RGB; channel c of the tensor takes source channel src[c].
  const int src[3] = {norm.order == ChannelOrder::kRGB ? 0 : 2, 1, norm.order == ChannelOrder::kRGB ? 2 : 0};
  float* o[3] = {out, out + plane, out + 2 * plane};
  const float inv[3] = {1.f / norm.std[0], 1.f / norm.std[1], 1.f / norm.std[2]};
  for (size_t i = 0; i < plane; ++i, p += 3) {
    for (int c = 0; c < 3; ++c) o[c][i] = (p[src[c]] - norm.mean[c]) * inv[c];
  }
}

namespace {

// One resize for both filters: a new image of width x height from OpenCV's `interpolation`.
Image resize_with(const Image& img, int width, int height, int interpolation) {
  Image out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<size_t>(width) * height * 3);
  cv::Mat dst(height, width, CV_8UC3, out.pixels.data());
  cv::resize(wrap(img), dst, cv::Size(width, height), 0, 0, interpolation);
  return out;
}

}  // namespace

Image resize(const Image& img, int width, int height) { return resize_with(img, width, height, cv::INTER_LINEAR); }

Image resize_area(const Image& img, int width, int height) { return resize_with(img, width, height, cv::INTER_AREA); }

Image crop(const Image& img, int x, int y, int w, int h) {
  int x1 = std::clamp(x, 0, img.width), y1 = std::clamp(y, 0, img.height);
  int x2 = std::clamp(x + w, 0, img.width), y2 = std::clamp(y + h, 0, img.height);
  Image out;
  if (x2 <= x1 || y2 <= y1) return out;
  out.width = x2 - x1;
  out.height = y2 - y1;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  for (int r = 0; r < out.height; ++r) {
    std::copy_n(img.row(y1 + r) + x1 * 3, out.width * 3, out.pixels.data() + static_cast<size_t>(r) * out.width * 3);
  }
  return out;
}

void crop_resize_planar(const Image& img, int x, int y, int w, int h, int width, int height, const Normalization& norm,
                        float* out) {
  int x1 = std::clamp(x, 0, img.width), y1 = std::clamp(y, 0, img.height);
  int x2 = std::clamp(x + w, 0, img.width), y2 = std::clamp(y + h, 0, img.height);
  if (x2 <= x1 || y2 <= y1) {
    std::fill_n(out, static_cast<size_t>(norm.channels()) * width * height, 0.f);
    return;
  }
  Image sized;
  sized.width = width;
  sized.height = height;
  sized.pixels.resize(static_cast<size_t>(width) * height * 3);
  cv::Mat dst(height, width, CV_8UC3, sized.pixels.data());
  cv::resize(wrap(img)(cv::Rect(x1, y1, x2 - x1, y2 - y1)), dst, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  to_planar(sized, norm, out);
}

CropRect scaled_crop(const Box& box, float scale, int iw, int ih) {
  const float bw = std::max(1.f, box.width()), bh = std::max(1.f, box.height());
  scale = std::min({scale, (ih - 1) / bh, (iw - 1) / bw});
  const float nw = bw * scale, nh = bh * scale;
  const float cx = box.x1 + bw / 2, cy = box.y1 + bh / 2;
  float x1 = cx - nw / 2, y1 = cy - nh / 2, x2 = cx + nw / 2, y2 = cy + nh / 2;
  if (x1 < 0) {
    x2 -= x1;
    x1 = 0;
  }
  if (y1 < 0) {
    y2 -= y1;
    y1 = 0;
  }
  if (x2 > iw - 1) {
    x1 -= x2 - iw + 1;
    x2 = static_cast<float>(iw - 1);
  }
  if (y2 > ih - 1) {
    y1 -= y2 - ih + 1;
    y2 = static_cast<float>(ih - 1);
  }
  CropRect r;
  r.x = std::max(0, static_cast<int>(x1));
  r.y = std::max(0, static_cast<int>(y1));
  r.w = std::min(static_cast<int>(x2 - x1), iw - 1);
  r.h = std::min(static_cast<int>(y2 - y1), ih - 1);
  return r;
}

}  // namespace facelens::image

#include "image/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

// The passes over every pixel of a large photo are also compiled for AVX2 (chosen at load time
// where the CPU has it): twice the lanes of SSE2's for the loops the compiler vectorises. Without
// FMA, so that every lane rounds as the SSE2 build does: the same pixels on every CPU.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FACELENS_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FACELENS_AVX2_CLONES
#endif

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

// Each of the bw output pixels of one row of blocks: the sum of its FX (fx when FX is 0) column
// sums per channel, mapped to the rounded mean by mean(sum).
template <int FX, typename Mean>
void block_means(const uint16_t* sums, int bw, int fx, const Mean& mean, uint8_t* out) {
  const int n = FX > 0 ? FX : fx;
  for (int bx = 0; bx < bw; ++bx) {
    const uint16_t* block = sums + static_cast<size_t>(bx) * n * 3;
    uint32_t s0 = 0, s1 = 0, s2 = 0;
    for (int k = 0; k < n; ++k) {
      s0 += block[3 * k];
      s1 += block[3 * k + 1];
      s2 += block[3 * k + 2];
    }
    out[3 * bx] = mean(s0);
    out[3 * bx + 1] = mean(s1);
    out[3 * bx + 2] = mean(s2);
  }
}

// The mean of every fx x fy block of the bw*fx x bh*fy pixels at (x, y) of img, rounded: a bw x bh
// image. Rows are summed first (a loop the compiler vectorises), then each block's columns, whose
// sum a table maps to the rounded mean for blocks of up to kTabledArea pixels (without a division
// per pixel: 3x faster than a float operation per pixel, measured on a 3.25 MP decode).
FACELENS_AVX2_CLONES Image average_blocks(const Image& img, int x, int y, int fx, int fy, int bw, int bh) {
  Image out;
  out.width = bw;
  out.height = bh;
  out.pixels.resize(static_cast<size_t>(bw) * bh * 3);
  const size_t n = static_cast<size_t>(bw) * fx * 3;
  std::vector<uint16_t> sums(n);  // fy <= 257: no overflow
  const uint32_t area = static_cast<uint32_t>(fx) * static_cast<uint32_t>(fy);
  auto rounded = [area](uint32_t sum) { return static_cast<uint8_t>((2 * sum + area) / (2 * area)); };  // half up
  constexpr uint32_t kTabledArea = 1024;
  const size_t table_size = static_cast<size_t>(255) * area + 1;
  std::vector<uint8_t> table(area <= kTabledArea && table_size < out.pixels.size() ? table_size : 0);  // when it pays
  for (size_t sum = 0; sum < table.size(); ++sum) table[sum] = rounded(static_cast<uint32_t>(sum));
  auto tabled = [&table](uint32_t sum) { return table[sum]; };
  for (int by = 0; by < bh; ++by) {
    uint16_t* s = sums.data();
    const uint8_t* first = img.row(y + by * fy) + static_cast<size_t>(x) * 3;
    for (size_t i = 0; i < n; ++i) s[i] = first[i];
    for (int r = 1; r < fy; ++r) {
      const uint8_t* row = img.row(y + by * fy + r) + static_cast<size_t>(x) * 3;
      for (size_t i = 0; i < n; ++i) s[i] = static_cast<uint16_t>(s[i] + row[i]);
    }
    uint8_t* o = out.pixels.data() + static_cast<size_t>(by) * bw * 3;
    if (table.empty()) {
      block_means<0>(s, bw, fx, rounded, o);
      continue;
    }
    switch (fx) {
      case 1: block_means<1>(s, bw, fx, tabled, o); break;
      case 2: block_means<2>(s, bw, fx, tabled, o); break;
      case 3: block_means<3>(s, bw, fx, tabled, o); break;
      case 4: block_means<4>(s, bw, fx, tabled, o); break;
      default: block_means<0>(s, bw, fx, tabled, o);
    }
  }
  return out;
}

// One axis of an area resize from src to dst samples (dst <= src): output i averages the source
// span [i * s, (i + 1) * s), s = src / dst, over `taps` source samples from first[i], weighted by
// how much of each the span covers (zero for those outside it).
struct AreaTaps {
  int taps = 0;
  std::vector<int> first;
  std::vector<float> weight;  // weight[i * taps + k] for source first[i] + k
};

AreaTaps area_taps(int src, int dst) {
  const double s = static_cast<double>(src) / dst;
  AreaTaps t;
  t.taps = std::min(src, static_cast<int>(std::ceil(s)) + 1);
  t.first.resize(dst);
  t.weight.assign(static_cast<size_t>(dst) * t.taps, 0.f);
  for (int i = 0; i < dst; ++i) {
    const double a = i * s, b = std::min<double>(src, (i + 1) * s);
    const int first = std::min(static_cast<int>(std::floor(a)), src - t.taps);
    t.first[i] = first;
    for (int k = 0; k < t.taps; ++k) {
      const double covered = std::min(b, first + k + 1.0) - std::max(a, first + k + 0.0);
      if (covered > 0) t.weight[static_cast<size_t>(i) * t.taps + k] = static_cast<float>(covered / (b - a));
    }
  }
  return t;
}

// Four floats, added and multiplied lane by lane (GCC's and Clang's vector extension: SSE on
// x86-64, NEON on ARM).
using Float4 = float __attribute__((vector_size(16)));
using Int4 = int32_t __attribute__((vector_size(16)));

// Each output pixel of a row from `sums` (one row of channel sums, 3 floats a pixel, and one more
// float readable after the last): TAPS of them weighted, rounded to uint8. A pixel's three
// channels are the first three lanes of one Float4 (the fourth, the next pixel's first channel,
// is computed and dropped), each lane summed in the same order as one float would be.
template <int TAPS>
void area_row(const AreaTaps& t, const float* sums, int width, uint8_t* out) {
  const int taps = TAPS > 0 ? TAPS : t.taps;
  const Float4 half = {0.5f, 0.5f, 0.5f, 0.5f}, top = {255.f, 255.f, 255.f, 255.f};
  for (int x = 0; x < width; ++x) {
    const float* p = sums + static_cast<size_t>(t.first[x]) * 3;
    const float* w = t.weight.data() + static_cast<size_t>(x) * taps;
    Float4 acc = half;
    for (int k = 0; k < taps; ++k) {
      Float4 v;
      std::memcpy(&v, p + 3 * k, sizeof v);
      acc += w[k] * v;
    }
    const Int4 q = __builtin_convertvector(acc < top ? acc : top, Int4);  // truncates, as a cast
    out[3 * x] = static_cast<uint8_t>(q[0]);
    out[3 * x + 1] = static_cast<uint8_t>(q[1]);
    out[3 * x + 2] = static_cast<uint8_t>(q[2]);
  }
}

// The area resize of the rectangle (x, y, w, h) of img to out (width <= w, height <= h),
// separably: per output row, its source rows weighted into one row of floats (a loop the compiler
// vectorises), then that row's columns. The weights are OpenCV's INTER_AREA ones; OpenCV's own
// general path walks them one source pixel at a time (3-5 ns a source pixel here).
FACELENS_AVX2_CLONES void area_separable(const Image& img, int x, int y, int w, int h, Image& out) {
  const AreaTaps tx = area_taps(w, out.width), ty = area_taps(h, out.height);
  std::vector<float> sums(static_cast<size_t>(w) * 3 + 1);  // + 1: area_row reads 4 floats a pixel
  const size_t n = sums.size() - 1;
  for (int oy = 0; oy < out.height; ++oy) {
    std::fill(sums.begin(), sums.end(), 0.f);
    for (int k = 0; k < ty.taps; ++k) {
      const float wk = ty.weight[static_cast<size_t>(oy) * ty.taps + k];
      if (wk == 0.f) continue;
      const uint8_t* row = img.row(y + ty.first[oy] + k) + static_cast<size_t>(x) * 3;
      float* s = sums.data();
      for (size_t i = 0; i < n; ++i) s[i] += wk * static_cast<float>(row[i]);
    }
    uint8_t* o = out.pixels.data() + static_cast<size_t>(oy) * out.width * 3;
    switch (tx.taps) {
      case 2: area_row<2>(tx, sums.data(), out.width, o); break;
      case 3: area_row<3>(tx, sums.data(), out.width, o); break;
      default: area_row<0>(tx, sums.data(), out.width, o);
    }
  }
}

}  // namespace

Image resize(const Image& img, int width, int height) { return resize_with(img, width, height, cv::INTER_LINEAR); }

Image resize_area(const Image& img, int width, int height) {
  return resize_area(img, CropRect{0, 0, img.width, img.height}, width, height);
}

Image resize_area(const Image& img, const CropRect& rect, int width, int height) {
  // OpenCV's general INTER_AREA path costs about 3-5 ns per source pixel here (10-16 ms from a
  // 3.25 MP decode to 640x480, measured; its whole-block path is little faster for blocks other
  // than 2x2). So each axis' whole-number part of the scale is averaged first in blocks, on the
  // rectangle cut to whole blocks (under one block of its right and bottom edges left out), and
  // only the remaining fraction by OpenCV's area weights, from a copy that many times smaller.
  const cv::Rect r(rect.x, rect.y, rect.w, rect.h);
  const int fx = std::max(1, r.width / std::max(1, width));
  const int fy = std::clamp(r.height / std::max(1, height), 1, 257);
  Image out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<size_t>(width) * height * 3);
  cv::Mat dst(height, width, CV_8UC3, out.pixels.data());
  if (width > r.width || height > r.height) {  // enlarging: OpenCV's INTER_AREA is bilinear there
    cv::resize(wrap(img)(r), dst, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    return out;
  }
  if (fx == 1 && fy == 1) {
    area_separable(img, r.x, r.y, r.width, r.height, out);
    return out;
  }
  const Image blocks = average_blocks(img, r.x, r.y, fx, fy, r.width / fx, r.height / fy);
  if (blocks.width == width && blocks.height == height) return blocks;
  area_separable(blocks, 0, 0, blocks.width, blocks.height, out);
  return out;
}

Image resize_area_exact(const Image& img, int width, int height) {
  return resize_with(img, width, height, cv::INTER_AREA);
}

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

// Image -> model input tensor: crop, resize (bilinear), colour order and per-channel
// normalisation, written planar (NCHW, one image). The numbers (size, order, mean, std) come from
// the model's manifest entry; nothing here knows a model.
#pragma once

#include <array>

#include "facelens/image.h"
#include "facelens/types.h"

namespace facelens::image {

enum class ChannelOrder { kRGB, kBGR, kGray };

// Which luma weights a grey input takes. kRGB: ITU-R BT.601, 0.299 R + 0.587 G + 0.114 B (OpenCV
// RGB2GRAY). kBGR: the same weights on swapped channels, 0.114 R + 0.587 G + 0.299 B, which is what
// OpenCV BGR2GRAY gives when it is fed an RGB(A) image (as the faceplugin package's JS does).
enum class GraySource { kRGB, kBGR };

struct Normalization {
  ChannelOrder order = ChannelOrder::kRGB;
  std::array<float, 3> mean{0, 0, 0};  // on 0..255 values, in `order`
  std::array<float, 3> std{1, 1, 1};
  GraySource gray_source = GraySource::kRGB;  // only for kGray
  int channels() const { return order == ChannelOrder::kGray ? 1 : 3; }
};

// Writes channels() x height x width floats to `out`: (pixel - mean) / std.
// `img` must already be width x height.
void to_planar(const Image& img, const Normalization& norm, float* out);

// Resizes the whole image to width x height (bilinear, OpenCV INTER_LINEAR).
Image resize(const Image& img, int width, int height);

// Resizes the whole image to width x height by area averaging (OpenCV INTER_AREA): every source
// pixel counts, so a photo gives the same picture at any resolution it comes in.
// Whole-number parts of the scales are averaged in blocks first (fast), the rest by exact area
// weights in one separable pass: within a few levels of resize_area_exact, up to one block of the
// right and bottom edges left out (within one level where no block pass is needed: scales under 2).
Image resize_area(const Image& img, int width, int height);
// OpenCV's INTER_AREA in one pass (the reference of resize_area).
Image resize_area_exact(const Image& img, int width, int height);

// The integer rectangle [x, y, x+w, y+h) of `img` (clipped to the image; empty if outside).
Image crop(const Image& img, int x, int y, int w, int h);

// crop() then resize() then to_planar(), in one go.
void crop_resize_planar(const Image& img, int x, int y, int w, int h, int width, int height, const Normalization& norm,
                        float* out);

// An integer crop rectangle in image pixels.
struct CropRect {
  int x = 0, y = 0, w = 0, h = 0;
};

// resize_area of the rectangle `rect` of `img` (inside it).
Image resize_area(const Image& img, const CropRect& rect, int width, int height);

// The box scaled by `scale` about its centre (scale lowered so the crop fits the image), shifted
// back inside the image, truncated to integers (MiniFASNet's CropImage; the faceplugin package's
// alignLivenessImage / alignLandmarkImage).
CropRect scaled_crop(const Box& box, float scale, int image_width, int image_height);

}  // namespace facelens::image

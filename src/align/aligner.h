// Five-point face alignment: least-squares similarity transform (rotation, uniform scale,
// translation; Umeyama 1991 without reflection) of the five points onto a template, then one
// bilinear warp. Pure functions, thread-safe.
#pragma once

#include <array>

#include "facelens/image.h"
#include "facelens/types.h"

namespace facelens::align {

// 2x3 affine matrix [a -b tx; b a ty] mapping source points to template points.
using Similarity = std::array<float, 6>;

// The standard ArcFace 112x112 template (insightface, python-package/insightface/utils/face_align.py,
// arcface_dst): left eye, right eye, nose, left and right mouth corner.
inline constexpr FivePoints kArcFace112 = {
    {{38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f}, {41.5493f, 92.3655f}, {70.7299f, 92.2041f}}};

Similarity estimate_similarity(const FivePoints& from, const FivePoints& to);

// Warps `img` so that `points` land on the template scaled to size x size (template given for 112).
Image align_face(const Image& img, const FivePoints& points, int size = 112,
                 const FivePoints& template_112 = kArcFace112);

}  // namespace facelens::align

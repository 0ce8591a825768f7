// The enrolment quality gate: image-quality measures and the checks an enrolment passes (one
// face, size, pose, liveness, sharpness). Pure functions, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "facelens/image.h"
#include "facelens/recognition.h"
#include "facelens/status.h"
#include "facelens/types.h"

namespace facelens::recognition {

// Focus measure: variance of the 3x3 Laplacian of the grey image (Pech-Pacheco et al., "Diatom
// autofocusing in brightfield microscopy", ICPR 2000). Higher = sharper; it depends on the image
// size, so compare crops of one size (enrolment uses the aligned 112x112 face).
double laplacian_variance(const Image& image);

// The face to enrol among the detected ones, after the checks that need no crop: exactly one face
// (or the largest with options.largest_face), its size, pose (when attributes were computed) and
// liveness (when options.require_live). kInvalidArgument saying how to fix.
StatusOr<size_t> select_enrollment_face(const std::vector<Face>& faces, const EnrollOptions& options);
// The sharpness check on the aligned crop's laplacian_variance.
Status check_sharpness(double sharpness, const EnrollOptions& options);

}  // namespace facelens::recognition

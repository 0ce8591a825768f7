// Image-quality measures used by the enrolment checks. Pure functions, thread-safe.
#pragma once

#include "facelens/image.h"

namespace facelens::gallery {

// Focus measure: variance of the 3x3 Laplacian of the grey image (Pech-Pacheco et al., "Diatom
// autofocusing in brightfield microscopy", ICPR 2000). Higher = sharper; it depends on the image
// size, so compare crops of one size (the gallery uses the aligned 112x112 face).
double laplacian_variance(const Image& image);

}  // namespace facelens::gallery

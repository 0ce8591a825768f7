// Colour management at decode time: pixels described by an embedded ICC profile are converted to
// sRGB (Little CMS 2), as browsers and libvips/sharp do before a model sees them. Pure function on
// values the caller owns; thread-safe.
//
//   image::to_srgb(img, layout.icc_profile);   // no-op for an empty, invalid or non-RGB profile
#pragma once

#include <cstdint>
#include <span>

#include "facelens/image.h"

namespace facelens::image {

// Converts 8-bit RGB `img` from the colour space of `icc_profile` to sRGB (perceptual intent).
// Returns false and leaves the pixels as they are when the profile is empty, cannot be parsed or
// does not describe RGB data: the pixels are then taken as sRGB, as they were before ICC support;
// and when the profile is sRGB's own (colorants and tone curves within rounding), whose
// conversion would change no pixel by more than a level.
bool to_srgb(Image& img, std::span<const uint8_t> icc_profile);

// Whether `icc_profile` is sRGB's own up to rounding (the case to_srgb leaves the pixels alone).
bool describes_srgb(std::span<const uint8_t> icc_profile);

}  // namespace facelens::image

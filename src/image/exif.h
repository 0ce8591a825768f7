// JPEG marker walk and EXIF orientation (internal to the image module).
//
//   auto layout = facelens::image::scan_jpeg_markers(bytes);   // never reads out of bounds
//   if (!layout.has_eoi) ...;                                  // truncated upload
//   facelens::image::apply_orientation(img, layout.orientation);
//
// Pure functions over caller-owned bytes; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "facelens/image.h"

namespace facelens::image {

// What a walk over a JPEG's marker segments found (the entropy-coded data is skipped, not
// decoded).
struct JpegLayout {
  int orientation = 1;   // EXIF orientation (1..8) of the first Exif APP1 segment; 1 if none
  int n_scans = 0;       // SOS markers (progressive files have several)
  bool has_eoi = false;  // an EOI marker after the last scan: false for a truncated file
  // From the first SOF marker (0 when there is none).
  int width = 0;
  int height = 0;
  int n_components = 0;
  // The embedded ICC profile (APP2 "ICC_PROFILE" chunks joined in sequence order); empty when
  // there is none or its chunks are incomplete.
  std::vector<uint8_t> icc_profile;
};

// Walks the marker segments of a JPEG file (starting with SOI) with strict bounds checks.
JpegLayout scan_jpeg_markers(std::span<const uint8_t> jpeg);

// Parses the TIFF structure of an Exif APP1 payload (the bytes after "Exif\0\0") and returns
// the orientation tag (0x0112) of IFD0, or 1 when it is absent, malformed or outside 1..8.
int parse_exif_orientation(std::span<const uint8_t> tiff);

// True for orientations 5..8, which swap width and height.
bool orientation_swaps_axes(int orientation);

// Applies an EXIF orientation (1..8) to an RGB image so that it reads upright; 1 or an unknown
// value leaves it unchanged.
void apply_orientation(Image& img, int orientation);

}  // namespace facelens::image

// JPEG marker walk and EXIF orientation. Marker layout: ITU-T T.81 annex B; Exif layout:
// CIPA DC-008 (Exif 2.3) section 4.5 (TIFF header, IFD0, tag 0x0112 Orientation, type SHORT).
#include "image/exif.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

namespace facelens::image {
namespace {

constexpr uint8_t kMarkerSoi = 0xD8;
constexpr uint8_t kMarkerEoi = 0xD9;
constexpr uint8_t kMarkerSos = 0xDA;
constexpr uint8_t kMarkerApp1 = 0xE1;
constexpr uint8_t kMarkerApp2 = 0xE2;
constexpr uint8_t kMarkerTem = 0x01;
constexpr uint16_t kTagOrientation = 0x0112;
constexpr uint16_t kTypeShort = 3;
constexpr uint16_t kTypeLong = 4;
constexpr size_t kIfdEntrySize = 12;

bool is_rst(uint8_t marker) { return marker >= 0xD0 && marker <= 0xD7; }

// SOF0..SOF15, less DHT (C4), JPG (C8) and DAC (CC).
bool is_sof(uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Reads TIFF integers in the byte order the TIFF header declared.
class TiffReader {
 public:
  TiffReader(std::span<const uint8_t> bytes, bool little_endian) : bytes_(bytes), little_endian_(little_endian) {}

  bool u16(size_t offset, uint16_t* out) const {
    if (offset > bytes_.size() || bytes_.size() - offset < 2) return false;
    const uint8_t* p = bytes_.data() + offset;
    *out = little_endian_ ? static_cast<uint16_t>(p[0] | (p[1] << 8)) : static_cast<uint16_t>((p[0] << 8) | p[1]);
    return true;
  }

  bool u32(size_t offset, uint32_t* out) const {
    if (offset > bytes_.size() || bytes_.size() - offset < 4) return false;
    const uint8_t* p = bytes_.data() + offset;
    *out = little_endian_ ? (uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24))
                          : ((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]});
    return true;
  }

 private:
  std::span<const uint8_t> bytes_;
  bool little_endian_;
};

// Skips entropy-coded data from `pos`; returns the position of the next marker's 0xFF, or
// bytes.size() when the data ends first. Inside a scan, 0xFF is followed by 0x00 (stuffing),
// an RST marker or 0xFF fill; anything else starts a marker.
size_t skip_entropy_data(std::span<const uint8_t> bytes, size_t pos) {
  const size_t n = bytes.size();
  while (pos < n) {
    const void* hit = std::memchr(bytes.data() + pos, 0xFF, n - pos);
    if (hit == nullptr) return n;
    pos = static_cast<size_t>(static_cast<const uint8_t*>(hit) - bytes.data());
    size_t next = pos + 1;
    while (next < n && bytes[next] == 0xFF) ++next;
    if (next >= n) return n;
    const uint8_t b = bytes[next];
    if (b != 0x00 && !is_rst(b)) return next - 1;
    pos = next + 1;
  }
  return n;
}

}  // namespace

int parse_exif_orientation(std::span<const uint8_t> tiff) {
  if (tiff.size() < 8) return 1;
  bool little_endian = false;
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    little_endian = true;
  } else if (!(tiff[0] == 'M' && tiff[1] == 'M')) {
    return 1;
  }
  const TiffReader reader(tiff, little_endian);
  uint16_t magic = 0;
  uint32_t ifd_offset = 0;
  if (!reader.u16(2, &magic) || magic != 42 || !reader.u32(4, &ifd_offset)) return 1;
  uint16_t n_entries = 0;
  if (!reader.u16(ifd_offset, &n_entries)) return 1;
  const size_t first_entry = size_t{ifd_offset} + 2;
  for (size_t i = 0; i < n_entries; ++i) {
    const size_t entry = first_entry + i * kIfdEntrySize;
    if (entry > tiff.size() || tiff.size() - entry < kIfdEntrySize) return 1;
    uint16_t tag = 0, type = 0;
    uint32_t count = 0;
    reader.u16(entry, &tag);
    if (tag != kTagOrientation) continue;
    reader.u16(entry + 2, &type);
    reader.u32(entry + 4, &count);
    if (count < 1) return 1;
    uint32_t value = 0;
    if (type == kTypeShort) {
      uint16_t v16 = 0;
      reader.u16(entry + 8, &v16);
      value = v16;
    } else if (type == kTypeLong) {
      reader.u32(entry + 8, &value);
    } else {
      return 1;
    }
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

JpegLayout scan_jpeg_markers(std::span<const uint8_t> jpeg) {
  JpegLayout layout;
  const size_t n = jpeg.size();
  if (n < 4 || jpeg[0] != 0xFF || jpeg[1] != kMarkerSoi) return layout;
  bool exif_seen = false;
  std::vector<std::span<const uint8_t>> icc_chunks;  // by sequence number - 1
  size_t pos = 2;
  while (pos < n) {
    if (jpeg[pos] != 0xFF) {
      // Extraneous bytes between segments: libjpeg skips to the next marker (with a warning).
      const void* hit = std::memchr(jpeg.data() + pos, 0xFF, n - pos);
      if (hit == nullptr) return layout;
      pos = static_cast<size_t>(static_cast<const uint8_t*>(hit) - jpeg.data());
    }
    while (pos < n && jpeg[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return layout;
    const uint8_t marker = jpeg[pos++];
    if (marker == kMarkerEoi) {
      layout.has_eoi = layout.n_scans > 0;
      return layout;
    }
    if (marker == 0x00 || is_rst(marker) || marker == kMarkerTem || marker == kMarkerSoi) {
      continue;  // no length field
    }
    if (n - pos < 2) return layout;
    const size_t length = (size_t{jpeg[pos]} << 8) | jpeg[pos + 1];
    if (length < 2 || length > n - pos) return layout;
    const size_t payload = pos + 2;
    const size_t end = pos + length;
    if (marker == kMarkerApp1 && !exif_seen && layout.n_scans == 0 && end - payload >= 6 &&
        std::memcmp(jpeg.data() + payload, "Exif\0\0", 6) == 0) {
      exif_seen = true;
      layout.orientation = parse_exif_orientation(jpeg.subspan(payload + 6, end - payload - 6));
    }
    // ICC.1:2010 annex B.4: "ICC_PROFILE\0", sequence number (1-based), number of chunks, data.
    if (marker == kMarkerApp2 && layout.n_scans == 0 && end - payload >= 14 &&
        std::memcmp(jpeg.data() + payload, "ICC_PROFILE\0", 12) == 0) {
      const size_t seq = jpeg[payload + 12], count = jpeg[payload + 13];
      if (seq >= 1 && seq <= count) {
        if (icc_chunks.size() < count) icc_chunks.resize(count);
        icc_chunks[seq - 1] = jpeg.subspan(payload + 14, end - payload - 14);
      }
    }
    if (is_sof(marker) && layout.n_components == 0 && end - payload >= 6) {
      // precision (1), height (2), width (2), number of components (1)
      layout.height = (jpeg[payload + 1] << 8) | jpeg[payload + 2];
      layout.width = (jpeg[payload + 3] << 8) | jpeg[payload + 4];
      layout.n_components = std::max(1, int{jpeg[payload + 5]});
    }
    pos = end;
    if (marker == kMarkerSos) {
      if (layout.n_scans == 0) {
        bool complete = !icc_chunks.empty();
        for (const auto& c : icc_chunks) complete = complete && !c.empty();
        for (const auto& c : icc_chunks)
          if (complete) layout.icc_profile.insert(layout.icc_profile.end(), c.begin(), c.end());
      }
      ++layout.n_scans;
      pos = skip_entropy_data(jpeg, pos);
    }
  }
  return layout;
}

bool orientation_swaps_axes(int orientation) { return orientation >= 5 && orientation <= 8; }

void apply_orientation(Image& img, int orientation) {
  if (orientation < 2 || orientation > 8 || img.empty()) return;
  const ptrdiff_t w = img.width;
  const ptrdiff_t h = img.height;
  const bool swap = orientation_swaps_axes(orientation);
  const ptrdiff_t out_w = swap ? h : w;
  const ptrdiff_t out_h = swap ? w : h;
  // The stored pixel (x, y) shown at (xo, yo) of the upright image, as x = ax*xo + bx*yo + cx,
  // y = ay*xo + by*yo + cy.
  struct Affine {
    ptrdiff_t ax, bx, cx, ay, by, cy;
  };
  Affine m{};
  switch (orientation) {
    case 2:  // mirror horizontal
      m = {-1, 0, w - 1, 0, 1, 0};
      break;
    case 3:  // rotate 180
      m = {-1, 0, w - 1, 0, -1, h - 1};
      break;
    case 4:  // mirror vertical
      m = {1, 0, 0, 0, -1, h - 1};
      break;
    case 5:  // transpose
      m = {0, 1, 0, 1, 0, 0};
      break;
    case 6:  // rotate 90 clockwise
      m = {0, 1, 0, -1, 0, h - 1};
      break;
    case 7:  // transverse
      m = {0, -1, w - 1, -1, 0, h - 1};
      break;
    default:  // 8: rotate 90 counter-clockwise
      m = {0, -1, w - 1, 1, 0, 0};
      break;
  }
  const ptrdiff_t step = (m.ay * w + m.ax) * 3;
  std::vector<uint8_t> out(static_cast<size_t>(out_w * out_h * 3));
  for (ptrdiff_t yo = 0; yo < out_h; ++yo) {
    const ptrdiff_t x0 = m.bx * yo + m.cx;
    const ptrdiff_t y0 = m.by * yo + m.cy;
    const uint8_t* src = img.pixels.data() + (y0 * w + x0) * 3;
    uint8_t* dst = out.data() + yo * out_w * 3;
    for (ptrdiff_t xo = 0; xo < out_w; ++xo, dst += 3) {
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
      if (xo + 1 < out_w) src += step;
    }
  }
  img.pixels = std::move(out);
  img.width = static_cast<int>(out_w);
  img.height = static_cast<int>(out_h);
}

}  // namespace facelens::image

// Multi-threaded decoding of sequential and progressive JPEGs at their restart markers: see
// jpeg_parallel.h.
#include "image/jpeg_parallel.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
// For cinfo->marker->discarded_bytes (jpegint.h: "nominally internal, but applications ... might
// like to know the state"), the count of bytes skipped before a marker that libjpeg has not yet
// reported.
#define JPEG_INTERNALS
#include <jpeglib.h>
// clang-format on

#include <algorithm>
#include <array>
#include <csetjmp>
#include <cstring>
#include <system_error>
#include <thread>

namespace facelens::image {
namespace {

// Pixels per stripe below which another thread does not pay in the pipeline, decode then models
// (measured: automatic_stripe_count), for sequential files and for progressive ones (which cost 2
// to 3 times as much per pixel to decode).
constexpr int64_t kMinPixelsPerSequentialStripe = 250'000;
constexpr int64_t kMinPixelsPerProgressiveStripe = 100'000;
// The most bytes of tables a plan keeps (copied into every stripe).
constexpr size_t kMaxKeptBytes = 256 * 1024;

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// Walks a scan's entropy-coded data from scan.data_begin to the first marker that is not a restart
// marker, recording the restart segments; returns that marker's offset (its last 0xFF, after any
// fill bytes), or nullopt for a restart marker out of sequence, more than `max_segments`
// segments (a hostile file's flood of markers stops here, not after a vector per marker), or data
// that ends first.
std::optional<size_t> find_restart_segments(std::span<const uint8_t> jpeg, JpegScanPlan& scan, int64_t max_segments) {
  const uint8_t* data = jpeg.data();
  const size_t n = jpeg.size();
  size_t i = scan.data_begin;
  scan.segment_begin.push_back(i);
  while (true) {
    const void* found = i < n ? std::memchr(data + i, 0xFF, n - i) : nullptr;
    if (found == nullptr) return std::nullopt;  // no EOI: truncated (the single-threaded decode says so)
    const size_t ff = static_cast<size_t>(static_cast<const uint8_t*>(found) - data);
    size_t j = ff;
    while (j + 1 < n && data[j + 1] == 0xFF) ++j;  // fill bytes
    if (j + 1 >= n) return std::nullopt;
    const uint8_t code = data[j + 1];
    if (code == 0x00) {  // a stuffed 0xFF data byte
      i = j + 2;
      continue;
    }
    if (code >= 0xD0 && code <= 0xD7) {
      if (code != 0xD0 + scan.marker_code.size() % 8) return std::nullopt;  // out of sequence
      if (static_cast<int64_t>(scan.segment_begin.size()) >= max_segments) return std::nullopt;
      scan.segment_end.push_back(ff);
      scan.marker_code.push_back(j + 1);
      scan.segment_begin.push_back(j + 2);
      i = j + 2;
      continue;
    }
    scan.segment_end.push_back(ff);
    return j;
  }
}

// libjpeg reports errors through error_exit and warnings through emit_message(-1): both end a
// stripe's decode (the caller decodes again on one thread and reports what it finds).
struct StripeErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};

[[noreturn]] void stripe_error_exit(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<StripeErrorManager*>(cinfo->err)->jump, 1);
}

void stripe_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) std::longjmp(reinterpret_cast<StripeErrorManager*>(cinfo->err)->jump, 1);
}

void stripe_output_message(j_common_ptr) {}

// One stripe: its JPEG (header + segments + EOI), where its rows go, and which of them it keeps.
struct Stripe {
  std::vector<uint8_t> jpeg;
  int frame_height = 0;  // rows of the stripe's frame, at full size
  int first_row = 0;     // the output row of the stripe's first decoded row
  int keep_begin = 0;    // output rows [keep_begin, keep_end) are written to dst
  int keep_end = 0;
  bool last = false;  // the last stripe reads to EOI (jpeg_finish_decompress) like a full decode
};

struct StripeTarget {
  int scale_denom = 1;
  J_COLOR_SPACE color_space = JCS_EXT_RGB;
  int out_width = 0;
  int out_height = 0;
  int pixel_size = 3;
  uint8_t* dst = nullptr;
};

// Decodes one stripe; false on any libjpeg error or warning, or output dimensions other than
// planned. Only trivially destructible locals live between setjmp and the longjmps.
bool decode_stripe(const Stripe& stripe, const StripeTarget& target, std::vector<JSAMPROW>& rows,
                   std::vector<uint8_t>& scratch) {
  const size_t stride = static_cast<size_t>(target.out_width) * target.pixel_size;
  const int n_rows = stripe.keep_end - stripe.first_row;  // rows to read from the stripe
  rows.resize(static_cast<size_t>(std::max(n_rows, 0)));
  scratch.resize(stride);
  for (int r = 0; r < n_rows; ++r) {
    const int y = stripe.first_row + r;
    rows[r] = y >= stripe.keep_begin ? target.dst + static_cast<size_t>(y) * stride : scratch.data();
  }

  jpeg_decompress_struct cinfo;
  StripeErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = stripe_error_exit;
  err.pub.emit_message = stripe_emit_message;
  err.pub.output_message = stripe_output_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, stripe.jpeg.data(), static_cast<unsigned long>(stripe.jpeg.size()));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = target.color_space;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(target.scale_denom);
  jpeg_start_decompress(&cinfo);
  const bool planned = static_cast<int>(cinfo.output_width) == target.out_width &&
                       cinfo.output_components == target.pixel_size &&
                       static_cast<int>(cinfo.output_height) == ceil_div(stripe.frame_height, target.scale_denom) &&
                       n_rows > 0 && n_rows <= static_cast<int>(cinfo.output_height);
  if (!planned) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  while (static_cast<int>(cinfo.output_scanline) < n_rows) {
    const JDIMENSION done = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, rows.data() + done, static_cast<JDIMENSION>(n_rows) - done);
  }
  // The last stripe reads on to EOI, as the single-threaded decode does; the others stop inside
  // the next stripe's first row (a sequential stripe's reading of that row's segments stops
  // there; a progressive one has read all its data already).
  if (stripe.last) jpeg_finish_decompress(&cinfo);
  // libjpeg counts bytes left over at the end of a segment and warns about them only at the next
  // marker it has to search for, which may lie in another stripe (or never come): a count here
  // leaves the verdict to the single-threaded decode.
  const bool clean = cinfo.marker->discarded_bytes == 0;
  jpeg_destroy_decompress(&cinfo);
  return clean;
}

// A byte range of the file appended to out.
void append(std::vector<uint8_t>& out, std::span<const uint8_t> jpeg, size_t begin, size_t end) {
  out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(begin),
             jpeg.begin() + static_cast<std::ptrdiff_t>(end));
}

// The stripe's JPEG: SOI, then per scan the kept marker segments (the frame header with the
// height `frame_height`) and the scan's segments [first[s], last[s]] with their RST markers
// renumbered from RST0, then EOI.
std::vector<uint8_t> stripe_jpeg(std::span<const uint8_t> jpeg, const JpegStripePlan& plan, int frame_height,
                                 const std::vector<size_t>& first, const std::vector<size_t>& last) {
  size_t size = 4;
  for (size_t s = 0; s < plan.scans.size(); ++s) {
    for (const auto& [b, e] : plan.scans[s].kept_segments) size += e - b;
    size += plan.scans[s].segment_end[last[s]] - plan.scans[s].segment_begin[first[s]];
  }
  std::vector<uint8_t> out;
  out.reserve(size);
  out.push_back(0xFF);
  out.push_back(0xD8);
  for (size_t s = 0; s < plan.scans.size(); ++s) {
    const JpegScanPlan& scan = plan.scans[s];
    for (const auto& [b, e] : scan.kept_segments) {
      const size_t at = out.size();
      append(out, jpeg, b, e);
      if (b == plan.sof_offset) {  // FF Cn, length (2), precision (1), height (2)
        out[at + 5] = static_cast<uint8_t>(frame_height >> 8);
        out[at + 6] = static_cast<uint8_t>(frame_height & 0xFF);
      }
    }
    const size_t data_begin = scan.segment_begin[first[s]];
    const size_t data_at = out.size();
    append(out, jpeg, data_begin, scan.segment_end[last[s]]);
    for (size_t k = first[s]; k < last[s]; ++k) {
      out[data_at + (scan.marker_code[k] - data_begin)] = static_cast<uint8_t>(0xD0 + (k - first[s]) % 8);
    }
  }
  out.push_back(0xFF);
  out.push_back(0xD9);
  return out;
}

// Up to n_stripes - 1 boundary rows near equal cuts of the image, ascending and distinct (no more
// stripes than the file has boundaries for).
std::vector<int> choose_cuts(const JpegStripePlan& plan, int n_stripes) {
  const std::vector<int> candidates = plan.boundary_rows();
  n_stripes = static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(n_stripes, 1)), candidates.size() + 1));
  std::vector<int> cuts;
  for (int j = 1; j < n_stripes && !candidates.empty(); ++j) {
    const int64_t target = static_cast<int64_t>(j) * plan.mcu_rows / n_stripes;
    auto it = std::lower_bound(candidates.begin(), candidates.end(), target);
    if (it == candidates.end() || (it != candidates.begin() && target - *(it - 1) < *it - target)) --it;
    if (cuts.empty() || *it > cuts.back()) cuts.push_back(*it);
  }
  return cuts;
}

}  // namespace

int64_t JpegScanPlan::first_mcu(int frame_row) const {
  return static_cast<int64_t>(frame_row) * rows_per_frame_row * mcus_per_row;
}

bool JpegScanPlan::segment_starts_at(int frame_row) const {
  const int64_t mcu = first_mcu(frame_row);
  if (mcu == 0) return true;
  return restart_interval > 0 && mcu % restart_interval == 0 && mcu / mcus_per_row < mcu_rows;
}

size_t JpegScanPlan::segment_holding(int64_t mcu) const {
  if (restart_interval <= 0) return 0;
  return std::min(segment_begin.size() - 1, static_cast<size_t>(mcu / restart_interval));
}

std::vector<int> JpegStripePlan::boundary_rows() const {
  std::vector<int> rows;
  for (int r = 1; r < mcu_rows; ++r) {
    bool cut = !scans.empty();
    for (const JpegScanPlan& scan : scans) {
      cut = cut && scan.segment_starts_at(r) && (!progressive || (r + 1 < mcu_rows && scan.segment_starts_at(r + 1)));
    }
    if (cut) rows.push_back(r);
  }
  return rows;
}

int JpegStripePlan::max_stripes() const { return static_cast<int>(boundary_rows().size()) + 1; }

std::optional<JpegStripePlan> plan_jpeg_stripes(std::span<const uint8_t> jpeg) {
  const uint8_t* d = jpeg.data();
  const size_t n = jpeg.size();
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return std::nullopt;
  JpegStripePlan plan;
  struct Component {
    int id = 0, h = 1, v = 1;
  };
  std::vector<Component> components;
  int h_max = 1, v_max = 1;
  int restart_interval = 0;  // the DRI in force
  // The final precision (successive approximation bit) of each coefficient of each component in a
  // progressive file; -1 until a scan brings it. All must reach 0: otherwise libjpeg smooths
  // blocks with their neighbours, across stripe edges.
  std::vector<std::array<int, 64>> precision;
  JpegScanPlan scan;  // the scan being read: its kept segments so far
  size_t kept_bytes = 0;
  bool segments_since_scan = false;  // marker segments read since the last scan's data
  size_t i = 2;
  while (true) {
    // Strictly one marker segment after another: fill bytes or junk between them (which libjpeg
    // steps over with a warning) leave the file to the single-threaded decode.
    if (i + 2 > n || d[i] != 0xFF) return std::nullopt;
    const uint8_t code = d[i + 1];
    if (code == 0xD9) {  // EOI: after a scan (a header without one has no SOF read yet)
      // Marker segments after the last scan are read by the single-threaded decode (and may be
      // refused there, a bad table): no stripe would carry them.
      if (segments_since_scan) return std::nullopt;
      break;
    }
    if (i + 4 > n) return std::nullopt;
    const size_t length = load_be16(d + i + 2);
    if (length < 2 || i + 2 + length > n) return std::nullopt;
    const size_t end = i + 2 + length;
    const uint8_t* p = d + i + 4;  // the segment's payload
    bool keep = false;
    if (code == 0xC0 || code == 0xC1 || code == 0xC2) {  // baseline, extended sequential, progressive (Huffman)
      if (!components.empty() || length < 8) return std::nullopt;
      const int n_components = p[5];
      if (p[0] != 8 || n_components < 1 || n_components > 4 || length != 8 + 3 * static_cast<size_t>(n_components))
        return std::nullopt;
      plan.progressive = code == 0xC2;
      plan.height = load_be16(p + 1);
      plan.width = load_be16(p + 3);
      if (plan.height == 0 || plan.width == 0) return std::nullopt;  // DNL-defined height: not supported
      for (int c = 0; c < n_components; ++c) {
        const Component component{p[6 + 3 * c], p[7 + 3 * c] >> 4, p[7 + 3 * c] & 15};
        if (component.h < 1 || component.h > 4 || component.v < 1 || component.v > 4) return std::nullopt;
        for (const Component& other : components) {
          if (other.id == component.id) return std::nullopt;  // scans could not name it
        }
        h_max = std::max(h_max, component.h);
        v_max = std::max(v_max, component.v);
        components.push_back(component);
      }
      precision.assign(components.size(), {});
      for (auto& bits : precision) bits.fill(-1);
      plan.sof_offset = i;
      keep = true;
    } else if (code == 0xC4 || code == 0xDB || code == 0xE0 || code == 0xEE) {  // DHT, DQT, JFIF, Adobe
      keep = true;
    } else if (code == 0xDD) {  // DRI
      if (length != 4) return std::nullopt;
      restart_interval = load_be16(p);
      keep = true;
    } else if (code == 0xDA) {  // SOS
      if (components.empty() || length < 3) return std::nullopt;
      const int n_scan = p[0];
      if (n_scan < 1 || n_scan > static_cast<int>(components.size()) || length != 6 + 2 * static_cast<size_t>(n_scan))
        return std::nullopt;
      const uint8_t* tail = p + 1 + 2 * n_scan;
      const int ss = tail[0], se = tail[1], al = tail[2] & 15;
      if (!plan.progressive) {
        // The only scan: every component, every coefficient, full precision.
        if (!plan.scans.empty() || n_scan != static_cast<int>(components.size()) || ss != 0 || se != 63 || tail[2] != 0)
          return std::nullopt;
      } else if (ss > se || se > 63 || (ss > 0 && n_scan != 1)) {
        return std::nullopt;  // libjpeg refuses these: the single-threaded decode says so
      }
      // A scan without restart markers cannot be cut (and its data need not be walked).
      if (restart_interval == 0) return std::nullopt;
      const Component* one = nullptr;  // the component of a one-component scan (the last named)
      for (int k = 0; k < n_scan; ++k) {
        const auto it = std::find_if(components.begin(), components.end(),
                                     [&](const Component& c) { return c.id == p[1 + 2 * k]; });
        if (it == components.end()) return std::nullopt;
        one = &*it;
        auto& bits = precision[static_cast<size_t>(it - components.begin())];
        for (int c = ss; c <= se; ++c) bits[c] = al;
      }
      if (components.size() == 1) {
        // One component: MCUs of one 8x8 block, whatever its factors, but libjpeg puts a
        // sequential file's rows out a row of v blocks at a time (an iMCU row): cut there.
        plan.mcu_height = 8 * one->v;
        scan.mcus_per_row = ceil_div(plan.width, 8);
        scan.mcu_rows = ceil_div(plan.height, 8);
        scan.rows_per_frame_row = one->v;
      } else if (n_scan == 1) {  // a component's own scan: its blocks, in rows of v per frame row
        plan.mcu_height = 8 * v_max;
        scan.mcus_per_row = ceil_div(ceil_div(static_cast<int64_t>(plan.width) * one->h, h_max), 8);
        scan.mcu_rows = ceil_div(ceil_div(static_cast<int64_t>(plan.height) * one->v, v_max), 8);
        scan.rows_per_frame_row = one->v;
      } else {
        plan.mcu_height = 8 * v_max;
        scan.mcus_per_row = ceil_div(plan.width, 8 * h_max);
        scan.mcu_rows = ceil_div(plan.height, 8 * v_max);
      }
      scan.restart_interval = restart_interval;
      scan.kept_segments.emplace_back(i, end);
      scan.data_begin = end;
      const int64_t total_mcus = static_cast<int64_t>(scan.mcus_per_row) * scan.mcu_rows;
      const int64_t expected_segments = (total_mcus + restart_interval - 1) / restart_interval;
      const std::optional<size_t> next = find_restart_segments(jpeg, scan, expected_segments);
      if (!next) return std::nullopt;
      if (static_cast<int64_t>(scan.segment_begin.size()) != expected_segments) return std::nullopt;
      plan.scans.push_back(std::move(scan));
      scan = JpegScanPlan{};
      segments_since_scan = false;
      i = *next;
      if (!plan.progressive) {  // a sequential file ends here
        if (i + 1 >= n || d[i + 1] != 0xD9) return std::nullopt;
        break;
      }
      continue;
    } else if ((code >= 0xE1 && code <= 0xEF) || code == 0xFE) {  // other APPn, COM: not needed
      keep = false;
    } else {
      return std::nullopt;  // lossless, arithmetic, hierarchical, DNL, reserved markers
    }
    if (keep) {
      // Tables are a few hundred bytes a scan: a flood of them (copied into every stripe) is not
      // worth cutting.
      kept_bytes += end - i;
      if (kept_bytes > kMaxKeptBytes) return std::nullopt;
      scan.kept_segments.emplace_back(i, end);
    }
    segments_since_scan = true;
    i = end;
  }
  if (plan.scans.empty()) return std::nullopt;
  plan.mcu_rows = ceil_div(plan.height, plan.mcu_height);
  if (plan.progressive) {
    for (const auto& bits : precision) {
      if (std::any_of(bits.begin(), bits.end(), [](int b) { return b != 0; })) return std::nullopt;
    }
  }
  return plan;
}

bool decode_jpeg_stripes(std::span<const uint8_t> jpeg, const JpegStripePlan& plan, int scale_denom,
                         JpegStripeOutput output, uint8_t* dst, int n_stripes) {
  if (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 && scale_denom != 8) return false;
  const std::vector<int> cuts = choose_cuts(plan, n_stripes);
  if (cuts.empty()) return false;

  StripeTarget target;
  target.scale_denom = scale_denom;
  target.color_space = output == JpegStripeOutput::kCmyk ? JCS_CMYK : JCS_EXT_RGB;
  target.pixel_size = output == JpegStripeOutput::kCmyk ? 4 : 3;
  target.out_width = ceil_div(plan.width, scale_denom);
  target.out_height = ceil_div(plan.height, scale_denom);
  target.dst = dst;
  // Output rows per row of MCUs (mcu_height is 8 or more, so the division is exact), and the rows
  // past a cut that the stripe above writes: half a row of MCUs covers the one row that fancy
  // upsampling reads across the cut, with room to spare.
  const int rows_per_mcu_row = plan.mcu_height / scale_denom;
  const int overlap = rows_per_mcu_row / 2;
  const auto output_row = [&](int mcu_row) {
    return std::min(mcu_row * rows_per_mcu_row + overlap, target.out_height);
  };

  std::vector<Stripe> stripes(cuts.size() + 1);
  std::vector<size_t> first(plan.scans.size()), last(plan.scans.size());
  for (size_t s = 0; s < stripes.size(); ++s) {
    Stripe& stripe = stripes[s];
    const int top = s == 0 ? 0 : cuts[s - 1];  // rows of MCUs
    stripe.last = s + 1 == stripes.size();
    stripe.first_row = top * rows_per_mcu_row;
    stripe.keep_begin = s == 0 ? 0 : output_row(top);
    stripe.keep_end = stripe.last ? target.out_height : output_row(cuts[s]);
    // A sequential stripe's frame reaches the bottom of the image; a progressive one's ends with
    // the row below its cut (see jpeg_parallel.h).
    const int bottom = stripe.last || !plan.progressive ? plan.mcu_rows : cuts[s] + 1;
    stripe.frame_height = std::min(bottom * plan.mcu_height, plan.height) - top * plan.mcu_height;
    for (size_t k = 0; k < plan.scans.size(); ++k) {
      const JpegScanPlan& scan = plan.scans[k];
      first[k] = scan.segment_holding(scan.first_mcu(top));
      // The segment holding the last MCU of the frame row below the cut: a sequential stripe decodes
      // into it; a progressive one's frame ends there, with a segment (boundary_rows).
      last[k] = stripe.last ? scan.segment_begin.size() - 1 : scan.segment_holding(scan.first_mcu(cuts[s] + 1) - 1);
    }
    stripe.jpeg = stripe_jpeg(jpeg, plan, stripe.frame_height, first, last);
  }
  std::vector<char> ok(stripes.size(), 0);
  // No exception leaves a stripe (one thrown on a thread would terminate the process): a stripe
  // that fails, out of memory included, sends the caller back to the single-thread decode, which
  // reports it as decode_image does.
  const auto run = [&](size_t s) {
    try {
      std::vector<JSAMPROW> rows;
      std::vector<uint8_t> scratch;
      ok[s] = decode_stripe(stripes[s], target, rows, scratch) ? 1 : 0;
    } catch (...) {
      ok[s] = 0;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(stripes.size() - 1);
  size_t inline_from = stripes.size();  // stripes left to this thread when a thread cannot start
  for (size_t s = 1; s < stripes.size(); ++s) {
    try {
      threads.emplace_back(run, s);
    } catch (const std::system_error&) {
      inline_from = s;
      break;
    }
  }
  run(0);
  for (size_t s = inline_from; s < stripes.size(); ++s) run(s);
  for (std::thread& t : threads) t.join();
  return std::all_of(ok.begin(), ok.end(), [](char v) { return v != 0; });
}

int automatic_stripe_count(const JpegStripePlan& plan, int hardware_threads) {
  // Measured on 2 cores (issue 17, tools: throwaway timing programs over files re-encoded with
  // restart markers every row of MCUs), median of 21 to 300 runs. The decode alone, 2 stripes
  // against tjDecompress2: 853x480 0.84x at full size and 0.95x at 1/4; 1280x720 0.57-0.80x;
  // 1920x1080 0.62-0.80x; 2796x4549 0.65-0.71x, at every scale (the entropy decoding, which does
  // not shrink with the scale, is what the stripes share); more stripes than cores were slower
  // than as many. Down to 0.1 Mpx the decode alone still gains (0.62-0.77x at 0.12-0.31 Mpx), but
  // the pipeline does not: Engine::analyze_bytes (decode, then the models reading the image, which
  // the other core's stripe left in its own cache) with 2 stripes against one thread, sequential:
  // 400x650 1.02x, 430x699 1.01x, 480x781 1.00x, 560x911 0.97x, 640x1041 0.98x, 720x1171 0.97x,
  // 1109x1804 0.89x; progressive: 200x325 1.02x, 280x455 0.99x, 360x586 0.97x, 430x699 0.96x.
  // So: a stripe per 0.25 Mpx (sequential; 2 stripes from 0.5 Mpx) or 0.1 Mpx (progressive; 2
  // from 0.2 Mpx), up to the hardware threads, at any scale.
  const int64_t pixels = static_cast<int64_t>(plan.width) * plan.height;
  const int64_t by_size = pixels / (plan.progressive ? kMinPixelsPerProgressiveStripe : kMinPixelsPerSequentialStripe);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({by_size, hardware_threads, plan.max_stripes()})));
}

bool decode_jpeg_parallel(std::span<const uint8_t> jpeg, int scale_denom, JpegStripeOutput output, uint8_t* dst,
                          int out_width, int out_height, int threads) {
  if (threads == 1) return false;
  const std::optional<JpegStripePlan> plan = plan_jpeg_stripes(jpeg);
  if (!plan || plan->max_stripes() < 2) return false;
  if (ceil_div(plan->width, scale_denom) != out_width || ceil_div(plan->height, scale_denom) != out_height)
    return false;
  const int n_stripes =
      threads > 0 ? threads : automatic_stripe_count(*plan, static_cast<int>(std::thread::hardware_concurrency()));
  if (n_stripes < 2) return false;
  return decode_jpeg_stripes(jpeg, *plan, scale_denom, output, dst, n_stripes);
}

}  // namespace facelens::image

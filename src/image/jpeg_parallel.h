// Multi-threaded decoding of JPEGs that carry restart markers, sequential or progressive
// (internal to the image module).
//
//   auto plan = facelens::image::plan_jpeg_stripes(bytes);       // nullopt: not applicable
//   if (plan && plan->max_stripes() >= 2 &&
//       facelens::image::decode_jpeg_stripes(bytes, *plan, /*scale_denom=*/2, JpegStripeOutput::kRgb,
//                                            dst, /*n_stripes=*/2))
//     ...;  // dst holds what tjDecompress2 at 1/2 scale would have written
//
// Entropy decoding is sequential, but a restart marker (RSTn) resets the decoder's state: the
// entropy-coded data between two markers (a restart segment) decodes on its own. Where a segment
// starts at the beginning of a row of MCUs, the scan can be cut there into horizontal stripes,
// each decoded by its own libjpeg decompressor on its own thread, straight into its rows of the
// output. A stripe is given to libjpeg as a JPEG of its own: the file's tables, its frame header
// with the stripe's height, and in each scan the stripe's segments with their restart markers
// renumbered from RST0.
//
// The result equals the single-threaded decode bit for bit: libjpeg decodes every block alone
// (block smoothing, for progressive files whose coefficients stay imprecise, is declined), and the
// one thing that reads neighbouring rows, fancy chroma upsampling (4:2:0, 4:4:0 at full scale),
// reads at most one chroma row across a stripe edge. Each stripe therefore decodes the row of
// MCUs below its cut and writes its top half, and leaves the first half row of MCUs of the next
// stripe, whose top edge it cannot see, to it. A sequential stripe's frame reaches the bottom of
// the image and its decode stops after that row (the rows of a frame's MCU row, the iMCU row of
// libjpeg, come out together: a one-component file's frame rows are therefore v blocks tall, v its
// vertical sampling factor); a progressive decode reads every scan before its first row comes
// out, so a progressive stripe's frame ends with that row, in every scan.
//
// Anything unusual makes the functions decline rather than guess (the caller then decodes on one
// thread, which reports as before): another frame type than baseline, extended sequential or
// progressive Huffman, a sequential file of several scans, a scan without restart markers,
// markers inside a scan other than its restart markers, restart markers missing, out of sequence
// or more than the scan has segments, marker segments after the last scan, more than 256 KiB of
// tables, coefficients of a progressive file left imprecise, any libjpeg warning or error in any
// stripe.
//
// Pure functions over caller-owned bytes; thread-safe. decode_jpeg_stripes starts up to n_stripes - 1
// threads of its own and joins them before it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace facelens::image {

// One scan of the file: what a stripe's JPEG keeps before its data, and where its restart
// segments lie (from a walk over the entropy-coded data, which is scanned for markers, not decoded).
struct JpegScanPlan {
  // The marker segments before the scan's data that a stripe's JPEG keeps, in file order, as
  // [begin, end) byte ranges of the file, the scan's SOS last. For the first scan: DQT, DHT, DRI,
  // SOF, APP0 (JFIF) and APP14 (Adobe, which names the colour transform); for later scans of a
  // progressive file, those of them between the scans. EXIF, ICC and comments stay out (the
  // caller reads them from the whole file).
  std::vector<std::pair<size_t, size_t>> kept_segments;
  size_t data_begin = 0;       // the first byte of entropy-coded data (after the SOS segment)
  int restart_interval = 0;    // MCUs per restart segment (the DRI in force); 0: one segment
  int mcus_per_row = 0;        // MCUs per row of this scan (8x8 blocks of its component when it has one)
  int mcu_rows = 0;            // rows of MCUs in this scan
  int rows_per_frame_row = 1;  // this scan's rows per row of the frame's MCUs (the component's
                               // vertical sampling factor for a one-component scan, else 1)
  // segment_begin[k]: the first byte of restart segment k; segment_end[k]: one past its last byte
  // (where the 0xFF of the marker that ends it starts); marker_code[k]: the offset of the RSTn
  // code byte that ends segment k (none for the last segment, which the next marker ends).
  std::vector<size_t> segment_begin;
  std::vector<size_t> segment_end;
  std::vector<size_t> marker_code;

  // The index in this scan of the first MCU of frame row `frame_row`.
  int64_t first_mcu(int frame_row) const;
  // Whether a restart segment of this scan starts at the first MCU of frame row `frame_row`.
  bool segment_starts_at(int frame_row) const;
  // The segment that holds MCU `mcu` of this scan (the last one for an MCU past the scan).
  size_t segment_holding(int64_t mcu) const;
};

// Where a sequential or progressive JPEG may be cut into stripes.
struct JpegStripePlan {
  int width = 0;  // the frame's size in pixels
  int height = 0;
  bool progressive = false;
  int mcu_height = 0;               // pixels per row of the frame's MCUs (8 x the largest vertical
                                    // sampling factor)
  int mcu_rows = 0;                 // rows of the frame's MCUs
  size_t sof_offset = 0;            // the SOF marker (0xFF) in the file
  std::vector<JpegScanPlan> scans;  // one for a sequential file

  // The rows of MCUs where the image can be cut (0 excluded), ascending: where every scan starts
  // a restart segment, and for a progressive file where every scan starts one at the next row too
  // (a progressive stripe's frame ends one row below its cut, and each of its scans there).
  std::vector<int> boundary_rows() const;
  // The most stripes this file can be cut into (1 = the parallel path does not apply).
  int max_stripes() const;
};

// Reads the layout of a Huffman-coded JPEG, sequential (one scan with every component) or
// progressive (every coefficient of every component brought to full precision, so that libjpeg
// does no block smoothing, which reads neighbouring blocks), with a restart interval whose
// segments start at some rows of MCUs (several rows per segment, or several segments per row);
// nullopt for any other file, for a file whose restart markers are missing or out of order, and
// for a file with something unexpected between its segments (those decode on one thread).
std::optional<JpegStripePlan> plan_jpeg_stripes(std::span<const uint8_t> jpeg);

enum class JpegStripeOutput { kRgb, kCmyk };  // TJPF_RGB / TJPF_CMYK: 3 or 4 bytes per pixel

// Decodes `jpeg` at scale 1/scale_denom (1, 2, 4 or 8) into dst, an image of
// ceil(width / scale_denom) x ceil(height / scale_denom) pixels in `output` format with no row
// padding (what tjDecompress2 writes), cut into up to n_stripes stripes of about equal height.
// True when every stripe decoded without any libjpeg warning or error; false otherwise (dst is
// then partly written: decode again on one thread).
bool decode_jpeg_stripes(std::span<const uint8_t> jpeg, const JpegStripePlan& plan, int scale_denom,
                         JpegStripeOutput output, uint8_t* dst, int n_stripes);

// How many stripes decode_jpeg_parallel cuts a file into when the caller leaves it to it
// (DecodeOptions.decode_threads = 0): one per 0.25 Mpx, or 0.1 Mpx for a progressive file (2
// stripes from 0.5 Mpx or 0.2 Mpx: below that another thread does not pay in the pipeline, by
// measurement: see the definition), at most `hardware_threads` and the stripes the file allows.
int automatic_stripe_count(const JpegStripePlan& plan, int hardware_threads);

// The hook decode_jpeg calls: plans `jpeg` and decodes it in stripes into dst, an out_width x
// out_height image (what tjDecompress2 at 1/scale_denom writes), on `threads` threads (0 =
// automatic_stripe_count with std::thread::hardware_concurrency()). False when the file does not
// qualify, when one thread is all it gets, or when any stripe failed: decode it on one thread.
bool decode_jpeg_parallel(std::span<const uint8_t> jpeg, int scale_denom, JpegStripeOutput output, uint8_t* dst,
                          int out_width, int out_height, int threads);

}  // namespace facelens::image

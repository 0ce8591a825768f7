// The photo sweep of `facelens bench --sweep` and `--make-photos`: JPEGs of about 0.3, 2, 2.6 and
// 13 megapixels made from one source photo, baseline and progressive, with and without restart
// markers, 4:2:0 (and one 4:4:4), through the libjpeg API, so that tests, users and the benchmark
// measure the same files.
//
//   auto photos = bench::make_sweep_photos("obama3.jpg", "out/photos");  // writes the JPEGs
//   for (const auto& p : *photos) use(p.path, p.width, p.progressive);
//   auto bytes = bench::encode_sweep_jpeg(image, bench::sweep_specs()[0]);  // one file in memory
//
// Deterministic: the same source, libjpeg-turbo and OpenCV give byte-identical files (no time,
// no randomness; resize with OpenCV's INTER_AREA when shrinking, INTER_CUBIC when enlarging).
// Thread-safe (no shared state). Sizes in pixels, bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "facelens/benchmark.h"
#include "facelens/image.h"
#include "facelens/status.h"

namespace facelens::bench {

enum class ChromaSubsampling { k420, k444 };
const char* chroma_subsampling_name(ChromaSubsampling s);  // "4:2:0", "4:4:4"

// One photo of the sweep: its target size and how it is encoded.
struct SweepSpec {
  std::string name;   // "2.6mp-baseline-rst": file name without ".jpg"
  double megapixels;  // target width * height / 1e6 (the source's aspect ratio is kept)
  bool progressive;   // jpeg_simple_progression (SOF2) or baseline (SOF0)
  int restart_rows;   // restart marker every N MCU rows (restart_in_rows); 0 = none
  ChromaSubsampling subsampling;
  bool sent_to_server;  // one of the photos `facelens bench --server` posts
};

// The JPEG quality of every sweep photo (libjpeg's scale; phone cameras save 90-95).
constexpr int kSweepJpegQuality = 92;

// 0.3, 2, 2.6 and 13 MP, each baseline / baseline with restart markers / progressive /
// progressive with restart markers at 4:2:0, and 2.6 MP baseline at 4:4:4. The service bench
// posts 0.3 MP baseline, 2.6 MP baseline and 13 MP progressive.
const std::vector<SweepSpec>& sweep_specs();

// The width and height of `spec` for a source of src_width x src_height (aspect kept, rounded).
std::pair<int, int> sweep_size(const SweepSpec& spec, int src_width, int src_height);

// `source` resized to the spec's size and encoded as its JPEG (libjpeg API).
StatusOr<std::vector<uint8_t>> encode_sweep_jpeg(const Image& source, const SweepSpec& spec);

// Decodes `source_path` (EXIF orientation applied) and writes DIR/<name>.jpg for every spec
// (creates DIR; replaces files of the same name). InvalidArgument when the source cannot be used.
StatusOr<std::vector<SweepPhoto>> make_sweep_photos(const std::string& source_path, const std::string& dir);

}  // namespace facelens::bench

// The pipeline sweep (issue 17): for each sweep photo, in one run, the pipeline (file bytes to
// embedding: Engine::analyze_bytes with embeddings, what /v1/embed runs) against its floor =
// TurboJPEG's own tjDecompress2 of the same file at the DCT scale facelens decoded it at + the
// models alone (Engine::analyze on the image already decoded at that scale: detector,
// landmarks, alignment, recognizer, with their pre-processing). The four timings alternate in
// every round, each round starting at the next, so that a busy machine slows them alike.
//
//   auto rows = bench::run_pipeline_sweep(engine, photos, /*warmup=*/2, /*iterations=*/15, on_photo);
//   rows->front().ratio;   // pipeline p50 / (scaled decode p50 + models p50); target <= 1.15
//
// Thread-safety: one sweep at a time per engine is advisable (timings), not required.
// Units: milliseconds.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "facelens/benchmark.h"
#include "facelens/engine.h"
#include "facelens/status.h"

namespace facelens::bench {

// The issue-17 target: pipeline p50 <= 1.15 x (decode at facelens's scale + models).
constexpr double kSweepTargetRatio = 1.15;

struct SweepRow {
  SweepPhoto photo;
  std::string status = "ok";  // "ok" or "failed"
  std::string note;
  int faces = 0;  // faces the pipeline found
  // The DCT scale facelens decoded the file at (1 = full size), read from the pipeline's result,
  // and the TurboJPEG scaling factor the floor decodes with (the nearest it offers).
  double decode_scale = 1.0;
  std::string decode_scale_source;
  int scale_num = 1;
  int scale_denom = 1;
  int scaled_width = 0;
  int scaled_height = 0;
  Summary pipeline;       // Engine::analyze_bytes, embeddings
  Summary decode_scaled;  // tjDecompress2 at scale_num/scale_denom, RGB
  Summary decode_full;    // tjDecompress2 at full size, RGB
  Summary models;         // Engine::analyze on the scaled decode, embeddings
  // pipeline p50 / (decode_scaled p50 + models p50), and whether it is within kSweepTargetRatio.
  std::optional<double> ratio;
  std::optional<bool> meets_target;
  // Photos with restart markers: pipeline p50 / (decode_full p50 + models p50), to be below 1.
  std::optional<double> ratio_vs_full_decode;
};

// The decode scale a pipeline result reports (1 = full size).
double result_decode_scale(const ImageResult& result, std::string* source);

using SweepProgress = std::function<void(const std::string& message)>;

// Times every photo; a photo that fails is a "failed" row with the reason, never an error.
StatusOr<std::vector<SweepRow>> run_pipeline_sweep(const Engine& engine, const std::vector<SweepPhoto>& photos,
                                                   int warmup, int iterations, const SweepProgress& on_photo);

}  // namespace facelens::bench

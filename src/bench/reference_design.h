// `facelens bench --reference-design` (issue 19): the reference design's own models — YOLOv10n,
// ArcFace-R50, AdaFace-IR101, Xception — timed on every available provider, precision and batch,
// for the table that compares them with the reference design's figures (report.md).
//
//   bench::BenchOptions o;
//   o.reference_design = true;
//   o.reference_models_dir = "synth/";        // yolov10n.onnx, ...; others synthesised into the cache
//   o.reference_cache_dir = "cache/";         // fp16/int8 variants made by the converter
//   o.calibration_images = "faces/";          // int8 calibration
//   FACELENS_RETURN_IF_ERROR(bench::run_reference_design(o, env, rep, progress));
//
// What one run times: one model call (ONNX Runtime session run) on an input tensor prepared
// outside the timing (deterministic pseudo-random values in [-1, 1]), batch N in one call when the
// model's batch dimension is symbolic, else N calls; pre- and post-processing are not included
// (the reference design does not say what its figures include). A model that cannot be had, a
// precision the converter cannot make and an unavailable provider are recorded in rep.skipped;
// they never stop the others. Not thread-safe (it takes over the process's resident-set figures).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/benchmark.h"
#include "runtime/environment.h"

namespace facelens::bench {

// The reference design's models facelens times: arch name, manifest task, input side.
struct ReferenceArch {
  std::string arch;  // "yolov10n"
  std::string task;  // "detector"
  std::string item;  // what one batch item is: "image" or "face"
};
const std::vector<ReferenceArch>& reference_archs();

// Times options.reference_archs into rep.rows (service = the arch, reference = its figure) and
// rep.reference_models; rep.providers must be probed already. Errors only for an unusable cache
// folder; everything else is recorded.
Status run_reference_design(const BenchOptions& options, const std::shared_ptr<const runtime::Environment>& env,
                            BenchReport& rep, const std::function<void(const Progress&)>& progress);

}  // namespace facelens::bench

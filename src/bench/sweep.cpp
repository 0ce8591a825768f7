#include "bench/sweep.h"

#include <turbojpeg.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

namespace facelens::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct TjDeleter {
  void operator()(void* h) const { tjDestroy(h); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

// TurboJPEG's decode of the whole file to RGB at num/denom, with its default flags (accurate
// integer IDCT, smooth upsampling): the floor any decoder of the file is compared with.
Status tj_decode(tjhandle h, const std::vector<uint8_t>& bytes, int num, int denom, Image* out) {
  int w = 0, h_px = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, bytes.data(), static_cast<unsigned long>(bytes.size()), &w, &h_px, &subsamp,
                          &colorspace) != 0)
    return invalid_argument(std::string("TurboJPEG cannot read the header: ") + tjGetErrorStr2(h));
  const tjscalingfactor f{num, denom};
  out->width = TJSCALED(w, f);
  out->height = TJSCALED(h_px, f);
  out->pixels.resize(static_cast<size_t>(out->width) * out->height * 3);
  if (tjDecompress2(h, bytes.data(), static_cast<unsigned long>(bytes.size()), out->pixels.data(), out->width, 0,
                    out->height, TJPF_RGB, 0) != 0 &&
      tjGetErrorCode(h) == TJERR_FATAL)
    return invalid_argument(std::string("TurboJPEG cannot decode the file: ") + tjGetErrorStr2(h));
  return Status::Ok();
}

// The scaling factor TurboJPEG offers nearest to `scale`.
tjscalingfactor nearest_factor(double scale) {
  int n = 0;
  const tjscalingfactor* all = tjGetScalingFactors(&n);
  tjscalingfactor best{1, 1};
  double best_gap = 1e9;
  for (int i = 0; i < n; ++i) {
    const double gap = std::abs(static_cast<double>(all[i].num) / all[i].denom - scale);
    if (gap < best_gap) {
      best_gap = gap;
      best = all[i];
    }
  }
  return best;
}

Status sweep_one(const Engine& engine, tjhandle tj, int warmup, int iterations, SweepRow* row) {
  FACELENS_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(row->photo.path, engine.decode_options().max_bytes));
  AnalyzeOptions what;
  what.embedding = true;
  // The scale the pipeline decodes this file at, from one untimed run.
  FACELENS_ASSIGN_OR_RETURN(auto first, engine.analyze_bytes(bytes, what));
  row->decode_scale = result_decode_scale(first, &row->decode_scale_source);
  const tjscalingfactor f = nearest_factor(row->decode_scale);
  row->scale_num = f.num;
  row->scale_denom = f.denom;
  Image scaled;
  FACELENS_RETURN_IF_ERROR(tj_decode(tj, bytes, f.num, f.denom, &scaled));
  row->scaled_width = scaled.width;
  row->scaled_height = scaled.height;
  std::vector<double> pipeline, decode_scaled, decode_full, models;
  // Both decodes write into one buffer: two buffers of the same size measured up to 10 % apart
  // on a 13 MP progressive file (their pages), which is no property of the decoder.
  Image scratch;
  // The four timings of a round, started at a different one each round so that none always
  // follows the same other (caches, freed pages): each holds every position equally often.
  const std::function<Status()> steps[] = {
      [&]() -> Status {
        FACELENS_ASSIGN_OR_RETURN(auto result, engine.analyze_bytes(bytes, what));
        row->faces = static_cast<int>(result.faces.size());
        return Status::Ok();
      },
      [&] { return tj_decode(tj, bytes, f.num, f.denom, &scratch); },
      [&] { return tj_decode(tj, bytes, 1, 1, &scratch); },
      [&] { return engine.analyze(scaled, what).status(); },
  };
  std::vector<double>* samples[] = {&pipeline, &decode_scaled, &decode_full, &models};
  for (int i = 0; i < warmup + iterations; ++i) {
    for (int k = 0; k < 4; ++k) {
      const int step = (i + k) % 4;
      const auto t0 = Clock::now();
      FACELENS_RETURN_IF_ERROR(steps[step]());
      if (i >= warmup) samples[step]->push_back(ms_since(t0));
    }
  }
  row->pipeline = summarize(pipeline, 1);
  row->decode_scaled = summarize(decode_scaled, 1);
  row->decode_full = summarize(decode_full, 1);
  row->models = summarize(models, 1);
  const double floor = row->decode_scaled.p50_ms + row->models.p50_ms;
  if (floor > 0) {
    row->ratio = row->pipeline.p50_ms / floor;
    row->meets_target = *row->ratio <= kSweepTargetRatio;
  }
  const double full_floor = row->decode_full.p50_ms + row->models.p50_ms;
  if (row->photo.restart_rows > 0 && full_floor > 0) row->ratio_vs_full_decode = row->pipeline.p50_ms / full_floor;
  if (row->faces == 0) row->note = "no face found: the models' times cover the detector only";
  return Status::Ok();
}

}  // namespace

double result_decode_scale(const ImageResult& result, std::string* source) {
  *source = "reported by the pipeline (ImageResult::decode_scale: the DCT scale of the detector's decode)";
  return result.decode_scale;
}

StatusOr<std::vector<SweepRow>> run_pipeline_sweep(const Engine& engine, const std::vector<SweepPhoto>& photos,
                                                   int warmup, int iterations, const SweepProgress& on_photo) {
  if (iterations < 1) return invalid_argument("--sweep-iterations must be at least 1");
  TjHandle tj(tjInitDecompress());
  if (!tj) return resource_exhausted(std::string("cannot create a TurboJPEG decompressor: ") + tjGetErrorStr2(nullptr));
  std::vector<SweepRow> rows;
  for (const auto& photo : photos) {
    SweepRow row;
    row.photo = photo;
    if (Status s = sweep_one(engine, tj.get(), warmup, iterations, &row); !s.ok()) {
      row.status = "failed";
      row.note = s.to_string();
    }
    if (on_photo) {
      char line[256];
      if (row.status == "ok")
        std::snprintf(line, sizeof line,
                      "sweep %s: pipeline p50 %.1f ms, decode %d/%d %.1f ms (full %.1f ms), models %.1f ms, ratio %.2f",
                      photo.name.c_str(), row.pipeline.p50_ms, row.scale_num, row.scale_denom, row.decode_scaled.p50_ms,
                      row.decode_full.p50_ms, row.models.p50_ms, row.ratio.value_or(0));
      else std::snprintf(line, sizeof line, "sweep %s FAILED: %s", photo.name.c_str(), row.note.c_str());
      on_photo(line);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace facelens::bench

// Recall of the default detector on small and edge faces, with and without tiling (issue 14):
// - "photos": every photo under ../shared/data/faces with two or more reference faces (group
//   photos). There is no hand-marked ground truth: the reference faces are those that at least
//   `--consensus` of the extra detectors (models/extra.json: SCRFD-500M, YuNet, YOLOv5-face,
//   UltraFace-640) find, boxes matched at IoU >= 0.4 (as bench/detect_counts does);
// - "grid_N": N x N mosaics of the one-face photos, each letterboxed into a cell of a 1920x1440
//   canvas, so the ground truth (the reference box of each photo, mapped) is known by construction;
// - "pasted": one-face crops pasted small (face height 40..120 px) into grey 1920x1080 canvases,
//   some against the canvas border, with a fixed seed.
// For each set, both ways (EngineOptions::detect_tiling off and on): faces found / reference
// faces (a detection within IoU >= 0.4), detections matching no reference face, and the
// detector's time per photo (analyze without landmarks; median of --reps runs per photo, then the
// median and sum over photos). --full also times the whole pipeline (landmarks, embedding).
//   build/tools/bench/detect_small [--data DIR] [--models DIR] [--reps 5] [--consensus 2] [--full]
//                            [--dump DIR]
// Prints one JSON object. Mosaics are made in memory; --dump writes, for checking by eye, each
// mosaic and a crop of every detection that matches no reference face (PNG) into DIR.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "facelens/engine.h"
#include "image/tensor.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using facelens::Box;
using facelens::Image;

namespace {

struct Photo {
  std::string name;
  Image image;
  std::vector<Box> truth;
};

std::unique_ptr<facelens::Engine> make_engine(const facelens::EngineOptions& o) {
  auto e = facelens::Engine::create(o);
  if (!e.ok()) {
    std::cerr << "detect_small: " << e.status().to_string() << "\n";
    std::exit(1);
  }
  return std::move(*e);
}

std::vector<Box> detect(const facelens::Engine& e, const Image& img, const facelens::AnalyzeOptions& what,
                        std::vector<float>* scores = nullptr) {
  std::vector<Box> out;
  auto r = e.analyze(img, what);
  if (r.ok())
    for (const auto& f : r->faces) {
      out.push_back(f.box);
      if (scores) scores->push_back(f.score);
    }
  return out;
}

bool matches(const Box& a, const Box& b) { return facelens::iou(a, b) >= 0.4f; }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// `src` letterboxed (aspect kept, centred) into the cell (x, y, w, h) of `canvas`; its boxes mapped.
void place(Image& canvas, const Photo& src, int x, int y, int w, int h, std::vector<Box>* truth) {
  const double s = std::min(static_cast<double>(w) / src.image.width, static_cast<double>(h) / src.image.height);
  const int rw = std::max(1, static_cast<int>(src.image.width * s)),
            rh = std::max(1, static_cast<int>(src.image.height * s));
  const int ox = x + (w - rw) / 2, oy = y + (h - rh) / 2;
  const Image r = facelens::image::resize(src.image, rw, rh);
  for (int row = 0; row < rh; ++row)
    std::copy_n(r.row(row), static_cast<size_t>(rw) * 3,
                canvas.pixels.data() + (static_cast<size_t>(oy + row) * canvas.width + ox) * 3);
  const float sx = static_cast<float>(rw) / src.image.width, sy = static_cast<float>(rh) / src.image.height;
  for (const Box& b : src.truth) truth->push_back({ox + b.x1 * sx, oy + b.y1 * sy, ox + b.x2 * sx, oy + b.y2 * sy});
}

Image blank(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.assign(static_cast<size_t>(w) * h * 3, 128);
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = FACELENS_TEST_DATA, models;
  int reps = 5;
  size_t consensus = 2;
  bool full = false;
  std::string dump;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--full")) full = true;
    else if (i + 1 >= argc) break;
    else if (!std::strcmp(argv[i], "--data")) data = argv[++i];
    else if (!std::strcmp(argv[i], "--models")) models = argv[++i];
    else if (!std::strcmp(argv[i], "--dump")) dump = argv[++i];
    else if (!std::strcmp(argv[i], "--reps")) reps = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--consensus")) consensus = static_cast<size_t>(std::stoul(argv[++i]));
  }
  if (!dump.empty()) fs::create_directories(dump);
  if (!fs::is_directory(data + "/faces") || !fs::exists(data + "/models")) {
    std::cerr << "detect_small: no photos or models under " << data << " (pass --data DIR)\n";
    return 2;
  }
  facelens::AnalyzeOptions boxes_only;
  boxes_only.landmarks = false;

  // Every photo, decoded at full size, with its reference faces.
  std::vector<Photo> all;
  facelens::DecodeOptions dec;
  for (const auto& e : fs::recursive_directory_iterator(data + "/faces")) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png")) continue;
    auto d = facelens::decode_image_file(e.path().string(), dec);
    if (!d.ok()) continue;
    all.push_back({fs::relative(e.path(), data + "/faces").string(), std::move(d->image), {}});
  }
  std::sort(all.begin(), all.end(), [](const Photo& a, const Photo& b) { return a.name < b.name; });
  std::vector<std::vector<std::vector<Box>>> found;  // reference detector -> photo -> boxes
  for (const char* id : {"scrfd_500m_bnkps", "yunet_n_dynamic", "yolov5face_500m_320", "ultraface_rfb_640"}) {
    facelens::EngineOptions o;
    o.models_dir = data + "/models";
    o.manifest = FACELENS_SOURCE_DIR "/models/extra.json";
    o.detector = id;
    o.runtime.provider = facelens::Provider::kCpu;
    auto engine = make_engine(o);
    found.emplace_back();
    for (const auto& p : all) found.back().push_back(detect(*engine, p.image, boxes_only));
  }
  for (size_t i = 0; i < all.size(); ++i) {
    std::vector<std::pair<Box, size_t>> groups;
    for (const auto& det : found)
      for (const Box& b : det[i]) {
        auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return matches(x.first, b); });
        if (g == groups.end()) groups.push_back({b, 1});
        else ++g->second;
      }
    for (const auto& [b, n] : groups)
      if (n >= consensus) all[i].truth.push_back(b);
  }

  // The sets.
  std::map<std::string, std::vector<Photo>> sets;
  std::vector<const Photo*> singles;
  for (const auto& p : all) {
    if (p.truth.size() >= 2) sets["photos"].push_back(p);
    if (p.truth.size() == 1 && p.name.rfind("face_api_js", 0) != 0) singles.push_back(&p);
  }
  const int cw = 1920, ch = 1440;
  for (int g : {2, 3, 4, 6}) {
    const std::string set = "grid_" + std::to_string(g);
    const size_t per = static_cast<size_t>(g * g);
    for (size_t m = 0; m < 2; ++m) {  // two mosaics per grid, the second starting further along
      Photo mosaic{set + "_" + std::to_string(m), blank(cw, ch), {}};
      for (size_t k = 0; k < per; ++k) {
        const Photo& src = *singles[(m * per + k + m * 7) % singles.size()];
        const int col = static_cast<int>(k) % g, row = static_cast<int>(k) / g;
        place(mosaic.image, src, col * cw / g, row * ch / g, cw / g, ch / g, &mosaic.truth);
      }
      sets[set].push_back(std::move(mosaic));
    }
  }
  std::mt19937 rng(14);
  for (int m = 0; m < 4; ++m) {
    Photo canvas{"pasted_" + std::to_string(m), blank(1920, 1080), {}};
    std::vector<Box> used;
    for (int k = 0; k < 8; ++k) {
      const Photo& src = *singles[rng() % singles.size()];
      const Box& f = src.truth[0];
      // The face with a margin of half its size each side, scaled to a face height of 40..120 px.
      const float fh = 40.f + static_cast<float>(rng() % 81);
      const float s = fh / f.height();
      const int x0 = std::max(0, static_cast<int>(f.x1 - f.width() / 2)),
                y0 = std::max(0, static_cast<int>(f.y1 - f.height() / 2));
      const int x1 = std::min(src.image.width, static_cast<int>(f.x2 + f.width() / 2));
      const int y1 = std::min(src.image.height, static_cast<int>(f.y2 + f.height() / 2));
      const int w = std::max(1, static_cast<int>((x1 - x0) * s)), h = std::max(1, static_cast<int>((y1 - y0) * s));
      if (w >= canvas.image.width || h >= canvas.image.height) continue;
      // Every third face against a border of the canvas.
      int px = static_cast<int>(rng() % static_cast<unsigned>(canvas.image.width - w));
      int py = static_cast<int>(rng() % static_cast<unsigned>(canvas.image.height - h));
      if (k % 3 == 0) {
        if (k % 2) px = 0;
        else py = canvas.image.height - h;
      }
      const Box at{static_cast<float>(px), static_cast<float>(py), static_cast<float>(px + w),
                   static_cast<float>(py + h)};
      if (std::any_of(used.begin(), used.end(), [&](const Box& u) { return facelens::iou(u, at) > 0; })) continue;
      used.push_back(at);
      Photo crop{src.name, facelens::image::crop(src.image, x0, y0, x1 - x0, y1 - y0), {}};
      for (const Box& b : src.truth) crop.truth.push_back({b.x1 - x0, b.y1 - y0, b.x2 - x0, b.y2 - y0});
      std::vector<Box> t;
      place(canvas.image, crop, px, py, w, h, &t);
      // Only the face the crop was made for (a neighbour's face may be cut).
      canvas.truth.push_back(t[0]);
    }
    sets["pasted"].push_back(std::move(canvas));
  }

  // The default detector both ways.
  json out = {{"consensus", consensus}, {"reps", reps}, {"sets", json::object()}};
  std::map<bool, std::unique_ptr<facelens::Engine>> engines;
  for (bool tiled : {false, true}) {
    facelens::EngineOptions o;
    o.models_dir = models;
    o.runtime.provider = facelens::Provider::kCpu;
    o.detect_tiling = tiled;
    engines[tiled] = make_engine(o);
  }
  facelens::AnalyzeOptions pipeline;
  pipeline.embedding = true;
  for (const auto& [set, photos] : sets) {
    json js = {{"photos", photos.size()}};
    for (bool tiled : {false, true}) {
      const auto& engine = *engines[tiled];
      size_t truth = 0, hit = 0, extra = 0;
      std::vector<double> ms, full_ms;
      std::vector<float> added_known, added_false;
      json per = json::object();
      for (const auto& p : photos) {
        std::vector<float> sc;
        const auto boxes = detect(engine, p.image, boxes_only, &sc);
        // Scores of the faces tiles add: known faces the untiled pass misses, and false ones.
        const auto base = tiled ? detect(*engines[false], p.image, boxes_only) : boxes;
        for (size_t i = 0; i < boxes.size(); ++i) {
          if (std::any_of(base.begin(), base.end(), [&](const Box& b) { return matches(b, boxes[i]); })) continue;
          const bool known =
              std::any_of(p.truth.begin(), p.truth.end(), [&](const Box& t) { return matches(boxes[i], t); });
          (known ? added_known : added_false).push_back(std::round(sc[i] * 1000) / 1000);
        }
        size_t h = 0;
        for (const Box& t : p.truth)
          h += std::any_of(boxes.begin(), boxes.end(), [&](const Box& b) { return matches(b, t); });
        size_t x = 0;
        json extra_boxes = json::array();
        for (const Box& b : boxes)
          if (std::none_of(p.truth.begin(), p.truth.end(), [&](const Box& t) { return matches(b, t); })) {
            ++x;
            extra_boxes.push_back({std::lround(b.x1), std::lround(b.y1), std::lround(b.x2), std::lround(b.y2)});
            if (!dump.empty()) {
              const int x0 = std::max(0, static_cast<int>(b.x1 - b.width())),
                        y0 = std::max(0, static_cast<int>(b.y1 - b.height()));
              const int x1 = std::min(p.image.width, static_cast<int>(b.x2 + b.width()));
              const int y1 = std::min(p.image.height, static_cast<int>(b.y2 + b.height()));
              std::string n = set + "_" + (tiled ? "tiled_" : "untiled_") + std::to_string(per.size()) + "_" +
                              std::to_string(x) + ".png";
              (void)facelens::write_png(facelens::image::crop(p.image, x0, y0, x1 - x0, y1 - y0), dump + "/" + n);
            }
          }
        truth += p.truth.size();
        hit += h;
        extra += x;
        per[p.name] = {{"size", std::to_string(p.image.width) + "x" + std::to_string(p.image.height)},
                       {"found", h},
                       {"faces", p.truth.size()},
                       {"extra", x}};
        if (x) per[p.name]["extra_boxes"] = extra_boxes;
        if (!dump.empty() && !tiled && set != "photos")
          (void)facelens::write_png(p.image, dump + "/" + p.name + ".png");
        auto time = [&](const facelens::AnalyzeOptions& what) {
          std::vector<double> t;
          for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            (void)engine.analyze(p.image, what);
            t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
          }
          return median(t);
        };
        ms.push_back(time(boxes_only));
        if (full) full_ms.push_back(time(pipeline));
      }
      json r = {{"found", hit},
                {"faces", truth},
                {"recall", truth ? static_cast<double>(hit) / truth : 0.0},
                {"extra", extra},
                {"detect_ms_median", median(ms)},
                {"detect_ms_total", std::accumulate(ms.begin(), ms.end(), 0.0)}};
      if (full) {
        r["pipeline_ms_median"] = median(full_ms);
        r["pipeline_ms_total"] = std::accumulate(full_ms.begin(), full_ms.end(), 0.0);
      }
      if (tiled) {
        std::sort(added_known.begin(), added_known.end());
        std::sort(added_false.begin(), added_false.end());
        r["added_known_scores"] = added_known;
        r["added_false_scores"] = added_false;
      }
      r["per_photo"] = per;
      js[tiled ? "tiled" : "untiled"] = r;
    }
    out["sets"][set] = js;
  }
  std::cout << out.dump(1) << "\n";
  return 0;
}

// Detections of every extra detector family on every photo under ../shared/data/faces, and the
// recall of each against the consensus of the others: a face that at least `--consensus` of the
// other detectors find (boxes matched at IoU >= 0.4) and this one misses counts as missed.
//   build/tools/bench/detect_counts [--data DIR] [--manifest models/extra.json] [--consensus 2]
//                             [--detectors id,id,...]
// Prints one JSON object: per detector the faces found per image, total, consensus recall and
// the photos where it misses or adds a face. Used to audit the families against their authors.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "facelens/engine.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

int main(int argc, char** argv) {
  std::string data = FACELENS_TEST_DATA, manifest = FACELENS_SOURCE_DIR "/models/extra.json";
  std::string ids = "scrfd_500m_bnkps,yunet_n_640_640,yunet_n_dynamic,yolov5face_500m_320,ultraface_rfb_640";
  size_t consensus = 2;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--data")) data = argv[++i];
    else if (!std::strcmp(argv[i], "--manifest")) manifest = argv[++i];
    else if (!std::strcmp(argv[i], "--detectors")) ids = argv[++i];
    else if (!std::strcmp(argv[i], "--consensus")) consensus = static_cast<size_t>(std::stoul(argv[++i]));
  }
  if (!fs::is_directory(data + "/faces") || !fs::exists(data + "/models")) {
    std::cerr << "detect_counts: no photos or models under " << data << " (pass --data DIR)\n";
    return 2;
  }
  std::vector<std::string> detectors;
  std::stringstream ss(ids);
  for (std::string id; std::getline(ss, id, ',');) detectors.push_back(id);
  std::vector<std::string> images;
  for (const auto& e : fs::recursive_directory_iterator(data + "/faces")) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")) images.push_back(e.path().string());
  }
  std::sort(images.begin(), images.end());

  facelens::AnalyzeOptions what;
  what.landmarks = false;
  std::map<std::string, std::vector<std::vector<facelens::Box>>> boxes;  // detector -> image -> boxes
  json out = {{"images", images.size()}, {"consensus", consensus}, {"detectors", json::object()}};
  for (const auto& id : detectors) {
    facelens::EngineOptions o;
    o.models_dir = data + "/models";
    o.manifest = manifest;
    o.detector = id;
    o.runtime.provider = facelens::Provider::kCpu;
    auto engine = facelens::Engine::create(o);
    if (!engine.ok()) {
      std::cerr << id << ": " << engine.status().to_string() << "\n";
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& img : images) {
      auto r = (*engine)->analyze_file(img, what);
      std::vector<facelens::Box> b;
      if (r.ok())
        for (const auto& f : r->faces) b.push_back(f.box);
      boxes[id].push_back(std::move(b));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out["detectors"][id] = {{"seconds", s}};
  }
  const std::string prefix = data + "/faces/";
  for (const auto& id : detectors) {
    size_t total = 0, wanted = 0, found = 0;
    json missed = json::array(), extra = json::array(), per = json::object();
    for (size_t i = 0; i < images.size(); ++i) {
      const auto& mine = boxes[id][i];
      total += mine.size();
      per[images[i].substr(prefix.size())] = mine.size();
      // Consensus faces: boxes of the other detectors, grouped by IoU, kept when enough agree.
      std::vector<std::pair<facelens::Box, size_t>> groups;
      for (const auto& other : detectors) {
        if (other == id) continue;
        for (const auto& b : boxes[other][i]) {
          auto g = std::find_if(groups.begin(), groups.end(),
                                [&](const auto& x) { return facelens::iou(x.first, b) >= 0.4f; });
          if (g == groups.end()) groups.push_back({b, 1});
          else ++g->second;
        }
      }
      for (const auto& [b, n] : groups) {
        if (n < consensus) continue;
        ++wanted;
        const bool hit =
            std::any_of(mine.begin(), mine.end(), [&](const auto& m) { return facelens::iou(m, b) >= 0.4f; });
        found += hit;
        if (!hit) missed.push_back(images[i].substr(prefix.size()));
      }
      for (const auto& m : mine) {
        const bool agreed = std::any_of(groups.begin(), groups.end(), [&](const auto& g) {
          return g.second >= consensus && facelens::iou(m, g.first) >= 0.4f;
        });
        if (!agreed) extra.push_back(images[i].substr(prefix.size()));
      }
    }
    auto& d = out["detectors"][id];
    d["faces"] = total;
    d["consensus_faces"] = wanted;
    d["consensus_found"] = found;
    d["missed"] = missed;
    d["not_in_consensus"] = extra;
    d["per_image"] = per;
  }
  std::cout << out.dump(1) << "\n";
  return 0;
}

// facelens — the JSON of results, one writer shared by the facelens program and the HTTP service
// so that both print the same objects for the same answer.
//
//   nlohmann::ordered_json j = facelens::format::to_json(result);   // {"width", "height", "faces"}
//   j["providers"] = facelens::format::providers_json(engine.services());
//   std::cout << j.dump() << "\n";
//
// Pixel coordinates are rounded to 0.01 px, scores, similarities and thresholds to 1e-4. Where an
// answer names its input ("image": a file path in the CLI), the caller adds it: the service has no
// file names. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "facelens/facelens.h"
#include "facelens/recognition.h"

namespace facelens::format {

// The one rounding rule of every JSON answer (the CLI's and the service's): pixel coordinates
// to 0.01 px, scores, similarities, probabilities, qualities and thresholds to 1e-4.
double round_px(double v);
double round_score(double v);

// {"box": [x1, y1, x2, y2], "score", "landmarks"?, "embedding"?, "quality"?, "deepfake"?,
//  "liveness"?, "attributes"?}
nlohmann::ordered_json to_json(const Face& face);
// [x1, y1, x2, y2] rounded to 0.01 px: a face's "box" everywhere.
nlohmann::ordered_json box_json(const Box& box);
// {"width", "height", "faces": [...]}: detect, embed, analyze.
nlohmann::ordered_json to_json(const ImageResult& result);
// {"image": image, "width", "height", "faces"}: the same with the input's name first.
nlohmann::ordered_json to_json(const ImageResult& result, const std::string& image);
// {"similarity", "match", "threshold", "box_a", "box_b", "deepfake_a"?, "deepfake_b"?}: 1:1 of two
// images (the largest face of each).
nlohmann::ordered_json to_json(const VerifyResult& result);
// {"width", "height", "threshold", "faces": [{"box", "identity" (null: unknown), "score",
//  "matches": [{"name", "score"}]}]}: 1:N against the gallery.
nlohmann::ordered_json to_json(const IdentifyResult& result);
// A photo verified against an enrolled identity: {"identity", "similarity", "match", "threshold",
// "box_a"} (the names of the two-photo verify; similarity and threshold rounded to 1e-4).
nlohmann::ordered_json to_json(const GalleryVerifyResult& result);
// {"detector": "CPUExecutionProvider", ...}: where each loaded service runs (attribute models by
// their model id).
nlohmann::ordered_json providers_json(std::span<const ServiceInfo> services);
nlohmann::ordered_json to_json(const ModelDescription& d);
// Where a service's nodes run: [{"ep": ..., "nodes": N, "op_types": {"Conv": 40, ...}}, ...].
nlohmann::ordered_json to_json(std::span<const EpPlacement> placement);
nlohmann::ordered_json error_json(const std::string& image, const Status& status);
std::string to_text(const ImageResult& result, const std::string& image);

}  // namespace facelens::format

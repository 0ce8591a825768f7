// JSON and text renderings of library results, shared by the facelens program and the HTTP
// service so that both print the same objects. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "facelens/facelens.h"

namespace facelens::format {

nlohmann::ordered_json to_json(const Face& face);
nlohmann::ordered_json to_json(const ImageResult& result, const std::string& image);
nlohmann::ordered_json to_json(const ModelDescription& d);
// Where a service's nodes run: [{"ep": ..., "nodes": N, "op_types": {"Conv": 40, ...}}, ...].
nlohmann::ordered_json to_json(std::span<const EpPlacement> placement);
nlohmann::ordered_json error_json(const std::string& image, const Status& status);
std::string to_text(const ImageResult& result, const std::string& image);

}  // namespace facelens::format

// JSON and text renderings of library results, shared by the facelens program and the HTTP
// service so that both print the same objects. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "facelens/facelens.h"

namespace facelens::format {

nlohmann::ordered_json to_json(const Face& face);
nlohmann::ordered_json to_json(const ImageResult& result, const std::string& image);
nlohmann::ordered_json to_json(const ModelDescription& d);
nlohmann::ordered_json error_json(const std::string& image, const Status& status);
std::string to_text(const ImageResult& result, const std::string& image);

}  // namespace facelens::format

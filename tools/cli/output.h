// JSON and text renderings of library results for the facelens program.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "facelens/facelens.h"

namespace facelens::cli {

nlohmann::ordered_json to_json(const Face& face);
nlohmann::ordered_json to_json(const ImageResult& result, const std::string& image);
nlohmann::ordered_json to_json(const ModelDescription& d);
nlohmann::ordered_json error_json(const std::string& image, const Status& status);
std::string to_text(const ImageResult& result, const std::string& image);

}  // namespace facelens::cli

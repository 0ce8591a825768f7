#pragma once
#include <string>

#include "facelens/status.h"

namespace facelens::core {
// Lower-case hex sha256 of a file's contents, streamed.
StatusOr<std::string> sha256_file(const std::string& path);
}  // namespace facelens::core

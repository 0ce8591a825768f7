#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "facelens/status.h"

namespace facelens::core {
// Lower-case hex sha256 of a file's contents, streamed.
StatusOr<std::string> sha256_file(const std::string& path);
// Lower-case hex sha256 of bytes in memory (API keys, uploaded images).
std::string sha256_hex(std::span<const uint8_t> bytes);
std::string sha256_hex(std::string_view text);
}  // namespace facelens::core

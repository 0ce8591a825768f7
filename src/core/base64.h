// Base64 (RFC 4648, the standard alphabet with '+' and '/'), table-driven. Pure functions,
// thread-safe.
//
//   std::string text = core::base64_encode(bytes);          // padded with '='
//   std::optional<std::string> raw = core::base64_decode(text);  // nullopt: not base64
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace facelens::core {

// Padded to a multiple of 4 characters, no line breaks.
std::string base64_encode(std::span<const uint8_t> bytes);
// Accepts padded and unpadded text and skips spaces, tabs and line breaks (as MIME and JSON
// producers wrap them). nullopt for any other character, data after the padding, more than two
// '=' or a dangling single character (6 bits cannot end a byte).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace facelens::core

// Base64 (RFC 4648, standard alphabet, '=' padding): one encoder and one decoder for the whole
// library (gallery export/import crops, images sent in JSON to the service).
//
//   std::string text = facelens::base64_encode(bytes);
//   std::optional<std::string> back = facelens::base64_decode(text);  // nullopt: not base64
//
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace facelens {

// Padded to a multiple of 4 characters, no line breaks.
std::string base64_encode(std::span<const uint8_t> bytes);

// The bytes of `text`. Spaces, CR and LF are skipped (wrapped text decodes); padding is optional.
// nullopt when a character is outside the alphabet, data follows the padding, or there are more
// than two '='.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace facelens

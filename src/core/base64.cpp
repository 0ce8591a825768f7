#include "core/base64.h"

#include <array>

namespace facelens::core {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xFF;
constexpr uint8_t kSkip = 0xFE;  // whitespace
constexpr uint8_t kPad = 0xFD;   // '='

constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  t[' '] = t['\t'] = t['\n'] = t['\r'] = kSkip;
  t['='] = kPad;
  return t;
}
constexpr std::array<uint8_t, 256> kTable = make_table();

}  // namespace

std::string base64_encode(std::span<const uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (const size_t rest = in.size() - i; rest > 0) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (rest == 2 ? uint32_t{in[i + 1]} << 8 : 0);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int n_chars = 0;  // sextets in acc (0..3)
  int n_pad = 0;
  for (const char c : text) {
    const uint8_t v = kTable[static_cast<uint8_t>(c)];
    if (v < 64) {
      if (n_pad) return std::nullopt;  // data after the padding
      acc = (acc << 6) | v;
      if (++n_chars == 4) {
        out.push_back(static_cast<char>(acc >> 16));
        out.push_back(static_cast<char>((acc >> 8) & 0xFF));
        out.push_back(static_cast<char>(acc & 0xFF));
        acc = 0;
        n_chars = 0;
      }
    } else if (v == kPad) {
      if (++n_pad > 2) return std::nullopt;
    } else if (v != kSkip) {
      return std::nullopt;
    }
  }
  if (n_chars == 1) return std::nullopt;
  if (n_chars == 2) out.push_back(static_cast<char>(acc >> 4));
  if (n_chars == 3) {
    out.push_back(static_cast<char>(acc >> 10));
    out.push_back(static_cast<char>((acc >> 2) & 0xFF));
  }
  return out;
}

}  // namespace facelens::core

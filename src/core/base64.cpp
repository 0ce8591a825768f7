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

// The fast path's tables: the sextet of a character already shifted to its place in a 24-bit
// group (position 0..3), or kBad (a bit no group has) for anything that is not a base64 digit.
constexpr uint32_t kBad = 1u << 24;
constexpr std::array<std::array<uint32_t, 256>, 4> make_shifted() {
  std::array<std::array<uint32_t, 256>, 4> t{};
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 256; ++c) {
      const uint8_t v = kTable[static_cast<size_t>(c)];
      t[static_cast<size_t>(p)][static_cast<size_t>(c)] = v < 64 ? uint32_t{v} << (18 - 6 * p) : kBad;
    }
  }
  return t;
}
constexpr std::array<std::array<uint32_t, 256>, 4> kShifted = make_shifted();

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
  // Written through a pointer, then cut to size: no push_back per byte.
  out.resize(text.size() / 4 * 3 + 3);
  char* dst = out.data();
  const auto* src = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  // Fast path: groups of four base64 digits (the whole text, for the unwrapped base64 JSON
  // carries), eight at a time, four table lookups OR-ed per group. It stops at the first group with
  // anything else (padding, whitespace, a bad character); the general loop below goes on from there.
  while (i + 8 <= text.size()) {
    const uint32_t a =
        kShifted[0][src[i]] | kShifted[1][src[i + 1]] | kShifted[2][src[i + 2]] | kShifted[3][src[i + 3]];
    const uint32_t b =
        kShifted[0][src[i + 4]] | kShifted[1][src[i + 5]] | kShifted[2][src[i + 6]] | kShifted[3][src[i + 7]];
    if ((a | b) & kBad) break;
    dst[0] = static_cast<char>(a >> 16);
    dst[1] = static_cast<char>(a >> 8);
    dst[2] = static_cast<char>(a);
    dst[3] = static_cast<char>(b >> 16);
    dst[4] = static_cast<char>(b >> 8);
    dst[5] = static_cast<char>(b);
    dst += 6;
    i += 8;
  }
  // General loop (the reference): any character, whitespace skipped, padding at the end.
  uint32_t acc = 0;
  int n_chars = 0;  // sextets in acc (0..3)
  int n_pad = 0;
  for (; i < text.size(); ++i) {
    const uint8_t v = kTable[src[i]];
    if (v < 64) {
      if (n_pad) return std::nullopt;  // data after the padding
      acc = (acc << 6) | v;
      if (++n_chars == 4) {
        *dst++ = static_cast<char>(acc >> 16);
        *dst++ = static_cast<char>((acc >> 8) & 0xFF);
        *dst++ = static_cast<char>(acc & 0xFF);
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
  if (n_chars == 2) *dst++ = static_cast<char>(acc >> 4);
  if (n_chars == 3) {
    *dst++ = static_cast<char>(acc >> 10);
    *dst++ = static_cast<char>((acc >> 2) & 0xFF);
  }
  out.resize(static_cast<size_t>(dst - out.data()));
  return out;
}

}  // namespace facelens::core

#include "gallery/names.h"

#include <cstdint>
#include <set>

#include "facelens/gallery.h"

namespace facelens {
namespace {

// The length of the valid UTF-8 sequence at s[i] (1..4), or 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;  // overlong, range, surrogate
  return n;
}

bool is_control(uint8_t c) { return c < 0x20 || c == 0x7F; }

}  // namespace

namespace gallery {

std::string name_problem(std::string_view name) {
  if (name.empty()) return "the identity needs a non-empty name";
  if (name.size() > kMaxIdentityNameBytes)
    return "identity name of " + std::to_string(name.size()) + " bytes, the limit is " +
           std::to_string(kMaxIdentityNameBytes) + ": use a shorter name";
  for (size_t i = 0; i < name.size();) {
    const size_t n = utf8_sequence(name, i);
    if (n == 0) return "identity name is not valid UTF-8 (byte " + std::to_string(i) + "): send names as UTF-8 text";
    if (n == 1 && is_control(static_cast<uint8_t>(name[i])))
      return "identity name has a control character (byte " + std::to_string(i) + "): names are printable text";
    i += n;
  }
  return "";
}

std::vector<NameProblem> name_repairs(std::span<const StoredIdentity> ids) {
  std::set<std::string> taken;
  for (const auto& i : ids) taken.insert(i.name);
  std::vector<NameProblem> out;
  for (const auto& i : ids) {
    const std::string problem = name_problem(i.name);
    if (problem.empty()) continue;
    NameProblem p;
    p.identity_id = i.id;
    p.name = display_identity_name(i.name);
    p.problem = problem;
    p.repaired = p.name;
    for (int n = 2; taken.count(p.repaired); ++n) {
      const std::string suffix = "~" + std::to_string(n);
      std::string base = p.name.substr(0, kMaxIdentityNameBytes - suffix.size());
      while (!base.empty() && !name_problem(base).empty()) base.pop_back();  // not mid-character
      p.repaired = base + suffix;
    }
    taken.insert(p.repaired);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace gallery

Status validate_identity_name(std::string_view name) {
  const std::string problem = gallery::name_problem(name);
  if (problem.empty()) return Status::Ok();
  if (name.empty()) return invalid_argument(problem);
  return invalid_argument(problem + " (got '" + display_identity_name(name) + "')");
}

std::string display_identity_name(std::string_view name) {
  if (gallery::name_problem(name).empty()) return std::string(name);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < name.size();) {
    const size_t n = utf8_sequence(name, i);
    std::string piece;
    if (n == 0 || (n == 1 && is_control(static_cast<uint8_t>(name[i])))) {
      const auto c = static_cast<uint8_t>(name[i]);
      piece = std::string("\\x") + hex[c >> 4] + hex[c & 15];
      i += 1;
    } else {
      piece = std::string(name.substr(i, n));
      i += n;
    }
    if (out.size() + piece.size() > kMaxIdentityNameBytes) break;
    out += piece;
  }
  return out.empty() ? "?" : out;
}

}  // namespace facelens

// core::base64_encode / base64_decode (RFC 4648 test vectors, round trips, refusals) and
// core::sha256_hex (FIPS 180-2 vectors).
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/sha256.h"

namespace facelens {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Base64, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [raw, text] : vectors) {
    EXPECT_EQ(core::base64_encode(bytes_of(raw)), text) << raw;
    auto back = core::base64_decode(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, raw) << text;
  }
}

TEST(Base64, RoundTripsEveryByteAndLength) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 300; ++n) {
    std::string raw(n, '\0');
    for (auto& c : raw) c = static_cast<char>(rng() & 0xFF);
    const std::string text = core::base64_encode(bytes_of(raw));
    EXPECT_EQ(text.size() % 4, 0u);
    auto back = core::base64_decode(text);
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, raw) << n;
  }
}

TEST(Base64, AcceptsUnpaddedAndWrappedText) {
  EXPECT_EQ(core::base64_decode("Zm9vYg").value_or("?"), "foob");
  EXPECT_EQ(core::base64_decode("Zm9v\r\nYmFy\n").value_or("?"), "foobar");
  EXPECT_EQ(core::base64_decode(" Zm 9v\tYmE=").value_or("?"), "fooba");
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(core::base64_decode("@@@not base64@@@").has_value());
  EXPECT_FALSE(core::base64_decode("Zm9v-mFy").has_value());  // URL-safe alphabet is not accepted
  EXPECT_FALSE(core::base64_decode("Zg==Zm8=").has_value());  // data after the padding
  EXPECT_FALSE(core::base64_decode("Zg===").has_value());     // three '='
  EXPECT_FALSE(core::base64_decode("Zm9vY").has_value());     // a dangling sextet
}

// The decoder's fast path (eight digits at a time) against a plain one-character-at-a-time
// decoder written here: the same bytes, or the same refusal, for random texts with whitespace,
// padding and bad characters at random places (so the fast path stops anywhere in the text).
std::optional<std::string> reference_decode(std::string_view text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int n = 0, pad = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      if (++pad > 2) return std::nullopt;
      continue;
    }
    const size_t v = alphabet.find(c);
    if (v == std::string::npos || pad) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    if (++n == 4) {
      out += {static_cast<char>(acc >> 16), static_cast<char>(acc >> 8), static_cast<char>(acc)};
      acc = 0, n = 0;
    }
  }
  if (n == 1) return std::nullopt;
  if (n == 2) out += static_cast<char>(acc >> 4);
  if (n == 3) out += {static_cast<char>(acc >> 10), static_cast<char>(acc >> 2)};
  return out;
}

TEST(Base64, FastPathDecodesAsTheReference) {
  std::mt19937 rng(11);
  const std::string extras = " \t\r\n=@-_\x80";
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string raw(rng() % 200, '\0');
    for (auto& c : raw) c = static_cast<char>(rng() & 0xFF);
    std::string text = core::base64_encode(bytes_of(raw));
    if (round % 3 == 1) {  // unpadded
      while (!text.empty() && text.back() == '=') text.pop_back();
    }
    const int edits = round % 2 ? static_cast<int>(rng() % 3) : 0;
    for (int e = 0; e < edits; ++e) {  // an extra character somewhere
      const size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
      text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), extras[rng() % extras.size()]);
    }
    const auto expected = reference_decode(text);
    const auto got = core::base64_decode(text);
    ASSERT_EQ(got.has_value(), expected.has_value()) << "'" << text << "'";
    if (expected) {
      EXPECT_EQ(*got, *expected) << "'" << text << "'";
      if (edits == 0) {
        EXPECT_EQ(*got, raw);
      }
    } else {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100) << "the random edits should also make texts that are refused";
}

TEST(Sha256, HexOfBytesMatchesFipsVectors) {
  EXPECT_EQ(core::sha256_hex(std::string_view("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(core::sha256_hex(std::string_view("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string abc = "abc";
  EXPECT_EQ(core::sha256_hex(bytes_of(abc)), core::sha256_hex(std::string_view(abc)));
}

}  // namespace
}  // namespace facelens

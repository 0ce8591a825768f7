// core::base64_encode / base64_decode (RFC 4648 test vectors, round trips, refusals) and
// core::sha256_hex (FIPS 180-2 vectors).
#include <gtest/gtest.h>

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

TEST(Sha256, HexOfBytesMatchesFipsVectors) {
  EXPECT_EQ(core::sha256_hex(std::string_view("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(core::sha256_hex(std::string_view("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string abc = "abc";
  EXPECT_EQ(core::sha256_hex(bytes_of(abc)), core::sha256_hex(std::string_view(abc)));
}

}  // namespace
}  // namespace facelens

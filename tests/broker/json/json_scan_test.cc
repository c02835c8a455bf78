// The pre-scan on its own: each rule, and an exhaustive check of the UTF-8 validator
// against a reference decoder over every 1-, 2- and 3-byte sequence.

#include "broker/json/json_scan.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace keycell::json {
namespace {

using std::string_literals::operator""s;

// Reference: decode by the bit patterns, then reject overlongs, surrogates, > U+10FFFF.
bool RefValid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      const uint8_t cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

TEST(JsonScanTest, Utf8MatchesReferenceExhaustively) {
  for (uint32_t a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    ASSERT_EQ(FindInvalidUtf8(one) == 1, RefValid(one)) << a;
    for (uint32_t b = 0; b < 256; ++b) {
      const std::string two = one + static_cast<char>(b);
      ASSERT_EQ(FindInvalidUtf8(two) == 2, RefValid(two)) << a << " " << b;
      if (a < 0xe0 || a > 0xf4) continue;  // only 3- and 4-byte leads need a third byte
      for (uint32_t c = 0x70; c < 0xd0; ++c) {
        const std::string three = two + static_cast<char>(c);
        ASSERT_EQ(FindInvalidUtf8(three) == 3, RefValid(three)) << a << " " << b << " " << c;
      }
    }
  }
}

TEST(JsonScanTest, Utf8FourByteBoundaries) {
  EXPECT_EQ(FindInvalidUtf8("\xf0\x90\x80\x80"), 4u);  // U+10000
  EXPECT_EQ(FindInvalidUtf8("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(FindInvalidUtf8("\xf0\x8f\xbf\xbf"), 0u);  // overlong U+FFFF
  EXPECT_EQ(FindInvalidUtf8("ab\xf0\x9f\x98"), 2u);    // truncated at the end
  EXPECT_EQ(FindInvalidUtf8("\x00"s), 1u);             // NUL is well-formed UTF-8
}

TEST(JsonScanTest, Rules) {
  EXPECT_TRUE(ScanJsonText(R"({"a":["]}{[",1]})", 2).ok());
  EXPECT_EQ(ScanJsonText("[[[]]]", 2).code(), Err::kTooLarge);
  EXPECT_EQ(ScanJsonText("[[[]]]", 2).detail(), 2);
  EXPECT_STREQ(ScanJsonText("\"a\\\0\""s, 8).where(), "json: NUL in input");
  EXPECT_STREQ(ScanJsonText(R"("\\\u0000")", 8).where(), "json: \\u0000 escape");
  EXPECT_TRUE(ScanJsonText(R"("\\u0000")", 8).ok());
  EXPECT_TRUE(ScanJsonText(R"("\u00001")", 8).code() == Err::kBadFrame);
  EXPECT_STREQ(ScanJsonText("\"abc\\", 8).where(), "json: truncated input");
  EXPECT_STREQ(ScanJsonText("{\"1\":1,", 8).where(), "json: truncated input");
  EXPECT_STREQ(ScanJsonText("[]]", 8).where(), "json: unbalanced brackets");
  EXPECT_TRUE(ScanJsonText("\"\x7f\"", 8).ok());  // DEL is not a control character in JSON
  EXPECT_TRUE(ScanJsonText(" \t\r\n[]", 8).ok());
  EXPECT_STREQ(ScanJsonText("\x0b[]", 8).where(), "json: control character");
  EXPECT_EQ(SaturatedOffset(size_t{1} << 40), INT32_MAX);
}

}  // namespace
}  // namespace keycell::json

#include "broker/json/json_scan.h"

#include <cstdint>
#include <limits>

namespace keycell::json {
namespace {

// Length of the well-formed sequence starting at text[i], or 0. Table 3-7 row by row:
// the second byte's range depends on the lead byte, which is what rules out overlongs,
// surrogates and code points above U+10FFFF.
size_t SequenceLength(std::string_view text, size_t i) {
  const auto at = [&](size_t k) -> uint8_t {
    return i + k < text.size() ? static_cast<uint8_t>(text[i + k]) : 0;
  };
  const auto in = [](uint8_t c, uint8_t lo, uint8_t hi) { return c >= lo && c <= hi; };
  const uint8_t c = at(0);
  if (c <= 0x7f) return 1;
  size_t len = 0;
  uint8_t lo = 0x80, hi = 0xbf;  // range of the second byte
  if (in(c, 0xc2, 0xdf)) {
    len = 2;
  } else if (in(c, 0xe0, 0xef)) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;  // U+D800..U+DFFF are not scalar values
  } else if (in(c, 0xf0, 0xf4)) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
  } else {
    return 0;  // 0x80..0xc1 (continuation or overlong lead) and 0xf5..0xff
  }
  if (i + len > text.size() || !in(at(1), lo, hi)) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (!in(at(k), 0x80, 0xbf)) return 0;
  }
  return len;
}

}  // namespace

int32_t SaturatedOffset(size_t offset) {
  constexpr size_t kMax = static_cast<size_t>(std::numeric_limits<int32_t>::max());
  return static_cast<int32_t>(offset < kMax ? offset : kMax);
}

size_t FindInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = SequenceLength(text, i);
    if (len == 0) return i;
    i += len;
  }
  return text.size();
}

Status ScanJsonText(std::string_view text, int max_depth) {
  if (const size_t bad = FindInvalidUtf8(text); bad != text.size()) {
    return Status(Err::kBadFrame, "json: invalid UTF-8", SaturatedOffset(bad));
  }
  // Checked over the whole text up front, so an escaped NUL ("\<NUL>") is caught too.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return Status(Err::kBadFrame, "json: NUL in input", SaturatedOffset(nul));
  }
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool control = static_cast<unsigned char>(c) < 0x20;
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\') {
        // A \u0000 escape would become a C string terminator inside cJSON.
        if (text.substr(i + 1, 5) == "u0000") {
          return Status(Err::kBadFrame, "json: \\u0000 escape", SaturatedOffset(i));
        }
        ++i;  // the escaped byte cannot end the string; past the end means truncated
      } else if (control) {
        return Status(Err::kBadFrame, "json: control character", SaturatedOffset(i));
      }
    } else if (c == '"') {
      in_string = true;
    } else if (control && c != '\t' && c != '\n' && c != '\r') {
      return Status(Err::kBadFrame, "json: control character", SaturatedOffset(i));
    } else if ((c == '[' || c == '{') && ++depth > max_depth) {
      return Status(Err::kTooLarge, "json: nesting too deep", SaturatedOffset(i));
    } else if ((c == ']' || c == '}') && --depth < 0) {
      return Status(Err::kBadFrame, "json: unbalanced brackets", SaturatedOffset(i));
    }
  }
  if (in_string || depth != 0) {
    return Status(Err::kBadFrame, "json: truncated input", SaturatedOffset(text.size()));
  }
  return Status::Ok();
}

}  // namespace keycell::json

#pragma once
// Reference encoders, written independently of the redactor, that produce the forms
// in which an upstream may echo a secret. Tests only.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/secure_buffer.h"
#include "enclave/http/redactor.h"

namespace keycell::enclave::http::test {

inline SecretView Secret(std::string_view s) {
  return SecretView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

inline std::string Base64(std::string_view in, bool url, bool pad) {
  const char* a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  const size_t rest = in.size() - i;
  if (rest == 1) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

enum class Percent { kUpper, kLower, kFormPlus, kEverything };

// encodeURIComponent-like (RFC 3986 unreserved kept), or form encoding (space as '+'),
// or every byte as %XX.
inline std::string PercentEncode(std::string_view in, Percent style) {
  const char* hex = style == Percent::kLower ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (style != Percent::kEverything && unreserved) {
      out += static_cast<char>(c);
    } else if (style == Percent::kFormPlus && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

enum class Json {
  kMinimal,     // \" \\ and control characters only (most encoders)
  kSlash,       // also \/ (PHP's json_encode)
  kAsciiOnly,   // also non-ASCII as \uXXXX, surrogate pairs above U+FFFF (Python's default)
  kEverything,  // every character as \uXXXX
};

inline void AppendU(std::string& out, uint32_t cu) {
  static const char* hex = "0123456789abcdef";
  out += "\\u";
  for (int s = 12; s >= 0; s -= 4) out += hex[(cu >> s) & 15];
}

// `in` must be valid UTF-8 for kAsciiOnly / kEverything.
inline std::string JsonEscape(std::string_view in, Json style) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    const unsigned char c = in[i];
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0xf0) {
      cp = c & 7;
      n = 4;
    } else if (c >= 0xe0) {
      cp = c & 15;
      n = 3;
    } else if (c >= 0xc0) {
      cp = c & 31;
      n = 2;
    }
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (uint8_t(in[i + k]) & 63);
    const bool escape_all = style == Json::kEverything || (style == Json::kAsciiOnly && cp >= 0x80);
    if (escape_all) {
      if (cp >= 0x10000) {
        AppendU(out, 0xd800 + ((cp - 0x10000) >> 10));
        AppendU(out, 0xdc00 + ((cp - 0x10000) & 0x3ff));
      } else {
        AppendU(out, cp);
      }
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '/' && style == Json::kSlash) {
      out += "\\/";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      AppendU(out, c);
    } else {
      out.append(in.substr(i, n));
    }
    i += n;
  }
  return out;
}

// Collects the output as plain segments separated by markers.
class SegmentOutput final : public Redactor::Output {
 public:
  void Write(ByteView bytes) override {
    text_.append(AsChars(bytes));
    if (segments_.empty() || last_was_marker_) segments_.emplace_back();
    segments_.back().append(AsChars(bytes));
    last_was_marker_ = false;
  }
  void WriteMarker() override {
    text_.append(kRedactionMarker);
    ++markers_;
    last_was_marker_ = true;
  }
  const std::string& text() const { return text_; }
  // True if `needle` occurs inside one plain (unredacted) segment.
  bool PlainContains(std::string_view needle) const {
    for (const std::string& s : segments_) {
      if (s.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  size_t markers() const { return markers_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;
  bool last_was_marker_ = false;
  size_t markers_ = 0;
};

}  // namespace keycell::enclave::http::test

#include "enclave/env_line.h"

#include <string.h>

#include "enclave/policy.h"

namespace keycell::enclave {
namespace {

enum class Quoting { kSingle, kDouble, kEscaped };

bool ValidUtf8(SecretView v) {
  const uint8_t* p = v.data();
  size_t i = 0;
  while (i < v.size()) {
    const uint8_t c = p[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    if (v.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Quoting ChooseQuoting(SecretView v) {
  bool single = false, dbl = false, backslash = false, cr = false, dollar = false;
  for (size_t i = 0; i < v.size(); ++i) {
    switch (v.data()[i]) {
      case '\'': single = true; break;
      case '"': dbl = true; break;
      case '\\': backslash = true; break;
      case '\r': cr = true; break;
      case '$': dollar = true; break;
      default: break;
    }
  }
  if (!single && !backslash && !cr) return Quoting::kSingle;
  if (!dbl && !backslash && !cr && !dollar) return Quoting::kDouble;
  return Quoting::kEscaped;
}

size_t EscapedLength(SecretView v) {
  size_t n = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const uint8_t c = v.data()[i];
    n += (c == '\\' || c == '"' || c == '\r' || c == '\n') ? 2 : 1;
  }
  return n;
}

void WriteEscaped(SecretView v, uint8_t* out) {
  for (size_t i = 0; i < v.size(); ++i) {
    const uint8_t c = v.data()[i];
    if (c == '\\' || c == '"') { *out++ = '\\'; *out++ = c; }
    else if (c == '\n') { *out++ = '\\'; *out++ = 'n'; }
    else if (c == '\r') { *out++ = '\\'; *out++ = 'r'; }
    else *out++ = c;
  }
}

}  // namespace

Result<SecureBuffer> FormatEnvLine(std::string_view name, SecretView value) {
  if (!ValidEnvName(name)) return Status(Err::kInvalidArgument, "env: bad variable name");
  if (memchr(value.data(), '\0', value.size()) != nullptr)
    return Status(Err::kInvalidArgument, "env: value contains NUL");
  if (!ValidUtf8(value)) return Status(Err::kInvalidArgument, "env: value is not UTF-8");

  const Quoting q = ChooseQuoting(value);
  const size_t body = q == Quoting::kEscaped ? EscapedLength(value) : value.size();
  KC_ASSIGN_OR_RETURN(SecureBuffer line, SecureBuffer::Allocate(name.size() + 1 + 2 + body + 1));
  uint8_t* p = line.data();
  memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = '=';
  const uint8_t quote = q == Quoting::kSingle ? '\'' : '"';
  *p++ = quote;
  if (q == Quoting::kEscaped) {
    WriteEscaped(value, p);
  } else if (!value.empty()) {
    memcpy(p, value.data(), value.size());
  }
  p += body;
  *p++ = quote;
  *p++ = '\n';
  return line;
}

Result<SecureBuffer> FormatNulRecord(std::string_view name, SecretView value) {
  if (!ValidEnvName(name)) return Status(Err::kInvalidArgument, "env: bad variable name");
  if (memchr(value.data(), '\0', value.size()) != nullptr)
    return Status(Err::kInvalidArgument, "env: value contains NUL");
  KC_ASSIGN_OR_RETURN(SecureBuffer rec, SecureBuffer::Allocate(name.size() + 1 + value.size() + 1));
  memcpy(rec.data(), name.data(), name.size());
  rec.data()[name.size()] = '\0';
  if (!value.empty()) memcpy(rec.data() + name.size() + 1, value.data(), value.size());
  rec.data()[rec.size() - 1] = '\0';
  return rec;
}

}  // namespace keycell::enclave

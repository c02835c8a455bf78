#include "enclave/proxy/head_writer.h"

#include <string.h>

namespace keycell::enclave::proxy {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUpperHex[] = "0123456789ABCDEF";

bool IsUnreserved(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

void HeadWriter::Write(const uint8_t* p, size_t n) {
  if (out_ != nullptr) {
    KC_CHECK(n <= capacity_ - size_);
    if (n != 0) memcpy(out_ + size_, p, n);
  }
  size_ += n;
}

void HeadWriter::Put(std::string_view s) {
  Write(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Not via Write(&c, 1): taking the address would put a secret-derived byte on the stack.
void HeadWriter::PutChar(char c) {
  if (out_ != nullptr) {
    KC_CHECK(size_ < capacity_);
    out_[size_] = static_cast<uint8_t>(c);
  }
  ++size_;
}

void HeadWriter::PutDecimal(uint64_t v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n != 0) PutChar(digits[--n]);
}

void HeadWriter::PutSecret(SecretView s) { Write(s.data(), s.size()); }

void HeadWriter::PutSecretBase64(SecretView s) {
  const uint8_t* p = s.data();
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    const uint32_t acc = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    PutChar(kBase64[(acc >> 18) & 63]);
    PutChar(kBase64[(acc >> 12) & 63]);
    PutChar(kBase64[(acc >> 6) & 63]);
    PutChar(kBase64[acc & 63]);
  }
  const size_t rest = s.size() - i;
  if (rest == 0) return;
  const uint32_t acc = (uint32_t{p[i]} << 16) | (rest == 2 ? uint32_t{p[i + 1]} << 8 : 0);
  PutChar(kBase64[(acc >> 18) & 63]);
  PutChar(kBase64[(acc >> 12) & 63]);
  PutChar(rest == 2 ? kBase64[(acc >> 6) & 63] : '=');
  PutChar('=');
}

void HeadWriter::PutSecretPercent(SecretView s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t c = s.data()[i];
    if (IsUnreserved(c)) {
      PutChar(static_cast<char>(c));
    } else {
      PutChar('%');
      PutChar(kUpperHex[c >> 4]);
      PutChar(kUpperHex[c & 15]);
    }
  }
}

}  // namespace keycell::enclave::proxy

#pragma once
// Writes the request head in two passes through the same code: first with no buffer
// (counting only), then into a SecureBuffer of exactly that size. So the secret is
// written once, straight from the caller's SecretView into locked memory, with no
// growing container or temporary copy in between (STYLE.md §3.5). Internal to
// kc_enclave_proxy.
//
// Secret plaintext in this file: the Put*Secret* functions read the SecretView and
// write into the output buffer. PutSecretBase64 keeps up to 3 secret bytes in a local
// 32-bit accumulator (a register in practice; the compiler gives no guarantee that it
// never spills to the stack, which is wiped only when overwritten).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/secure_buffer.h"

namespace keycell::enclave::proxy {

class HeadWriter {
 public:
  // out == nullptr: count only. Otherwise writes at most `capacity` bytes; writing more
  // is a KC_CHECK failure (the two passes disagreed: a bug, never input-dependent).
  explicit HeadWriter(uint8_t* out = nullptr, size_t capacity = 0)
      : out_(out), capacity_(capacity) {}

  void Put(std::string_view s);
  void PutChar(char c);
  void PutDecimal(uint64_t v);
  // The secret's bytes as they are.
  void PutSecret(SecretView s);
  // RFC 4648 base64 (standard alphabet, padded) of the secret.
  void PutSecretBase64(SecretView s);
  // The secret with every byte outside RFC 3986 unreserved (ALPHA DIGIT - . _ ~)
  // written as %XX (upper-case hex), for a query parameter value.
  void PutSecretPercent(SecretView s);

  size_t size() const { return size_; }

 private:
  void Write(const uint8_t* p, size_t n);

  uint8_t* out_;
  size_t capacity_;
  size_t size_ = 0;
};

}  // namespace keycell::enclave::proxy

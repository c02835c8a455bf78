#include "broker/identity/secrets.h"

#include <mbedtls/sha256.h>
#include <sys/random.h>

#include <cerrno>

#include "broker/identity/types.h"

namespace keycell::broker::identity {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr char kHex[] = "0123456789abcdef";

// Divides the big-endian number in place by 62 and returns the remainder.
uint8_t DivMod62(MutableByteView number) {
  uint32_t rem = 0;
  for (uint8_t& b : number) {
    const uint32_t acc = (rem << 8) | b;
    b = static_cast<uint8_t>(acc / 62);
    rem = acc % 62;
  }
  return static_cast<uint8_t>(rem);
}

}  // namespace

Sha256Digest Sha256(ByteView data) {
  Sha256Digest out{};
  // Cannot fail for the software implementation (no hardware accelerator configured).
  const int rc = mbedtls_sha256_ret(data.data(), data.size(), out.data(), /*is224=*/0);
  KC_CHECK(rc == 0);
  return out;
}

Status FillRandom(MutableByteView out) {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Err::kInternal, "identity: getrandom", errno);
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

void EncodeBase62Secret(MutableByteView number, MutableByteView out) {
  KC_CHECK(number.size() == kSha256Bytes && out.size() == kSecretBase62Chars);
  for (size_t i = out.size(); i-- > 0;) out[i] = static_cast<uint8_t>(kBase62[DivMod62(number)]);
  // 62^43 > 2^256, so 43 divisions always consume the whole number.
  SecureWipe(number.data(), number.size());
}

Result<SecureBuffer> NewSecret(std::string_view prefix) {
  KC_ASSIGN_OR_RETURN(SecureBuffer number, SecureBuffer::Allocate(kSha256Bytes));
  KC_RETURN_IF_ERROR(FillRandom(number.mutable_bytes()));
  KC_ASSIGN_OR_RETURN(SecureBuffer secret,
                      SecureBuffer::Allocate(prefix.size() + kSecretBase62Chars));
  for (size_t i = 0; i < prefix.size(); ++i) secret.data()[i] = static_cast<uint8_t>(prefix[i]);
  EncodeBase62Secret(number.mutable_bytes(),
                     secret.mutable_bytes().subspan(prefix.size(), kSecretBase62Chars));
  return secret;
}

Result<std::string> NewAgentId() {
  std::string id(kAgentIdPrefix);
  uint8_t buf[32];
  while (id.size() < kAgentIdPrefix.size() + kAgentIdBase62Chars) {
    KC_RETURN_IF_ERROR(FillRandom(MutableByteView(buf, sizeof(buf))));
    for (uint8_t b : buf) {
      // 248 = 4 * 62: bytes at or above it would bias the first eight digits.
      if (b >= 248 || id.size() == kAgentIdPrefix.size() + kAgentIdBase62Chars) continue;
      id.push_back(kBase62[b % 62]);
    }
  }
  return id;
}

Result<std::string> NewApiKeyId() {
  uint8_t raw[kApiKeyIdHexChars / 2];
  KC_RETURN_IF_ERROR(FillRandom(MutableByteView(raw, sizeof(raw))));
  std::string id;
  for (uint8_t b : raw) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 0xf]);
  }
  return id;
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace keycell::broker::identity

#include "enclave/testing/fake_token.h"

#include <mbedtls/gcm.h>

namespace keycell::enclave::testing {
namespace {

constexpr uint8_t kKey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct Gcm {
  mbedtls_gcm_context ctx;
  Gcm() {
    mbedtls_gcm_init(&ctx);
    mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, kKey, 256);
  }
  ~Gcm() { mbedtls_gcm_free(&ctx); }
};

}  // namespace

Status FakeToken::Login(SecretView pin) {
  if (!ConstantTimeEqual(pin.bytes(), AsBytes(kFakePin))) return Status(Err::kBadPin, "C_Login", 0xa0);
  logged_in_ = true;
  return Status::Ok();
}

Status FakeToken::WrapKey(SecretView dek, ByteView iv, ByteView aad, MutableByteView out) {
  if (!logged_in_) return Status(Err::kLocked, "token not logged in");
  if (out.size() != dek.size() + kGcmTagBytes) return Status(Err::kInvalidArgument, "wrap: out size");
  ++wraps;
  Gcm g;
  const int rc = mbedtls_gcm_crypt_and_tag(&g.ctx, MBEDTLS_GCM_ENCRYPT, dek.size(), iv.data(), iv.size(),
                                           aad.data(), aad.size(), dek.data(), out.data(), kGcmTagBytes,
                                           out.data() + dek.size());
  return rc == 0 ? Status::Ok() : Status(Err::kToken, "fake wrap", rc);
}

Result<SecureBuffer> FakeToken::UnwrapKey(ByteView iv, ByteView aad, ByteView wrapped) {
  if (!logged_in_) return Status(Err::kLocked, "token not logged in");
  if (wrapped.size() < kGcmTagBytes) return Status(Err::kTampered, "unwrap: short");
  ++unwraps;
  const size_t n = wrapped.size() - kGcmTagBytes;
  KC_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(n));
  Gcm g;
  const int rc = mbedtls_gcm_auth_decrypt(&g.ctx, n, iv.data(), iv.size(), aad.data(), aad.size(),
                                          wrapped.data() + n, kGcmTagBytes, wrapped.data(), out.data());
  if (rc != 0) return Status(Err::kTampered, "fake unwrap");
  return out;
}

}  // namespace keycell::enclave::testing

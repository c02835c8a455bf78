#pragma once
// The enclave's view of the token: log in, then wrap and unwrap data keys with the
// KEK. An interface so that dispatch and the sealed format can be tested and fuzzed
// with a software fake; production uses Pkcs11Token (pkcs11_token.h).

#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::enclave {

inline constexpr size_t kGcmIvBytes = 12;
inline constexpr size_t kGcmTagBytes = 16;

struct TokenDescription {
  std::string label;
  std::string model;
  bool aes_gcm = false;
};

class TokenBackend {
 public:
  virtual ~TokenBackend() = default;

  // C_Login with the user PIN and make the KEK usable without file access.
  // Errors: kBadPin, kPinLocked, kUnknownKey (no KEK on the token), kToken.
  virtual Status Login(SecretView pin) = 0;
  virtual bool logged_in() const = 0;

  // AES-256-GCM under the KEK, inside the token. `out` must be dek.size() + 16 bytes
  // (ciphertext || tag). Errors: kLocked, kToken.
  virtual Status WrapKey(SecretView dek, ByteView iv, ByteView aad, MutableByteView out) = 0;
  // Inverse of WrapKey. Errors: kLocked, kTampered (authentication failed), kToken.
  virtual Result<SecureBuffer> UnwrapKey(ByteView iv, ByteView aad, ByteView wrapped) = 0;

  virtual TokenDescription Describe() const = 0;
};

}  // namespace keycell::enclave

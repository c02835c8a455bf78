#pragma once
// A TokenBackend that lets one thread at a time into the token. PKCS#11 sessions are
// not safe for concurrent use (PKCS#11 v2.40 §6.7.7: one session, one operation at a
// time), and the enclave's proxy channel threads unseal while the main thread serves
// the control socket. Operations are short (one C_Decrypt of a 32-byte data key), so a
// plain mutex is enough.

#include <mutex>

#include "enclave/token_backend.h"

namespace keycell::enclave {

class SerializedToken final : public TokenBackend {
 public:
  explicit SerializedToken(TokenBackend& inner) : inner_(inner) {}

  Status Login(SecretView pin) override {
    std::lock_guard lock(mu_);
    return inner_.Login(pin);
  }
  bool logged_in() const override {
    std::lock_guard lock(mu_);
    return inner_.logged_in();
  }
  Status WrapKey(SecretView dek, ByteView iv, ByteView aad, MutableByteView out) override {
    std::lock_guard lock(mu_);
    return inner_.WrapKey(dek, iv, aad, out);
  }
  Result<SecureBuffer> UnwrapKey(ByteView iv, ByteView aad, ByteView wrapped) override {
    std::lock_guard lock(mu_);
    return inner_.UnwrapKey(iv, aad, wrapped);
  }
  TokenDescription Describe() const override {
    std::lock_guard lock(mu_);
    return inner_.Describe();
  }

 private:
  TokenBackend& inner_;
  mutable std::mutex mu_;
};

}  // namespace keycell::enclave

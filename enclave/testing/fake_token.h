#pragma once
// A software TokenBackend for dispatch tests and fuzzers: AES-256-GCM with a fixed
// in-memory key and a fixed PIN. Never linked into keycell-enclave.

#include <string_view>

#include "enclave/token_backend.h"

namespace keycell::enclave::testing {

inline constexpr std::string_view kFakePin = "1234";

class FakeToken final : public TokenBackend {
 public:
  Status Login(SecretView pin) override;
  bool logged_in() const override { return logged_in_; }
  Status WrapKey(SecretView dek, ByteView iv, ByteView aad, MutableByteView out) override;
  Result<SecureBuffer> UnwrapKey(ByteView iv, ByteView aad, ByteView wrapped) override;
  TokenDescription Describe() const override { return {"fake", "FakeToken", true}; }

  int wraps = 0;
  int unwraps = 0;

 private:
  bool logged_in_ = false;
};

}  // namespace keycell::enclave::testing

#pragma once
// TokenBackend over a real PKCS#11 module. Opened (module loaded, slot found, session
// open) before the sandbox goes on, because dlopen and C_Initialize read files;
// logged in later, on Unlock, under the locked-state sandbox.

#include <memory>
#include <optional>
#include <string>

#include "enclave/token_backend.h"
#include "pkcs11/module.h"
#include "pkcs11/session.h"

namespace keycell::enclave {

class Pkcs11Token final : public TokenBackend {
 public:
  // Loads `module_path`, finds the token labelled `token_label` and opens a session.
  // Errors: as pkcs11::Module::Load, kToken (no such token: CKR_TOKEN_NOT_PRESENT;
  // no CKM_AES_GCM).
  static Result<std::unique_ptr<Pkcs11Token>> Open(const char* module_path,
                                                   const std::string& token_label);
  ~Pkcs11Token() override;

  // C_Login, find the KEK by label, copy it into a session object (SoftHSM touches
  // token files on every use of a token object; the served-state sandbox has no file
  // access), then one warm-up wrap so lazily loaded library paths run now.
  Status Login(SecretView pin) override;
  bool logged_in() const override { return kek_.has_value(); }
  Status WrapKey(SecretView dek, ByteView iv, ByteView aad, MutableByteView out) override;
  Result<SecureBuffer> UnwrapKey(ByteView iv, ByteView aad, ByteView wrapped) override;
  TokenDescription Describe() const override { return description_; }

 private:
  Pkcs11Token(std::unique_ptr<pkcs11::Module> module, pkcs11::Session session,
              TokenDescription description)
      : module_(std::move(module)), session_(std::move(session)), description_(std::move(description)) {}

  std::unique_ptr<pkcs11::Module> module_;
  std::optional<pkcs11::Session> session_;  // destroyed before module_
  TokenDescription description_;
  std::optional<pkcs11::ObjectHandle> kek_;  // session copy
};

}  // namespace keycell::enclave

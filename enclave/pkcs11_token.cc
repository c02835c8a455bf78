#include "enclave/pkcs11_token.h"

#include <array>

#include "enclave/random.h"
#include "pkcs11/token_setup.h"

namespace keycell::enclave {

Result<std::unique_ptr<Pkcs11Token>> Pkcs11Token::Open(const char* module_path,
                                                      const std::string& token_label) {
  KC_ASSIGN_OR_RETURN(std::unique_ptr<pkcs11::Module> module, pkcs11::Module::Load(module_path));
  KC_ASSIGN_OR_RETURN(const CK_SLOT_ID slot, module->FindSlotByTokenLabel(token_label));
  KC_ASSIGN_OR_RETURN(const pkcs11::Module::TokenInfo info, module->GetTokenInfo(slot));
  TokenDescription d;
  d.label = info.label;
  d.model = info.model;
  auto gcm = module->HasMechanism(slot, CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT);
  d.aes_gcm = gcm.ok() && *gcm;
  if (!d.aes_gcm) return Status(Err::kToken, "token lacks CKM_AES_GCM encrypt/decrypt");
  KC_ASSIGN_OR_RETURN(pkcs11::Session session, pkcs11::Session::Open(*module, slot, false));
  return std::unique_ptr<Pkcs11Token>(new Pkcs11Token(std::move(module), std::move(session), std::move(d)));
}

Pkcs11Token::~Pkcs11Token() { session_.reset(); }

Status Pkcs11Token::Login(SecretView pin) {
  KC_RETURN_IF_ERROR(session_->Login(pin));
  KC_ASSIGN_OR_RETURN(const pkcs11::ObjectHandle token_kek, session_->FindSecretKey(pkcs11::kKekLabel));
  KC_ASSIGN_OR_RETURN(const pkcs11::ObjectHandle copy, session_->CopyToSessionObject(token_kek));
  kek_ = copy;
  // Warm-up: the first GCM operation initialises the module's crypto library (OpenSSL
  // inside SoftHSM reads its config lazily); do it while file access is still allowed.
  std::array<uint8_t, 32> probe{};
  std::array<uint8_t, 48> out{};
  std::array<uint8_t, 12> iv{};
  KC_RETURN_IF_ERROR(FillRandom(iv));  // never a fixed nonce under the KEK
  const Status st = WrapKey(SecretView(probe.data(), probe.size()), iv, {}, out);
  if (!st.ok()) kek_.reset();
  return st;
}

Status Pkcs11Token::WrapKey(SecretView dek, ByteView iv, ByteView aad, MutableByteView out) {
  if (!kek_) return Status(Err::kLocked, "token not logged in");
  return session_->EncryptGcm(*kek_, iv, aad, dek, out);
}

Result<SecureBuffer> Pkcs11Token::UnwrapKey(ByteView iv, ByteView aad, ByteView wrapped) {
  if (!kek_) return Status(Err::kLocked, "token not logged in");
  return session_->DecryptGcm(*kek_, iv, aad, wrapped);
}

}  // namespace keycell::enclave

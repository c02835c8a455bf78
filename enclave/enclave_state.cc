#include "enclave/enclave_state.h"

#include <mbedtls/md.h>
#include <string.h>

#include <string_view>

#include "enclave/random.h"

namespace keycell::enclave {
namespace {

constexpr size_t kMacBytes = 32;
constexpr std::string_view kFingerprintKeyLabel = "keycell/fingerprint-key/v1";
constexpr std::string_view kFingerprintLabel = "keycell/fingerprint/v1";
// A fixed nonce is safe here and only here: the token encrypts the same all-zero block
// under the same AAD every time, so no two different messages ever share it, and the
// output is a deterministic function of the KEK. Sealing always uses random nonces.
constexpr uint8_t kFingerprintIv[12] = {'k', 'c', '-', 'f', 'p', 'r', '-', 'k', 'e', 'y', '-', '1'};

Status PinMac(SecretView key, SecretView pin, uint8_t out[kMacBytes]) {
  const int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key.data(),
                                 key.size(), pin.data(), pin.size(), out);
  return rc == 0 ? Status::Ok() : Status(Err::kInternal, "pin hmac", rc);
}

}  // namespace

Status EnclaveState::Unlock(SecretView pin) {
  KC_RETURN_IF_ERROR(token_.Login(pin));
  KC_ASSIGN_OR_RETURN(pin_key_, SecureBuffer::Allocate(kMacBytes));
  KC_RETURN_IF_ERROR(FillRandom(pin_key_.mutable_bytes()));
  KC_ASSIGN_OR_RETURN(pin_mac_, SecureBuffer::Allocate(kMacBytes));
  KC_RETURN_IF_ERROR(PinMac(pin_key_.view(), pin, pin_mac_.data()));
  KC_RETURN_IF_ERROR(DeriveFingerprintKey());
  unlocked_ = true;
  if (on_unlocked_) return on_unlocked_();
  return Status::Ok();
}

Status EnclaveState::DeriveFingerprintKey() {
  uint8_t zeros[kMacBytes] = {};
  uint8_t out[kMacBytes + kGcmTagBytes];
  KC_RETURN_IF_ERROR(token_.WrapKey(SecretView(zeros, sizeof(zeros)), ByteView(kFingerprintIv),
                                    AsBytes(kFingerprintKeyLabel), MutableByteView(out, sizeof(out))));
  auto key = SecureBuffer::CopyOf(ByteView(out, kMacBytes));
  SecureWipe(out, sizeof(out));
  if (!key.ok()) return key.status();
  fingerprint_key_ = std::move(*key);
  return Status::Ok();
}

Status EnclaveState::Fingerprint(SecretView secret, uint8_t out[16]) const {
  if (fingerprint_key_.empty()) return Status(Err::kLocked, "fingerprint: locked");
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  uint8_t mac[kMacBytes];
  int rc = mbedtls_md_setup(&ctx, md, 1);
  if (rc == 0) rc = mbedtls_md_hmac_starts(&ctx, fingerprint_key_.data(), fingerprint_key_.size());
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, AsBytes(kFingerprintLabel).data(), kFingerprintLabel.size());
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, secret.data(), secret.size());
  if (rc == 0) rc = mbedtls_md_hmac_finish(&ctx, mac);
  mbedtls_md_free(&ctx);  // zeroizes the HMAC state
  memcpy(out, mac, 16);
  SecureWipe(mac, sizeof(mac));
  return rc == 0 ? Status::Ok() : Status(Err::kInternal, "fingerprint hmac", rc);
}

Status EnclaveState::VerifyPin(SecretView pin) {
  if (!unlocked_) return Status(Err::kLocked, "verify pin: locked");
  if (pin_failures_ >= kMaxPinFailures) return Status(Err::kPinLocked, "too many wrong PINs");
  uint8_t mac[kMacBytes];
  KC_RETURN_IF_ERROR(PinMac(pin_key_.view(), pin, mac));
  const bool match = ConstantTimeEqual(ByteView(mac, kMacBytes), ByteView(pin_mac_.data(), kMacBytes));
  SecureWipe(mac, sizeof(mac));
  if (match) return Status::Ok();
  if (++pin_failures_ >= kMaxPinFailures) {
    request_exit();  // the strongest lockout: the broker restarts a locked enclave
    return Status(Err::kPinLocked, "too many wrong PINs: vault locked");
  }
  return Status(Err::kBadPin, "wrong PIN");
}

}  // namespace keycell::enclave

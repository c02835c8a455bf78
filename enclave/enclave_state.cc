#include "enclave/enclave_state.h"

#include <mbedtls/md.h>

#include "enclave/random.h"

namespace keycell::enclave {
namespace {

constexpr size_t kMacBytes = 32;

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
  unlocked_ = true;
  if (on_unlocked_) return on_unlocked_();
  return Status::Ok();
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

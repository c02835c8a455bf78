#pragma once
// Per-process state of the enclave. One enclave process serves exactly one broker
// connection, so per-connection state and per-process state are the same thing.

#include <cstdint>
#include <functional>

#include "common/result.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"
#include "enclave/token_backend.h"

namespace keycell::enclave {

inline constexpr int kMaxPinFailures = 5;

class EnclaveState {
 public:
  // `on_unlocked` runs once after a successful Unlock: production tightens the
  // sandbox there (no file access once the KEK is a session object).
  EnclaveState(TokenBackend& token, std::function<Status()> on_unlocked)
      : token_(token), on_unlocked_(std::move(on_unlocked)) {}

  TokenBackend& token() { return token_; }
  bool unlocked() const { return unlocked_; }
  bool hello_done() const { return hello_done_; }
  void set_hello_done() { hello_done_ = true; }
  uint32_t sandbox_stage() const { return sandbox_stage_; }
  void set_sandbox_stage(uint32_t s) { sandbox_stage_ = s; }

  // Logs in and remembers a keyed hash of the PIN so that later requests that widen
  // a policy can be re-authorised without another C_Login (which would need file
  // access the served-state sandbox no longer has).
  Status Unlock(SecretView pin);

  // Constant-time check of `pin` against the PIN that unlocked the token. After
  // kMaxPinFailures wrong PINs every later check fails with kPinLocked.
  Status VerifyPin(SecretView pin);

  // HMAC-SHA256(fingerprint key, "keycell/fingerprint/v1" || secret), truncated to 16
  // bytes. The key is derived from the KEK at unlock, so a fingerprint identifies a
  // value across versions without making a short secret guessable offline.
  Status Fingerprint(SecretView secret, uint8_t out[16]) const;

  // Starts serving a proxy channel on `fd` (OpenChannel). main() installs the opener
  // once the proxy's resources exist; without one, channels are kUnavailable.
  using ChannelOpener = std::function<Status(UniqueFd)>;
  void set_channel_opener(ChannelOpener opener) { channel_opener_ = std::move(opener); }
  Status OpenChannel(UniqueFd fd) {
    if (!channel_opener_) return Status(Err::kUnavailable, "proxy: channels not available");
    return channel_opener_(std::move(fd));
  }

  // Set by Lock (or a PIN lockout): the serve loop ends the process after replying.
  bool exit_requested() const { return exit_requested_; }
  void request_exit() { exit_requested_ = true; }

 private:
  Status DeriveFingerprintKey();

  TokenBackend& token_;
  std::function<Status()> on_unlocked_;
  ChannelOpener channel_opener_;
  bool unlocked_ = false;
  bool hello_done_ = false;
  bool exit_requested_ = false;
  uint32_t sandbox_stage_ = 0;
  int pin_failures_ = 0;
  SecureBuffer pin_key_;  // random HMAC key
  SecureBuffer pin_mac_;  // HMAC-SHA256(pin_key_, pin)
  SecureBuffer fingerprint_key_;
};

}  // namespace keycell::enclave

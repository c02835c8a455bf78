#pragma once
// The key that seals the audit chain's checkpoints (docs/audit.md): 32 random bytes the
// enclave generates and seals, so keycelld only ever holds the sealed blob, kept in
// <data_dir>/audit-key.sealed (0600). Checkpoint MACs are computed by the enclave's Hmac
// request over that blob; without the token nobody can forge one.

#include <mutex>
#include <string>
#include <vector>

#include "broker/audit/record.h"
#include "broker/enclave/enclave_client.h"
#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::daemon {

class AuditKey {
 public:
  explicit AuditKey(const std::string& data_dir);

  // Loads the sealed key, or (when there is none yet) has the enclave generate and seal
  // one and stores it. Needs the vault unlocked for the generation. Idempotent.
  // Errors: kLocked, the enclave's errors, kUpstreamIo (file; detail errno).
  Status Ensure(EnclaveClient& enclave);

  // HMAC-SHA256(key, message), computed by the enclave. Errors: kUnavailable (no key
  // yet), kLocked, the enclave's errors.
  Result<audit::Hash> Mac(EnclaveClient& enclave, ByteView message);

  bool loaded();
  const std::string& path() const { return path_; }

 private:
  Status LoadLocked();

  std::mutex mu_;
  const std::string path_;
  std::vector<uint8_t> blob_;  // guarded by mu_; sealed, not secret
};

}  // namespace keycell::broker::daemon

#pragma once
// The in-process daemon the Vault-level tests share: a throw-away SoftHSM2 token, the real
// keycell-enclave process on it, real SQLite stores (records, identities, audit, webhooks),
// the webhook delivery pipeline, and a Vault over them, built as keycelld builds them.
// A test derives from DaemonTest, turns its knobs by overriding the virtual ones, and adds
// its own transport (RestApi, McpHttp, McpStream, an mcp::Session) on top of vault_.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit/audit_log.h"
#include "broker/daemon/vault.h"
#include "broker/enclave/enclave_client.h"
#include "broker/identity/identity_store.h"
#include "broker/identity/rate_limiter.h"
#include "broker/store/store.h"
#include "broker/webhooks/delivery_worker.h"
#include "broker/webhooks/dispatcher.h"
#include "broker/webhooks/webhook_store.h"
#include "common/unique_fd.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell::broker::daemon {

// The value the tests store and then look for where it must not be.
inline constexpr char kCanary[] = "sk-canary-value-9f8e7d6c5b4a";

// A pipe's read end holding `value`, as the CLI hands a value to keycelld.
UniqueFd PipeWith(std::string_view value);

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Knobs. The upstream CA file the enclave trusts besides the system's (none by default);
  // called during SetUp, after token_ exists, so it may write the file there.
  virtual std::string ExtraCaFile() { return ""; }
  // Whether SetUp unlocks the vault with the token's PIN; off for tests of unlocking.
  virtual bool StartUnlocked() { return false; }

  // `op` with `args_json` for `who`, as the control socket dispatches it.
  OpResult Run(const identity::Principal& who, std::string_view op, const std::string& args_json,
               UniqueFd fd = UniqueFd());
  // Adds credential `name` (bearer for api.example.com, env export allowed) as the owner.
  void AddCredential(const std::string& name, std::string_view value = kCanary);
  // The audit records with `action`.
  std::vector<audit::Record> Records(const std::string& action);

  // Declared in construction order: each part may use those above it, and is destroyed
  // before them.
  std::unique_ptr<test::TempToken> token_;
  std::string data_;  // keycelld's data directory on the token's temp dir
  std::unique_ptr<EnclaveClient> enclave_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<identity::IdentityStore> identities_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<identity::UnlockLimiter> unlock_limiter_;
  std::unique_ptr<webhooks::WebhookStore> hook_store_;
  std::unique_ptr<webhooks::DeliveryWorker> worker_;
  std::unique_ptr<webhooks::Dispatcher> dispatcher_;
  std::unique_ptr<Vault> vault_;
  identity::Principal owner_;  // the local user, as a control-socket peer
};

}  // namespace keycell::broker::daemon

#pragma once
// The operations keycelld performs for its clients: one function per control-protocol
// op (docs/control-protocol.md), on top of the store (metadata and sealed records), the
// identity registry (agents, tokens, API keys) and the enclave (everything that needs a
// plaintext). Plaintexts never pass through here: values arrive in pipes handed to the
// enclave, and reveal/env/run output goes from the enclave straight into the caller's fd
// or the .env file.
//
// Every op runs for a principal (identity::Principal): the control socket's peer is the
// owner; the HTTP front ends pass the agent or API key that authenticated. Dispatch
// checks the role table and the agent's scopes before the op runs, and appends an audit
// record for every op that uses, changes or reveals something, allowed or refused.
//
// Thread-safe: the store, identity registry, audit log and enclave client serialise
// internally.

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "broker/audit/audit_log.h"
#include "broker/audit/audit_queue.h"
#include "broker/daemon/audit_key.h"
#include "broker/daemon/control_protocol.h"
#include "broker/enclave/enclave_client.h"
#include "broker/identity/authz.h"
#include "broker/identity/identity_store.h"
#include "broker/identity/rate_limiter.h"
#include "broker/json/json.h"
#include "broker/store/store.h"
#include "broker/webhooks/delivery_worker.h"
#include "broker/webhooks/dispatcher.h"
#include "broker/webhooks/webhook_store.h"

namespace keycell::broker::daemon {

class ProxyService;  // proxy_service.h, which includes this header

// What an op tells the audit record beyond who/what/result: which credential (when
// the op resolved one), its version, and a short note such as a reveal's purpose.
struct AuditFacts {
  std::string credential;
  std::optional<int64_t> version;
  std::string detail;
};

struct OpResult {
  json::Json result;   // set on success
  ControlError error;  // set when !ok
  bool ok = false;
  AuditFacts audit;
};

// Everything a Vault works on. All references must outlive the Vault.
struct VaultDeps {
  store::Store& store;
  EnclaveClient& enclave;
  identity::IdentityStore& identity;
  audit::AuditLog& audit;
  identity::UnlockLimiter& unlock_limiter;
  webhooks::WebhookStore& webhooks;
  webhooks::Dispatcher& hooks;
  std::string data_dir;
};

class Vault {
 public:
  explicit Vault(VaultDeps deps)
      : store_(deps.store), enclave_(deps.enclave), identity_(deps.identity), audit_(deps.audit),
        unlock_limiter_(deps.unlock_limiter), webhooks_(deps.webhooks), hooks_(deps.hooks),
        data_dir_(std::move(deps.data_dir)),
        audit_key_(data_dir_) {}

  // Runs one op for `who`. Unknown ops, malformed args and refusals are errors, never
  // crashes.
  OpResult Dispatch(const identity::Principal& who, std::string_view op, const cJSON* args, UniqueFd fd);

  // Records a refused authentication (bad, expired or revoked token or key) seen by a
  // network front end. `presented_prefix` is at most the public prefix of what was sent.
  void AuditAuthFailure(std::string_view front_end, std::string_view reason, std::string_view presented_prefix);

  // The principal a control-socket caller acts as when it presents `token` (a pxr_
  // token or a kc_ API key), checked like an Authorization header (RestApi::Admit); for
  // the `proxy` and `mcp` ops. nullopt after a refusal, audited ("control") by the
  // token's public prefix only and described in *refused (code "unauthorized"). The
  // token is never logged, echoed or kept.
  std::optional<identity::Principal> AuthenticateToken(std::string_view token, OpResult* refused);

  // Seals the audit chain's head if due (audit::CheckpointPolicy), or whenever it has
  // unsealed records with `now`; needs the vault unlocked (skipped otherwise). Called by
  // keycelld's timer, and before locking. Returns whether it sealed.
  bool CheckpointAudit(bool now = false);

  // Fires credential.expiring_soon / credential.expired webhooks that are due, once per
  // credential, state and expiry date. Cheap when nothing changed: keycelld's timer calls
  // it every tick with `force` false, and it only reads the store when an op changed an
  // expiry since the last run or `force` (once a minute) says so. Returns events fired.
  size_t FireDueExpiry(bool force);
  // Tells webhook subscribers that `subject` (an agent name or key id) hit its rate
  // limit; at most once per subject per minute. Never blocks on delivery.
  void NotifyRateLimited(std::string_view subject, int64_t requests_per_minute);

  // The HTTP listener's bound address ("127.0.0.1:8787"), reported by `status`.
  void SetHttpAddress(std::string address) {
    std::lock_guard<std::mutex> lock(http_mu_);
    http_address_ = std::move(address);
  }

  // The injecting proxy the `proxy` op runs its calls through (keycelld sets it once,
  // before serving; it must outlive the Vault's use). Until then `proxy` answers
  // service_unavailable.
  void SetProxy(ProxyService* proxy) { proxy_.store(proxy); }

  // Seconds since the vault was last used (for idle auto-lock).
  int64_t IdleSeconds() const;
  // A use outside Dispatch (a proxied call) keeps the vault from idling out.
  void NoteUse();
  // Appends `entry` for `who` through the group-commit queue: the proxy's records, which
  // must not wait for an fsync each (docs/proxy.md "Audit at proxy speed").
  void AuditAsync(const identity::Principal& who, audit::Entry entry);
  EnclaveClient& enclave() { return enclave_; }
  store::Store& store() { return store_; }

  // One row per op: handlers live in vault_ops_*.cc.
  using Handler = OpResult (Vault::*)(const identity::Principal& who, const cJSON* args, UniqueFd fd);

  OpResult OpStatus(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpWhoami(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpUnlock(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpLock(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAdd(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpList(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpShow(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpGet(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpRemove(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpRotate(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpHistory(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpRollback(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpHealth(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpProjects(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAssign(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpUnassign(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpEnv(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpRun(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpExportSealed(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpImportSealed(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  // vault_ops_agents.cc
  OpResult OpAgentsCreate(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAgentsList(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAgentsRemove(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAgentsScope(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAgentsAssign(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpTokensList(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpTokensRevoke(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  // vault_ops_apikeys.cc
  OpResult OpApiKeysCreate(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpApiKeysList(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpApiKeysView(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpApiKeysRevoke(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpApiKeysDelete(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpApiKeysReissue(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  // vault_ops_webhooks.cc
  OpResult OpWebhooksAdd(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpWebhooksList(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpWebhooksRemove(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpWebhooksTest(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpWebhooksDeliveries(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  // vault_ops_audit.cc
  OpResult OpAuditQuery(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  OpResult OpAuditVerify(const identity::Principal& who, const cJSON* args, UniqueFd fd);
  // vault_ops_proxy.cc
  OpResult OpProxy(const identity::Principal& who, const cJSON* args, UniqueFd fd);

 private:
  // OpRotate with `generate` (vault_ops_credentials.cc).
  Result<Sealed> GenerateVersion(const store::SealedVersion& cur, const keycell_ipc_RecordRef& new_ref,
                                 const cJSON* args);
  void Audit(const identity::Principal& who, std::string_view action, const OpResult& r, int64_t latency_us);
  // The audit key's MAC function, or an empty one when the vault is locked or has no key.
  audit::MacFn AuditMac();

  store::Store& store_;
  EnclaveClient& enclave_;
  identity::IdentityStore& identity_;
  audit::AuditLog& audit_;
  identity::UnlockLimiter& unlock_limiter_;
  webhooks::WebhookStore& webhooks_;
  webhooks::Dispatcher& hooks_;
  std::string data_dir_;
  std::atomic<bool> expiry_changed_{true};  // check at the first tick
  std::mutex limit_mu_;
  std::map<std::string, int64_t, std::less<>> limit_notified_;  // subject -> last notice; guarded
  std::mutex http_mu_;
  std::string http_address_;  // guarded by http_mu_
  AuditKey audit_key_;
  std::atomic<int64_t> last_use_{0};
  std::atomic<ProxyService*> proxy_{nullptr};
  audit::AuditQueue audit_queue_{audit_};  // last: flushed before the rest goes
};

// The op table, for documentation and the role-matrix test: every op's name, the
// action the role table is asked about, and whether it is audited.
struct OpInfo {
  std::string_view name;
  identity::Action action;
  bool audited;
};
std::vector<OpInfo> VaultOps();

// rotate with `generate` and no `length` / `alphabet`: 32 letters and digits (~190 bits).
inline constexpr int64_t kDefaultGeneratedLength = 32;
inline constexpr const char* kDefaultGeneratedAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// Helpers shared by the op files.
OpResult Ok(json::Json result);
OpResult Fail(const Status& st, std::string message = "");
OpResult Fail(std::string code, std::string message, int exit_code);
// `r` with the facts its audit record should carry.
OpResult WithAudit(OpResult r, AuditFacts facts);
// A refusal by identity::Authorize (kPolicyDenied) as the "forbidden" error.
OpResult Forbidden(const Status& st);
int64_t NowSeconds();
// The record reference a sealed version is bound to.
keycell_ipc_RecordRef RefOf(std::string_view record_id, uint32_t version, std::string_view name);
// The strings of a JSON array member (non-strings skipped).
std::vector<std::string> StringArray(const cJSON* args, const char* key);
json::Json StringsToJson(const std::vector<std::string>& items);
void SetOptionalTime(cJSON* obj, const char* key, const std::optional<int64_t>& t);

}  // namespace keycell::broker::daemon

// status, whoami, unlock, lock.

#include "broker/daemon/log.h"
#include "broker/daemon/vault.h"

namespace keycell::broker::daemon {

OpResult Vault::OpStatus(const identity::Principal&, const cJSON*, UniqueFd) {
  auto st = enclave_.Status();
  if (!st.ok()) return Fail(st.status());
  auto creds = store_.ListCredentials({});
  json::Json out = json::MakeObject();
  (void)json::SetBool(out.get(), "unlocked", st->unlocked);
  (void)json::SetString(out.get(), "token_label", st->token_label);
  (void)json::SetString(out.get(), "token_model", st->token_model);
  (void)json::SetInt(out.get(), "sandbox_stage", st->sandbox_stage);
  (void)json::SetInt(out.get(), "credentials", creds.ok() ? static_cast<int64_t>(creds->size()) : 0);
  (void)json::SetInt(out.get(), "enclave_pid", enclave_.pid());
  (void)json::SetInt(out.get(), "enclave_restarts", enclave_.restarts());
  (void)json::SetString(out.get(), "data_dir", data_dir_);
  {
    std::lock_guard<std::mutex> lock(http_mu_);
    (void)json::SetString(out.get(), "http", http_address_);
  }
  return Ok(std::move(out));
}

OpResult Vault::OpWhoami(const identity::Principal& who, const cJSON*, UniqueFd) {
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "kind", identity::PrincipalKindName(who.kind));
  (void)json::SetString(out.get(), "role", identity::RoleName(who.role));
  (void)json::SetString(out.get(), "id", who.id);
  if (who.acts_as_agent()) {
    (void)json::SetString(out.get(), "agent_id", who.agent_id);
    (void)json::SetString(out.get(), "agent", who.agent_name);
    (void)json::Set(out.get(), "scopes", StringsToJson(who.scopes));
  }
  if (!who.credential.empty()) (void)json::SetString(out.get(), "credential", who.credential);
  return Ok(std::move(out));
}

// The fd is the CLI's own PIN source (its terminal with echo off, or --pin-fd): the
// enclave reads the PIN line from it, so the PIN never enters keycelld.
OpResult Vault::OpUnlock(const identity::Principal& who, const cJSON*, UniqueFd fd) {
  if (!fd) return Fail(Status(Err::kInvalidArgument, "unlock"), "unlock needs the PIN source fd");
  // Already unlocked: say so instead of reading (and silently ignoring) a PIN.
  const bool already = enclave_.unlocked();
  if (!already) {
    // The PIN's guessing budget is global, whoever asks; the token's own lockout stays
    // the last line.
    if (const identity::RateDecision d = unlock_limiter_.Attempt(); !d.allowed)
      return Fail("rate_limited",
                  "too many unlock attempts; try again in " + std::to_string(d.retry_after_seconds) + " s",
                  kExitRateLimited);
    if (Status st = enclave_.UnlockFromFd(fd.get()); !st.ok()) return Fail(st);
    // The audit key is made on the first unlock ever; checkpoints need it.
    if (Status key = audit_key_.Ensure(enclave_); !key.ok())
      LogEvent(LogLevel::kWarn, "audit_key_unavailable", {{"detail", key.where()}});
  }
  OpResult r = OpStatus(who, nullptr, UniqueFd());
  if (r.ok) (void)json::SetBool(r.result.get(), "already_unlocked", already);
  if (already) r.audit.detail = "already unlocked";
  return r;
}

OpResult Vault::OpLock(const identity::Principal&, const cJSON*, UniqueFd) {
  // Seal what was logged while unlocked before the key becomes unusable.
  (void)CheckpointAudit(/*now=*/true);
  if (Status st = enclave_.Lock(); !st.ok()) return Fail(st);
  json::Json out = json::MakeObject();
  (void)json::SetBool(out.get(), "unlocked", false);
  return Ok(std::move(out));
}

}  // namespace keycell::broker::daemon

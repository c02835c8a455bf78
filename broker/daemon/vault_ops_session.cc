// status, unlock, lock.

#include "broker/daemon/vault.h"

namespace keycell::broker::daemon {

OpResult Vault::OpStatus(const cJSON*, UniqueFd) {
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
  return Ok(std::move(out));
}

// The fd is the CLI's own PIN source (its terminal with echo off, or --pin-fd): the
// enclave reads the PIN line from it, so the PIN never enters keycelld.
OpResult Vault::OpUnlock(const cJSON*, UniqueFd fd) {
  if (!fd) return Fail(Status(Err::kInvalidArgument, "unlock"), "unlock needs the PIN source fd");
  // Already unlocked: say so instead of reading (and silently ignoring) a PIN.
  const bool already = enclave_.unlocked();
  if (!already) {
    if (Status st = enclave_.UnlockFromFd(fd.get()); !st.ok()) return Fail(st);
  }
  OpResult r = OpStatus(nullptr, UniqueFd());
  if (r.ok) (void)json::SetBool(r.result.get(), "already_unlocked", already);
  return r;
}

OpResult Vault::OpLock(const cJSON*, UniqueFd) {
  if (Status st = enclave_.Lock(); !st.ok()) return Fail(st);
  json::Json out = json::MakeObject();
  (void)json::SetBool(out.get(), "unlocked", false);
  return Ok(std::move(out));
}

}  // namespace keycell::broker::daemon

#include "broker/daemon/vault.h"

#include <string.h>
#include <time.h>

#include <chrono>

#include "broker/daemon/log.h"

namespace keycell::broker::daemon {
namespace {

using identity::Action;

// Which argument names the credential an op acts on (for scopes and the audit record).
enum class CredArg : uint8_t { kNone, kName, kCredential };

struct OpEntry {
  const char* name;
  Vault::Handler fn;
  Action action;       // what the role table and scopes are asked about
  CredArg cred;        // where the credential name is, for scope checks
  const char* audited;  // the audit action (audit/record.h), or nullptr: not audited
  bool mutates;        // logged at info level; read-only ops at debug
};

namespace a = audit::actions;

// clang-format off
constexpr OpEntry kOps[] = {
    // name              handler                    action                    credential          audited                   mutates
    {"status",           &Vault::OpStatus,          Action::kList,            CredArg::kNone,       nullptr,                  false},
    {"whoami",           &Vault::OpWhoami,          Action::kList,            CredArg::kNone,       nullptr,                  false},
    {"unlock",           &Vault::OpUnlock,          Action::kUnlock,          CredArg::kNone,       a::kUnlock,               true},
    {"lock",             &Vault::OpLock,            Action::kLock,            CredArg::kNone,       a::kLock,                 true},
    {"add",              &Vault::OpAdd,             Action::kAddCredential,   CredArg::kName,       a::kCredentialAdd,        true},
    {"list",             &Vault::OpList,            Action::kList,            CredArg::kNone,       nullptr,                  false},
    {"show",             &Vault::OpShow,            Action::kList,            CredArg::kName,       nullptr,                  false},
    {"get",              &Vault::OpGet,             Action::kReveal,          CredArg::kName,       a::kReveal,               true},
    {"rm",               &Vault::OpRemove,          Action::kDeleteCredential, CredArg::kName,      a::kCredentialDelete,     true},
    {"rotate",           &Vault::OpRotate,          Action::kRotateCredential, CredArg::kName,      a::kCredentialRotate,     true},
    {"history",          &Vault::OpHistory,         Action::kList,            CredArg::kName,       nullptr,                  false},
    {"rollback",         &Vault::OpRollback,        Action::kRotateCredential, CredArg::kName,      a::kCredentialRollback,   true},
    {"health",           &Vault::OpHealth,          Action::kList,            CredArg::kNone,       nullptr,                  false},
    {"projects",         &Vault::OpProjects,        Action::kList,            CredArg::kNone,       nullptr,                  false},
    {"assign",           &Vault::OpAssign,          Action::kEditCredential,  CredArg::kName,       "credential.assign",      true},
    {"unassign",         &Vault::OpUnassign,        Action::kEditCredential,  CredArg::kName,       "credential.unassign",    true},
    {"env",              &Vault::OpEnv,             Action::kUse,             CredArg::kNone,       a::kEnvWrite,             true},
    {"run",              &Vault::OpRun,             Action::kUse,             CredArg::kNone,       a::kRun,                  true},
    {"export_sealed",    &Vault::OpExportSealed,    Action::kAddCredential,   CredArg::kNone,       "vault.export",           true},
    {"import_sealed",    &Vault::OpImportSealed,    Action::kAddCredential,   CredArg::kNone,       "vault.import",           true},
    {"agents.create",    &Vault::OpAgentsCreate,    Action::kManageAgents,    CredArg::kNone,       a::kAgentCreate,          true},
    {"agents.list",      &Vault::OpAgentsList,      Action::kList,            CredArg::kNone,       nullptr,                  false},
    {"agents.rm",        &Vault::OpAgentsRemove,    Action::kManageAgents,    CredArg::kNone,       a::kAgentDelete,          true},
    {"agents.scope",     &Vault::OpAgentsScope,     Action::kManageAgents,    CredArg::kNone,       "agent.scope",            true},
    {"agents.assign",    &Vault::OpAgentsAssign,    Action::kManageTokens,    CredArg::kCredential,       a::kTokenCreate,          true},
    {"tokens.list",      &Vault::OpTokensList,      Action::kManageTokens,    CredArg::kNone,       nullptr,                  false},
    {"tokens.revoke",    &Vault::OpTokensRevoke,    Action::kManageTokens,    CredArg::kNone,       a::kTokenRevoke,          true},
    {"apikeys.create",   &Vault::OpApiKeysCreate,   Action::kManageApiKeys,   CredArg::kNone,       a::kApiKeyCreate,         true},
    {"apikeys.list",     &Vault::OpApiKeysList,     Action::kManageApiKeys,   CredArg::kNone,       nullptr,                  false},
    {"apikeys.view",     &Vault::OpApiKeysView,     Action::kManageApiKeys,   CredArg::kNone,       nullptr,                  false},
    {"apikeys.revoke",   &Vault::OpApiKeysRevoke,   Action::kManageApiKeys,   CredArg::kNone,       a::kApiKeyRevoke,         true},
    {"apikeys.delete",   &Vault::OpApiKeysDelete,   Action::kManageApiKeys,   CredArg::kNone,       a::kApiKeyDelete,         true},
    {"apikeys.reissue",  &Vault::OpApiKeysReissue,  Action::kManageApiKeys,   CredArg::kNone,       "apikey.reissue",         true},
    {"webhooks.add",     &Vault::OpWebhooksAdd,     Action::kManageWebhooks,  CredArg::kNone,       "webhook.add",            true},
    {"webhooks.list",    &Vault::OpWebhooksList,    Action::kManageWebhooks,  CredArg::kNone,       nullptr,                  false},
    {"webhooks.rm",      &Vault::OpWebhooksRemove,  Action::kManageWebhooks,  CredArg::kNone,       "webhook.remove",         true},
    {"webhooks.test",    &Vault::OpWebhooksTest,    Action::kManageWebhooks,  CredArg::kNone,       "webhook.test",           true},
    {"webhooks.deliveries", &Vault::OpWebhooksDeliveries, Action::kManageWebhooks, CredArg::kNone,  nullptr,                  false},
    {"audit.query",      &Vault::OpAuditQuery,      Action::kReadAudit,       CredArg::kNone,       nullptr,                  false},
    {"audit.verify",     &Vault::OpAuditVerify,     Action::kReadAudit,       CredArg::kNone,       "audit.verify",           false},
    // Checked here for the role only: the call may act as a token given in its args, and
    // ProxyService authorizes that principal for the credential. Not audited here:
    // ProxyService appends the call's own "proxy" record.
    {"proxy",            &Vault::OpProxy,           Action::kUse,             CredArg::kNone,       nullptr,                  false},
};
// clang-format on

std::string CredentialOf(const OpEntry& e, const cJSON* args) {
  switch (e.cred) {
    case CredArg::kName:
      return std::string(json::GetString(args, "name").value_or(""));
    case CredArg::kCredential:
      return std::string(json::GetString(args, "credential").value_or(""));
    case CredArg::kNone:
      break;
  }
  return "";
}

// The audit actor of a principal: the uid for the owner, the agent's name when acting as
// one, otherwise the key id or token prefix.
std::pair<audit::ActorKind, std::string> ActorOf(const identity::Principal& who) {
  if (who.kind == identity::PrincipalKind::kOwner) {
    // OwnerPrincipal's id is "uid:<n>"; the record keeps the number.
    const std::string_view id = who.id;
    const size_t colon = id.find(':');
    return {audit::ActorKind::kUid, std::string(colon == std::string_view::npos ? id : id.substr(colon + 1))};
  }
  if (who.acts_as_agent()) return {audit::ActorKind::kAgent, who.agent_name};
  if (who.kind == identity::PrincipalKind::kApiKey) return {audit::ActorKind::kApiKey, who.id};
  return {audit::ActorKind::kToken, who.id};
}

// An audit result is [a-z0-9._-]{0,32}; control error codes already are.
std::string ResultOf(const OpResult& r) { return r.ok ? "ok" : r.error.code.substr(0, 32); }

// The role table and scopes for one op. Ops that use several credentials at once (env,
// run) are checked for the role here and per credential in the handler (CheckUse).
Status Permit(const identity::Principal& who, const OpEntry& e, const std::string& credential) {
  if (e.cred == CredArg::kNone && identity::IsCredentialAction(e.action)) {
    if (!identity::Allowed(who.role, e.action)) return Status(Err::kPolicyDenied, identity::kRoleDenied);
    if (who.kind == identity::PrincipalKind::kToken) return Status(Err::kPolicyDenied, identity::kTokenOnlyUses);
    return Status::Ok();
  }
  return identity::Authorize(who, e.action, credential);
}

OpResult Refused(const Status& st) {
  std::string msg;
  const std::string_view where = st.where();
  if (where == identity::kRoleDenied) msg = "your role does not allow this";
  else if (where == identity::kOutsideScope) msg = "this credential is outside the agent's scopes";
  else if (where == identity::kTokenOnlyUses || where == identity::kTokenBound)
    msg = "a proxy token may only use the credential it was issued for";
  else msg = std::string("not allowed: ") + st.where();
  return Fail("forbidden", msg, kExitPolicyDenied);
}

}  // namespace

OpResult Forbidden(const Status& st) { return Refused(st); }

OpResult WithAudit(OpResult r, AuditFacts facts) {
  r.audit = std::move(facts);
  return r;
}

OpResult Ok(json::Json result) {
  OpResult r;
  r.ok = true;
  r.result = std::move(result);
  return r;
}

OpResult Fail(const Status& st, std::string message) {
  OpResult r;
  r.error = ErrorFromStatus(st, std::move(message));
  return r;
}

OpResult Fail(std::string code, std::string message, int exit_code) {
  OpResult r;
  r.error = ControlError{std::move(code), std::move(message), exit_code};
  return r;
}

int64_t NowSeconds() { return static_cast<int64_t>(time(nullptr)); }

keycell_ipc_RecordRef RefOf(std::string_view record_id, uint32_t version, std::string_view name) {
  keycell_ipc_RecordRef ref = keycell_ipc_RecordRef_init_zero;
  snprintf(ref.record_id, sizeof(ref.record_id), "%.*s", static_cast<int>(record_id.size()), record_id.data());
  ref.version = version;
  snprintf(ref.name, sizeof(ref.name), "%.*s", static_cast<int>(name.size()), name.data());
  return ref;
}

std::vector<std::string> StringArray(const cJSON* args, const char* key) {
  std::vector<std::string> out;
  for (const cJSON* item : json::Children(json::GetArray(args, key)))
    if (auto s = json::AsString(item)) out.emplace_back(*s);
  return out;
}

json::Json StringsToJson(const std::vector<std::string>& items) {
  json::Json arr = json::MakeArray();
  for (const auto& t : items)
    if (auto s = json::MakeString(t); s.ok()) (void)json::Append(arr.get(), std::move(*s));
  return arr;
}

void SetOptionalTime(cJSON* obj, const char* key, const std::optional<int64_t>& t) {
  if (t) (void)json::SetInt(obj, key, *t);
  else (void)json::Set(obj, key, json::MakeNull());
}

std::vector<OpInfo> VaultOps() {
  std::vector<OpInfo> out;
  for (const OpEntry& e : kOps) out.push_back({e.name, e.action, e.audited != nullptr});
  return out;
}

int64_t Vault::IdleSeconds() const { return NowSeconds() - last_use_.load(); }

OpResult Vault::Dispatch(const identity::Principal& who, std::string_view op, const cJSON* args, UniqueFd fd) {
  for (const OpEntry& e : kOps) {
    if (op != e.name) continue;
    const auto start = std::chrono::steady_clock::now();
    const std::string credential = CredentialOf(e, args);
    OpResult r;
    if (Status allowed = Permit(who, e, credential); !allowed.ok()) {
      r = allowed.code() == Err::kPolicyDenied ? Refused(allowed) : Fail(allowed, "a credential name is required");
    } else {
      last_use_ = NowSeconds();
      r = (this->*e.fn)(who, args, std::move(fd));
      // A credential came, went or got a new expiry: the expiry scheduler looks again.
      if (r.ok && (e.action == Action::kAddCredential || e.action == Action::kRotateCredential ||
                   e.action == Action::kDeleteCredential))
        expiry_changed_ = true;
    }
    if (r.audit.credential.empty()) r.audit.credential = credential;
    const int64_t latency_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    if (e.audited != nullptr) Audit(who, e.audited, r, latency_us);
    LogEvent(r.ok ? (e.mutates ? LogLevel::kInfo : LogLevel::kDebug) : LogLevel::kWarn, op,
             {{"name", r.audit.credential}, {"result", r.ok ? "ok" : r.error.code}});
    return r;
  }
  return Fail("unknown_op", "unknown operation '" + std::string(op) + "'", kExitUsage);
}

void Vault::Audit(const identity::Principal& who, std::string_view action, const OpResult& r, int64_t latency_us) {
  audit::Entry entry;
  std::tie(entry.actor_kind, entry.actor) = ActorOf(who);
  entry.action = std::string(action);
  entry.credential = r.audit.credential;
  entry.version = r.audit.version;
  entry.result = ResultOf(r);
  entry.latency_us = latency_us;
  entry.detail = r.audit.detail;
  auto appended = audit_.Append(entry);
  // An audit failure must be loud, but must not undo an op that already happened.
  if (!appended.ok())
    LogEvent(LogLevel::kError, "audit_append_failed", {{"action", entry.action}, {"detail", appended.status().where()}});
}

void Vault::AuditAsync(const identity::Principal& who, audit::Entry entry) {
  std::tie(entry.actor_kind, entry.actor) = ActorOf(who);
  if (Status st = audit_queue_.Submit(std::move(entry)); !st.ok())
    LogEvent(LogLevel::kError, "audit_append_failed", {{"action", "proxy"}, {"detail", st.where()}});
}

void Vault::NoteUse() { last_use_ = NowSeconds(); }

void Vault::AuditAuthFailure(std::string_view front_end, std::string_view reason, std::string_view presented_prefix) {
  audit::Entry entry;
  entry.actor_kind = audit::ActorKind::kToken;
  entry.actor = std::string(presented_prefix);
  entry.action = audit::actions::kAuthFail;
  entry.result = "denied";
  entry.detail = std::string(front_end) + ": " + std::string(reason);
  if (auto appended = audit_.Append(entry); !appended.ok())
    LogEvent(LogLevel::kError, "audit_append_failed", {{"action", entry.action}, {"detail", appended.status().where()}});
}

audit::MacFn Vault::AuditMac() {
  if (!enclave_.unlocked() || !audit_key_.loaded()) return {};
  return [this](ByteView message) { return audit_key_.Mac(enclave_, message); };
}

bool Vault::CheckpointAudit(bool now) {
  if (!enclave_.unlocked()) return false;
  if (Status st = audit_key_.Ensure(enclave_); !st.ok()) {
    LogEvent(LogLevel::kWarn, "audit_key_unavailable", {{"detail", st.where()}});
    return false;
  }
  auto checkpoint = [&]() -> Result<bool> {
    if (!now) return audit_.MaybeCheckpoint(AuditMac());
    KC_RETURN_IF_ERROR(audit_.Checkpoint(AuditMac()));
    return true;
  };
  Result<bool> sealed = checkpoint();
  if (!sealed.ok()) {
    LogEvent(LogLevel::kWarn, "audit_checkpoint_failed", {{"detail", sealed.status().where()}});
    return false;
  }
  if (*sealed) LogEvent(LogLevel::kDebug, "audit_checkpoint", {});
  return *sealed;
}

}  // namespace keycell::broker::daemon

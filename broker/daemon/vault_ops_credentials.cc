// add, list, show, get, rm, rotate, history, rollback, health.

#include <string>
#include <vector>

#include "broker/daemon/policy_spec.h"
#include "broker/daemon/vault.h"

namespace keycell::broker::daemon {
namespace {

constexpr int64_t kDay = 24 * 3600;
constexpr int64_t kExpiringSoonSeconds = 7 * kDay;

std::string Hex(const std::array<uint8_t, 16>& b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (uint8_t c : b) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

Result<std::string> RequireName(const cJSON* args) {
  const auto name = json::GetString(args, "name");
  if (!name || name->empty()) return Status(Err::kInvalidArgument, "name");
  KC_RETURN_IF_ERROR(store::ValidateName(*name));
  return std::string(*name);
}

json::Json CredentialToJson(const store::Credential& c) {
  json::Json o = json::MakeObject();
  (void)json::SetString(o.get(), "name", c.name);
  (void)json::SetString(o.get(), "provider", c.provider);
  (void)json::SetString(o.get(), "env", c.env);
  (void)json::Set(o.get(), "tags", StringsToJson(c.tags));
  (void)json::SetString(o.get(), "notes", c.notes);
  (void)json::SetInt(o.get(), "created_at", c.created_at);
  SetOptionalTime(o.get(), "rotated_at", c.rotated_at);
  SetOptionalTime(o.get(), "expires_at", c.expires_at);
  (void)json::SetInt(o.get(), "version", c.current_version);
  (void)json::SetInt(o.get(), "latest_version", c.latest_version);
  (void)json::Set(o.get(), "projects", StringsToJson(c.projects));
  return o;
}

OpResult NameError(const Status& st) {
  if (st.code() == Err::kUnknownKey) return Fail(st, "no such credential");
  return Fail(st, std::string("invalid name: ") + st.where());
}

}  // namespace

// A fresh random value for `cur`'s credential, made and sealed by the enclave under
// `new_ref` with the current version's policy. That policy is rebuilt from the store's
// copy, so first the enclave is asked to reseal the current version under it without a
// PIN: it refuses if the copy would widen what is sealed (a tampered store), and the
// generated version can then grant no more than the one it replaces.
Result<Sealed> Vault::GenerateVersion(const store::SealedVersion& cur, const keycell_ipc_RecordRef& new_ref,
                                      const cJSON* args) {
  const int64_t length = json::GetInt(args, "length").value_or(kDefaultGeneratedLength);
  if (length < 1 || length > 4096) return Status(Err::kInvalidArgument, "length must be 1..4096");
  const std::string alphabet(json::GetString(args, "alphabet").value_or(kDefaultGeneratedAlphabet));
  auto stored = json::ParseJson(cur.policy_json.empty() ? "{}" : cur.policy_json);
  if (!stored.ok()) return Status(Err::kTampered, "rotate: stored policy unreadable");
  std::string why;
  KC_ASSIGN_OR_RETURN(PolicySpec spec, PolicySpecFromJson(stored->get(), &why));
  KC_ASSIGN_OR_RETURN(Policy policy, BuildPolicy(std::move(spec), "", &why));
  ResealArgs check;
  check.ref = RefOf(cur.record_id, cur.version, cur.name);
  check.blob = cur.sealed;
  check.new_ref = new_ref;
  check.policy = &policy;
  if (auto same = enclave_.Reseal(check); !same.ok())
    return same.status().code() == Err::kPolicyDenied ? Status(Err::kTampered, "rotate: stored policy differs")
                                                       : same.status();
  return enclave_.Generate(new_ref, policy, static_cast<uint32_t>(length), alphabet);
}

OpResult Vault::OpAdd(const identity::Principal&, const cJSON* args, UniqueFd fd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  if (!fd) return Fail(Status(Err::kInvalidArgument, "add"), "add needs the value pipe");
  store::CredentialMeta meta;
  meta.name = *name;
  meta.provider = std::string(json::GetString(args, "provider").value_or(""));
  meta.env = std::string(json::GetString(args, "env").value_or(""));
  meta.notes = std::string(json::GetString(args, "notes").value_or(""));
  meta.tags = StringArray(args, "tags");
  if (auto e = json::GetInt(args, "expires_at"); e && *e > 0) meta.expires_at = *e;
  if (Status st = store::ValidateMeta(meta); !st.ok()) return Fail(st, std::string("invalid: ") + st.where());

  std::string why;
  auto spec = PolicySpecFromJson(json::GetObject(args, "policy"), &why);
  if (!spec.ok()) return Fail(spec.status(), why);
  spec->expires_at = meta.expires_at.value_or(0);
  auto policy = BuildPolicy(std::move(*spec), meta.provider, &why);
  if (!policy.ok()) return Fail(policy.status(), why);

  auto existing = store_.GetCredential(*name);
  const bool overwrite = json::GetBool(args, "overwrite").value_or(false);
  if (existing.ok() && !overwrite)
    return Fail("exists", "credential '" + *name + "' exists (use --overwrite to replace its value)", kExitExists);
  std::string record_id;
  if (existing.ok()) {
    record_id = existing->record_id;
  } else {
    auto id = store::NewRecordId();
    if (!id.ok()) return Fail(id.status());
    record_id = *id;
  }
  const uint32_t version = existing.ok() ? existing->latest_version + 1 : 1;
  auto sealed = enclave_.SealFromFd(RefOf(record_id, version, *name), *policy, fd.get());
  if (!sealed.ok()) return Fail(sealed.status());
  auto printed = json::Print(PolicyToJson(*policy).get(), false);
  const std::string policy_text = printed.ok() ? *printed : "";  // VersionWrite holds views
  const std::string fpr = Hex(sealed->fingerprint);
  store::VersionWrite w{version, sealed->blob, fpr, policy_text, NowSeconds()};
  auto stored = existing.ok() ? store_.OverwriteCredential(meta, existing->current_version, w)
                              : store_.AddCredential(meta, record_id, w);
  if (!stored.ok()) {
    if (store::IsNameExists(stored.status()) || store::IsConflict(stored.status()))
      return Fail("conflict", "credential '" + *name + "' changed meanwhile; try again", kExitConflict);
    return Fail(stored.status());
  }
  json::Json out = CredentialToJson(*stored);
  (void)json::SetString(out.get(), "fingerprint", fpr);
  return WithAudit(Ok(std::move(out)), {*name, version, existing.ok() ? "overwrite" : ""});
}

OpResult Vault::OpList(const identity::Principal& who, const cJSON* args, UniqueFd) {
  store::CredentialFilter f;
  if (auto v = json::GetString(args, "env")) f.env = std::string(*v);
  if (auto v = json::GetString(args, "provider")) f.provider = std::string(*v);
  if (auto v = json::GetString(args, "project")) f.project = std::string(*v);
  if (auto v = json::GetString(args, "tag")) f.tag = std::string(*v);
  auto list = store_.ListCredentials(f);
  if (!list.ok()) return Fail(list.status(), std::string("cannot list: ") + list.status().where());
  json::Json out = json::MakeArray();
  for (const store::Credential& c : *list) {
    // An agent sees only what its scopes cover (a token: its one credential).
    if (who.acts_as_agent() && !identity::Authorize(who, identity::Action::kList, c.name).ok()) continue;
    if (who.kind == identity::PrincipalKind::kToken && c.name != who.credential) continue;
    (void)json::Append(out.get(), CredentialToJson(c));
  }
  return Ok(std::move(out));
}

OpResult Vault::OpShow(const identity::Principal& who, const cJSON* args, UniqueFd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  auto c = store_.GetCredential(*name);
  if (!c.ok()) return NameError(c.status());
  json::Json out = CredentialToJson(*c);
  auto policy = json::ParseJson(c->policy_json.empty() ? "null" : c->policy_json);
  (void)json::Set(out.get(), "policy", policy.ok() ? std::move(*policy) : json::MakeNull());
  auto history = OpHistory(who, args, UniqueFd());
  if (history.ok) (void)json::Set(out.get(), "versions", std::move(history.result));
  return Ok(std::move(out));
}

// The plaintext goes from the enclave into the CLI's pipe; keycelld never holds it.
OpResult Vault::OpGet(const identity::Principal& who, const cJSON* args, UniqueFd fd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  if (!fd) return Fail(Status(Err::kInvalidArgument, "get"), "get needs the output pipe");
  const std::string purpose(json::GetString(args, "purpose").value_or(""));
  if (purpose.find_first_not_of(" \t") == std::string::npos)
    return Fail(Status(Err::kInvalidArgument, "purpose"), "a --purpose is required to reveal a value");
  auto v = store_.GetCurrent(*name);
  if (!v.ok()) return NameError(v.status());
  // An agent reveals as itself; only the owner may name the agent id the sealed reveal
  // list is checked against (keycell get --agent).
  const std::string agent = who.acts_as_agent() ? who.agent_id : std::string(json::GetString(args, "agent_id").value_or(""));
  AuditFacts facts{*name, v->version, "purpose: " + purpose};
  Status st = enclave_.RevealToFd(RefOf(v->record_id, v->version, v->name), v->sealed, purpose, agent, fd.get());
  if (st.code() == Err::kPolicyDenied)
    return WithAudit(Fail(st, "'" + *name + "' is not revealable (its sealed policy forbids it); use keycell run, "
                              "keycell env or the proxy instead"),
                     std::move(facts));
  if (!st.ok()) return WithAudit(Fail(st), std::move(facts));
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "name", *name);
  (void)json::SetInt(out.get(), "version", v->version);
  return WithAudit(Ok(std::move(out)), std::move(facts));
}

OpResult Vault::OpRemove(const identity::Principal&, const cJSON* args, UniqueFd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  if (Status st = store_.DeleteCredential(*name); !st.ok()) return NameError(st);
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "removed", *name);
  return Ok(std::move(out));
}

// With `generate` the enclave makes the new value itself (rotate_and_store): no pipe.
OpResult Vault::OpRotate(const identity::Principal&, const cJSON* args, UniqueFd fd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  const bool generate = json::GetBool(args, "generate").value_or(false);
  if (!generate && !fd) return Fail(Status(Err::kInvalidArgument, "rotate"), "rotate needs the value pipe");
  if (generate && fd) return Fail(Status(Err::kInvalidArgument, "rotate"), "rotate with generate takes no pipe");
  auto c = store_.GetCredential(*name);
  if (!c.ok()) return NameError(c.status());
  auto cur = store_.GetCurrent(*name);
  if (!cur.ok()) return NameError(cur.status());
  const keycell_ipc_RecordRef new_ref = RefOf(cur->record_id, c->latest_version + 1, cur->name);
  auto sealed = generate ? GenerateVersion(*cur, new_ref, args) : [&]() -> Result<Sealed> {
    ResealArgs r;
    r.ref = RefOf(cur->record_id, cur->version, cur->name);
    r.blob = cur->sealed;
    r.new_ref = new_ref;
    r.new_secret_fd = fd.get();
    return enclave_.Reseal(r);
  }();
  if (!sealed.ok()) {
    if (sealed.status().code() == Err::kInvalidArgument && generate)
      return Fail(sealed.status(), std::string("cannot generate: ") + sealed.status().where());
    return Fail(sealed.status());
  }
  const std::string fpr = Hex(sealed->fingerprint);
  store::VersionWrite w{c->latest_version + 1, sealed->blob, fpr, cur->policy_json, NowSeconds()};
  if (Status st = store_.AddVersion(*name, c->current_version, w); !st.ok()) {
    if (store::IsConflict(st)) return Fail("conflict", "'" + *name + "' changed meanwhile; try again", kExitConflict);
    return Fail(st);
  }
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "name", *name);
  (void)json::SetInt(out.get(), "version", w.version);
  (void)json::SetString(out.get(), "fingerprint", fpr);
  if (generate) (void)json::SetBool(out.get(), "generated", true);
  return WithAudit(Ok(std::move(out)), {*name, w.version, generate ? "generated" : ""});
}

OpResult Vault::OpHistory(const identity::Principal&, const cJSON* args, UniqueFd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  auto h = store_.History(*name);
  if (!h.ok()) return NameError(h.status());
  json::Json out = json::MakeArray();
  for (const store::VersionInfo& v : *h) {
    json::Json o = json::MakeObject();
    (void)json::SetInt(o.get(), "version", v.version);
    (void)json::SetInt(o.get(), "created_at", v.created_at);
    (void)json::SetString(o.get(), "fingerprint", v.fingerprint);
    (void)json::SetBool(o.get(), "current", v.current);
    (void)json::Append(out.get(), std::move(o));
  }
  return Ok(std::move(out));
}

OpResult Vault::OpRollback(const identity::Principal&, const cJSON* args, UniqueFd) {
  auto name = RequireName(args);
  if (!name.ok()) return NameError(name.status());
  const auto to = json::GetInt(args, "to");
  if (!to || *to < 1) return Fail(Status(Err::kInvalidArgument, "to"), "--to needs a version number");
  auto c = store_.GetCredential(*name);
  if (!c.ok()) return NameError(c.status());
  Status st = store_.SetCurrentVersion(*name, static_cast<uint32_t>(*to), c->current_version);
  if (!st.ok()) {
    if (store::IsConflict(st)) return Fail("conflict", "'" + *name + "' changed meanwhile; try again", kExitConflict);
    return Fail(st, st.code() == Err::kUnknownKey ? "no such version" : "");
  }
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "name", *name);
  (void)json::SetInt(out.get(), "version", *to);
  return WithAudit(Ok(std::move(out)), {*name, *to, ""});
}

OpResult Vault::OpHealth(const identity::Principal&, const cJSON* args, UniqueFd) {
  const int64_t days = json::GetInt(args, "days").value_or(90);
  if (days < 1 || days > 36500) return Fail(Status(Err::kInvalidArgument, "days"), "--days must be 1..36500");
  auto list = store_.ListCredentials({});
  if (!list.ok()) return Fail(list.status());
  const int64_t now = NowSeconds();
  json::Json stale = json::MakeArray(), expiring = json::MakeArray(), expired = json::MakeArray(),
             never = json::MakeArray();
  size_t problems = 0;
  for (const store::Credential& c : *list) {
    auto add = [&](json::Json& arr) {
      ++problems;
      if (auto s = json::MakeString(c.name); s.ok()) (void)json::Append(arr.get(), std::move(*s));
    };
    const int64_t last = c.rotated_at.value_or(c.created_at);
    if (c.expires_at && *c.expires_at <= now) add(expired);
    else if (c.expires_at && *c.expires_at - now <= kExpiringSoonSeconds) add(expiring);
    if (now - last > days * kDay) (c.rotated_at ? add(stale) : add(never));
  }
  json::Json out = json::MakeObject();
  (void)json::SetInt(out.get(), "threshold_days", days);
  (void)json::SetInt(out.get(), "total", static_cast<int64_t>(list->size()));
  (void)json::Set(out.get(), "stale", std::move(stale));
  (void)json::Set(out.get(), "expiring_soon", std::move(expiring));
  (void)json::Set(out.get(), "expired", std::move(expired));
  (void)json::Set(out.get(), "never_rotated", std::move(never));
  (void)json::SetBool(out.get(), "needs_action", problems > 0);
  return Ok(std::move(out));
}

}  // namespace keycell::broker::daemon

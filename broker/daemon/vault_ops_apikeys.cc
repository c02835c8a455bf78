// apikeys.create, .list, .view, .revoke, .delete, .reissue: kc_ API keys (the MCP Key
// Manager's key commands) on the identity registry. A key is shown once, at creation or
// reissue; keycelld stores its SHA-256 only.

#include <string>

#include "broker/daemon/vault.h"

namespace keycell::broker::daemon {

OpResult IdentityFail(const Status& st);  // vault_ops_agents.cc

namespace {

json::Json KeyToJson(const identity::ApiKeyInfo& k) {
  json::Json o = json::MakeObject();
  (void)json::SetString(o.get(), "id", k.id);
  (void)json::SetString(o.get(), "name", k.name);
  (void)json::SetString(o.get(), "description", k.description);
  (void)json::SetString(o.get(), "role", identity::RoleName(k.role));
  (void)json::SetString(o.get(), "agent", k.agent_name);
  (void)json::SetString(o.get(), "agent_id", k.agent_id);
  (void)json::SetString(o.get(), "prefix", k.prefix);
  (void)json::SetInt(o.get(), "created_at", k.created_at);
  SetOptionalTime(o.get(), "last_used_at", k.last_used_at);
  SetOptionalTime(o.get(), "expires_at", k.expires_at);
  SetOptionalTime(o.get(), "revoked_at", k.revoked_at);
  (void)json::SetBool(o.get(), "active", k.ActiveAt(NowSeconds()));
  return o;
}

// The reply to create/reissue: the key's metadata plus the key itself, once.
OpResult Issued(identity::IdentityStore& ids, const identity::IssuedKey& issued, std::string detail) {
  auto info = ids.ViewApiKey(issued.id);
  if (!info.ok()) return IdentityFail(info.status());
  json::Json out = KeyToJson(*info);
  (void)json::SetString(out.get(), "key",
                        std::string_view(reinterpret_cast<const char*>(issued.key.data()), issued.key.size()));
  return WithAudit(Ok(std::move(out)), {"", std::nullopt, std::move(detail) + " " + issued.id});
}

// A principal may mint keys up to its own role; a key bound to an agent may only mint
// keys for that same agent.
Status MayGrant(const identity::Principal& who, const identity::ApiKeySpec& spec, const std::string& agent_id) {
  if (!identity::CanGrant(who.role, spec.role))
    return Status(Err::kPolicyDenied, "identity: cannot grant a role above your own");
  if (who.acts_as_agent() && agent_id != who.agent_id)
    return Status(Err::kPolicyDenied, "identity: an agent may only create keys for itself");
  return Status::Ok();
}

}  // namespace

OpResult Vault::OpApiKeysCreate(const identity::Principal& who, const cJSON* args, UniqueFd) {
  identity::ApiKeySpec spec;
  spec.name = std::string(json::GetString(args, "name").value_or(""));
  spec.description = std::string(json::GetString(args, "description").value_or(""));
  spec.expires_in_days = json::GetInt(args, "expires_in_days").value_or(identity::kDefaultApiKeyDays);
  auto role = identity::ParseRole(json::GetString(args, "role").value_or("member"));
  if (!role.ok()) return Fail("invalid", "role must be owner, admin or member", kExitInvalid);
  spec.role = *role;
  spec.agent = std::string(json::GetString(args, "agent").value_or(""));
  std::string agent_id;
  if (!spec.agent.empty()) {
    auto agent = identity_.GetAgent(spec.agent);
    if (!agent.ok()) return IdentityFail(agent.status());
    agent_id = agent->id;
  }
  if (Status st = MayGrant(who, spec, agent_id); !st.ok()) return IdentityFail(st);
  auto issued = identity_.CreateApiKey(spec);
  if (!issued.ok()) return IdentityFail(issued.status());
  return Issued(identity_, *issued, std::string("role ") + identity::RoleName(spec.role) + " key");
}

OpResult Vault::OpApiKeysList(const identity::Principal&, const cJSON* args, UniqueFd) {
  auto keys = identity_.ListApiKeys(json::GetBool(args, "active_only").value_or(false));
  if (!keys.ok()) return IdentityFail(keys.status());
  json::Json out = json::MakeArray();
  for (const identity::ApiKeyInfo& k : *keys) (void)json::Append(out.get(), KeyToJson(k));
  return Ok(std::move(out));
}

OpResult Vault::OpApiKeysView(const identity::Principal&, const cJSON* args, UniqueFd) {
  auto key = identity_.ViewApiKey(json::GetString(args, "id").value_or(""));
  if (!key.ok()) return IdentityFail(key.status());
  return Ok(KeyToJson(*key));
}

OpResult Vault::OpApiKeysRevoke(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string id(json::GetString(args, "id").value_or(""));
  if (Status st = identity_.RevokeApiKey(id); !st.ok()) return IdentityFail(st);
  return WithAudit(OpApiKeysView(identity::Principal{}, args, UniqueFd()), {"", std::nullopt, "key " + id});
}

OpResult Vault::OpApiKeysDelete(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string id(json::GetString(args, "id").value_or(""));
  if (Status st = identity_.DeleteApiKey(id); !st.ok()) return IdentityFail(st);
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "deleted", id);
  return WithAudit(Ok(std::move(out)), {"", std::nullopt, "key " + id});
}

// Only hashes are stored, so "use this key somewhere else" means a new key: the same
// name, description, role and agent, a fresh secret and lifetime, and the old key
// revoked.
OpResult Vault::OpApiKeysReissue(const identity::Principal& who, const cJSON* args, UniqueFd) {
  auto old = identity_.ViewApiKey(json::GetString(args, "id").value_or(""));
  if (!old.ok()) return IdentityFail(old.status());
  identity::ApiKeySpec spec;
  spec.name = old->name;
  spec.description = old->description;
  spec.role = old->role;
  spec.agent = old->agent_id;
  spec.expires_in_days = json::GetInt(args, "expires_in_days").value_or(identity::kDefaultApiKeyDays);
  if (Status st = MayGrant(who, spec, old->agent_id); !st.ok()) return IdentityFail(st);
  auto issued = identity_.CreateApiKey(spec);
  if (!issued.ok()) return IdentityFail(issued.status());
  if (Status st = identity_.RevokeApiKey(old->id); !st.ok()) return IdentityFail(st);
  OpResult r = Issued(identity_, *issued, "replaces " + old->id + " with");
  if (r.ok) (void)json::SetString(r.result.get(), "replaced_id", old->id);
  return r;
}

}  // namespace keycell::broker::daemon

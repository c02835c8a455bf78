// agents.create, agents.list, agents.rm, agents.scope, agents.assign, tokens.list,
// tokens.revoke: the identity registry (broker/identity) behind the control protocol.

#include <algorithm>
#include <string>
#include <vector>

#include "broker/daemon/vault.h"

namespace keycell::broker::daemon {
namespace {

constexpr int64_t kMaxTokenLifetimeSeconds = 3650LL * 24 * 3600;

json::Json AgentToJson(const identity::Agent& a) {
  json::Json o = json::MakeObject();
  (void)json::SetString(o.get(), "id", a.id);
  (void)json::SetString(o.get(), "name", a.name);
  (void)json::SetInt(o.get(), "created_at", a.created_at);
  (void)json::Set(o.get(), "scopes", StringsToJson(a.scopes));
  return o;
}

json::Json TokenToJson(const identity::TokenInfo& t) {
  json::Json o = json::MakeObject();
  (void)json::SetString(o.get(), "prefix", t.prefix);
  (void)json::SetString(o.get(), "agent", t.agent_name);
  (void)json::SetString(o.get(), "agent_id", t.agent_id);
  (void)json::SetString(o.get(), "credential", t.credential);
  (void)json::SetInt(o.get(), "created_at", t.created_at);
  SetOptionalTime(o.get(), "last_used_at", t.last_used_at);
  SetOptionalTime(o.get(), "expires_at", t.expires_at);
  SetOptionalTime(o.get(), "revoked_at", t.revoked_at);
  return o;
}

std::string RequiredString(const cJSON* args, const char* key) {
  return std::string(json::GetString(args, key).value_or(""));
}

}  // namespace

// The identity registry's errors as control errors: `where` names the reason in words.
OpResult IdentityFail(const Status& st) {
  std::string why(st.where());
  if (why.rfind("identity: ", 0) == 0) why = why.substr(10);
  if (st.code() == Err::kUnknownKey) return Fail("not_found", why, kExitNotFound);
  if (st.where() == std::string_view(identity::kAgentExists)) return Fail("exists", why, kExitExists);
  if (st.code() == Err::kPolicyDenied) return Fail("forbidden", why, kExitPolicyDenied);
  if (st.code() == Err::kInvalidArgument || st.code() == Err::kTooLarge) return Fail("invalid", why, kExitInvalid);
  return Fail(st);
}

OpResult Vault::OpAgentsCreate(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string name = RequiredString(args, "name");
  auto agent = identity_.CreateAgent(name, StringArray(args, "scopes"));
  if (!agent.ok()) return IdentityFail(agent.status());
  return WithAudit(Ok(AgentToJson(*agent)), {"", std::nullopt, "agent " + agent->name});
}

OpResult Vault::OpAgentsList(const identity::Principal& who, const cJSON*, UniqueFd) {
  auto agents = identity_.ListAgents();
  if (!agents.ok()) return IdentityFail(agents.status());
  json::Json out = json::MakeArray();
  for (const identity::Agent& a : *agents) {
    // An agent sees itself only.
    if (who.acts_as_agent() && a.id != who.agent_id) continue;
    (void)json::Append(out.get(), AgentToJson(a));
  }
  return Ok(std::move(out));
}

OpResult Vault::OpAgentsRemove(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string name = RequiredString(args, "agent");
  auto agent = identity_.GetAgent(name);
  if (!agent.ok()) return IdentityFail(agent.status());
  auto tokens = identity_.ListTokens();
  int64_t revoked = 0;
  if (tokens.ok())
    revoked = std::count_if(tokens->begin(), tokens->end(),
                            [&](const identity::TokenInfo& t) { return t.agent_id == agent->id; });
  if (Status st = identity_.DeleteAgent(agent->id); !st.ok()) return IdentityFail(st);
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "removed", agent->name);
  (void)json::SetString(out.get(), "id", agent->id);
  (void)json::SetInt(out.get(), "tokens_revoked", revoked);
  return WithAudit(Ok(std::move(out)), {"", std::nullopt, "agent " + agent->name});
}

// mode "set" replaces the scopes; "add" and "remove" edit them.
OpResult Vault::OpAgentsScope(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string name = RequiredString(args, "agent");
  const std::string mode(json::GetString(args, "mode").value_or("set"));
  if (mode != "set" && mode != "add" && mode != "remove")
    return Fail("invalid", "mode must be set, add or remove", kExitInvalid);
  auto agent = identity_.GetAgent(name);
  if (!agent.ok()) return IdentityFail(agent.status());
  std::vector<std::string> scopes = StringArray(args, "scopes");
  if (mode == "add") {
    scopes.insert(scopes.end(), agent->scopes.begin(), agent->scopes.end());
  } else if (mode == "remove") {
    std::vector<std::string> kept;
    for (const auto& s : agent->scopes)
      if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) kept.push_back(s);
    scopes = std::move(kept);
  }
  auto updated = identity_.SetScopes(agent->id, scopes);
  if (!updated.ok()) return IdentityFail(updated.status());
  std::string detail = "agent " + updated->name + " scopes:";
  for (const auto& s : updated->scopes) detail += " " + s;
  return WithAudit(Ok(AgentToJson(*updated)), {"", std::nullopt, detail});
}

// Issues the agent's proxy token for one credential. Assigning is granting: if the
// agent's scopes do not cover the credential yet, its exact name is added to them (the
// reply says so), since a token outside the scopes would be refused on every request.
OpResult Vault::OpAgentsAssign(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string agent_name = RequiredString(args, "agent");
  const std::string credential = RequiredString(args, "credential");
  auto agent = identity_.GetAgent(agent_name);
  if (!agent.ok()) return IdentityFail(agent.status());
  if (auto c = store_.GetCredential(credential); !c.ok())
    return Fail("not_found", "no such credential: " + credential, kExitNotFound);
  std::optional<int64_t> expires_at;
  if (auto e = json::GetInt(args, "expires_in_seconds")) {
    if (*e <= 0 || *e > kMaxTokenLifetimeSeconds)
      return Fail("invalid", "--expires must be between 1 second and 10 years", kExitInvalid);
    expires_at = NowSeconds() + *e;
  }
  bool scope_added = false;
  if (!identity::ScopeAllows(*agent, credential)) {
    std::vector<std::string> scopes = agent->scopes;
    scopes.push_back(credential);
    auto updated = identity_.SetScopes(agent->id, scopes);
    if (!updated.ok()) return IdentityFail(updated.status());
    scope_added = true;
  }
  auto issued = identity_.AssignToken(agent->id, credential, expires_at);
  if (!issued.ok()) return WithAudit(IdentityFail(issued.status()), {credential, std::nullopt, "agent " + agent->name});
  json::Json out = json::MakeObject();
  // The token's only copy leaves in this reply, over the owner's socket; keycelld keeps
  // its hash. Never logged: the log line names the credential only.
  (void)json::SetString(out.get(), "token",
                        std::string_view(reinterpret_cast<const char*>(issued->token.data()), issued->token.size()));
  (void)json::SetString(out.get(), "prefix", issued->prefix);
  (void)json::SetString(out.get(), "agent", agent->name);
  (void)json::SetString(out.get(), "credential", credential);
  SetOptionalTime(out.get(), "expires_at", expires_at);
  (void)json::SetString(out.get(), "replaced_prefix", issued->replaced_prefix);
  (void)json::SetBool(out.get(), "scope_added", scope_added);
  return WithAudit(Ok(std::move(out)), {credential, std::nullopt, "agent " + agent->name + " token " + issued->prefix});
}

OpResult Vault::OpTokensList(const identity::Principal&, const cJSON* args, UniqueFd) {
  auto tokens = identity_.ListTokens(json::GetBool(args, "all").value_or(false));
  if (!tokens.ok()) return IdentityFail(tokens.status());
  json::Json out = json::MakeArray();
  for (const identity::TokenInfo& t : *tokens) (void)json::Append(out.get(), TokenToJson(t));
  return Ok(std::move(out));
}

OpResult Vault::OpTokensRevoke(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string prefix = RequiredString(args, "prefix");
  if (Status st = identity_.RevokeToken(prefix); !st.ok()) return IdentityFail(st);
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "revoked", prefix);
  return WithAudit(Ok(std::move(out)), {"", std::nullopt, "token " + prefix});
}

}  // namespace keycell::broker::daemon

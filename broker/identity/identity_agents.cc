// IdentityStore: opening, agents and their scopes.
#include <algorithm>

#include "broker/identity/identity_internal.h"
#include "broker/identity/identity_store.h"

namespace keycell::broker::identity {

using store::Db;
using store::Statement;
using store::Transaction;

namespace internal {

Result<std::vector<std::string>> NormalizeScopes(const std::vector<std::string>& scopes) {
  if (scopes.size() > kMaxScopesPerAgent)
    return Status(Err::kTooLarge, "identity: too many scopes");
  for (const std::string& s : scopes) KC_RETURN_IF_ERROR(ValidateScopePattern(s));
  std::vector<std::string> out = scopes;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string joined;
  for (const std::string& s : scopes) {
    if (!joined.empty()) joined.push_back('\n');
    joined += s;
  }
  return joined;
}

std::vector<std::string> SplitScopes(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const size_t nl = joined.find('\n');
    out.emplace_back(joined.substr(0, nl));
    if (nl == std::string_view::npos) break;
    joined.remove_prefix(nl + 1);
  }
  return out;
}

Result<Agent> ReadAgent(const Db& db, std::string_view agent) {
  const bool by_id = agent.starts_with(kAgentIdPrefix);
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db,
                         by_id ? "SELECT id, name, created_at, scopes FROM agents WHERE id = ?1"
                               : "SELECT id, name, created_at, scopes FROM agents WHERE name = ?1",
                         "identity: read agent"));
  st.Bind(1, agent);
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kUnknownKey, kNoSuchAgent);
  return Agent{st.Text(0), st.Text(1), st.Int(2), SplitScopes(st.Text(3))};
}

Result<NewBearer> NewUniqueBearer(const Db& db, std::string_view kind_prefix,
                                  const char* prefix_taken_sql) {
  KC_ASSIGN_OR_RETURN(Statement taken,
                      Statement::Prepare(db, prefix_taken_sql, "identity: check prefix"));
  for (int attempt = 0; attempt < 3; ++attempt) {
    KC_ASSIGN_OR_RETURN(SecureBuffer secret, NewSecret(kind_prefix));
    // The shown prefix is the non-secret head of the secret; copying it out is fine.
    std::string prefix(reinterpret_cast<const char*>(secret.data()), kShownPrefixChars);
    taken.Reset();
    taken.Bind(1, prefix);
    KC_ASSIGN_OR_RETURN(bool exists, taken.Step());
    if (exists) continue;
    NewBearer b{std::move(secret), std::move(prefix), {}};
    b.hash = Sha256(b.secret.view().bytes());
    return b;
  }
  return Status(Err::kInternal, "identity: secret prefix collided three times");
}

}  // namespace internal

Result<std::unique_ptr<IdentityStore>> IdentityStore::Open(const std::string& path,
                                                           const Clock& clock) {
  KC_ASSIGN_OR_RETURN(Db db, OpenIdentityDb(path, clock.UnixSeconds()));
  return std::unique_ptr<IdentityStore>(new IdentityStore(std::move(db), clock));
}

Result<Agent> IdentityStore::CreateAgent(std::string_view name,
                                         const std::vector<std::string>& scopes) {
  KC_RETURN_IF_ERROR(ValidateAgentName(name));
  KC_ASSIGN_OR_RETURN(std::vector<std::string> normal, internal::NormalizeScopes(scopes));
  KC_ASSIGN_OR_RETURN(std::string id, NewAgentId());
  Agent agent{std::move(id), std::string(name), clock_.UnixSeconds(), std::move(normal)};
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  // Checked explicitly so a duplicate has its own error, not an opaque UNIQUE failure.
  Result<Agent> existing = internal::ReadAgent(db_, name);
  if (existing.ok()) return Status(Err::kInvalidArgument, kAgentExists);
  if (existing.status().code() != Err::kUnknownKey) return existing.status();
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
                                                       "INSERT INTO agents (id, name, created_at, "
                                                       "scopes) VALUES (?1, ?2, ?3, ?4)",
                                                       "identity: insert agent"));
  st.Bind(1, agent.id);
  st.Bind(2, agent.name);
  st.Bind(3, agent.created_at);
  st.Bind(4, internal::JoinScopes(agent.scopes));
  KC_RETURN_IF_ERROR(st.Run());
  KC_RETURN_IF_ERROR(tx.Commit());
  return agent;
}

Result<std::vector<Agent>> IdentityStore::ListAgents() {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db_, "SELECT id, name, created_at, scopes FROM agents ORDER BY name",
                         "identity: list agents"));
  std::vector<Agent> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(Agent{st.Text(0), st.Text(1), st.Int(2), internal::SplitScopes(st.Text(3))});
  }
  return out;
}

Result<Agent> IdentityStore::GetAgent(std::string_view agent) {
  std::lock_guard<std::mutex> lock(mu_);
  return internal::ReadAgent(db_, agent);
}

Status IdentityStore::DeleteAgent(std::string_view agent) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Agent a, internal::ReadAgent(db_, agent));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "DELETE FROM agents WHERE id = ?1",
                                                       "identity: delete agent"));
  st.Bind(1, a.id);
  KC_RETURN_IF_ERROR(st.Run());  // tokens and bound keys go by ON DELETE CASCADE
  return tx.Commit();
}

Result<Agent> IdentityStore::SetScopes(std::string_view agent,
                                       const std::vector<std::string>& scopes) {
  KC_ASSIGN_OR_RETURN(std::vector<std::string> normal, internal::NormalizeScopes(scopes));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Agent a, internal::ReadAgent(db_, agent));
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db_, "UPDATE agents SET scopes = ?2 WHERE id = ?1",
                                         "identity: set scopes"));
  st.Bind(1, a.id);
  st.Bind(2, internal::JoinScopes(normal));
  KC_RETURN_IF_ERROR(st.Run());
  KC_RETURN_IF_ERROR(tx.Commit());
  a.scopes = std::move(normal);
  return a;
}

}  // namespace keycell::broker::identity

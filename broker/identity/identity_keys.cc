// IdentityStore: kc_ API keys (the MCP Key Manager's create/list/view/revoke/delete).
#include "broker/identity/identity_internal.h"
#include "broker/identity/identity_store.h"

namespace keycell::broker::identity {

using store::Db;
using store::Statement;
using store::Transaction;

namespace {

constexpr char kKeyPrefixTaken[] = "SELECT 1 FROM api_keys WHERE prefix = ?1";
constexpr int64_t kSecondsPerDay = 86400;

constexpr char kSelectKeys[] = R"sql(
    SELECT k.id, k.name, k.description, k.role, k.agent_id, a.name, k.prefix, k.created_at,
           k.last_used_at, k.expires_at, k.revoked_at
      FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id )sql";

Result<ApiKeyInfo> ReadKeyRow(const Statement& st) {
  ApiKeyInfo k;
  k.id = st.Text(0);
  k.name = st.Text(1);
  k.description = st.Text(2);
  KC_ASSIGN_OR_RETURN(k.role, ParseRole(st.Text(3)));
  k.agent_id = st.Text(4);
  k.agent_name = st.Text(5);
  k.prefix = st.Text(6);
  k.created_at = st.Int(7);
  k.last_used_at = st.OptionalInt(8);
  k.expires_at = st.OptionalInt(9);
  k.revoked_at = st.OptionalInt(10);
  return k;
}

// A fresh 16-hex id not in use (64 bits: a repeat is practically impossible, but cheap
// to rule out under the write lock).
Result<std::string> NewUnusedKeyId(const Db& db) {
  KC_ASSIGN_OR_RETURN(
      Statement taken,
      Statement::Prepare(db, "SELECT 1 FROM api_keys WHERE id = ?1", "identity: check key id"));
  for (int attempt = 0; attempt < 3; ++attempt) {
    KC_ASSIGN_OR_RETURN(std::string id, NewApiKeyId());
    taken.Reset();
    taken.Bind(1, id);
    KC_ASSIGN_OR_RETURN(bool exists, taken.Step());
    if (!exists) return id;
  }
  return Status(Err::kInternal, "identity: api key id collided three times");
}

Status InsertKey(const Db& db, const ApiKeySpec& spec, const std::string& id,
                 const std::string& agent_id, const internal::NewBearer& b, int64_t now) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      INSERT INTO api_keys (id, name, description, role, agent_id, prefix, hash, created_at,
                            expires_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql",
                                                       "identity: insert api key"));
  st.Bind(1, id);
  st.Bind(2, spec.name);
  st.Bind(3, spec.description);
  st.Bind(4, std::string_view(RoleName(spec.role)));
  if (agent_id.empty()) {
    st.BindNull(5);
  } else {
    st.Bind(5, agent_id);
  }
  st.Bind(6, b.prefix);
  st.BindBlob(7, ByteView(b.hash.data(), b.hash.size()));
  st.Bind(8, now);
  st.Bind(9, spec.expires_in_days == 0
                 ? std::nullopt
                 : std::optional<int64_t>(now + spec.expires_in_days * kSecondsPerDay));
  return st.Run();
}

}  // namespace

Result<IssuedKey> IdentityStore::CreateApiKey(const ApiKeySpec& spec) {
  KC_RETURN_IF_ERROR(ValidateApiKeySpec(spec));
  const int64_t now = clock_.UnixSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  std::string agent_id;
  if (!spec.agent.empty()) {
    KC_ASSIGN_OR_RETURN(Agent a, internal::ReadAgent(db_, spec.agent));
    agent_id = std::move(a.id);
  }
  KC_ASSIGN_OR_RETURN(std::string id, NewUnusedKeyId(db_));
  KC_ASSIGN_OR_RETURN(internal::NewBearer b,
                      internal::NewUniqueBearer(db_, kApiKeyPrefix, kKeyPrefixTaken));
  KC_RETURN_IF_ERROR(InsertKey(db_, spec, id, agent_id, b, now));
  KC_RETURN_IF_ERROR(tx.Commit());
  return IssuedKey{std::move(id), std::move(b.prefix), std::move(b.secret)};
}

Result<std::vector<ApiKeyInfo>> IdentityStore::ListApiKeys(bool active_only) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db_,
                         std::string(kSelectKeys) +
                             "WHERE NOT ?1 OR (k.revoked_at IS NULL AND (k.expires_at IS NULL "
                             "OR k.expires_at > ?2)) ORDER BY k.created_at DESC, k.id",
                         "identity: list api keys"));
  st.Bind(1, int64_t{active_only ? 1 : 0});
  st.Bind(2, clock_.UnixSeconds());
  std::vector<ApiKeyInfo> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    KC_ASSIGN_OR_RETURN(ApiKeyInfo k, ReadKeyRow(st));
    out.push_back(std::move(k));
  }
  return out;
}

Result<ApiKeyInfo> IdentityStore::ViewApiKey(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db_, std::string(kSelectKeys) + "WHERE k.id = ?1",
                                         "identity: view api key"));
  st.Bind(1, id);
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kUnknownKey, kNoSuchApiKey);
  return ReadKeyRow(st);
}

Status IdentityStore::RevokeApiKey(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, R"sql(
      UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1)sql",
                                                       "identity: revoke api key"));
  st.Bind(1, id);
  st.Bind(2, clock_.UnixSeconds());
  KC_RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchApiKey);
  return tx.Commit();
}

Status IdentityStore::DeleteApiKey(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "DELETE FROM api_keys WHERE id = ?1",
                                                       "identity: delete api key"));
  st.Bind(1, id);
  KC_RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchApiKey);
  return tx.Commit();
}

}  // namespace keycell::broker::identity

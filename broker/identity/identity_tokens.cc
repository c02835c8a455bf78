// IdentityStore: pxr_ proxy tokens, one live token per agent-credential pair.
#include "broker/identity/authz.h"
#include "broker/identity/identity_internal.h"
#include "broker/identity/identity_store.h"

namespace keycell::broker::identity {

using store::Db;
using store::Statement;
using store::Transaction;

namespace {

constexpr char kTokenPrefixTaken[] = "SELECT 1 FROM proxy_tokens WHERE prefix = ?1";

// Revokes the live token of (agent, credential), if there is one, and returns its prefix
// ("" if none). Runs inside the caller's transaction, so rotation is atomic: there is no
// moment with two live tokens or with none.
Result<std::string> RevokeLivePair(const Db& db, const std::string& agent_id,
                                   std::string_view credential, int64_t now) {
  KC_ASSIGN_OR_RETURN(Statement find, Statement::Prepare(db, R"sql(
      SELECT id, prefix FROM proxy_tokens
       WHERE agent_id = ?1 AND credential = ?2 AND revoked_at IS NULL)sql",
                                                         "identity: find live token"));
  find.Bind(1, agent_id);
  find.Bind(2, credential);
  KC_ASSIGN_OR_RETURN(bool row, find.Step());
  if (!row) return std::string();
  const int64_t id = find.Int(0);
  std::string prefix = find.Text(1);
  KC_ASSIGN_OR_RETURN(
      Statement upd, Statement::Prepare(db, "UPDATE proxy_tokens SET revoked_at = ?2 WHERE id = ?1",
                                        "identity: rotate token"));
  upd.Bind(1, id);
  upd.Bind(2, now);
  KC_RETURN_IF_ERROR(upd.Run());
  return prefix;
}

Status InsertToken(const Db& db, const internal::NewBearer& b, const std::string& agent_id,
                   std::string_view credential, int64_t now, std::optional<int64_t> expires_at) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      INSERT INTO proxy_tokens (prefix, hash, agent_id, credential, created_at, expires_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql",
                                                       "identity: insert token"));
  st.Bind(1, b.prefix);
  st.BindBlob(2, ByteView(b.hash.data(), b.hash.size()));
  st.Bind(3, agent_id);
  st.Bind(4, credential);
  st.Bind(5, now);
  st.Bind(6, expires_at);
  return st.Run();
}

TokenInfo ReadTokenRow(const Statement& st) {
  TokenInfo t;
  t.prefix = st.Text(0);
  t.agent_id = st.Text(1);
  t.agent_name = st.Text(2);
  t.credential = st.Text(3);
  t.created_at = st.Int(4);
  t.last_used_at = st.OptionalInt(5);
  t.expires_at = st.OptionalInt(6);
  t.revoked_at = st.OptionalInt(7);
  return t;
}

}  // namespace

Result<IssuedToken> IdentityStore::AssignToken(std::string_view agent, std::string_view credential,
                                               std::optional<int64_t> expires_at) {
  KC_RETURN_IF_ERROR(ValidateCredentialName(credential));
  const int64_t now = clock_.UnixSeconds();
  if (expires_at && *expires_at <= now)
    return Status(Err::kInvalidArgument, "identity: token expiry is not in the future");
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Agent a, internal::ReadAgent(db_, agent));
  if (!ScopeAllows(a, credential)) return Status(Err::kPolicyDenied, kOutsideScope);
  KC_ASSIGN_OR_RETURN(std::string replaced, RevokeLivePair(db_, a.id, credential, now));
  KC_ASSIGN_OR_RETURN(internal::NewBearer b,
                      internal::NewUniqueBearer(db_, kTokenPrefix, kTokenPrefixTaken));
  KC_RETURN_IF_ERROR(InsertToken(db_, b, a.id, credential, now, expires_at));
  KC_RETURN_IF_ERROR(tx.Commit());
  return IssuedToken{std::move(b.prefix), std::move(b.secret), std::move(replaced)};
}

Result<std::vector<TokenInfo>> IdentityStore::ListTokens(bool include_revoked) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, R"sql(
      SELECT t.prefix, t.agent_id, a.name, t.credential, t.created_at, t.last_used_at,
             t.expires_at, t.revoked_at
        FROM proxy_tokens t JOIN agents a ON a.id = t.agent_id
       WHERE ?1 OR t.revoked_at IS NULL
       ORDER BY a.name, t.credential, t.created_at, t.id)sql",
                                                       "identity: list tokens"));
  st.Bind(1, int64_t{include_revoked ? 1 : 0});
  std::vector<TokenInfo> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadTokenRow(st));
  }
  return out;
}

Status IdentityStore::RevokeToken(std::string_view prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, R"sql(
      UPDATE proxy_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE prefix = ?1)sql",
                                                       "identity: revoke token"));
  st.Bind(1, prefix);
  st.Bind(2, clock_.UnixSeconds());
  KC_RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchToken);
  return tx.Commit();
}

}  // namespace keycell::broker::identity

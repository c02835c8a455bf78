#pragma once
// keycelld's identity registry: agents and their credential scopes, pxr_ proxy tokens,
// kc_ API keys, and AuthenticateBearer(), in <data_dir>/identity.db (identity_db.h).
// Secrets are returned once, in a SecureBuffer, by AssignToken/CreateApiKey; only their
// SHA-256 is stored. Verification looks the row up by the secret's 12-character prefix
// (a UNIQUE index) and compares SHA-256(presented) with the stored hash in constant time.
//
// Revocation applies to the next call: nothing is cached, every AuthenticateBearer reads
// the row (and the agent's scopes) under the same mutex the writers take, so once
// RevokeToken/RevokeApiKey/DeleteAgent has returned, no later authentication succeeds.
//
// Thread-safety: one IdentityStore is one SQLite connection behind a mutex; share it.
// Blocking: every method blocks on file I/O (writes fsync, synchronous=FULL) and for up
// to kIdentityBusyTimeoutMs on another connection's write lock.
//
// Errors every method can return besides those listed: kTimeout, kInternal, kNoMem
// (SQLite, detail = extended result code), kInvalidArgument/kTooLarge for a malformed
// argument (see the Validate* functions of types.h).

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/identity/clock.h"
#include "broker/identity/identity_db.h"
#include "broker/identity/types.h"
#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::identity {

class IdentityStore {
 public:
  // Opens (creating if needed) the identity database at `path`. `clock` must outlive
  // the store. Errors: see OpenIdentityDb().
  static Result<std::unique_ptr<IdentityStore>> Open(const std::string& path,
                                                     const Clock& clock = SystemClock());

  IdentityStore(const IdentityStore&) = delete;
  IdentityStore& operator=(const IdentityStore&) = delete;

  // ---- Agents. `agent` arguments take a name or an id (agt_...).
  // New agent with `scopes` (validated, sorted, deduplicated). No scopes = no credential
  // may be used through it until SetScopes. Errors: kInvalidArgument + kAgentExists.
  Result<Agent> CreateAgent(std::string_view name, const std::vector<std::string>& scopes = {});
  Result<std::vector<Agent>> ListAgents();  // ordered by name
  // Errors: kUnknownKey + kNoSuchAgent (also for the other agent methods).
  Result<Agent> GetAgent(std::string_view agent);
  // Deletes the agent, its proxy tokens and the API keys bound to it (ON DELETE CASCADE):
  // they authenticate as kUnknown afterwards.
  Status DeleteAgent(std::string_view agent);
  // Replaces the scopes. Applies to the next request of every token and key of the agent.
  Result<Agent> SetScopes(std::string_view agent, const std::vector<std::string>& scopes);

  // ---- Proxy tokens (pxr_).
  // Issues the token for (agent, credential). One live token per pair: if one exists it
  // is revoked in the same transaction (rotation; IssuedToken::replaced_prefix names it).
  // `expires_at` (unix seconds) must be in the future. The credential must be inside the
  // agent's scopes (kPolicyDenied + kOutsideScope), so a token is never issued dead. The
  // credential's existence is the caller's (daemon's) check.
  Result<IssuedToken> AssignToken(std::string_view agent, std::string_view credential,
                                  std::optional<int64_t> expires_at = std::nullopt);
  // Ordered by agent name, credential, creation. Revoked tokens only if asked.
  Result<std::vector<TokenInfo>> ListTokens(bool include_revoked = false);
  // Errors: kUnknownKey + kNoSuchToken. Revoking a revoked token is ok (no change).
  Status RevokeToken(std::string_view prefix);

  // ---- API keys (kc_).
  // expires_in_days 0 = never. Errors: kNoSuchAgent for spec.agent. Whether the caller
  // may grant spec.role is the caller's check (CanGrant in authz.h).
  Result<IssuedKey> CreateApiKey(const ApiKeySpec& spec);
  // Newest first. active_only: not revoked and not expired now.
  Result<std::vector<ApiKeyInfo>> ListApiKeys(bool active_only = false);
  // Errors: kUnknownKey + kNoSuchApiKey (also for revoke and delete).
  Result<ApiKeyInfo> ViewApiKey(std::string_view id);
  Status RevokeApiKey(std::string_view id);  // revoking twice is ok (no change)
  Status DeleteApiKey(std::string_view id);  // the row goes; the key becomes kUnknown

  // ---- Authentication. `presented` is the bearer value (pxr_... or kc_...), never kept.
  // Errors (all map to HTTP 401; RefusalOf() classifies them):
  //   kInvalidArgument + kMalformedBearer  not pxr_/kc_ + 43 base62 characters
  //   kUnknownKey + kUnknownBearer    no such prefix, or the hash differs
  //   kPolicyDenied + kBearerRevoked   revoked (checked before expiry)
  //   kPolicyDenied + kBearerExpired   now >= expires_at
  // On success last_used_at is updated, at most once per kLastUsedGranularitySeconds.
  Result<Principal> AuthenticateBearer(std::string_view presented);

  // The principal `p` as the database says it is now: an agent's current scopes, its
  // token or key still live. For a session that outlives one authentication (an MCP
  // session: stdio or HTTP) so that revocation and scope changes apply to its next call.
  // The owner is returned as is. Errors: those of AuthenticateBearer except
  // kMalformedBearer (kUnknownBearer when the token, key or its agent was deleted).
  Result<Principal> Reload(const Principal& p);

  int schema_version() const { return kIdentitySchemaVersion; }

 private:
  IdentityStore(store::Db db, const Clock& clock) : db_(std::move(db)), clock_(clock) {}

  std::mutex mu_;
  store::Db db_;  // guarded by mu_
  const Clock& clock_;
};

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive,
// spaces after it skipped), or nullopt if the value is not a Bearer credential. An
// X-API-Key header value is passed to AuthenticateBearer as it is.
std::optional<std::string_view> BearerFromAuthorization(std::string_view header_value);

}  // namespace keycell::broker::identity

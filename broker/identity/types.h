#pragma once
// Who is asking: agents, proxy tokens (pxr_), API keys (kc_), roles, principals, and the
// error `where` strings callers compare against. See docs/identity.md.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::broker::identity {

// Ordered by power: a principal may grant a role only up to its own (CanGrant).
enum class Role : uint8_t { kMember = 0, kAdmin = 1, kOwner = 2 };

const char* RoleName(Role r);  // "member", "admin", "owner"
// Errors: kInvalidArgument + "identity: unknown role".
Result<Role> ParseRole(std::string_view name);

// How a request authenticated. kOwner is the control socket's peer (same uid).
enum class PrincipalKind : uint8_t { kToken, kApiKey, kOwner };
const char* PrincipalKindName(PrincipalKind k);  // "token", "apikey", "owner"

// Formats and limits. A secret is a prefix plus 43 base62 characters (256 bits).
inline constexpr std::string_view kTokenPrefix = "pxr_";
inline constexpr std::string_view kApiKeyPrefix = "kc_";
inline constexpr std::string_view kAgentIdPrefix = "agt_";
inline constexpr size_t kSecretBase62Chars = 43;   // ceil(256 / log2(62))
inline constexpr size_t kShownPrefixChars = 12;    // "pxr_AbCdEfGh": listed, not secret
inline constexpr size_t kAgentIdBase62Chars = 16;  // ~95 bits: unique, not secret
inline constexpr size_t kApiKeyIdHexChars = 16;    // like the MCP Key Manager's ids
inline constexpr size_t kMaxAgentNameBytes = 64;
inline constexpr size_t kMaxCredentialNameBytes = 128;  // the store's limit
inline constexpr size_t kMaxScopePatternBytes = 128;
inline constexpr size_t kMaxScopesPerAgent = 64;
inline constexpr size_t kMaxApiKeyNameBytes = 128;
inline constexpr size_t kMaxApiKeyDescriptionBytes = 1024;
inline constexpr int64_t kDefaultApiKeyDays = 90;  // the MCP Key Manager's default
inline constexpr int64_t kMaxApiKeyDays = 3650;
inline constexpr int64_t kLastUsedGranularitySeconds = 1;  // at most one write per token/s

struct Agent {
  std::string id;    // agt_<16 base62>
  std::string name;  // [A-Za-z0-9._-], 1..64, starts alphanumeric, never "agt_..."
  int64_t created_at = 0;
  std::vector<std::string> scopes;  // credential-name patterns, sorted, unique
};

struct TokenInfo {
  std::string prefix;  // first kShownPrefixChars of the token
  std::string agent_id;
  std::string agent_name;
  std::string credential;
  int64_t created_at = 0;
  std::optional<int64_t> last_used_at;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> revoked_at;
};

struct ApiKeyInfo {
  std::string id;  // 16 lower-case hex
  std::string name;
  std::string description;
  Role role = Role::kMember;
  std::string agent_id;  // empty: not bound to an agent
  std::string agent_name;
  std::string prefix;  // first kShownPrefixChars of the key
  int64_t created_at = 0;
  std::optional<int64_t> last_used_at;
  std::optional<int64_t> expires_at;  // nullopt = never
  std::optional<int64_t> revoked_at;
  bool ActiveAt(int64_t now) const { return !revoked_at && (!expires_at || now < *expires_at); }
};

struct ApiKeySpec {
  std::string name;
  std::string description;
  int64_t expires_in_days = kDefaultApiKeyDays;  // 0 = never
  Role role = Role::kMember;                     // least privilege unless asked
  std::string agent;                             // name or id; empty = none
};

// A freshly made secret. `token`/`key` is the only copy that will ever exist: show it
// once, then let it be wiped. Only its SHA-256 is stored.
struct IssuedToken {
  std::string prefix;
  SecureBuffer token;
  std::string replaced_prefix;  // the token this one rotated out; empty if none
};
struct IssuedKey {
  std::string id;
  std::string prefix;
  SecureBuffer key;
};

// The authenticated caller of one request. Built fresh from the database per request,
// so revocation and scope changes apply to the next request.
struct Principal {
  PrincipalKind kind = PrincipalKind::kOwner;
  Role role = Role::kMember;
  std::string id;        // token prefix, API key id, or "uid:<n>" for the owner
  std::string agent_id;  // set when acting as an agent (pxr_, or a key bound to one)
  std::string agent_name;
  std::vector<std::string> scopes;  // the agent's scopes; meaningful only with agent_id
  std::string credential;           // pxr_ only: the one credential the token is bound to
  bool acts_as_agent() const { return !agent_id.empty(); }
};

// The control socket's peer: same uid as keycelld, so it is the workspace owner.
Principal OwnerPrincipal(uint32_t uid);

// The rate-limit bucket of a principal: an agent's tokens and the keys bound to it share
// "agent:<id>"; an unbound key is "apikey:<id>"; the owner is "owner".
std::string RateLimitKey(const Principal& p);

// `where` strings of authentication refusals (RefusalOf() classifies them): distinct
// reasons for logs and audit; an HTTP front end answers 401 for all of them alike.
// Codes: kInvalidArgument, kUnknownKey, kPolicyDenied, kPolicyDenied.
inline constexpr const char kMalformedBearer[] = "identity: malformed bearer token";
inline constexpr const char kUnknownBearer[] = "identity: unknown token or key";
inline constexpr const char kBearerExpired[] = "identity: token or key expired";
inline constexpr const char kBearerRevoked[] = "identity: token or key revoked";
// Lookups by name/id/prefix (kUnknownKey).
inline constexpr const char kNoSuchAgent[] = "identity: no such agent";
inline constexpr const char kNoSuchToken[] = "identity: no such token";
inline constexpr const char kNoSuchApiKey[] = "identity: no such api key";
inline constexpr const char kAgentExists[] = "identity: agent name exists";  // kInvalidArgument
// Authorization (kPolicyDenied).
inline constexpr const char kRoleDenied[] = "identity: role does not allow this action";
inline constexpr const char kOutsideScope[] = "identity: credential outside the agent's scopes";
inline constexpr const char kTokenOnlyUses[] =
    "identity: a proxy token may only use its credential";
inline constexpr const char kTokenBound[] = "identity: proxy token is bound to another credential";

enum class AuthRefusal : uint8_t { kNone, kMalformed, kUnknown, kExpired, kRevoked, kOther };
// Classifies an AuthenticateBearer failure (kNone for ok).
AuthRefusal RefusalOf(const Status& s);

// Validation (kInvalidArgument, or kTooLarge for lengths).
Status ValidateAgentName(std::string_view name);
Status ValidateCredentialName(std::string_view name);  // the store's rules
Status ValidateScopePattern(std::string_view pattern);
Status ValidateApiKeySpec(const ApiKeySpec& spec);

}  // namespace keycell::broker::identity

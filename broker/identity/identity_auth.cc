// IdentityStore::AuthenticateBearer: prefix lookup, constant-time hash compare, refusal
// reasons, last-used bookkeeping.
#include "broker/identity/identity_internal.h"
#include "broker/identity/identity_store.h"

namespace keycell::broker::identity {

using store::Db;
using store::Statement;

namespace {

enum class BearerKind { kToken, kApiKey };

// Shape check only: "<pxr_|kc_><43 base62>". Nothing about the value is logged or kept.
std::optional<BearerKind> ClassifyBearer(std::string_view s) {
  BearerKind kind;
  size_t head;
  if (s.starts_with(kTokenPrefix)) {
    kind = BearerKind::kToken;
    head = kTokenPrefix.size();
  } else if (s.starts_with(kApiKeyPrefix)) {
    kind = BearerKind::kApiKey;
    head = kApiKeyPrefix.size();
  } else {
    return std::nullopt;
  }
  if (s.size() != head + kSecretBase62Chars) return std::nullopt;
  for (char c : s.substr(head)) {
    if (!IsBase62(c)) return std::nullopt;
  }
  return kind;
}

// Both lookups return hash, expires_at, revoked_at, last_used_at in columns 0-3, then
// what the principal is built from. The prefix is a UNIQUE index: one B-tree probe.
constexpr char kSelectToken[] = R"sql(
    SELECT t.hash, t.expires_at, t.revoked_at, t.last_used_at,
           t.credential, a.id, a.name, a.scopes
      FROM proxy_tokens t JOIN agents a ON a.id = t.agent_id
     WHERE t.prefix = ?1)sql";
constexpr char kSelectKey[] = R"sql(
    SELECT k.hash, k.expires_at, k.revoked_at, k.last_used_at,
           k.role, k.id, a.id, a.name, a.scopes
      FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id
     WHERE k.prefix = ?1)sql";
// Reload looks a token up by its prefix, as kSelectToken does, and an API key by the id a
// Principal keeps: kSelectKey's columns with another WHERE.
constexpr char kReloadKey[] = R"sql(
    SELECT k.hash, k.expires_at, k.revoked_at, k.last_used_at,
           k.role, k.id, a.id, a.name, a.scopes
      FROM api_keys k LEFT JOIN agents a ON a.id = k.agent_id
     WHERE k.id = ?1)sql";
constexpr char kTouchToken[] = "UPDATE proxy_tokens SET last_used_at = ?2 WHERE prefix = ?1";
constexpr char kTouchKey[] = "UPDATE api_keys SET last_used_at = ?2 WHERE prefix = ?1";

Result<Principal> PrincipalFromRow(BearerKind kind, const Statement& st, std::string prefix) {
  Principal p;
  if (kind == BearerKind::kToken) {
    // A pxr_ token is a capability for one credential; its role only admits kUse.
    p.kind = PrincipalKind::kToken;
    p.role = Role::kMember;
    p.id = std::move(prefix);
    p.credential = st.Text(4);
    p.agent_id = st.Text(5);
    p.agent_name = st.Text(6);
    p.scopes = internal::SplitScopes(st.Text(7));
    return p;
  }
  p.kind = PrincipalKind::kApiKey;
  KC_ASSIGN_OR_RETURN(p.role, ParseRole(st.Text(4)));
  p.id = st.Text(5);
  p.agent_id = st.Text(6);  // "" (NULL) when the key is not bound to an agent
  p.agent_name = st.Text(7);
  p.scopes = internal::SplitScopes(st.Text(8));
  return p;
}

// Refusal order: revoked before expired, so a revoked-and-expired secret reports the
// deliberate act. Both are only reported after the hash matched: without the secret,
// a caller learns nothing about a prefix.
Status CheckLive(const Statement& st, int64_t now) {
  if (!st.IsNull(2)) return Status(Err::kPolicyDenied, kBearerRevoked);
  const std::optional<int64_t> expires_at = st.OptionalInt(1);
  if (expires_at && now >= *expires_at) return Status(Err::kPolicyDenied, kBearerExpired);
  return Status::Ok();
}

// Best effort: last_used_at is informational, so a failed write (another process holding
// the lock past the busy timeout) does not refuse an authenticated request.
void TouchLastUsed(const Db& db, BearerKind kind, const std::string& prefix, int64_t now) {
  Result<Statement> st = Statement::Prepare(
      db, kind == BearerKind::kToken ? kTouchToken : kTouchKey, "identity: touch last_used_at");
  if (!st.ok()) return;
  st->Bind(1, prefix);
  st->Bind(2, now);
  (void)st->Run();
}

}  // namespace

Result<Principal> IdentityStore::AuthenticateBearer(std::string_view presented) {
  const std::optional<BearerKind> kind = ClassifyBearer(presented);
  if (!kind) return Status(Err::kInvalidArgument, kMalformedBearer);
  std::string prefix(presented.substr(0, kShownPrefixChars));
  const Sha256Digest presented_hash = Sha256(AsBytes(presented));
  const int64_t now = clock_.UnixSeconds();

  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(
      Statement st, Statement::Prepare(db_, *kind == BearerKind::kToken ? kSelectToken : kSelectKey,
                                       "identity: look up bearer"));
  st.Bind(1, prefix);
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kUnknownKey, kUnknownBearer);
  const std::vector<uint8_t> stored = st.Blob(0);
  if (!ConstantTimeEqual(ByteView(presented_hash.data(), presented_hash.size()), ByteView(stored)))
    return Status(Err::kUnknownKey, kUnknownBearer);
  KC_RETURN_IF_ERROR(CheckLive(st, now));
  const std::optional<int64_t> last_used = st.OptionalInt(3);
  KC_ASSIGN_OR_RETURN(Principal p, PrincipalFromRow(*kind, st, prefix));
  st.Reset();  // end the read before writing on the same connection
  if (!last_used || now - *last_used >= kLastUsedGranularitySeconds)
    TouchLastUsed(db_, *kind, prefix, now);
  return p;
}

Result<Principal> IdentityStore::Reload(const Principal& p) {
  if (p.kind == PrincipalKind::kOwner) return p;
  const BearerKind kind = p.kind == PrincipalKind::kToken ? BearerKind::kToken : BearerKind::kApiKey;
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(
      Statement st, Statement::Prepare(db_, kind == BearerKind::kToken ? kSelectToken : kReloadKey,
                                       "identity: reload principal"));
  st.Bind(1, p.id);
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kUnknownKey, kUnknownBearer);
  KC_RETURN_IF_ERROR(CheckLive(st, clock_.UnixSeconds()));
  // An API key's principal is rebuilt from the row; a token's prefix is its id.
  return PrincipalFromRow(kind, st, p.id);
}

std::optional<std::string_view> BearerFromAuthorization(std::string_view v) {
  constexpr std::string_view kScheme = "bearer";
  if (v.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = v[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i])
      return std::nullopt;
  }
  v.remove_prefix(kScheme.size());
  if (v.front() != ' ') return std::nullopt;  // "Bearerx" is another scheme
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

}  // namespace keycell::broker::identity

#pragma once
// One audit record, its canonical encoding and its chain hash (docs/audit.md).
//
// A record says who did what to which credential, where, with what result and how long it
// took. It never holds a secret value, PIN or token: callers pass names, ids and token
// *prefixes* only. SanitizeEntry (sanitize.h) adds cheap guards on top of that rule.
//
// hash(record) = SHA-256(prev_hash || CanonicalV1(record)); the first record's prev_hash
// is 32 zero bytes. CanonicalV1 is an unambiguous, length-prefixed encoding of every
// field in a fixed order, so no two different records encode to the same bytes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::audit {

using Hash = std::array<uint8_t, 32>;

// Who acted. Stored as the lower-case names of ActorKindName().
enum class ActorKind {
  kUid,     // the control socket's peer (same uid): actor = the uid in decimal
  kAgent,   // an agent by name (proxy token or API key bound to it)
  kApiKey,  // an API key not bound to an agent: actor = the key's id
  kToken,   // a proxy token that did not resolve to an agent: actor = the token *prefix*
};

// "uid", "agent", "apikey", "token".
const char* ActorKindName(ActorKind kind);
// Inverse of ActorKindName; nullopt for anything else.
std::optional<ActorKind> ParseActorKind(std::string_view name);

// The action vocabulary the daemon uses (docs/audit.md lists what each one records).
// AuditLog only requires an action to match [a-z0-9._-]{1,64}; these keep names uniform.
namespace actions {
inline constexpr char kProxy[] = "proxy";
inline constexpr char kReveal[] = "reveal";
inline constexpr char kEnvWrite[] = "env.write";
inline constexpr char kRun[] = "run";
inline constexpr char kCredentialAdd[] = "credential.add";
inline constexpr char kCredentialRotate[] = "credential.rotate";
inline constexpr char kCredentialRollback[] = "credential.rollback";
inline constexpr char kCredentialDelete[] = "credential.delete";
inline constexpr char kTokenCreate[] = "token.create";
inline constexpr char kTokenRevoke[] = "token.revoke";
inline constexpr char kApiKeyCreate[] = "apikey.create";
inline constexpr char kApiKeyRevoke[] = "apikey.revoke";
inline constexpr char kApiKeyDelete[] = "apikey.delete";
inline constexpr char kAgentCreate[] = "agent.create";
inline constexpr char kAgentDelete[] = "agent.delete";
inline constexpr char kUnlock[] = "unlock";
inline constexpr char kLock[] = "lock";
inline constexpr char kAuthFail[] = "auth.fail";
}  // namespace actions

// What a caller hands to AuditLog::Append. Empty strings mean "not applicable"; version
// and status are absent (NULL) when they do not apply (e.g. unlock has neither).
struct Entry {
  std::string actor;
  ActorKind actor_kind = ActorKind::kUid;
  std::string action;              // [a-z0-9._-]{1,64}
  std::string credential;          // credential name, "" if none
  std::optional<int64_t> version;  // credential version (>= 1)
  std::string host;                // target host[:port], "" if none
  std::string path;                // target path; any ?query / #fragment is stripped
  std::string result;              // [a-z0-9._-]{0,32}: "ok", "denied", "error", ...
  std::optional<int64_t> status;   // HTTP status of the upstream answer (0..999)
  int64_t latency_us = 0;          // >= 0
  std::string detail;              // short free text (e.g. a reveal's purpose)
};

// A stored record: the entry plus its position, time and chain links.
struct Record : Entry {
  int64_t seq = 0;  // 1, 2, 3, ... without gaps
  int64_t ts = 0;   // unix seconds, set by AuditLog from its clock
  Hash prev_hash{};
  Hash hash{};
};

// The 8-byte tag that starts every CanonicalV1 encoding. A later format gets a new tag
// (and a column saying which format each row used), so old rows still verify.
inline constexpr char kCanonicalTagV1[] = "KCAUDv1\n";
inline constexpr char kCheckpointTagV1[] = "KCCKPv1\n";

// The canonical encoding of `r` (its prev_hash and hash are not part of it):
//   tag "KCAUDv1\n" (8 bytes)
//   i64 seq, i64 ts, str actor, str actor_kind, str action, str credential,
//   opt version, str host, str path, str result, opt status, i64 latency_us, str detail
// where i64 = 8 bytes big-endian two's complement; str = u32 big-endian byte length +
// bytes; opt = 0x00 (absent) or 0x01 followed by i64.
std::vector<uint8_t> CanonicalV1(const Record& r);

// SHA-256(prev_hash || CanonicalV1(r)) using r.prev_hash. Errors: kTls (mbedTLS failed).
Result<Hash> ComputeHash(const Record& r);

// SHA-256 of `data` (mbedTLS). Errors: kTls.
Result<Hash> Sha256(ByteView data);

// The bytes a checkpoint MAC covers: tag "KCCKPv1\n", i64 seq, i64 ts, head_hash (32).
// Binding seq and ts stops a valid MAC from being replayed onto another position.
std::vector<uint8_t> CheckpointMessage(int64_t seq, int64_t ts, const Hash& head_hash);

}  // namespace keycell::broker::audit

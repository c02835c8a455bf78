#pragma once
// Cheap guards applied to every Entry before it is hashed and stored.
//
// The real guarantee that the audit trail holds no value, PIN or token is that callers
// never pass one (they pass names, ids and token prefixes). These guards catch the usual
// accidents on top of that, and never make an audit write fail because of free text:
//   - path: the ?query and #fragment are cut off (query strings carry keys); userinfo in
//     an absolute-form target ("https://user:pw@host/...") is removed; so is userinfo in
//     host ("user:pw@host").
//   - every text field: a run that looks like a known secret format (keycell's own pxr_
//     tokens and kc_ API keys, common upstream key prefixes, "Bearer <token>") is replaced
//     by its prefix + "[redacted]"; control characters (C0, DEL) become '_', so a record
//     cannot forge extra lines in a terminal or log.
//   - lengths are capped (kMax*Bytes) by truncating at a UTF-8 boundary and appending
//     "..." — a long field is kept in part rather than losing the record.
// Fields a program chooses (action, result, actor_kind, version, status, latency) are
// validated instead: a bad one is a caller bug and is refused with kInvalidArgument.

#include <cstddef>
#include <string>
#include <string_view>

#include "broker/audit/record.h"
#include "common/result.h"

namespace keycell::broker::audit {

inline constexpr size_t kMaxActorBytes = 128;
inline constexpr size_t kMaxActionBytes = 64;
inline constexpr size_t kMaxCredentialBytes = 128;  // the store's name limit
inline constexpr size_t kMaxHostBytes = 262;        // 253-byte DNS name + ":65535" + slack
inline constexpr size_t kMaxPathBytes = 2048;
inline constexpr size_t kMaxResultBytes = 32;
inline constexpr size_t kMaxDetailBytes = 1024;

// Removes "?..." and "#..." and the userinfo of an absolute-form target.
std::string StripQuery(std::string_view path);

// Replaces runs that look like known secret formats with "<prefix>[redacted]".
std::string RedactSecrets(std::string_view text);

// Returns a copy of `in` with the guards above applied.
// Errors: kInvalidArgument ("audit: bad action", "audit: bad result", "audit: bad
// actor_kind", "audit: bad version", "audit: bad status", "audit: bad latency").
Result<Entry> SanitizeEntry(const Entry& in);

}  // namespace keycell::broker::audit

#pragma once
// Helpers shared by the store_*.cc files. Not part of the library's API. Every function
// runs on a connection the caller has locked (Store::mu_), usually inside a Transaction.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/store/sqlite.h"
#include "broker/store/types.h"
#include "common/result.h"

namespace keycell::broker::store::internal {

// What the optimistic checks compare: a credential's row id and version pointers.
struct Head {
  int64_t id = 0;
  std::string record_id;
  uint32_t current = 0;
  uint32_t latest = 0;
};

// Errors: kUnknownKey + kNoSuchCredential.
Result<Head> ReadHead(const Db& db, std::string_view name);

// True if `sql` (one `?1` text parameter) returns a row.
Result<bool> Exists(const Db& db, const char* sql, std::string_view arg, const char* where);

// Stores `v` for credential `head` if head still matches what the caller read
// (current == expected_current, latest + 1 == v.version), makes it current and sets
// rotated_at. Errors: kUnavailable + kConflict; constraint errors.
Status PushVersion(const Db& db, const Head& head, uint32_t expected_current,
                   const VersionWrite& v);

// INSERT of one credential_versions row.
Status InsertVersion(const Db& db, int64_t credential_id, const VersionWrite& v);

// Replaces the credential's tag set.
Status ReplaceTags(const Db& db, int64_t credential_id, const std::vector<std::string>& tags);

// Credentials matching `filter` (project already normalised), and optionally one `name`,
// ordered by name; tags and projects come from the same query.
Result<std::vector<Credential>> QueryCredentials(const Db& db, const CredentialFilter& filter,
                                                 const std::string* name);

// Errors: kUnknownKey + kNoSuchCredential.
Result<Credential> ReadCredential(const Db& db, std::string_view name);

// Splits a group_concat(..., char(31)) result and sorts it.
std::vector<std::string> SplitList(std::string_view joined);

}  // namespace keycell::broker::store::internal

#pragma once
// Helpers shared by the identity_*.cc files; not part of the library's API. Every
// function runs on a connection the caller has locked (IdentityStore::mu_).

#include <string>
#include <string_view>
#include <vector>

#include "broker/identity/secrets.h"
#include "broker/identity/types.h"
#include "broker/store/sqlite.h"
#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::broker::identity::internal {

// Validates each pattern, sorts and deduplicates. Errors: kTooLarge for more than
// kMaxScopesPerAgent; the pattern's validation error.
Result<std::vector<std::string>> NormalizeScopes(const std::vector<std::string>& scopes);
std::string JoinScopes(const std::vector<std::string>& scopes);
std::vector<std::string> SplitScopes(std::string_view joined);

// The agent with this name or id (ids start with agt_). Errors: kUnknownKey + kNoSuchAgent.
Result<Agent> ReadAgent(const store::Db& db, std::string_view agent);

// A freshly generated secret with a prefix not yet in the table, and its hash.
struct NewBearer {
  SecureBuffer secret;
  std::string prefix;  // first kShownPrefixChars
  Sha256Digest hash{};
};
// `prefix_taken_sql` takes the prefix as ?1 and returns a row if it is in use. A repeat
// needs a 2^-47 collision; three in a row mean the RNG is broken (kInternal).
Result<NewBearer> NewUniqueBearer(const store::Db& db, std::string_view kind_prefix,
                                  const char* prefix_taken_sql);

}  // namespace keycell::broker::identity::internal

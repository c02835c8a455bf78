#pragma once
// What a principal may do: the role table (AgentKeys' roles, mapped onto keycell's
// actions), per-agent credential scopes, and the one Authorize() call a front end makes
// per request. Pure functions, no I/O. See docs/identity.md for the table and its
// reasoning.

#include <cstdint>
#include <string_view>
#include <vector>

#include "broker/identity/types.h"
#include "common/result.h"

namespace keycell::broker::identity {

enum class Action : uint8_t {
  kList,    // list credentials (names and metadata, never values)
  kUse,     // proxy / inject / run / env: the value is used, not shown
  kReveal,  // print a value (the sealed policy must allow it too)
  kAddCredential,
  kEditCredential,    // metadata, tags, projects
  kRotateCredential,  // new version, rollback
  kDeleteCredential,
  kManageAgents,   // create, delete, set scopes
  kManageTokens,   // assign (issue/rotate) and revoke pxr_ tokens
  kManageApiKeys,  // create, revoke, delete kc_ keys (up to the caller's role)
  kManageWebhooks,
  kReadAudit,
  kLock,
  kUnlock,
  kDeleteWorkspace,  // wipe the vault / token
};

const char* ActionName(Action a);  // "list", "use", "add-credential", ...

struct RolePermission {
  Action action;
  bool member;
  bool admin;
  bool owner;
};

// The whole role policy, one row per Action in declaration order. member: list and use;
// admin: everything but deleting the workspace; owner: everything. AgentKeys also lets a
// member view audit logs and create/edit agents; keycell does not (see docs/identity.md).
// clang-format off
inline constexpr RolePermission kRoleTable[] = {
    //  action                      member admin  owner
    {Action::kList,                 true,  true,  true},
    {Action::kUse,                  true,  true,  true},
    {Action::kReveal,               false, true,  true},
    {Action::kAddCredential,        false, true,  true},
    {Action::kEditCredential,       false, true,  true},
    {Action::kRotateCredential,     false, true,  true},
    {Action::kDeleteCredential,     false, true,  true},
    {Action::kManageAgents,         false, true,  true},
    {Action::kManageTokens,         false, true,  true},
    {Action::kManageApiKeys,        false, true,  true},
    {Action::kManageWebhooks,       false, true,  true},
    {Action::kReadAudit,            false, true,  true},
    {Action::kLock,                 false, true,  true},
    {Action::kUnlock,               false, true,  true},
    {Action::kDeleteWorkspace,      false, false, true},
};
// clang-format on
inline constexpr size_t kActionCount = sizeof(kRoleTable) / sizeof(kRoleTable[0]);

constexpr bool RoleTableInOrder() {
  for (size_t i = 0; i < kActionCount; ++i) {
    if (static_cast<size_t>(kRoleTable[i].action) != i) return false;
  }
  return static_cast<size_t>(Action::kDeleteWorkspace) + 1 == kActionCount;
}
static_assert(RoleTableInOrder(), "kRoleTable must list every Action once, in order");

constexpr bool Allowed(Role role, Action action) {
  const RolePermission& row = kRoleTable[static_cast<size_t>(action)];
  switch (role) {
    case Role::kMember:
      return row.member;
    case Role::kAdmin:
      return row.admin;
    case Role::kOwner:
      return row.owner;
  }
  return false;
}

// A principal may hand out (create an API key with) a role no higher than its own, so an
// admin cannot mint an owner key and then delete the workspace.
constexpr bool CanGrant(Role granter, Role granted) { return granted <= granter; }

// Actions that name one credential and are therefore limited by an agent's scopes.
bool IsCredentialAction(Action a);

// Glob match of a credential name. `*` matches any run of characters except '/', `**`
// any run including '/', `?` one character (one UTF-8 code point) except '/', `\x`
// the character x literally. Everything else matches itself, case-sensitively. Runs in
// O(len(pattern) * len(name)); never backtracks exponentially.
bool GlobMatch(std::string_view pattern, std::string_view name);

// True if any of `scopes` matches `credential_name`. No scopes: nothing is allowed.
bool ScopeAllows(const std::vector<std::string>& scopes, std::string_view credential_name);
bool ScopeAllows(const Agent& agent, std::string_view credential_name);

// The decision for one request: role table, then (for credential actions) the proxy
// token's binding and the agent's scopes. `credential` is required for credential actions
// (kInvalidArgument otherwise); for kList it may be empty, and the caller filters the
// listing with ScopeAllows(p.scopes, name) when p.acts_as_agent().
// Errors: kPolicyDenied with kRoleDenied, kTokenOnlyUses, kTokenBound or kOutsideScope.
// The credential's own sealed policy is checked separately, by the enclave.
Status Authorize(const Principal& p, Action action, std::string_view credential = {});

}  // namespace keycell::broker::identity

// Authorization: the role matrix (every role x every action, against an independent
// expectation and against docs/identity.md), grants, scope patterns, Authorize().
#include "broker/identity/authz.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

constexpr Role kRoles[] = {Role::kMember, Role::kAdmin, Role::kOwner};

// Written from the brief, not copied from kRoleTable: member may list and use; admin
// everything but deleting the workspace; owner everything.
bool Expected(Role r, Action a) {
  switch (r) {
    case Role::kOwner:
      return true;
    case Role::kAdmin:
      return a != Action::kDeleteWorkspace;
    case Role::kMember:
      return a == Action::kList || a == Action::kUse;
  }
  return false;
}

static_assert(Allowed(Role::kMember, Action::kUse) && !Allowed(Role::kMember, Action::kReveal));
static_assert(!Allowed(Role::kAdmin, Action::kDeleteWorkspace));

TEST(IdentityRoles, EveryRoleTimesEveryAction) {
  for (size_t i = 0; i < kActionCount; ++i) {
    const Action a = static_cast<Action>(i);
    for (Role r : kRoles) {
      EXPECT_EQ(Allowed(r, a), Expected(r, a)) << RoleName(r) << " x " << ActionName(a);
    }
  }
}

// docs/identity.md rows: "| `action` | yes | no | yes | ... |" between the role-table
// markers. The documentation and the code must say the same thing.
std::map<std::string, std::array<bool, 3>> DocumentedTable() {
  std::ifstream in(std::string(KEYCELL_SOURCE_DIR) + "/docs/identity.md");
  std::map<std::string, std::array<bool, 3>> rows;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find("<!-- role-table -->") != std::string::npos) inside = true;
    if (line.find("<!-- /role-table -->") != std::string::npos) inside = false;
    if (!inside || !line.starts_with("| `")) continue;
    const size_t end = line.find('`', 3);
    std::array<bool, 3> cells{};
    size_t pos = line.find('|', end);
    for (bool& cell : cells) {
      const size_t next = line.find('|', pos + 1);
      cell = line.substr(pos + 1, next - pos - 1).find("yes") != std::string::npos;
      pos = next;
    }
    rows[line.substr(3, end - 3)] = cells;
  }
  return rows;
}

TEST(IdentityRoles, DocumentationMatchesTheTable) {
  const auto doc = DocumentedTable();
  ASSERT_EQ(doc.size(), kActionCount) << "docs/identity.md role table is incomplete";
  for (size_t i = 0; i < kActionCount; ++i) {
    const Action a = static_cast<Action>(i);
    const auto it = doc.find(ActionName(a));
    ASSERT_NE(it, doc.end()) << ActionName(a) << " missing from docs/identity.md";
    for (size_t r = 0; r < 3; ++r) {
      EXPECT_EQ(it->second[r], Allowed(kRoles[r], a))
          << RoleName(kRoles[r]) << " x " << ActionName(a);
    }
  }
}

TEST(IdentityRoles, ActionNamesAreDistinct) {
  std::set<std::string> names;
  for (size_t i = 0; i < kActionCount; ++i) names.insert(ActionName(static_cast<Action>(i)));
  EXPECT_EQ(names.size(), kActionCount);
}

TEST(IdentityRoles, GrantsGoNoHigherThanTheGranter) {
  for (Role granter : kRoles) {
    for (Role granted : kRoles) {
      EXPECT_EQ(CanGrant(granter, granted), static_cast<int>(granted) <= static_cast<int>(granter));
    }
  }
  EXPECT_FALSE(CanGrant(Role::kAdmin, Role::kOwner));
  EXPECT_TRUE(CanGrant(Role::kOwner, Role::kOwner));
}

TEST(IdentityRoles, OwnerPrincipalIsTheSocketPeer) {
  const Principal p = OwnerPrincipal(1000);
  EXPECT_EQ(p.kind, PrincipalKind::kOwner);
  EXPECT_EQ(p.role, Role::kOwner);
  EXPECT_EQ(p.id, "uid:1000");
  EXPECT_EQ(RateLimitKey(p), "owner");
  for (size_t i = 0; i < kActionCount; ++i) {
    const Action a = static_cast<Action>(i);
    KC_EXPECT_OK(Authorize(p, a, IsCredentialAction(a) ? "any/name" : ""));
  }
}

struct GlobCase {
  const char* pattern;
  const char* name;
  bool match;
};

constexpr GlobCase kGlobCases[] = {
    {"openai/*", "openai/prod", true},
    {"openai/*", "openai/", true},
    {"openai/*", "openai/prod/eu", false},  // '*' stops at '/'
    {"openai/*", "openai", false},
    {"openai/**", "openai/prod/eu", true},  // '**' crosses '/'
    {"openai/**", "openai/", true},
    {"openai/**", "openai", false},
    {"*", "stripe-prod", true},
    {"*", "openai/prod", false},
    {"**", "openai/prod/eu", true},
    {"**", "", true},
    {"stripe-prod", "stripe-prod", true},
    {"stripe-prod", "stripe-prod2", false},
    {"stripe-prod", "Stripe-prod", false},  // case-sensitive
    {"stripe-?", "stripe-a", true},
    {"stripe-?", "stripe-ab", false},
    {"stripe-?", "stripe-", false},
    {"?", "/", false},
    {"?", "\xc3\xa9", true},  // one code point, two bytes
    {"??", "\xc3\xa9", false},
    {"*-prod", "stripe-prod", true},
    {"*/prod", "openai/prod", true},
    {"*/prod", "a/b/prod", false},
    {"**/prod", "a/b/prod", true},
    {"a/**/z", "a/z", false},
    {"a/**/z", "a/b/c/z", true},
    {"a\\*b", "a*b", true},  // escaped star is literal
    {"a\\*b", "axb", false},
    {"a\\?", "a?", true},
    {"a\\\\", "a\\", true},
    {"***", "x/y", true},  // runs of stars are '**'
};

TEST(IdentityScopes, GlobPatterns) {
  for (const GlobCase& c : kGlobCases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.name), c.match) << c.pattern << " vs " << c.name;
  }
}

TEST(IdentityScopes, PathologicalPatternsStayFast) {
  // Exponential for a naive backtracking matcher; O(n*m) here.
  const std::string pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
  EXPECT_FALSE(GlobMatch(pattern, std::string(128, 'a')));
  EXPECT_FALSE(GlobMatch("**a**a**a**a**a**a**a**a**a**b", std::string(128, 'a')));
}

TEST(IdentityScopes, AgentScopesAreAnyOf) {
  Agent a;
  EXPECT_FALSE(ScopeAllows(a, "anything"));  // no scopes: nothing
  a.scopes = {"openai/*", "stripe-prod"};
  EXPECT_TRUE(ScopeAllows(a, "openai/prod"));
  EXPECT_TRUE(ScopeAllows(a, "stripe-prod"));
  EXPECT_FALSE(ScopeAllows(a, "stripe-test"));
}

Principal TokenPrincipal() {
  Principal p;
  p.kind = PrincipalKind::kToken;
  p.role = Role::kMember;
  p.id = "pxr_AbCdEfGh";
  p.agent_id = "agt_0123456789abcdef";
  p.agent_name = "bot";
  p.scopes = {"openai/*"};
  p.credential = "openai/prod";
  return p;
}

TEST(IdentityAuthorize, ProxyTokenIsACapabilityForOneCredential) {
  const Principal p = TokenPrincipal();
  KC_EXPECT_OK(Authorize(p, Action::kUse, "openai/prod"));
  EXPECT_TRUE(HasWhere(Authorize(p, Action::kUse, "openai/test"), Err::kPolicyDenied, kTokenBound));
  EXPECT_TRUE(HasWhere(Authorize(p, Action::kList), Err::kPolicyDenied, kTokenOnlyUses));
  EXPECT_TRUE(
      HasWhere(Authorize(p, Action::kReveal, "openai/prod"), Err::kPolicyDenied, kRoleDenied));
}

TEST(IdentityAuthorize, MemberKeyListsAndUsesOnly) {
  Principal p;
  p.kind = PrincipalKind::kApiKey;
  p.role = Role::kMember;
  p.id = "fd5c5b5177095c73";
  KC_EXPECT_OK(Authorize(p, Action::kList));
  KC_EXPECT_OK(Authorize(p, Action::kUse, "stripe-prod"));
  for (Action a :
       {Action::kReveal, Action::kAddCredential, Action::kDeleteCredential, Action::kManageAgents,
        Action::kManageApiKeys, Action::kManageWebhooks, Action::kUnlock}) {
    const Status st = Authorize(p, a, "stripe-prod");
    EXPECT_TRUE(HasWhere(st, Err::kPolicyDenied, kRoleDenied)) << ActionName(a);
  }
}

TEST(IdentityAuthorize, CredentialActionsNeedAName) {
  const Principal owner = OwnerPrincipal(0);
  EXPECT_EQ(Authorize(owner, Action::kUse).code(), Err::kInvalidArgument);
  EXPECT_EQ(Authorize(owner, Action::kReveal, "").code(), Err::kInvalidArgument);
  KC_EXPECT_OK(Authorize(owner, Action::kList));
}

TEST(IdentityAuthorize, AgentScopesLimitNamedLists) {
  Principal p = TokenPrincipal();
  p.kind = PrincipalKind::kApiKey;            // a member key bound to the agent
  KC_EXPECT_OK(Authorize(p, Action::kList));  // the caller filters with ScopeAllows
  KC_EXPECT_OK(Authorize(p, Action::kList, "openai/x"));
  EXPECT_TRUE(HasWhere(Authorize(p, Action::kList, "stripe"), Err::kPolicyDenied, kOutsideScope));
}

}  // namespace
}  // namespace keycell::broker::identity::test

// kc_ API keys: the MCP Key Manager's create/list/view/revoke/delete, roles, agent binding.
#include "broker/identity/authz.h"
#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

using IdentityApiKeys = IdentityTest;
constexpr int64_t kDay = 86400;

ApiKeySpec Spec(std::string name, Role role = Role::kMember, int64_t days = kDefaultApiKeyDays,
                std::string agent = "") {
  ApiKeySpec s;
  s.name = std::move(name);
  s.description = "for tests";
  s.role = role;
  s.expires_in_days = days;
  s.agent = std::move(agent);
  return s;
}

AuthRefusal Refusal(IdentityStore& s, const std::string& presented) {
  return RefusalOf(s.AuthenticateBearer(presented).status());
}

TEST_F(IdentityApiKeys, CreateIssuesAKcKeyWithAHexId) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(Spec("Production Key", Role::kAdmin)));
  const std::string key = Text(k.key);
  ASSERT_EQ(key.size(), 46u);
  EXPECT_TRUE(key.starts_with("kc_"));
  EXPECT_EQ(k.prefix, key.substr(0, 12));
  ASSERT_EQ(k.id.size(), 16u);
  EXPECT_EQ(k.id.find_first_not_of("0123456789abcdef"), std::string::npos);
  KC_ASSERT_OK_AND_ASSIGN(ApiKeyInfo info, store_->ViewApiKey(k.id));
  EXPECT_EQ(info.name, "Production Key");
  EXPECT_EQ(info.description, "for tests");
  EXPECT_EQ(info.role, Role::kAdmin);
  EXPECT_EQ(info.prefix, k.prefix);
  EXPECT_TRUE(info.agent_id.empty());
  EXPECT_TRUE(info.ActiveAt(clock_.UnixSeconds()));
}

TEST_F(IdentityApiKeys, AuthenticateCarriesTheRole) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(Spec("ci", Role::kAdmin)));
  KC_ASSERT_OK_AND_ASSIGN(Principal p, store_->AuthenticateBearer(Text(k.key)));
  EXPECT_EQ(p.kind, PrincipalKind::kApiKey);
  EXPECT_EQ(p.role, Role::kAdmin);
  EXPECT_EQ(p.id, k.id);
  EXPECT_FALSE(p.acts_as_agent());
  EXPECT_EQ(RateLimitKey(p), "apikey:" + k.id);
  KC_EXPECT_OK(Authorize(p, Action::kRotateCredential, "anything/at/all"));
  EXPECT_TRUE(HasWhere(Authorize(p, Action::kDeleteWorkspace), Err::kPolicyDenied, kRoleDenied));
  KC_ASSERT_OK_AND_ASSIGN(ApiKeyInfo info, store_->ViewApiKey(k.id));
  EXPECT_EQ(info.last_used_at, clock_.UnixSeconds());
}

TEST_F(IdentityApiKeys, DefaultExpiryIsNinetyDays) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(Spec("k")));
  KC_ASSERT_OK_AND_ASSIGN(ApiKeyInfo info, store_->ViewApiKey(k.id));
  ASSERT_TRUE(info.expires_at);
  EXPECT_EQ(*info.expires_at, clock_.UnixSeconds() + 90 * kDay);
  clock_.AdvanceSeconds(90 * kDay - 1);
  KC_EXPECT_OK(store_->AuthenticateBearer(Text(k.key)));
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(Refusal(*store_, Text(k.key)), AuthRefusal::kExpired);
}

TEST_F(IdentityApiKeys, ZeroDaysNeverExpires) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(Spec("forever", Role::kMember, 0)));
  KC_ASSERT_OK_AND_ASSIGN(ApiKeyInfo info, store_->ViewApiKey(k.id));
  EXPECT_FALSE(info.expires_at);
  clock_.AdvanceSeconds(20 * 365 * kDay);
  KC_EXPECT_OK(store_->AuthenticateBearer(Text(k.key)));
}

TEST_F(IdentityApiKeys, RevokeThenRefused) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(Spec("k")));
  KC_ASSERT_OK(store_->AuthenticateBearer(Text(k.key)));
  KC_ASSERT_OK(store_->RevokeApiKey(k.id));
  EXPECT_EQ(Refusal(*store_, Text(k.key)), AuthRefusal::kRevoked);
  KC_EXPECT_OK(store_->RevokeApiKey(k.id));
  KC_ASSERT_OK_AND_ASSIGN(ApiKeyInfo info, store_->ViewApiKey(k.id));
  EXPECT_EQ(info.revoked_at, clock_.UnixSeconds());
  EXPECT_TRUE(HasWhere(store_->RevokeApiKey("0000000000000000"), Err::kUnknownKey, kNoSuchApiKey));
}

TEST_F(IdentityApiKeys, DeleteThenUnknown) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(Spec("k")));
  KC_ASSERT_OK(store_->DeleteApiKey(k.id));
  EXPECT_EQ(Refusal(*store_, Text(k.key)), AuthRefusal::kUnknown);
  EXPECT_TRUE(HasWhere(store_->ViewApiKey(k.id).status(), Err::kUnknownKey, kNoSuchApiKey));
  EXPECT_TRUE(HasWhere(store_->DeleteApiKey(k.id), Err::kUnknownKey, kNoSuchApiKey));
}

TEST_F(IdentityApiKeys, ListActiveOnly) {
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey live, store_->CreateApiKey(Spec("live", Role::kMember, 0)));
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey revoked, store_->CreateApiKey(Spec("revoked")));
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey expiring,
                          store_->CreateApiKey(Spec("expiring", Role::kMember, 1)));
  KC_ASSERT_OK(store_->RevokeApiKey(revoked.id));
  clock_.AdvanceSeconds(kDay);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<ApiKeyInfo> all, store_->ListApiKeys());
  EXPECT_EQ(all.size(), 3u);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<ApiKeyInfo> active, store_->ListApiKeys(true));
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].id, live.id);
}

TEST_F(IdentityApiKeys, BoundKeyActsAsItsAgent) {
  KC_ASSERT_OK_AND_ASSIGN(Agent bot, store_->CreateAgent("bot", {"openai/*"}));
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k,
                          store_->CreateApiKey(Spec("bot-key", Role::kAdmin, 30, "bot")));
  KC_ASSERT_OK_AND_ASSIGN(ApiKeyInfo info, store_->ViewApiKey(k.id));
  EXPECT_EQ(info.agent_id, bot.id);
  EXPECT_EQ(info.agent_name, "bot");
  KC_ASSERT_OK_AND_ASSIGN(Principal p, store_->AuthenticateBearer(Text(k.key)));
  EXPECT_TRUE(p.acts_as_agent());
  EXPECT_EQ(p.agent_name, "bot");
  EXPECT_EQ(RateLimitKey(p), "agent:" + bot.id);
  KC_EXPECT_OK(Authorize(p, Action::kUse, "openai/prod"));
  EXPECT_TRUE(
      HasWhere(Authorize(p, Action::kReveal, "stripe-prod"), Err::kPolicyDenied, kOutsideScope));
  KC_EXPECT_OK(Authorize(p, Action::kManageWebhooks));  // not a credential action: role only
}

TEST_F(IdentityApiKeys, DeletingTheAgentDeletesItsKeys) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"**"}));
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey bound, store_->CreateApiKey(Spec("b", Role::kOwner, 0, "bot")));
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey other, store_->CreateApiKey(Spec("o")));
  KC_ASSERT_OK(store_->DeleteAgent("bot"));
  // Not left behind as an unscoped owner key.
  EXPECT_EQ(Refusal(*store_, Text(bound.key)), AuthRefusal::kUnknown);
  KC_EXPECT_OK(store_->AuthenticateBearer(Text(other.key)));
}

TEST_F(IdentityApiKeys, SpecIsValidated) {
  EXPECT_TRUE(HasWhere(store_->CreateApiKey(Spec("k", Role::kMember, 1, "ghost")).status(),
                       Err::kUnknownKey, kNoSuchAgent));
  EXPECT_FALSE(store_->CreateApiKey(Spec("")).ok());
  EXPECT_FALSE(store_->CreateApiKey(Spec("k", Role::kMember, -1)).ok());
  EXPECT_FALSE(store_->CreateApiKey(Spec("k", Role::kMember, kMaxApiKeyDays + 1)).ok());
  EXPECT_FALSE(store_->CreateApiKey(Spec("line\nbreak")).ok());
  EXPECT_EQ(store_->CreateApiKey(Spec(std::string(129, 'n'))).status().code(), Err::kTooLarge);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<ApiKeyInfo> none, store_->ListApiKeys());
  EXPECT_TRUE(none.empty());
}

TEST(IdentityRolesNames, ParseAndName) {
  for (Role r : {Role::kMember, Role::kAdmin, Role::kOwner}) {
    KC_ASSERT_OK_AND_ASSIGN(Role back, ParseRole(RoleName(r)));
    EXPECT_EQ(back, r);
  }
  EXPECT_FALSE(ParseRole("Owner").ok());
  EXPECT_FALSE(ParseRole("root").ok());
}

TEST(IdentityBearerHeader, ExtractsTheToken) {
  EXPECT_EQ(BearerFromAuthorization("Bearer pxr_abc"), std::optional<std::string_view>("pxr_abc"));
  EXPECT_EQ(BearerFromAuthorization("bearer   kc_x \t"), std::optional<std::string_view>("kc_x"));
  EXPECT_EQ(BearerFromAuthorization("BEARER kc_x"), std::optional<std::string_view>("kc_x"));
  EXPECT_FALSE(BearerFromAuthorization("Basic dXNlcg=="));
  EXPECT_FALSE(BearerFromAuthorization("Bearer"));
  EXPECT_FALSE(BearerFromAuthorization("Bearer   "));
  EXPECT_FALSE(BearerFromAuthorization("Bearerpxr_abc"));
}

}  // namespace
}  // namespace keycell::broker::identity::test

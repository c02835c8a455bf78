// pxr_ proxy tokens: issue, authenticate, expire, revoke, rotate, refusal reasons.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "broker/identity/authz.h"
#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

using IdentityTokens = IdentityTest;

AuthRefusal Refusal(IdentityStore& s, const std::string& presented) {
  return RefusalOf(s.AuthenticateBearer(presented).status());
}

// The same token with its last character replaced by another base62 character.
std::string FlipLast(std::string t) {
  t.back() = t.back() == 'a' ? 'b' : 'a';
  return t;
}

TEST_F(IdentityTokens, AssignIssuesAShownOncePxrToken) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"resend"}));
  KC_ASSERT_OK_AND_ASSIGN(IssuedToken t, store_->AssignToken("bot", "resend"));
  const std::string token = Text(t.token);
  ASSERT_EQ(token.size(), 47u);
  EXPECT_TRUE(token.starts_with("pxr_"));
  EXPECT_EQ(t.prefix, token.substr(0, 12));
  EXPECT_TRUE(t.replaced_prefix.empty());
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> list, store_->ListTokens());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].prefix, t.prefix);
  EXPECT_EQ(list[0].agent_name, "bot");
  EXPECT_EQ(list[0].credential, "resend");
  EXPECT_EQ(list[0].created_at, clock_.UnixSeconds());
  EXPECT_FALSE(list[0].last_used_at || list[0].expires_at || list[0].revoked_at);
}

TEST_F(IdentityTokens, AuthenticateGivesTheTokenPrincipal) {
  KC_ASSERT_OK_AND_ASSIGN(Agent bot, store_->CreateAgent("bot", {"openai/*"}));
  KC_ASSERT_OK_AND_ASSIGN(IssuedToken t, store_->AssignToken("bot", "openai/prod"));
  KC_ASSERT_OK_AND_ASSIGN(Principal p, store_->AuthenticateBearer(Text(t.token)));
  EXPECT_EQ(p.kind, PrincipalKind::kToken);
  EXPECT_EQ(p.role, Role::kMember);
  EXPECT_EQ(p.id, t.prefix);
  EXPECT_EQ(p.agent_id, bot.id);
  EXPECT_EQ(p.agent_name, "bot");
  EXPECT_EQ(p.credential, "openai/prod");
  EXPECT_EQ(p.scopes, std::vector<std::string>{"openai/*"});
  KC_EXPECT_OK(Authorize(p, Action::kUse, "openai/prod"));
}

TEST_F(IdentityTokens, ExpiresByTheClock) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"**"}));
  const int64_t now = clock_.UnixSeconds();
  EXPECT_FALSE(store_->AssignToken("bot", "c", now).ok());  // not in the future
  KC_ASSERT_OK_AND_ASSIGN(IssuedToken t, store_->AssignToken("bot", "c", now + 60));
  const std::string token = Text(t.token);
  KC_EXPECT_OK(store_->AuthenticateBearer(token));
  clock_.AdvanceSeconds(59);
  KC_EXPECT_OK(store_->AuthenticateBearer(token));
  clock_.AdvanceSeconds(1);
  const Status st = store_->AuthenticateBearer(token).status();
  EXPECT_TRUE(HasWhere(st, Err::kPolicyDenied, kBearerExpired)) << ::keycell::test::Describe(st);
}

TEST_F(IdentityTokens, RevokeRefusesTheNextCall) {
  const std::string token = NewAgentToken("bot", "stripe-prod");
  KC_ASSERT_OK(store_->AuthenticateBearer(token));
  KC_ASSERT_OK(store_->RevokeToken(token.substr(0, 12)));
  EXPECT_TRUE(
      HasWhere(store_->AuthenticateBearer(token).status(), Err::kPolicyDenied, kBearerRevoked));
  KC_EXPECT_OK(store_->RevokeToken(token.substr(0, 12)));  // idempotent
  EXPECT_TRUE(HasWhere(store_->RevokeToken("pxr_00000000"), Err::kUnknownKey, kNoSuchToken));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> live, store_->ListTokens());
  EXPECT_TRUE(live.empty());
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> all, store_->ListTokens(true));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].revoked_at, clock_.UnixSeconds());
}

TEST_F(IdentityTokens, RevokedWinsOverExpired) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"**"}));
  KC_ASSERT_OK_AND_ASSIGN(IssuedToken t, store_->AssignToken("bot", "c", clock_.UnixSeconds() + 5));
  KC_ASSERT_OK(store_->RevokeToken(t.prefix));
  clock_.AdvanceSeconds(10);
  EXPECT_EQ(Refusal(*store_, Text(t.token)), AuthRefusal::kRevoked);
}

TEST_F(IdentityTokens, AssigningAgainRotates) {
  const std::string first = NewAgentToken("bot", "resend");
  KC_ASSERT_OK_AND_ASSIGN(IssuedToken second, store_->AssignToken("bot", "resend"));
  EXPECT_EQ(second.replaced_prefix, first.substr(0, 12));
  EXPECT_NE(Text(second.token), first);
  EXPECT_EQ(Refusal(*store_, first), AuthRefusal::kRevoked);
  KC_EXPECT_OK(store_->AuthenticateBearer(Text(second.token)));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> live, store_->ListTokens());
  ASSERT_EQ(live.size(), 1u);  // one live token per agent-credential pair
  EXPECT_EQ(live[0].prefix, second.prefix);
}

TEST_F(IdentityTokens, OneTokenPerCredentialPerAgent) {
  const std::string a = NewAgentToken("bot", "resend");
  const std::string b = NewAgentToken("bot", "stripe-prod");
  const std::string c = NewAgentToken("other", "resend");
  for (const std::string& t : {a, b, c}) KC_EXPECT_OK(store_->AuthenticateBearer(t));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> live, store_->ListTokens());
  EXPECT_EQ(live.size(), 3u);
}

TEST_F(IdentityTokens, OnlyTheExactTokenAuthenticates) {
  const std::string token = NewAgentToken("bot", "resend");
  // Same prefix, so the row is found; the hash compare is what refuses these.
  EXPECT_EQ(Refusal(*store_, FlipLast(token)), AuthRefusal::kUnknown);
  std::string tail_changed = token;
  tail_changed.replace(12, 35, std::string(35, 'Q'));
  EXPECT_EQ(Refusal(*store_, tail_changed), AuthRefusal::kUnknown);
  std::string prefix_changed = token;
  prefix_changed[5] = prefix_changed[5] == 'a' ? 'b' : 'a';
  EXPECT_EQ(Refusal(*store_, prefix_changed), AuthRefusal::kUnknown);
  KC_EXPECT_OK(store_->AuthenticateBearer(token));
}

TEST_F(IdentityTokens, MalformedBearersAreRefusedBeforeAnyLookup) {
  const std::string token = NewAgentToken("bot", "resend");
  for (const std::string& bad :
       {std::string(), std::string("pxr_"), token.substr(0, 46), token + "a", "Bearer " + token,
        " " + token, "PXR_" + token.substr(4), "ak_ws_" + token.substr(4),
        token.substr(0, 20) + "-" + token.substr(21), "kc_" + token.substr(5),
        std::string("kc_") + std::string(44, 'a')}) {
    EXPECT_EQ(Refusal(*store_, bad), AuthRefusal::kMalformed) << bad;
  }
}

TEST_F(IdentityTokens, LastUsedIsWrittenAtMostOncePerSecond) {
  const std::string token = NewAgentToken("bot", "resend");
  KC_ASSERT_OK(store_->AuthenticateBearer(token));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> l1, store_->ListTokens());
  EXPECT_EQ(l1[0].last_used_at, clock_.UnixSeconds());
  // Further uses within the same second must not write: the WAL does not grow.
  struct stat before {
  }, after{};
  ASSERT_EQ(stat((path_ + "-wal").c_str(), &before), 0);
  for (int i = 0; i < 50; ++i) KC_ASSERT_OK(store_->AuthenticateBearer(token));
  ASSERT_EQ(stat((path_ + "-wal").c_str(), &after), 0);
  EXPECT_EQ(before.st_size, after.st_size);
  clock_.AdvanceSeconds(1);
  KC_ASSERT_OK(store_->AuthenticateBearer(token));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> l2, store_->ListTokens());
  EXPECT_EQ(l2[0].last_used_at, clock_.UnixSeconds());
}

TEST_F(IdentityTokens, AssignRespectsTheAgentsScopes) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"openai/*"}));
  EXPECT_TRUE(HasWhere(store_->AssignToken("bot", "stripe-prod").status(), Err::kPolicyDenied,
                       kOutsideScope));
  EXPECT_TRUE(HasWhere(store_->AssignToken("bot", "openai/prod/eu").status(), Err::kPolicyDenied,
                       kOutsideScope));
  KC_EXPECT_OK(store_->AssignToken("bot", "openai/prod"));
  KC_ASSERT_OK(store_->CreateAgent("none"));  // no scopes: nothing
  EXPECT_EQ(store_->AssignToken("none", "openai/prod").status().code(), Err::kPolicyDenied);
  EXPECT_TRUE(HasWhere(store_->AssignToken("ghost", "x").status(), Err::kUnknownKey, kNoSuchAgent));
  EXPECT_FALSE(store_->AssignToken("bot", "").ok());
}

TEST_F(IdentityTokens, NarrowingScopesAppliesToIssuedTokens) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"openai/*"}));
  KC_ASSERT_OK_AND_ASSIGN(IssuedToken t, store_->AssignToken("bot", "openai/prod"));
  KC_ASSERT_OK(store_->SetScopes("bot", {"stripe-*"}));
  KC_ASSERT_OK_AND_ASSIGN(Principal p, store_->AuthenticateBearer(Text(t.token)));
  EXPECT_TRUE(
      HasWhere(Authorize(p, Action::kUse, "openai/prod"), Err::kPolicyDenied, kOutsideScope));
}

TEST_F(IdentityTokens, DeletingTheAgentKillsItsTokens) {
  const std::string token = NewAgentToken("bot", "resend");
  KC_ASSERT_OK(store_->DeleteAgent("bot"));
  EXPECT_EQ(Refusal(*store_, token), AuthRefusal::kUnknown);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> all, store_->ListTokens(true));
  EXPECT_TRUE(all.empty());
}

TEST_F(IdentityTokens, TokensSurviveReopen) {
  const std::string token = NewAgentToken("bot", "resend");
  Reopen();
  KC_EXPECT_OK(store_->AuthenticateBearer(token));
}

}  // namespace
}  // namespace keycell::broker::identity::test

namespace keycell::broker::identity {
namespace {

// Timing cannot be asserted in a test, so this pins the code instead: authentication
// compares the stored and presented SHA-256 with ConstantTimeEqual (common/bytes.h, an
// OR-accumulating loop with no early exit) and nowhere with memcmp, ==, or a SQL
// "WHERE hash = ?" lookup that would let the database compare secrets.
TEST(IdentityAuthSource, ComparesHashesInConstantTimeOnly) {
  std::ifstream in(std::string(KEYCELL_SOURCE_DIR) + "/broker/identity/identity_auth.cc");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string src = ss.str();
  EXPECT_NE(src.find("ConstantTimeEqual(ByteView(presented_hash"), std::string::npos);
  EXPECT_EQ(src.find("memcmp"), std::string::npos);
  EXPECT_EQ(src.find("presented_hash =="), std::string::npos);
  EXPECT_EQ(src.find("hash = ?"), std::string::npos);
  // The lookup is by the public prefix only.
  EXPECT_NE(src.find("st.Bind(1, prefix)"), std::string::npos);
}

}  // namespace
}  // namespace keycell::broker::identity

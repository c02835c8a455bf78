// Agents: create, list, get by name or id, scopes, delete.
#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

using IdentityAgents = IdentityTest;

TEST_F(IdentityAgents, CreateListGetDelete) {
  KC_ASSERT_OK_AND_ASSIGN(Agent bot, store_->CreateAgent("marketing-bot", {"openai/*"}));
  EXPECT_TRUE(bot.id.starts_with("agt_"));
  EXPECT_EQ(bot.id.size(), 20u);
  EXPECT_EQ(bot.created_at, clock_.UnixSeconds());
  KC_ASSERT_OK(store_->CreateAgent("data-pipeline"));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Agent> all, store_->ListAgents());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "data-pipeline");  // ordered by name
  EXPECT_EQ(all[1].name, "marketing-bot");
  EXPECT_EQ(all[1].scopes, std::vector<std::string>{"openai/*"});

  KC_ASSERT_OK_AND_ASSIGN(Agent by_id, store_->GetAgent(bot.id));
  EXPECT_EQ(by_id.name, "marketing-bot");
  KC_ASSERT_OK(store_->DeleteAgent(bot.id));
  EXPECT_TRUE(HasWhere(store_->GetAgent("marketing-bot").status(), Err::kUnknownKey, kNoSuchAgent));
  EXPECT_TRUE(HasWhere(store_->DeleteAgent("marketing-bot"), Err::kUnknownKey, kNoSuchAgent));
}

TEST_F(IdentityAgents, DuplicateNameRefused) {
  KC_ASSERT_OK(store_->CreateAgent("bot"));
  EXPECT_TRUE(HasWhere(store_->CreateAgent("bot").status(), Err::kInvalidArgument, kAgentExists));
}

TEST_F(IdentityAgents, NamesAreValidated) {
  for (const char* bad : {"", "-bot", "bot one", "bot/1", "agt_x", "b\x01t", "bot\xc3\xa9"}) {
    EXPECT_FALSE(store_->CreateAgent(bad).ok()) << bad;
  }
  EXPECT_EQ(store_->CreateAgent(std::string(65, 'a')).status().code(), Err::kTooLarge);
  KC_EXPECT_OK(store_->CreateAgent(std::string(64, 'a')));
  KC_EXPECT_OK(store_->CreateAgent("Bot_2.v-1"));
}

TEST_F(IdentityAgents, ScopesAreNormalisedAndReplaced) {
  KC_ASSERT_OK_AND_ASSIGN(Agent a,
                          store_->CreateAgent("bot", {"stripe-*", "openai/*", "stripe-*"}));
  EXPECT_EQ(a.scopes, (std::vector<std::string>{"openai/*", "stripe-*"}));
  KC_ASSERT_OK_AND_ASSIGN(Agent b, store_->SetScopes("bot", {"**"}));
  EXPECT_EQ(b.scopes, std::vector<std::string>{"**"});
  KC_ASSERT_OK_AND_ASSIGN(Agent c, store_->GetAgent("bot"));
  EXPECT_EQ(c.scopes, std::vector<std::string>{"**"});
  KC_ASSERT_OK_AND_ASSIGN(Agent d, store_->SetScopes(a.id, {}));
  EXPECT_TRUE(d.scopes.empty());
}

TEST_F(IdentityAgents, BadScopesRefused) {
  KC_ASSERT_OK(store_->CreateAgent("bot"));
  EXPECT_FALSE(store_->SetScopes("bot", {""}).ok());
  EXPECT_FALSE(store_->SetScopes("bot", {"a\nb"}).ok());
  EXPECT_FALSE(store_->SetScopes("bot", {"ends-in\\"}).ok());
  KC_EXPECT_OK(store_->SetScopes("bot", {"escaped\\\\"}));
  EXPECT_EQ(store_->SetScopes("bot", {std::string(129, 'a')}).status().code(), Err::kTooLarge);
  std::vector<std::string> many;
  for (int i = 0; i < 65; ++i) many.push_back("s" + std::to_string(i));
  EXPECT_EQ(store_->SetScopes("bot", many).status().code(), Err::kTooLarge);
  EXPECT_TRUE(
      HasWhere(store_->SetScopes("nobody", {"*"}).status(), Err::kUnknownKey, kNoSuchAgent));
}

TEST_F(IdentityAgents, SurviveReopen) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"openai/*"}));
  Reopen();
  KC_ASSERT_OK_AND_ASSIGN(Agent a, store_->GetAgent("bot"));
  EXPECT_EQ(a.scopes, std::vector<std::string>{"openai/*"});
}

}  // namespace
}  // namespace keycell::broker::identity::test

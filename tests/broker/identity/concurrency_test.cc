// Revocation under load: threads authenticate while another revokes; once the revoke has
// returned, no authentication that starts afterwards may succeed. Also: concurrent
// assignment keeps one live token per pair.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

using IdentityConcurrency = IdentityTest;

struct Tally {
  std::atomic<int> ok_before{0};
  std::atomic<int> ok_after{0};  // must stay 0
  std::atomic<int> refused_after{0};
};

// Waits until `pred` holds, at most 20 s (a broken build fails instead of hanging).
template <class Pred>
bool WaitFor(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Runs four authenticators on `secret` while `revoke` runs on this thread.
template <class RevokeFn>
void HammerWhileRevoking(IdentityStore& store, const std::string& secret, RevokeFn revoke,
                         AuthRefusal expected, Tally& tally) {
  std::atomic<bool> revoked{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        const bool after = revoked.load();  // read *before* the call starts
        const Status st = store.AuthenticateBearer(secret).status();
        if (!after) {
          if (st.ok()) ++tally.ok_before;
        } else if (st.ok()) {
          ++tally.ok_after;
        } else {
          EXPECT_EQ(RefusalOf(st), expected) << ::keycell::test::Describe(st);
          ++tally.refused_after;
        }
      }
    });
  }
  EXPECT_TRUE(WaitFor([&] { return tally.ok_before.load() >= 50; }));
  KC_EXPECT_OK(revoke());
  revoked.store(true);
  EXPECT_TRUE(WaitFor([&] { return tally.refused_after.load() >= 200; }));
  stop.store(true);
  for (std::thread& t : threads) t.join();
}

TEST_F(IdentityConcurrency, NoTokenAuthSucceedsAfterRevokeReturns) {
  const std::string token = NewAgentToken("bot", "resend");
  Tally tally;
  HammerWhileRevoking(
      *store_, token, [&] { return store_->RevokeToken(token.substr(0, 12)); },
      AuthRefusal::kRevoked, tally);
  EXPECT_GE(tally.ok_before.load(), 50);
  EXPECT_EQ(tally.ok_after.load(), 0);
}

TEST_F(IdentityConcurrency, NoKeyAuthSucceedsAfterRevokeReturns) {
  ApiKeySpec spec;
  spec.name = "k";
  KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(spec));
  Tally tally;
  HammerWhileRevoking(
      *store_, Text(k.key), [&] { return store_->RevokeApiKey(k.id); }, AuthRefusal::kRevoked,
      tally);
  EXPECT_EQ(tally.ok_after.load(), 0);
}

TEST_F(IdentityConcurrency, NoAuthSucceedsAfterAgentDeleteReturns) {
  const std::string token = NewAgentToken("bot", "resend");
  Tally tally;
  HammerWhileRevoking(
      *store_, token, [&] { return store_->DeleteAgent("bot"); }, AuthRefusal::kUnknown, tally);
  EXPECT_EQ(tally.ok_after.load(), 0);
}

TEST_F(IdentityConcurrency, ConcurrentAssignKeepsOneLiveToken) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"**"}));
  std::vector<std::thread> threads;
  std::atomic<int> issued{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (store_->AssignToken("bot", "resend").ok()) ++issued;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(issued.load(), 40);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> live, store_->ListTokens());
  EXPECT_EQ(live.size(), 1u);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<TokenInfo> all, store_->ListTokens(true));
  EXPECT_EQ(all.size(), 40u);
}

TEST_F(IdentityConcurrency, TwoStoresOnOneFileSeeEachOthersRevocations) {
  // A second connection (as a second process would have): nothing cached per store.
  const std::string token = NewAgentToken("bot", "resend");
  KC_ASSERT_OK_AND_ASSIGN(std::unique_ptr<IdentityStore> other, IdentityStore::Open(path_, clock_));
  KC_ASSERT_OK(other->AuthenticateBearer(token));
  KC_ASSERT_OK(store_->RevokeToken(token.substr(0, 12)));
  EXPECT_EQ(RefusalOf(other->AuthenticateBearer(token).status()), AuthRefusal::kRevoked);
}

}  // namespace
}  // namespace keycell::broker::identity::test

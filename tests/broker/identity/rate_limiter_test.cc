// Token-bucket rate limits (burst, refill, Retry-After) and the unlock-attempt limiter.
#include "broker/identity/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace keycell::broker::identity {
namespace {

int Drain(RateLimiter& l, const std::string& key, int max = 100000) {
  int n = 0;
  while (n < max && l.Acquire(key).allowed) ++n;
  return n;
}

TEST(IdentityRateLimit, BurstIsAMinutesWorthByDefault) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{60, 0});
  EXPECT_EQ(Drain(l, "agent:a"), 60);
  const RateDecision d = l.Acquire("agent:a");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 1);  // 60/min refills one per second
}

TEST(IdentityRateLimit, ExplicitBurst) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{60, 5});
  EXPECT_EQ(Drain(l, "k"), 5);
}

TEST(IdentityRateLimit, RefillsAtTheConfiguredRate) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{60, 0});
  Drain(l, "k");
  clock.AdvanceMillis(999);
  EXPECT_FALSE(l.Acquire("k").allowed);
  clock.AdvanceMillis(1);
  EXPECT_TRUE(l.Acquire("k").allowed);
  EXPECT_FALSE(l.Acquire("k").allowed);
  clock.AdvanceSeconds(10);
  EXPECT_EQ(Drain(l, "k"), 10);
  clock.AdvanceSeconds(3600);  // never above the bucket size
  EXPECT_EQ(Drain(l, "k"), 60);
}

TEST(IdentityRateLimit, RetryAfterRoundsUpAndIsEnough) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{1, 0});
  EXPECT_TRUE(l.Acquire("k").allowed);
  EXPECT_EQ(l.Acquire("k").retry_after_seconds, 60);
  clock.AdvanceMillis(30'500);
  const RateDecision d = l.Acquire("k");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 30);  // 29.5 s rounded up
  clock.AdvanceSeconds(d.retry_after_seconds);
  EXPECT_TRUE(l.Acquire("k").allowed);
}

TEST(IdentityRateLimit, KeysHaveTheirOwnBuckets) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{10, 0});
  EXPECT_EQ(Drain(l, "agent:a"), 10);
  EXPECT_EQ(Drain(l, "agent:b"), 10);
  EXPECT_EQ(l.tracked_keys(), 2u);
}

TEST(IdentityRateLimit, PerKeyLimitsAndUnlimited) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{100, 0});
  EXPECT_EQ(Drain(l, "apikey:x", 10), 10);
  l.SetLimit("apikey:x", RateLimit{5, 0});  // lowered: the bucket shrinks at once
  EXPECT_EQ(Drain(l, "apikey:x"), 5);
  l.SetLimit("owner", RateLimit{0, 0});
  EXPECT_EQ(Drain(l, "owner", 5000), 5000);
}

TEST(IdentityRateLimit, IdleBucketsArePruned) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{60, 0});
  for (size_t i = 0; i < kMaxTrackedRateKeys; ++i) l.Acquire("k" + std::to_string(i));
  EXPECT_EQ(l.tracked_keys(), kMaxTrackedRateKeys);
  clock.AdvanceSeconds(2);  // every bucket is full again
  EXPECT_TRUE(l.Acquire("new").allowed);
  EXPECT_EQ(l.tracked_keys(), 1u);
}

TEST(IdentityRateLimit, ThreadsShareOneBudget) {
  ManualClock clock;
  RateLimiter l(clock, RateLimit{1000, 0});
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (l.Acquire("agent:a").allowed) ++allowed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(IdentityUnlockLimit, FiveAttemptsPerMinute) {
  ManualClock clock;
  UnlockLimiter l(clock);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.Attempt().allowed) << i;
  const RateDecision d = l.Attempt();
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 12);  // one attempt per 12 s
  clock.AdvanceSeconds(12);
  EXPECT_TRUE(l.Attempt().allowed);
  EXPECT_FALSE(l.Attempt().allowed);
  clock.AdvanceSeconds(60);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.Attempt().allowed) << i;
  EXPECT_FALSE(l.Attempt().allowed);
}

TEST(IdentityUnlockLimit, Configurable) {
  ManualClock clock;
  UnlockLimiter l(clock, 2);
  EXPECT_TRUE(l.Attempt().allowed);
  EXPECT_TRUE(l.Attempt().allowed);
  EXPECT_EQ(l.Attempt().retry_after_seconds, 30);
}

}  // namespace
}  // namespace keycell::broker::identity

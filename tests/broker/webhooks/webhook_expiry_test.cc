// The expiry scheduler: the pure decision, and the fire-once bookkeeping across calls,
// expiry changes and reopening webhooks.db.

#include <gtest/gtest.h>

#include "broker/json/json.h"
#include "broker/webhooks/dispatcher.h"
#include "broker/webhooks/expiry.h"
#include "tests/broker/webhooks/webhook_test_util.h"

namespace keycell::broker::webhooks {
namespace {

using test::WebhookFixture;

constexpr int64_t kDay = 86400;
constexpr int64_t kE = 1'800'000'000;  // a credential's expiry

std::optional<ExpiryState> DecideAt(int64_t now) {
  const CredentialExpiry c{"cred", kE};
  auto due = DueExpiryNotices(std::span(&c, 1), now, {});
  EXPECT_LE(due.size(), 1u);
  if (due.empty()) return std::nullopt;
  EXPECT_EQ(due[0].credential, "cred");
  EXPECT_EQ(due[0].expires_at, kE);
  EXPECT_EQ(due[0].fired_at, now);
  return due[0].state;
}

TEST(WebhookExpiryTest, Boundaries) {
  EXPECT_EQ(DecideAt(kE - 30 * kDay), std::nullopt);
  EXPECT_EQ(DecideAt(kE - 7 * kDay - 1), std::nullopt);
  EXPECT_EQ(DecideAt(kE - 7 * kDay), ExpiryState::kExpiringSoon);
  EXPECT_EQ(DecideAt(kE - 1), ExpiryState::kExpiringSoon);
  EXPECT_EQ(DecideAt(kE), ExpiryState::kExpired);
  EXPECT_EQ(DecideAt(kE + 365 * kDay), ExpiryState::kExpired);
}

TEST(WebhookExpiryTest, SkipsFiredAndNeverExpiring) {
  const std::vector<CredentialExpiry> creds = {
      {"never", std::nullopt}, {"soon", kE}, {"gone", kE - 10 * kDay}, {"soon", kE}};
  const int64_t now = kE - kDay;
  auto due = DueExpiryNotices(creds, now, {});
  ASSERT_EQ(due.size(), 2u);  // "soon" listed twice fires once
  EXPECT_EQ(due[0].credential, "soon");
  EXPECT_EQ(due[0].state, ExpiryState::kExpiringSoon);
  EXPECT_EQ(due[1].credential, "gone");
  EXPECT_EQ(due[1].state, ExpiryState::kExpired);
  // Already fired (any fired_at): nothing. Another expiry value or state: not covered.
  const std::vector<ExpiryNotice> fired = {{"soon", kE, ExpiryState::kExpiringSoon, 1},
                                           {"gone", kE - 10 * kDay, ExpiryState::kExpiringSoon, 1}};
  auto rest = DueExpiryNotices(creds, now, fired);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].credential, "gone");
  EXPECT_EQ(rest[0].state, ExpiryState::kExpired);
}

TEST(WebhookExpiryTest, HostileExpiryValuesDoNotOverflow) {
  const std::vector<CredentialExpiry> creds = {{"min", INT64_MIN}, {"max", INT64_MAX}};
  auto due = DueExpiryNotices(creds, INT64_MIN + 5, {});
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].credential, "min");
  EXPECT_TRUE(DueExpiryNotices(creds, 0, {}).size() == 1u);
}

TEST(WebhookExpiryTest, EventsCarryTheData) {
  const CredentialExpiry c{"Resend Production", kE};
  KC_ASSERT_OK_AND_ASSIGN(auto due, DueExpiryEvents(std::span(&c, 1), kE - 3 * kDay, {}));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].event.type, EventType::kCredentialExpiringSoon);
  auto j = json::ParseJson(due[0].event.body);
  ASSERT_TRUE(j.ok());
  const cJSON* data = json::GetObject(j->get(), "data");
  EXPECT_EQ(json::GetString(data, "credential"), "Resend Production");
  EXPECT_EQ(json::GetString(data, "expires_at"), FormatRfc3339(kE));
  EXPECT_EQ(json::GetInt(data, "days_left"), 3);
}

class WebhookExpirySchedulerTest : public WebhookFixture {
 protected:
  // A store, a worker (no network: there is no webhook in these tests unless added) and
  // a dispatcher, as the daemon wires them.
  struct Stack {
    std::unique_ptr<WebhookStore> store;
    std::unique_ptr<DeliveryWorker> worker;
    std::unique_ptr<Dispatcher> dispatcher;
  };
  Stack Open() {
    Stack s;
    s.store = OpenStore();
    DeliveryWorker::Options o;
    o.http.system_ca_file = "";
    auto w = DeliveryWorker::Start(s.store.get(), test::BlobKeyedSigner(), o);
    EXPECT_TRUE(w.ok()) << ::keycell::test::Describe(w.status());
    if (w.ok()) s.worker = std::move(w).value();
    s.dispatcher = std::make_unique<Dispatcher>(s.store.get(), s.worker.get());
    return s;
  }
};

TEST_F(WebhookExpirySchedulerTest, FiresOnceAcrossCallsAndRestarts) {
  std::vector<CredentialExpiry> creds = {{"stripe", kE}, {"github", std::nullopt}};
  {
    Stack s = Open();
    ASSERT_NE(s.worker, nullptr);
    KC_ASSERT_OK_AND_ASSIGN(size_t n0, s.dispatcher->FireDueExpiry(creds, kE - 8 * kDay));
    EXPECT_EQ(n0, 0u);
    KC_ASSERT_OK_AND_ASSIGN(size_t n1, s.dispatcher->FireDueExpiry(creds, kE - 6 * kDay));
    EXPECT_EQ(n1, 1u);
    KC_ASSERT_OK_AND_ASSIGN(size_t n2, s.dispatcher->FireDueExpiry(creds, kE - 5 * kDay));
    EXPECT_EQ(n2, 0u);  // a second tick
  }
  {
    Stack s = Open();  // a daemon restart
    ASSERT_NE(s.worker, nullptr);
    KC_ASSERT_OK_AND_ASSIGN(size_t n3, s.dispatcher->FireDueExpiry(creds, kE - 4 * kDay));
    EXPECT_EQ(n3, 0u);
    // Then it expires: the other state fires, once.
    KC_ASSERT_OK_AND_ASSIGN(size_t n4, s.dispatcher->FireDueExpiry(creds, kE));
    EXPECT_EQ(n4, 1u);
    KC_ASSERT_OK_AND_ASSIGN(size_t n5, s.dispatcher->FireDueExpiry(creds, kE + kDay));
    EXPECT_EQ(n5, 0u);
    KC_ASSERT_OK_AND_ASSIGN(auto notices, s.store->ListExpiryNotices());
    ASSERT_EQ(notices.size(), 2u);
    EXPECT_EQ(notices[0].state, ExpiryState::kExpired);  // ordered by state name
    EXPECT_EQ(notices[0].fired_at, kE);
    EXPECT_EQ(notices[1].state, ExpiryState::kExpiringSoon);
    EXPECT_EQ(notices[1].fired_at, kE - 6 * kDay);
  }
  {
    Stack s = Open();
    ASSERT_NE(s.worker, nullptr);
    KC_ASSERT_OK_AND_ASSIGN(size_t n6, s.dispatcher->FireDueExpiry(creds, kE + 2 * kDay));
    EXPECT_EQ(n6, 0u);
    // A rotation sets a new expiry: that value gets its own notices.
    creds[0].expires_at = kE + 5 * kDay;
    KC_ASSERT_OK_AND_ASSIGN(size_t n7, s.dispatcher->FireDueExpiry(creds, kE + 2 * kDay));
    EXPECT_EQ(n7, 1u);
    KC_ASSERT_OK_AND_ASSIGN(size_t n8, s.dispatcher->FireDueExpiry(creds, kE + 3 * kDay));
    EXPECT_EQ(n8, 0u);
    KC_ASSERT_OK_AND_ASSIGN(size_t n9, s.dispatcher->FireDueExpiry(creds, kE + 6 * kDay));
    EXPECT_EQ(n9, 1u);
    KC_ASSERT_OK_AND_ASSIGN(auto notices, s.store->ListExpiryNotices());
    EXPECT_EQ(notices.size(), 4u);
  }
}

TEST_F(WebhookExpirySchedulerTest, DownThroughTheWindowFiresOnlyExpired) {
  Stack s = Open();
  ASSERT_NE(s.worker, nullptr);
  const std::vector<CredentialExpiry> creds = {{"stripe", kE}};
  KC_ASSERT_OK_AND_ASSIGN(size_t n, s.dispatcher->FireDueExpiry(creds, kE + 30 * kDay));
  EXPECT_EQ(n, 1u);
  KC_ASSERT_OK_AND_ASSIGN(auto notices, s.store->ListExpiryNotices());
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].state, ExpiryState::kExpired);
}

TEST_F(WebhookExpirySchedulerTest, RecordFiredIsFirstWriterWins) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const ExpiryNotice n{"stripe", kE, ExpiryState::kExpired, 100};
  KC_ASSERT_OK_AND_ASSIGN(bool first, store->RecordFired(n));
  EXPECT_TRUE(first);
  ExpiryNotice later = n;
  later.fired_at = 200;
  KC_ASSERT_OK_AND_ASSIGN(bool second, store->RecordFired(later));
  EXPECT_FALSE(second);
  KC_ASSERT_OK_AND_ASSIGN(auto notices, store->ListExpiryNotices());
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].fired_at, 100);
  EXPECT_EQ(store->RecordFired(ExpiryNotice{"", kE, ExpiryState::kExpired, 1}).status().code(),
            Err::kInvalidArgument);
}

}  // namespace
}  // namespace keycell::broker::webhooks

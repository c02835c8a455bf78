// Event payload shape, RFC 3339 timestamps, identifiers and event names.

#include <gtest/gtest.h>

#include <set>

#include "broker/json/json.h"
#include "broker/webhooks/event.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::webhooks {
namespace {

constexpr int64_t kNow = 1748768400;  // 2025-06-01T09:00:00Z

json::Json ParseBody(const Event& e) {
  auto j = json::ParseJson(e.body);
  EXPECT_TRUE(j.ok()) << e.body;
  return j.ok() ? std::move(j).value() : json::Json();
}

TEST(WebhookEventTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(kNow), "2025-06-01T09:00:00Z");
  EXPECT_EQ(FormatRfc3339(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(INT64_MAX), "9999-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(INT64_MIN), "0000-01-01T00:00:00Z");
}

TEST(WebhookEventTest, PayloadShape) {
  KC_ASSERT_OK_AND_ASSIGN(Event e, MakeExpiryEvent("Resend Production", kNow + 7 * 86400,
                                                   ExpiryState::kExpiringSoon, kNow));
  EXPECT_EQ(e.type, EventType::kCredentialExpiringSoon);
  EXPECT_EQ(e.timestamp, kNow);
  // Exactly four members in this order, compact, as documented.
  EXPECT_EQ(e.body, "{\"id\":\"" + e.id +
                        "\",\"event\":\"credential.expiring_soon\",\"timestamp\":"
                        "\"2025-06-01T09:00:00Z\",\"data\":{\"credential\":\"Resend Production\","
                        "\"expires_at\":\"2025-06-08T09:00:00Z\",\"days_left\":7}}");
  json::Json j = ParseBody(e);
  EXPECT_EQ(json::ChildCount(j.get()), 4u);
  EXPECT_EQ(json::GetString(j.get(), "id"), e.id);
  EXPECT_EQ(json::GetString(j.get(), "event"), "credential.expiring_soon");
}

TEST(WebhookEventTest, EventIds) {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    KC_ASSERT_OK_AND_ASSIGN(Event e, MakeTestEvent("whk_x", kNow));
    ASSERT_EQ(e.id.size(), 4 + kEventIdBase62Chars);
    EXPECT_TRUE(e.id.starts_with("evt_"));
    EXPECT_EQ(
        e.id.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 4),
        std::string::npos);
    ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), 50u);
  KC_ASSERT_OK_AND_ASSIGN(std::string w, NewWebhookId());
  EXPECT_TRUE(IsWebhookId(w)) << w;
  EXPECT_FALSE(IsWebhookId("whk_short"));
  EXPECT_FALSE(IsWebhookId("evt_0123456789abcdef"));
  EXPECT_FALSE(IsWebhookId("whk_0123456789abcde!"));
}

TEST(WebhookEventTest, DaysLeft) {
  struct Case {
    int64_t left;
    int64_t days;
  };
  for (const Case c :
       {Case{7 * 86400, 7}, Case{6 * 86400 + 1, 7}, Case{86400, 1}, Case{1, 1}, Case{3600, 1}}) {
    KC_ASSERT_OK_AND_ASSIGN(Event e,
                            MakeExpiryEvent("c", kNow + c.left, ExpiryState::kExpiringSoon, kNow));
    json::Json j = ParseBody(e);
    EXPECT_EQ(json::GetInt(json::GetObject(j.get(), "data"), "days_left"), c.days) << c.left;
  }
  KC_ASSERT_OK_AND_ASSIGN(Event expired,
                          MakeExpiryEvent("c", kNow - 10, ExpiryState::kExpired, kNow));
  EXPECT_EQ(expired.type, EventType::kCredentialExpired);
  json::Json j = ParseBody(expired);
  const cJSON* data = json::GetObject(j.get(), "data");
  EXPECT_EQ(json::GetInt(data, "days_left"), 0);
  EXPECT_EQ(json::GetString(data, "expires_at"), "2025-06-01T08:59:50Z");
}

TEST(WebhookEventTest, OtherEventData) {
  KC_ASSERT_OK_AND_ASSIGN(Event err,
                          MakeCredentialErrorEvent("stripe", "api.stripe.com", 401, kNow));
  json::Json j = ParseBody(err);
  EXPECT_EQ(json::GetString(j.get(), "event"), "credential.error");
  const cJSON* d = json::GetObject(j.get(), "data");
  EXPECT_EQ(json::GetString(d, "credential"), "stripe");
  EXPECT_EQ(json::GetString(d, "host"), "api.stripe.com");
  EXPECT_EQ(json::GetInt(d, "status"), 401);

  KC_ASSERT_OK_AND_ASSIGN(Event lim, MakeUsageLimitEvent("agent-1", 100, 60, kNow));
  json::Json l = ParseBody(lim);
  EXPECT_EQ(json::GetString(l.get(), "event"), "usage.limit_reached");
  EXPECT_EQ(json::GetInt(json::GetObject(l.get(), "data"), "limit"), 100);

  KC_ASSERT_OK_AND_ASSIGN(Event t, MakeTestEvent("whk_abc", kNow));
  json::Json tj = ParseBody(t);
  EXPECT_EQ(json::GetString(tj.get(), "event"), "webhook.test");
  EXPECT_EQ(json::GetString(json::GetObject(tj.get(), "data"), "webhook_id"), "whk_abc");
}

TEST(WebhookEventTest, RefusesBadData) {
  EXPECT_EQ(MakeEvent(EventType::kWebhookTest, json::MakeArray(), kNow).status().code(),
            Err::kInvalidArgument);
  // Not valid UTF-8: refused, never printed as broken JSON.
  EXPECT_EQ(MakeCredentialErrorEvent("bad\xff", "h", 401, kNow).status().code(),
            Err::kInvalidArgument);
}

TEST(WebhookEventTest, Names) {
  for (EventType t :
       {EventType::kCredentialExpired, EventType::kCredentialExpiringSoon,
        EventType::kCredentialError, EventType::kUsageLimitReached, EventType::kWebhookTest}) {
    EXPECT_EQ(ParseEventName(EventName(t)), t);
  }
  EXPECT_EQ(ParseEventName("credential.Expired"), std::nullopt);
  EXPECT_EQ(ParseEventName(""), std::nullopt);
  EXPECT_STREQ(EventName(EventType::kCredentialExpiringSoon), "credential.expiring_soon");
}

}  // namespace
}  // namespace keycell::broker::webhooks

// webhooks.db: file conventions, the webhook registry, the bounded delivery log.

#include "broker/webhooks/webhook_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "tests/broker/webhooks/webhook_test_util.h"

namespace keycell::broker::webhooks {
namespace {

using ::keycell::test::Describe;
using test::HookTo;
using test::WebhookFixture;

class WebhookStoreTest : public WebhookFixture {};

DeliveryRecord Row(const std::string& webhook_id, int i) {
  DeliveryRecord d;
  d.webhook_id = webhook_id;
  d.event_id = "evt_" + std::to_string(i);
  d.event = "credential.error";
  d.attempt = 1;
  d.result = DeliveryResult::kDelivered;
  d.http_status = 200;
  d.latency_ms = i;
  return d;
}

TEST_F(WebhookStoreTest, FileIsPrivateAndWal) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->path(), dir_ + "/data/keycell/webhooks.db");
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/data/keycell").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(WebhookStoreTest, RefusesNewerSchema) {
  ASSERT_NE(OpenStore(), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 0)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto again = WebhookStore::Open(path_, StoreOptions());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Err::kInvalidArgument);
  EXPECT_STREQ(again.status().where(), kWebhookSchemaTooNew);
}

TEST_F(WebhookStoreTest, AddGetListRemove) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  // Duplicates merge and the order is canonical, whatever the caller passed.
  KC_ASSERT_OK_AND_ASSIGN(Webhook a, store->AddWebhook(HookTo("https://hooks.example.com/a",
                                                              {EventType::kUsageLimitReached,
                                                               EventType::kCredentialExpired,
                                                               EventType::kUsageLimitReached})));
  EXPECT_TRUE(IsWebhookId(a.id)) << a.id;
  EXPECT_EQ(a.created_at, now_.load());
  EXPECT_EQ(a.events,
            (std::vector<EventType>{EventType::kCredentialExpired, EventType::kUsageLimitReached}));
  now_ += 5;
  KC_ASSERT_OK_AND_ASSIGN(
      Webhook b, store->AddWebhook(HookTo("http://127.0.0.1:9/b", {EventType::kCredentialError})));
  KC_ASSERT_OK_AND_ASSIGN(Webhook got, store->GetWebhook(a.id));
  EXPECT_EQ(got.url, "https://hooks.example.com/a");
  EXPECT_EQ(got.sealed_secret, a.sealed_secret);
  EXPECT_EQ(got.secret_ref.record_id, "rec-webhook");
  EXPECT_EQ(got.secret_ref.version, 1u);
  EXPECT_EQ(got.secret_ref.name, "webhook:test");
  EXPECT_FALSE(got.last_delivery_at.has_value());

  KC_ASSERT_OK_AND_ASSIGN(auto all, store->ListWebhooks());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, a.id);
  EXPECT_EQ(all[1].id, b.id);
  KC_ASSERT_OK_AND_ASSIGN(auto subs, store->ListSubscribers(EventType::kCredentialError));
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0].id, b.id);

  KC_ASSERT_OK(store->RemoveWebhook(a.id));
  auto gone = store->GetWebhook(a.id);
  EXPECT_EQ(gone.status().code(), Err::kUnknownKey);
  EXPECT_STREQ(gone.status().where(), kNoSuchWebhook);
  EXPECT_EQ(store->RemoveWebhook(a.id).code(), Err::kUnknownKey);
}

TEST_F(WebhookStoreTest, AddRefusals) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto http = store->AddWebhook(HookTo("http://hooks.example.com/x"));
  EXPECT_EQ(http.status().code(), Err::kPolicyDenied) << Describe(http.status());
  EXPECT_NE(std::string(http.status().where()).find("loopback"), std::string::npos);
  EXPECT_EQ(store->AddWebhook(HookTo("https://user@x.example/")).status().code(),
            Err::kInvalidArgument);
  EXPECT_EQ(store->AddWebhook(HookTo("https://x.example/", {})).status().code(),
            Err::kInvalidArgument);
  EXPECT_EQ(
      store->AddWebhook(HookTo("https://x.example/", {EventType::kWebhookTest})).status().code(),
      Err::kInvalidArgument);
  NewWebhook no_secret = HookTo("https://x.example/");
  no_secret.sealed_secret.clear();
  EXPECT_EQ(store->AddWebhook(no_secret).status().code(), Err::kInvalidArgument);
  NewWebhook bad_id = HookTo("https://x.example/");
  bad_id.id = "whk_bad";
  EXPECT_EQ(store->AddWebhook(bad_id).status().code(), Err::kInvalidArgument);
  // A caller-chosen id (the daemon binds the sealed secret to it) is kept, once.
  NewWebhook with_id = HookTo("https://x.example/");
  with_id.id = "whk_0123456789abcdef";
  KC_ASSERT_OK_AND_ASSIGN(Webhook w, store->AddWebhook(with_id));
  EXPECT_EQ(w.id, with_id.id);
  EXPECT_EQ(store->AddWebhook(with_id).status().code(), Err::kInvalidArgument);
  KC_ASSERT_OK_AND_ASSIGN(auto all, store->ListWebhooks());
  EXPECT_EQ(all.size(), 1u);  // nothing refused was written
}

TEST_F(WebhookStoreTest, WebhookLimit) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (size_t i = 0; i < kMaxWebhooks; ++i)
    KC_ASSERT_OK(store->AddWebhook(HookTo("https://x.example/" + std::to_string(i))));
  auto over = store->AddWebhook(HookTo("https://x.example/over"));
  EXPECT_EQ(over.status().code(), Err::kTooLarge);
  EXPECT_STREQ(over.status().where(), kTooManyWebhooks);
}

TEST_F(WebhookStoreTest, DeliveryLogRowsAndLastStatus) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(Webhook w, store->AddWebhook(HookTo("https://x.example/")));
  DeliveryRecord failed = Row(w.id, 1);
  failed.result = DeliveryResult::kRetrying;
  failed.http_status.reset();
  failed.error = "timed out\r\nwaiting";  // control characters never reach a log line
  now_ += 10;
  KC_ASSERT_OK_AND_ASSIGN(DeliveryRecord r1, store->RecordDelivery(failed));
  EXPECT_EQ(r1.at, now_.load());
  EXPECT_EQ(r1.error, "timed out__waiting");
  KC_ASSERT_OK_AND_ASSIGN(Webhook after1, store->GetWebhook(w.id));
  EXPECT_EQ(after1.last_delivery_at, now_.load());
  EXPECT_FALSE(after1.last_status.has_value());
  EXPECT_EQ(after1.last_error, "timed out__waiting");

  now_ += 1;
  KC_ASSERT_OK(store->RecordDelivery(Row(w.id, 2)));
  KC_ASSERT_OK_AND_ASSIGN(Webhook after2, store->GetWebhook(w.id));
  EXPECT_EQ(after2.last_status, 200);
  EXPECT_EQ(after2.last_error, "");
  // A drop is logged but is no delivery attempt.
  DeliveryRecord drop = Row(w.id, 3);
  drop.attempt = 0;
  drop.result = DeliveryResult::kDropped;
  drop.http_status.reset();
  now_ += 1;
  KC_ASSERT_OK(store->RecordDelivery(drop));
  KC_ASSERT_OK_AND_ASSIGN(Webhook after3, store->GetWebhook(w.id));
  EXPECT_EQ(after3.last_delivery_at, after2.last_delivery_at);

  KC_ASSERT_OK_AND_ASSIGN(auto rows, store->ListDeliveries(w.id, 10));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].result, DeliveryResult::kDropped);  // newest first
  EXPECT_EQ(rows[2].result, DeliveryResult::kRetrying);
  EXPECT_GT(rows[0].seq, rows[1].seq);
  // A removed webhook gets no rows (and says so).
  EXPECT_EQ(store->RecordDelivery(Row("whk_0000000000000000", 9)).status().code(),
            Err::kUnknownKey);
  EXPECT_EQ(store->ListDeliveries(std::nullopt, 0).status().code(), Err::kInvalidArgument);
  DeliveryRecord bad = Row(w.id, 1);
  bad.http_status = 42;
  EXPECT_EQ(store->RecordDelivery(bad).status().code(), Err::kInvalidArgument);
}

TEST_F(WebhookStoreTest, DeliveryLogIsBoundedPerWebhook) {
  WebhookStore::Options o = StoreOptions();
  o.max_deliveries_per_webhook = 5;
  auto store = OpenStore(o);
  ASSERT_NE(store, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(Webhook a, store->AddWebhook(HookTo("https://a.example/")));
  KC_ASSERT_OK_AND_ASSIGN(Webhook b, store->AddWebhook(HookTo("https://b.example/")));
  for (int i = 1; i <= 3; ++i) KC_ASSERT_OK(store->RecordDelivery(Row(b.id, 100 + i)));
  for (int i = 1; i <= 12; ++i) KC_ASSERT_OK(store->RecordDelivery(Row(a.id, i)));
  KC_ASSERT_OK_AND_ASSIGN(auto rows_a, store->ListDeliveries(a.id, 100));
  ASSERT_EQ(rows_a.size(), 5u);
  EXPECT_EQ(rows_a.front().event_id, "evt_12");
  EXPECT_EQ(rows_a.back().event_id, "evt_8");
  KC_ASSERT_OK_AND_ASSIGN(auto rows_b, store->ListDeliveries(b.id, 100));
  EXPECT_EQ(rows_b.size(), 3u);  // another webhook's log is untouched
  KC_ASSERT_OK_AND_ASSIGN(auto all, store->ListDeliveries(std::nullopt, 100));
  EXPECT_EQ(all.size(), 8u);
  KC_ASSERT_OK_AND_ASSIGN(auto two, store->ListDeliveries(std::nullopt, 2));
  EXPECT_EQ(two.size(), 2u);
}

TEST_F(WebhookStoreTest, DefaultBoundIsOneThousand) {
  EXPECT_EQ(WebhookStore::Options().max_deliveries_per_webhook, 1000);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(Webhook a, store->AddWebhook(HookTo("https://a.example/")));
  std::vector<DeliveryRecord> rows;
  for (int i = 1; i <= 1005; ++i) rows.push_back(Row(a.id, i));
  KC_ASSERT_OK_AND_ASSIGN(size_t written, store->RecordDeliveries(rows));  // one transaction
  EXPECT_EQ(written, 1005u);
  KC_ASSERT_OK_AND_ASSIGN(auto kept, store->ListDeliveries(a.id, kMaxDeliveryListLimit));
  ASSERT_EQ(kept.size(), 1000u);
  EXPECT_EQ(kept.front().event_id, "evt_1005");
  EXPECT_EQ(kept.back().event_id, "evt_6");
}

TEST_F(WebhookStoreTest, RemoveDropsDeliveries) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(Webhook a, store->AddWebhook(HookTo("https://a.example/")));
  KC_ASSERT_OK_AND_ASSIGN(Webhook b, store->AddWebhook(HookTo("https://b.example/")));
  for (int i = 0; i < 4; ++i) {
    KC_ASSERT_OK(store->RecordDelivery(Row(a.id, i)));
    KC_ASSERT_OK(store->RecordDelivery(Row(b.id, i)));
  }
  KC_ASSERT_OK(store->RemoveWebhook(a.id));
  KC_ASSERT_OK_AND_ASSIGN(auto all, store->ListDeliveries(std::nullopt, 100));
  ASSERT_EQ(all.size(), 4u);
  for (const DeliveryRecord& d : all) EXPECT_EQ(d.webhook_id, b.id);
  // RecordDeliveries skips rows of webhooks that are gone instead of failing the batch.
  KC_ASSERT_OK_AND_ASSIGN(size_t written, store->RecordDeliveries(std::vector<DeliveryRecord>{
                                              Row(a.id, 9), Row(b.id, 9)}));
  EXPECT_EQ(written, 1u);
}

TEST_F(WebhookStoreTest, SurvivesReopen) {
  std::string id;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    KC_ASSERT_OK_AND_ASSIGN(Webhook w, store->AddWebhook(HookTo("https://a.example/")));
    id = w.id;
    KC_ASSERT_OK(store->RecordDelivery(Row(id, 1)));
  }
  auto again = OpenStore();
  ASSERT_NE(again, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(Webhook w, again->GetWebhook(id));
  EXPECT_EQ(w.last_status, 200);
  KC_ASSERT_OK_AND_ASSIGN(auto rows, again->ListDeliveries(id, 10));
  EXPECT_EQ(rows.size(), 1u);
}

}  // namespace
}  // namespace keycell::broker::webhooks

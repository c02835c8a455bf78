// Delivery end to end against loopback receivers: headers and signature, retries and
// backoff, timeouts that never block the caller, the bounded queue, shutdown, HTTPS with a
// test CA, and the dispatcher's fan-out.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "broker/json/json.h"
#include "broker/webhooks/delivery_worker.h"
#include "broker/webhooks/dispatcher.h"
#include "broker/webhooks/http_client.h"
#include "tests/broker/webhooks/test_pki.h"
#include "tests/broker/webhooks/test_receiver.h"
#include "tests/broker/webhooks/webhook_test_util.h"

namespace keycell::broker::webhooks {
namespace {

using ::keycell::test::Describe;
using std::chrono::milliseconds;
using test::HookTo;
using test::kHang;
using test::TestReceiver;
using Clock = std::chrono::steady_clock;

constexpr int64_t kNow = 1748768400;
constexpr auto kWait =
    std::chrono::seconds(20);  // generous bound for slow CI; tests pass far sooner

std::string HttpUrl(const TestReceiver& r, const std::string& path = "/hook") {
  return "http://127.0.0.1:" + std::to_string(r.port()) + path;
}
std::string HttpsUrl(const TestReceiver& r) {
  return "https://localhost:" + std::to_string(r.port()) + "/hook";
}

std::string Hex(const Mac& m) { return SignatureHeaderValue(m).substr(7); }

class WebhookDeliveryTest : public test::WebhookFixture {
 protected:
  void SetUp() override {
    WebhookFixture::SetUp();
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    worker_.reset();  // joins before the store goes
    store_.reset();
    WebhookFixture::TearDown();
  }

  DeliveryWorker::Options FastOptions() {
    DeliveryWorker::Options o;
    o.attempt_timeout_ms = 5000;
    o.retry_backoff_ms = {30, 60, 120};
    o.http.system_ca_file = "";  // loopback only; the TLS tests set their own
    return o;
  }
  void StartWorker(DeliveryWorker::Options o, SignFn sign = test::BlobKeyedSigner()) {
    auto w = DeliveryWorker::Start(store_.get(), std::move(sign), std::move(o));
    ASSERT_TRUE(w.ok()) << Describe(w.status());
    worker_ = std::move(w).value();
  }
  Webhook AddHook(const std::string& url,
                  std::vector<EventType> events = {EventType::kCredentialError}) {
    auto w = store_->AddWebhook(HookTo(url, std::move(events)));
    EXPECT_TRUE(w.ok()) << Describe(w.status());
    return w.ok() ? std::move(w).value() : Webhook{};
  }
  Event ErrorEvent() {
    auto e = MakeCredentialErrorEvent("stripe", "api.stripe.com", 401, kNow);
    EXPECT_TRUE(e.ok());
    return e.ok() ? std::move(e).value() : Event{};
  }
  // Oldest first, which reads better in assertions.
  std::vector<DeliveryRecord> Log(const std::string& webhook_id) {
    auto rows = store_->ListDeliveries(webhook_id, 1000);
    EXPECT_TRUE(rows.ok());
    std::vector<DeliveryRecord> out =
        rows.ok() ? std::move(rows).value() : std::vector<DeliveryRecord>{};
    std::reverse(out.begin(), out.end());
    return out;
  }
  // Polls the log until it has `n` rows (the worker writes after the receiver answered).
  std::vector<DeliveryRecord> WaitForLog(const std::string& webhook_id, size_t n) {
    const auto until = Clock::now() + kWait;
    std::vector<DeliveryRecord> rows;
    while (Clock::now() < until && (rows = Log(webhook_id)).size() < n)
      std::this_thread::sleep_for(milliseconds(5));
    return rows;
  }

  std::unique_ptr<WebhookStore> store_;
  std::unique_ptr<DeliveryWorker> worker_;
};

TEST_F(WebhookDeliveryTest, HeadersAndSignature) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  StartWorker(FastOptions());
  const Webhook hook = AddHook(HttpUrl(*rx, "/in/keycell?src=test"));
  const Event event = ErrorEvent();
  ASSERT_TRUE(worker_->Enqueue(hook.id, event));
  ASSERT_TRUE(worker_->WaitIdle(kWait));

  const auto reqs = rx->requests();
  ASSERT_EQ(reqs.size(), 1u);
  const test::ReceivedRequest& r = reqs[0];
  EXPECT_EQ(r.request_line, "POST /in/keycell?src=test HTTP/1.1");
  EXPECT_EQ(r.body, event.body);  // the exact bytes that were signed
  auto h = [&](const char* name) {
    return r.headers.count(name) ? r.headers.at(name) : "<missing>";
  };
  EXPECT_EQ(h("host"), "127.0.0.1:" + std::to_string(rx->port()));
  EXPECT_EQ(h("content-type"), "application/json");
  EXPECT_EQ(h("user-agent"), "keycell-webhooks/1");
  EXPECT_EQ(h("x-keycell-event"), "credential.error");
  EXPECT_EQ(h("x-keycell-delivery"), event.id);
  EXPECT_EQ(h("content-length"), std::to_string(event.body.size()));
  // The receiver's check, done independently: HMAC-SHA256 of the raw body with the
  // secret, lower-case hex, "sha256=" prefix.
  const Mac expected = test::HmacSha256(test::kTestSecret, r.body);
  EXPECT_EQ(h("x-keycell-signature"), "sha256=" + Hex(expected));
  EXPECT_EQ(h("x-keycell-signature").size(), 7u + 64u);
  // The payload parses and names the event it was delivered as.
  auto j = json::ParseJson(r.body);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(json::GetString(j->get(), "id"), event.id);
  EXPECT_EQ(json::GetString(j->get(), "event"), "credential.error");

  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_EQ(rows[0].result, DeliveryResult::kDelivered);
  EXPECT_EQ(rows[0].http_status, 200);
  EXPECT_EQ(rows[0].event_id, event.id);
  EXPECT_EQ(rows[0].event, "credential.error");
  EXPECT_EQ(rows[0].error, "");
  EXPECT_EQ(rows[0].at, now_.load());
  KC_ASSERT_OK_AND_ASSIGN(Webhook after, store_->GetWebhook(hook.id));
  EXPECT_EQ(after.last_status, 200);
  EXPECT_EQ(worker_->stats().delivered, 1u);
}

TEST_F(WebhookDeliveryTest, RetriesWithBackoffThenSucceeds) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->Script({500, 500});  // then the default 200
  std::atomic<int> sign_calls{0};
  StartWorker(FastOptions(), test::BlobKeyedSigner(&sign_calls));
  const Webhook hook = AddHook(HttpUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));

  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 3u);  // exactly three attempts
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rows[i].attempt, i + 1);
  EXPECT_EQ(rows[0].result, DeliveryResult::kRetrying);
  EXPECT_EQ(rows[0].http_status, 500);
  EXPECT_EQ(rows[0].error, "HTTP 500");
  EXPECT_EQ(rows[1].result, DeliveryResult::kRetrying);
  EXPECT_EQ(rows[2].result, DeliveryResult::kDelivered);
  EXPECT_EQ(rows[2].http_status, 200);
  // Backoff order: the gaps follow the schedule (30 ms, then 60 ms).
  const auto reqs = rx->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_GE(reqs[1].at - reqs[0].at, milliseconds(30));
  EXPECT_GE(reqs[2].at - reqs[1].at, milliseconds(60));
  // Every retry sends the same bytes and signature; the enclave is asked once.
  EXPECT_EQ(reqs[0].body, reqs[2].body);
  EXPECT_EQ(reqs[0].headers.at("x-keycell-signature"), reqs[2].headers.at("x-keycell-signature"));
  EXPECT_EQ(reqs[0].headers.at("x-keycell-delivery"), reqs[2].headers.at("x-keycell-delivery"));
  EXPECT_EQ(sign_calls.load(), 1);
}

TEST_F(WebhookDeliveryTest, GivesUpAfterThreeRetries) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->set_default_reply(503);
  DeliveryWorker::Options o = FastOptions();
  o.retry_backoff_ms = {1, 1, 1};
  StartWorker(o);
  const Webhook hook = AddHook(HttpUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 4u);  // the first attempt + 3 retries
  EXPECT_EQ(rows[3].attempt, 4);
  EXPECT_EQ(rows[3].result, DeliveryResult::kFailed);
  EXPECT_EQ(rows[3].http_status, 503);
  EXPECT_EQ(rx->requests().size(), 4u);
  EXPECT_EQ(worker_->stats().failed, 1u);
}

TEST_F(WebhookDeliveryTest, DefaultScheduleIsOneTwoFourSeconds) {
  const DeliveryWorker::Options o;
  EXPECT_EQ(o.retry_backoff_ms, (std::vector<int>{1000, 2000, 4000}));
  EXPECT_EQ(o.attempt_timeout_ms, 10000);
}

TEST_F(WebhookDeliveryTest, HangingReceiverTimesOutWithoutBlockingTheCaller) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->set_default_reply(kHang);
  DeliveryWorker::Options o = FastOptions();
  o.attempt_timeout_ms = 300;
  o.retry_backoff_ms = {};
  StartWorker(o);
  const Webhook hook = AddHook(HttpUrl(*rx));
  const Event e = ErrorEvent();
  auto t0 = Clock::now();
  ASSERT_TRUE(worker_->Enqueue(hook.id, e));
  EXPECT_LT(Clock::now() - t0, milliseconds(50));
  // While the worker sits in the hanging attempt, Enqueue still returns at once.
  ASSERT_TRUE(rx->WaitForRequests(1, kWait));
  t0 = Clock::now();
  EXPECT_TRUE(worker_->Enqueue(hook.id, e));
  EXPECT_LT(Clock::now() - t0, milliseconds(50));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].result, DeliveryResult::kFailed);
  EXPECT_FALSE(rows[0].http_status.has_value());
  EXPECT_EQ(rows[0].error, "timed out waiting for the response");
  EXPECT_GE(rows[0].latency_ms, 300);
  EXPECT_LT(rows[0].latency_ms, 5000);
}

TEST_F(WebhookDeliveryTest, ConnectionRefusedIsLogged) {
  // A port nobody listens on: bind one, note it, close it.
  int port = 0;
  {
    auto rx = TestReceiver::Start();
    ASSERT_NE(rx, nullptr);
    port = rx->port();
  }
  DeliveryWorker::Options o = FastOptions();
  o.retry_backoff_ms = {};
  StartWorker(o);
  const Webhook hook = AddHook("http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].error, "connect failed: Connection refused");
}

TEST_F(WebhookDeliveryTest, FullQueueDropsAndLogs) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->set_default_reply(kHang);
  DeliveryWorker::Options o = FastOptions();
  o.queue_capacity = 2;
  o.attempt_timeout_ms = 10000;
  o.retry_backoff_ms = {};
  StartWorker(o);
  const Webhook hook = AddHook(HttpUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));  // in flight, hanging
  ASSERT_TRUE(rx->WaitForRequests(1, kWait));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));  // queued
  const Event dropped = ErrorEvent();
  const auto t0 = Clock::now();
  EXPECT_FALSE(worker_->Enqueue(hook.id, dropped));  // full: dropped, not blocked
  EXPECT_LT(Clock::now() - t0, milliseconds(50));
  EXPECT_EQ(worker_->stats().dropped, 1u);
  // The worker writes the drop's row between attempts; this one hangs, so stop it.
  worker_->Stop();
  const auto rows = Log(hook.id);
  // The cancelled attempt, the drop, and the queued delivery abandoned at Stop().
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].error, "delivery cancelled (shutting down)");
  EXPECT_EQ(rows[2].result, DeliveryResult::kAbandoned);
  const auto drop = std::find_if(rows.begin(), rows.end(), [](const DeliveryRecord& r) {
    return r.result == DeliveryResult::kDropped;
  });
  ASSERT_NE(drop, rows.end());
  const DeliveryRecord& d = *drop;
  EXPECT_EQ(d.attempt, 0);
  EXPECT_EQ(d.event_id, dropped.id);
  EXPECT_EQ(d.error, "dropped: delivery queue full");
  EXPECT_FALSE(d.http_status.has_value());
}

TEST_F(WebhookDeliveryTest, StopAbandonsPendingRetriesAndInterruptsTheAttempt) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->Script({500});
  rx->set_default_reply(kHang);
  DeliveryWorker::Options o = FastOptions();
  o.attempt_timeout_ms = 10000;
  o.retry_backoff_ms = {10000, 10000};  // the retry would wait 10 s
  StartWorker(o);
  const Webhook a = AddHook(HttpUrl(*rx));
  const Webhook b = AddHook(HttpUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(a.id, ErrorEvent()));
  ASSERT_EQ(WaitForLog(a.id, 1).size(), 1u);          // a: 500, retry scheduled in 10 s
  ASSERT_TRUE(worker_->Enqueue(b.id, ErrorEvent()));  // b: hangs in flight
  ASSERT_TRUE(rx->WaitForRequests(2, kWait));
  const auto t0 = Clock::now();
  worker_->Stop();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));  // neither 10 s wait happened
  EXPECT_FALSE(worker_->Enqueue(a.id, ErrorEvent()));
  EXPECT_EQ(worker_->DeliverNow(a.id, ErrorEvent()).status().code(), Err::kUnavailable);

  const auto rows_a = Log(a.id);
  ASSERT_EQ(rows_a.size(), 2u);
  EXPECT_EQ(rows_a[0].result, DeliveryResult::kRetrying);
  EXPECT_EQ(rows_a[1].result, DeliveryResult::kAbandoned);
  EXPECT_EQ(rows_a[1].attempt, 2);
  EXPECT_EQ(rows_a[1].error, "abandoned: keycelld stopped before attempt 2");
  const auto rows_b = Log(b.id);
  ASSERT_EQ(rows_b.size(), 2u);
  EXPECT_EQ(rows_b[0].error, "delivery cancelled (shutting down)");
  EXPECT_EQ(rows_b[1].result, DeliveryResult::kAbandoned);
  EXPECT_EQ(worker_->stats().abandoned, 2u);
  worker_->Stop();  // idempotent
}

TEST_F(WebhookDeliveryTest, SignFailureIsRetried) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  std::atomic<int> calls{0};
  SignFn flaky = [&calls](const Webhook& hook, ByteView body) -> Result<Mac> {
    if (calls++ == 0) return Status(Err::kLocked, "enclave: locked");
    return test::HmacSha256(AsChars(ByteView(hook.sealed_secret)), AsChars(body));
  };
  StartWorker(FastOptions(), flaky);
  const Webhook hook = AddHook(HttpUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].error, "signing failed: enclave: locked (locked)");
  EXPECT_EQ(rows[1].result, DeliveryResult::kDelivered);
  EXPECT_EQ(rx->requests().size(), 1u);  // nothing unsigned was ever sent
}

TEST_F(WebhookDeliveryTest, RemovedWebhookIsSkipped) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->Script({500});
  DeliveryWorker::Options o = FastOptions();
  o.retry_backoff_ms = {200};
  StartWorker(o);
  const Webhook hook = AddHook(HttpUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_EQ(WaitForLog(hook.id, 1).size(), 1u);
  KC_ASSERT_OK(store_->RemoveWebhook(hook.id));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  EXPECT_EQ(rx->requests().size(), 1u);  // the retry did not go out
}

TEST_F(WebhookDeliveryTest, DispatcherFansOutBySubscription) {
  auto rx1 = TestReceiver::Start();
  auto rx2 = TestReceiver::Start();
  ASSERT_NE(rx1, nullptr);
  ASSERT_NE(rx2, nullptr);
  StartWorker(FastOptions());
  const Webhook errors = AddHook(HttpUrl(*rx1), {EventType::kCredentialError});
  const Webhook expiry =
      AddHook(HttpUrl(*rx2), {EventType::kCredentialExpired, EventType::kCredentialExpiringSoon});
  Dispatcher d(store_.get(), worker_.get());
  KC_ASSERT_OK_AND_ASSIGN(size_t n, d.Dispatch(ErrorEvent()));
  EXPECT_EQ(n, 1u);
  const std::vector<CredentialExpiry> creds = {{"stripe", kNow + 3600}};
  KC_ASSERT_OK_AND_ASSIGN(size_t fired, d.FireDueExpiry(creds, kNow));
  EXPECT_EQ(fired, 1u);
  KC_ASSERT_OK_AND_ASSIGN(size_t again, d.FireDueExpiry(creds, kNow + 60));
  EXPECT_EQ(again, 0u);
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  ASSERT_EQ(rx1->requests().size(), 1u);
  EXPECT_EQ(rx1->requests()[0].headers.at("x-keycell-event"), "credential.error");
  ASSERT_EQ(rx2->requests().size(), 1u);
  EXPECT_EQ(rx2->requests()[0].headers.at("x-keycell-event"), "credential.expiring_soon");
  // webhook.test is never fanned out.
  KC_ASSERT_OK_AND_ASSIGN(Event t, MakeTestEvent(errors.id, kNow));
  KC_ASSERT_OK_AND_ASSIGN(size_t none, d.Dispatch(t));
  EXPECT_EQ(none, 0u);
  (void)expiry;
}

TEST_F(WebhookDeliveryTest, SendTestDeliversNowAndReports) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  rx->Script({418});
  StartWorker(FastOptions());
  const Webhook hook = AddHook(HttpUrl(*rx), {EventType::kUsageLimitReached});
  Dispatcher d(store_.get(), worker_.get());
  KC_ASSERT_OK_AND_ASSIGN(DeliveryRecord first, d.SendTest(hook.id, kNow));
  EXPECT_EQ(first.result, DeliveryResult::kFailed);  // one attempt, no retries
  EXPECT_EQ(first.http_status, 418);
  KC_ASSERT_OK_AND_ASSIGN(DeliveryRecord second, d.SendTest(hook.id, kNow));
  EXPECT_EQ(second.result, DeliveryResult::kDelivered);
  EXPECT_EQ(second.event, "webhook.test");
  ASSERT_EQ(rx->requests().size(), 2u);
  EXPECT_EQ(rx->requests()[1].headers.at("x-keycell-event"), "webhook.test");
  EXPECT_EQ(Log(hook.id).size(), 2u);
  EXPECT_EQ(d.SendTest("whk_0000000000000000", kNow).status().code(), Err::kUnknownKey);
}

TEST_F(WebhookDeliveryTest, AnAddressTheFilterRefusesIsNeverContacted) {
  auto rx = TestReceiver::Start();
  ASSERT_NE(rx, nullptr);
  DeliveryWorker::Options o = FastOptions();
  o.retry_backoff_ms = {};
  int asked = 0;
  // keycelld refuses metadata addresses this way; here the loopback receiver stands in.
  o.http.address_allowed = [&asked](const sockaddr*) {
    ++asked;
    return false;
  };
  StartWorker(o);
  const Webhook hook = AddHook(HttpUrl(*rx), {EventType::kUsageLimitReached});
  Dispatcher d(store_.get(), worker_.get());
  KC_ASSERT_OK_AND_ASSIGN(DeliveryRecord row, d.SendTest(hook.id, kNow));
  EXPECT_EQ(row.result, DeliveryResult::kFailed);
  EXPECT_NE(row.error.find("may not reach"), std::string::npos) << row.error;
  EXPECT_GE(asked, 1);
  EXPECT_TRUE(rx->requests().empty());
}

// ---- HTTPS ----------------------------------------------------------------------------

class WebhookTlsTest : public WebhookDeliveryTest {
 protected:
  void SetUp() override {
    WebhookDeliveryTest::SetUp();
    pki_ = test::MakeTestPki();
    ca_path_ = dir_ + "/test-ca.pem";
    std::ofstream(ca_path_) << pki_.ca_pem;
  }
  DeliveryWorker::Options TlsOptions(bool with_test_ca) {
    DeliveryWorker::Options o = FastOptions();
    o.retry_backoff_ms = {};
    o.http.system_ca_file = kSystemCaBundle;  // what the daemon uses
    if (with_test_ca) o.http.extra_ca_file = ca_path_;
    return o;
  }
  test::TestPki pki_;
  std::string ca_path_;
};

TEST_F(WebhookTlsTest, DeliversWithTheExtraCa) {
  auto rx = TestReceiver::Start(pki_.localhost);
  ASSERT_NE(rx, nullptr);
  StartWorker(TlsOptions(true));
  const Webhook hook = AddHook(HttpsUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result, DeliveryResult::kDelivered) << rows[0].error;
  ASSERT_EQ(rx->requests().size(), 1u);
  const test::ReceivedRequest r = rx->requests()[0];
  EXPECT_EQ(r.headers.at("host"), "localhost:" + std::to_string(rx->port()));
  EXPECT_EQ(r.headers.at("x-keycell-signature"),
            "sha256=" + Hex(test::HmacSha256(test::kTestSecret, r.body)));
}

TEST_F(WebhookTlsTest, RefusesWithoutTheCa) {
  auto rx = TestReceiver::Start(pki_.localhost);
  ASSERT_NE(rx, nullptr);
  StartWorker(TlsOptions(false));
  const Webhook hook = AddHook(HttpsUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result, DeliveryResult::kFailed);
  EXPECT_TRUE(
      rows[0].error.starts_with("tls: certificate not trusted (unknown CA or incomplete chain)"))
      << rows[0].error;
  EXPECT_TRUE(rx->requests().empty());  // not a byte of the payload went out
}

TEST_F(WebhookTlsTest, RefusesAWrongName) {
  auto rx = TestReceiver::Start(pki_.wrong_name);
  ASSERT_NE(rx, nullptr);
  StartWorker(TlsOptions(true));
  const Webhook hook = AddHook(HttpsUrl(*rx));
  ASSERT_TRUE(worker_->Enqueue(hook.id, ErrorEvent()));
  ASSERT_TRUE(worker_->WaitIdle(kWait));
  const auto rows = Log(hook.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows[0].error.starts_with("tls: certificate does not match the host name"))
      << rows[0].error;
  EXPECT_TRUE(rx->requests().empty());
}

TEST_F(WebhookTlsTest, ClientStatusCodes) {
  // The same three cases at the client's level, by `where`.
  auto good = TestReceiver::Start(pki_.localhost);
  auto wrong = TestReceiver::Start(pki_.wrong_name);
  ASSERT_NE(good, nullptr);
  ASSERT_NE(wrong, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto with_ca, HttpClient::Create({"", ca_path_}));
  KC_ASSERT_OK_AND_ASSIGN(auto system_only, HttpClient::Create({}));
  const HttpHeader headers[] = {{"Content-Type", "application/json"}};
  auto url = [](const TestReceiver& r) { return *ParseWebhookUrl(HttpsUrl(r)); };

  KC_ASSERT_OK_AND_ASSIGN(int status, with_ca->Post(url(*good), headers, "{}", 5000));
  EXPECT_EQ(status, 200);
  auto untrusted = system_only->Post(url(*good), headers, "{}", 5000);
  EXPECT_EQ(untrusted.status().code(), Err::kTls);
  EXPECT_STREQ(untrusted.status().where(), kCertNotTrusted);
  auto mismatch = with_ca->Post(url(*wrong), headers, "{}", 5000);
  EXPECT_STREQ(mismatch.status().where(), kCertNameMismatch) << Describe(mismatch.status());
  // The client enforces the policy on its own too.
  auto plain = with_ca->Post(*ParseWebhookUrl("http://example.com/"), headers, "{}", 5000);
  EXPECT_EQ(plain.status().code(), Err::kPolicyDenied);
  // No header injection through a value.
  const HttpHeader evil[] = {{"X-A", "b\r\nX-Injected: 1"}};
  EXPECT_EQ(with_ca->Post(url(*good), evil, "{}", 5000).status().code(), Err::kInvalidArgument);
}

TEST_F(WebhookTlsTest, MissingExtraCaFileFailsAtStart) {
  DeliveryWorker::Options o = TlsOptions(true);
  o.http.extra_ca_file = dir_ + "/no-such-ca.pem";
  auto w = DeliveryWorker::Start(store_.get(), test::BlobKeyedSigner(), o);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Err::kUpstreamIo);
  std::ofstream(dir_ + "/junk.pem")
      << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  o.http.extra_ca_file = dir_ + "/junk.pem";
  auto junk = DeliveryWorker::Start(store_.get(), test::BlobKeyedSigner(), o);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), Err::kTls);
}

}  // namespace
}  // namespace keycell::broker::webhooks

#pragma once
// Shared fixture for the webhook tests: a fresh temp directory with webhooks.db, a fake
// clock, and a SignFn that stands in for the enclave: it uses the webhook's "sealed"
// blob directly as the HMAC key (in production the enclave unseals the blob and keys the
// HMAC with the secret inside; the library cannot tell the difference).

#include <gtest/gtest.h>
#include <mbedtls/md.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "broker/webhooks/delivery_worker.h"
#include "broker/webhooks/webhook_store.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::webhooks::test {

inline constexpr char kTestSecret[] = "whsec_test_0123456789abcdefghijklmnopqrstuv";

// HMAC-SHA256(key, data) with mbedTLS, as a receiver would compute it.
inline Mac HmacSha256(std::string_view key, std::string_view data) {
  Mac out{};
  const int rc = mbedtls_md_hmac(
      mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const uint8_t*>(key.data()),
      key.size(), reinterpret_cast<const uint8_t*>(data.data()), data.size(), out.data());
  EXPECT_EQ(rc, 0);
  return out;
}

// The enclave stand-in: the blob is the key.
inline SignFn BlobKeyedSigner(std::atomic<int>* calls = nullptr) {
  return [calls](const Webhook& hook, ByteView body) -> Result<Mac> {
    if (calls != nullptr) ++*calls;
    return HmacSha256(AsChars(ByteView(hook.sealed_secret)), AsChars(body));
  };
}

inline NewWebhook HookTo(const std::string& url,
                         std::vector<EventType> events = {
                             EventType::kCredentialExpired, EventType::kCredentialExpiringSoon,
                             EventType::kCredentialError, EventType::kUsageLimitReached}) {
  NewWebhook h;
  h.url = url;
  h.events = std::move(events);
  const std::string_view secret(kTestSecret);
  h.sealed_secret.assign(secret.begin(), secret.end());
  h.secret_ref = SecretRef{"rec-webhook", 1, "webhook:test"};
  return h;
}

class WebhookFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kc-webhooks-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = WebhookStore::PathIn(dir_ + "/data/keycell");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  WebhookStore::Options StoreOptions() {
    WebhookStore::Options o;
    o.clock = [this] { return now_.load(); };
    o.busy_timeout_ms = 30000;  // generous: CI machines stall on fsync
    return o;
  }
  std::unique_ptr<WebhookStore> OpenStore() { return OpenStore(StoreOptions()); }
  std::unique_ptr<WebhookStore> OpenStore(WebhookStore::Options o) {
    auto r = WebhookStore::Open(path_, std::move(o));
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() ? std::move(r).value() : nullptr;
  }

  std::string dir_;
  std::string path_;
  std::atomic<int64_t> now_{1'750'000'000};
};

}  // namespace keycell::broker::webhooks::test

// `keycell webhooks` end to end: the secret the human is shown once verifies the
// signature a local receiver gets; the delivery log; an expiry event after `add`.

#include <gtest/gtest.h>
#include <mbedtls/md.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/broker/cli/cli_harness.h"
#include "tests/broker/webhooks/test_receiver.h"

namespace keycell::test {
namespace {

using broker::webhooks::test::TestReceiver;

std::string HmacHex(const std::string& key, const std::string& body) {
  uint8_t mac[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const uint8_t*>(key.data()),
                  key.size(), reinterpret_cast<const uint8_t*>(body.data()), body.size(), mac);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : mac) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CliWebhooksTest, AddTestDeliveriesAndExpiryEvent) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  ASSERT_EQ(box.Unlock().exit_code, 0);
  auto receiver = TestReceiver::Start();
  ASSERT_NE(receiver, nullptr);
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver->port()) + "/hook";

  ProcResult add = box.Keycell({"webhooks", "add", url, "--events", "credential.expiring_soon,credential.expired"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::string secret = add.out.substr(0, add.out.find('\n'));
  ASSERT_EQ(secret.size(), 40u) << add.out;
  const size_t at = add.err.find("whk_");
  ASSERT_NE(at, std::string::npos) << add.err;
  const std::string id = add.err.substr(at, 20);

  ProcResult test = box.Keycell({"webhooks", "test", id});
  ASSERT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_NE(test.out.find("receiver answered 200"), std::string::npos) << test.out;
  ASSERT_EQ(receiver->requests().size(), 1u);
  const auto first = receiver->requests()[0];
  EXPECT_EQ(first.headers.at("x-keycell-signature"), "sha256=" + HmacHex(secret, first.body));
  EXPECT_EQ(first.headers.at("x-keycell-event"), "webhook.test");

  // A credential expiring in three days: the scheduler notices the add at once.
  ASSERT_EQ(box.Add("stripe-prod", "sk-webhook-canary-1", {"--provider", "stripe", "--expires", "3d"}).exit_code, 0);
  ASSERT_TRUE(receiver->WaitForRequests(2, std::chrono::seconds(20)));
  const auto expiring = receiver->requests()[1];
  EXPECT_EQ(expiring.headers.at("x-keycell-event"), "credential.expiring_soon");
  EXPECT_NE(expiring.body.find("\"credential\":\"stripe-prod\""), std::string::npos) << expiring.body;
  EXPECT_EQ(expiring.headers.at("x-keycell-signature"), "sha256=" + HmacHex(secret, expiring.body));

  ProcResult log = box.Keycell({"webhooks", "deliveries", id});
  ASSERT_EQ(log.exit_code, 0);
  EXPECT_NE(log.out.find("credential.expiring_soon"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("webhook.test"), std::string::npos) << log.out;
  EXPECT_NE(box.Keycell({"webhooks", "list"}).out.find(url), std::string::npos);

  // Refusals change nothing: a non-loopback http URL, an unknown event.
  EXPECT_EQ(box.Keycell({"webhooks", "add", "http://hooks.example.com/x", "--events", "credential.error"}).exit_code, 11);
  EXPECT_EQ(box.Keycell({"webhooks", "add", url, "--events", "credential.nope"}).exit_code, 9);
  EXPECT_EQ(box.Keycell({"webhooks", "rm", id}).exit_code, 0);
  EXPECT_EQ(box.Keycell({"webhooks", "list"}).out, "no webhooks\n");
  EXPECT_EQ(box.Keycell({"webhooks", "test", id}).exit_code, 7);

  for (const char* f : {"webhooks.db", "webhooks.db-wal", "audit.db-wal", "keycelld.log"})
    EXPECT_EQ(ReadFile(box.data_dir() + "/" + std::string(f)).find(secret), std::string::npos) << f;
}

}  // namespace
}  // namespace keycell::test

// keycelld's HTTP face end to end: keys and tokens made with the CLI, used over real
// HTTP on 127.0.0.1 — authentication, roles, scopes, revocation and expiry on the next
// request, rate limiting (429 + Retry-After + usage.limit_reached), audit of refusals.

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"
#include "tests/broker/http/test_client.h"
#include "tests/broker/webhooks/test_receiver.h"

namespace keycell::test {
namespace {

using broker::http::test::MakeRequest;
using broker::http::test::TestClient;
using broker::http::test::TestResponse;

class CliRestTest : public ::testing::Test {
 protected:
  void StartVault(const std::map<std::string, std::string>& env = {}) {
    ASSERT_EQ(box_.Init().exit_code, 0);
    RunOptions o;
    o.fd3 = std::string(CliSandbox::kPin) + "\n";
    o.env = env;
    ASSERT_EQ(box_.Keycell({"unlock", "--pin-fd", "3"}, o).exit_code, 0);
    ASSERT_EQ(box_.Add("openai/prod", "sk-rest-canary-1", {"--provider", "openai"}).exit_code, 0);
    ASSERT_EQ(box_.Add("stripe-prod", "sk-rest-canary-2", {"--provider", "stripe"}).exit_code, 0);
    ProcResult st = box_.Keycell({"status", "--json"});
    auto doc = json::ParseJson(st.out);
    ASSERT_TRUE(doc.ok()) << st.out;
    const std::string http(json::GetString(doc->get(), "http").value_or(""));
    ASSERT_EQ(http.rfind("127.0.0.1:", 0), 0u) << st.out;
    port_ = static_cast<uint16_t>(std::stoi(http.substr(10)));
  }

  // One request on a fresh connection; `auth` is a whole header line or "".
  TestResponse Call(const std::string& method, const std::string& target, const std::string& auth,
                    const std::string& body = "") {
    TestClient c;
    EXPECT_TRUE(c.Connect(port_));
    std::string headers = auth.empty() ? "" : auth + "\r\n";
    if (!body.empty()) headers += "Content-Type: application/json\r\n";
    EXPECT_TRUE(c.Send(MakeRequest(method, target, headers, body)));
    auto r = c.ReadResponse();
    EXPECT_TRUE(r.has_value()) << method << " " << target;
    return r.value_or(TestResponse{});
  }

  std::string Secret(const std::vector<std::string>& args) {
    ProcResult r = box_.Keycell(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  std::string Code(const TestResponse& r) {
    auto doc = json::ParseJson(r.body);
    return doc.ok() ? std::string(json::GetString(doc->get(), "code").value_or("")) : "";
  }

  CliSandbox box_;
  uint16_t port_ = 0;
};

TEST_F(CliRestTest, RolesScopesAndRevocationApplyToTheNextRequest) {
  StartVault();
  EXPECT_EQ(Call("GET", "/api/v1/credentials", "").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/credentials", "Authorization: Bearer kc_nope").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/credentials?key=kc_x", "").status, 401);  // never from the URL

  const std::string member = Secret({"apikeys", "create", "m", "--role", "member"});
  const std::string admin = Secret({"apikeys", "create", "a", "--role", "admin"});
  TestResponse list = Call("GET", "/api/v1/credentials", "X-API-Key: " + member);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_NE(list.body.find("openai/prod"), std::string::npos);
  EXPECT_NE(list.body.find("stripe-prod"), std::string::npos);
  EXPECT_EQ(list.body.find("sk-rest-canary"), std::string::npos);

  // A member may not delete; an admin may.
  TestResponse denied = Call("DELETE", "/api/v1/credentials/stripe-prod", "Authorization: Bearer " + member);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Code(denied), "forbidden");
  EXPECT_EQ(Call("DELETE", "/api/v1/credentials/stripe-prod", "Authorization: Bearer " + admin).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/credentials/stripe-prod", "Authorization: Bearer " + admin).status, 404);

  // Agents over REST (AgentKeys' shape); a key bound to an agent sees its scopes only.
  TestResponse created = Call("POST", "/api/v1/agents", "X-API-Key: " + admin, R"({"name": "bot", "scopes": ["openai/*"]})");
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Call("POST", "/api/v1/agents", "X-API-Key: " + member, R"({"name": "x"})").status, 403);
  TestResponse assigned =
      Call("POST", "/api/v1/agents/bot/credentials", "X-API-Key: " + admin, R"({"credentialId": "openai/prod"})");
  EXPECT_EQ(assigned.status, 201) << assigned.body;
  EXPECT_NE(assigned.body.find("\"token\":\"pxr_"), std::string::npos);
  EXPECT_EQ(assigned.Header("Cache-Control").value_or(""), "no-store");
  ASSERT_EQ(box_.Add("openai/test", "sk-rest-canary-3", {"--provider", "openai"}).exit_code, 0);
  ASSERT_EQ(box_.Add("anthropic", "sk-rest-canary-4", {"--provider", "anthropic"}).exit_code, 0);
  const std::string bound = Secret({"apikeys", "create", "b", "--agent", "bot"});
  TestResponse scoped = Call("GET", "/api/v1/credentials", "X-API-Key: " + bound);
  ASSERT_EQ(scoped.status, 200);
  EXPECT_NE(scoped.body.find("openai/test"), std::string::npos);
  EXPECT_EQ(scoped.body.find("anthropic"), std::string::npos) << scoped.body;

  // Revoked: the very next request is refused.
  const std::string id = box_.Keycell({"apikeys", "list", "--json"}).out;
  auto keys = json::ParseJson(id);
  ASSERT_TRUE(keys.ok());
  std::string member_id;
  for (const cJSON* k : json::Children(keys->get()))
    if (*json::GetString(k, "name") == "m") member_id = std::string(*json::GetString(k, "id"));
  ASSERT_EQ(box_.Keycell({"apikeys", "revoke", member_id}).exit_code, 0);
  TestResponse revoked = Call("GET", "/api/v1/credentials", "X-API-Key: " + member);
  EXPECT_EQ(revoked.status, 401);
  EXPECT_NE(revoked.body.find("revoked"), std::string::npos) << revoked.body;

  // Every refusal is in the audit trail, without the key.
  ProcResult audit = box_.Keycell({"audit", "--action", "auth.fail", "--json"});
  EXPECT_NE(audit.out.find("token or key revoked"), std::string::npos) << audit.out;
  EXPECT_EQ(audit.out.find(member), std::string::npos);
  ProcResult forbidden = box_.Keycell({"audit", "--action", "credential.delete", "--json"});
  EXPECT_NE(forbidden.out.find("\"result\": \"forbidden\""), std::string::npos) << forbidden.out;
}

TEST_F(CliRestTest, ProxyTokensExpireAndAreRevokedOnTheNextRequest) {
  StartVault();
  ASSERT_EQ(box_.Keycell({"agents", "create", "bot"}).exit_code, 0);
  const std::string token = Secret({"agents", "assign", "bot", "openai/prod", "--expires", "3s"});
  // Authenticated (a token may only use its credential, so the REST API says 403)...
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "Authorization: Bearer " + token).status, 403);
  sleep(4);
  // ...then expired: 401.
  TestResponse expired = Call("GET", "/api/v1/whoami", "Authorization: Bearer " + token);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired.body;

  const std::string second = Secret({"agents", "assign", "bot", "openai/prod"});
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "Authorization: Bearer " + second).status, 403);
  ASSERT_EQ(box_.Keycell({"tokens", "revoke", second.substr(0, 12)}).exit_code, 0);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "Authorization: Bearer " + second).status, 401);
}

TEST_F(CliRestTest, RateLimitAnswers429WithRetryAfterAndNotifiesWebhooks) {
  StartVault({{"KEYCELL_RATELIMIT_REQUESTS_PER_MINUTE", "3"}});
  auto receiver = broker::webhooks::test::TestReceiver::Start();
  ASSERT_NE(receiver, nullptr);
  ASSERT_EQ(box_.Keycell({"webhooks", "add", "http://127.0.0.1:" + std::to_string(receiver->port()) + "/h",
                          "--events", "usage.limit_reached"})
                .exit_code,
            0);
  ASSERT_EQ(box_.Keycell({"agents", "create", "bot", "--scope", "**"}).exit_code, 0);
  const std::string key = Secret({"apikeys", "create", "k", "--agent", "bot"});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Call("GET", "/api/v1/credentials", "X-API-Key: " + key).status, 200) << i;
  TestResponse limited = Call("GET", "/api/v1/credentials", "X-API-Key: " + key);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(Code(limited), "rate_limited");
  const std::string retry = limited.Header("Retry-After").value_or("0");
  EXPECT_GE(std::stoi(retry), 1);
  EXPECT_LE(std::stoi(retry), 60);
  // Another principal has its own budget.
  const std::string other = Secret({"apikeys", "create", "o"});
  EXPECT_EQ(Call("GET", "/api/v1/credentials", "X-API-Key: " + other).status, 200);

  ASSERT_TRUE(receiver->WaitForRequests(1, std::chrono::seconds(20)));
  const auto hook = receiver->requests()[0];
  EXPECT_EQ(hook.headers.at("x-keycell-event"), "usage.limit_reached");
  EXPECT_NE(hook.body.find("bot"), std::string::npos) << hook.body;
  EXPECT_EQ(hook.body.find(key), std::string::npos);
}

}  // namespace
}  // namespace keycell::test

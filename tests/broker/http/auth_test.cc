#include "broker/http/auth.h"

#include <gtest/gtest.h>

#include <optional>
#include <string_view>
#include <vector>

#include "tests/broker/http/http_test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::http {
namespace {

using test::MakeTestRequest;

Result<std::optional<std::string_view>> Presented(const Request& req) {
  return PresentedCredential(req);
}

TEST(PresentedCredentialTest, BearerOrApiKey) {
  StringBodyReader body("");
  const Request bearer = MakeTestRequest("GET", "/", {{"authorization", "Bearer pxr_abc"}}, &body);
  KC_ASSERT_OK_AND_ASSIGN(auto a, Presented(bearer));
  EXPECT_EQ(a, std::optional<std::string_view>("pxr_abc"));

  const Request lower = MakeTestRequest("GET", "/", {{"Authorization", "bearer   kc_x"}}, &body);
  KC_ASSERT_OK_AND_ASSIGN(auto b, Presented(lower));
  EXPECT_EQ(b, std::optional<std::string_view>("kc_x"));

  const Request key = MakeTestRequest("GET", "/", {{"X-Api-Key", "kc_key"}}, &body);
  KC_ASSERT_OK_AND_ASSIGN(auto c, Presented(key));
  EXPECT_EQ(c, std::optional<std::string_view>("kc_key"));

  const Request same = MakeTestRequest(
      "GET", "/", {{"Authorization", "Bearer kc_same"}, {"X-API-Key", "kc_same"}}, &body);
  KC_ASSERT_OK_AND_ASSIGN(auto d, Presented(same));
  EXPECT_EQ(d, std::optional<std::string_view>("kc_same"));
}

TEST(PresentedCredentialTest, NothingPresented) {
  StringBodyReader body("");
  for (const std::vector<HeaderField>& headers :
       std::vector<std::vector<HeaderField>>{{},
                                             {{"Authorization", "Basic dXNlcjpwdw=="}},
                                             {{"Authorization", "Bearer"}},
                                             {{"Authorization", "Bearerpxr_abc"}},
                                             {{"X-API-Key", ""}},
                                             {{"Cookie", "token=pxr_abc"}}}) {
    const Request req = MakeTestRequest("GET", "/", headers, &body);
    KC_ASSERT_OK_AND_ASSIGN(auto got, Presented(req));
    EXPECT_FALSE(got.has_value());
  }
}

TEST(PresentedCredentialTest, NeverFromTheQuery) {
  StringBodyReader body("");
  const Request req =
      MakeTestRequest("GET", "/v1/proxy?api_key=kc_q&access_token=pxr_q&token=x", {}, &body);
  KC_ASSERT_OK_AND_ASSIGN(auto got, Presented(req));
  EXPECT_FALSE(got.has_value());
}

TEST(PresentedCredentialTest, ConflictsAreBadRequests) {
  StringBodyReader body("");
  const Request differ = MakeTestRequest(
      "GET", "/", {{"Authorization", "Bearer pxr_a"}, {"X-API-Key", "kc_b"}}, &body);
  auto a = Presented(differ);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Err::kInvalidArgument);
  EXPECT_STREQ(a.status().where(), "http: Authorization and X-API-Key differ");

  const Request two_auth = MakeTestRequest(
      "GET", "/", {{"Authorization", "Bearer pxr_a"}, {"authorization", "Bearer pxr_a"}}, &body);
  EXPECT_STREQ(Presented(two_auth).status().where(), "http: repeated Authorization header");

  const Request two_keys =
      MakeTestRequest("GET", "/", {{"X-API-Key", "a"}, {"x-api-key", "b"}}, &body);
  EXPECT_STREQ(Presented(two_keys).status().where(), "http: repeated X-API-Key header");
}

TEST(LoopbackHostTest, Accepts) {
  for (const char* ok : {"localhost", "LOCALHOST:8787", "localhost:1", "127.0.0.1",
                         "127.0.0.1:8787", "127.1.2.3:80", "[::1]", "[::1]:8787"}) {
    EXPECT_TRUE(IsLoopbackHostHeader(ok)) << ok;
  }
}

TEST(LoopbackHostTest, Refuses) {
  for (const char* bad : {"",
                          "evil.example",
                          "evil.example:8787",
                          "localhost.",
                          "localhost.evil.example",
                          "127.0.0.1.evil.example",
                          "128.0.0.1",
                          "0.0.0.0",
                          "10.0.0.1:8787",
                          "[::2]",
                          "[::1",
                          "[::1]x",
                          "[::1]:",
                          "localhost:",
                          "localhost:8a",
                          "localhost:99999",
                          "localhost:123456",
                          "user@localhost",
                          "127.1",
                          "0x7f.0.0.1",
                          "::1",
                          "[0:0:0:0:0:0:0:1]"}) {
    EXPECT_FALSE(IsLoopbackHostHeader(bad)) << bad;
  }
}

}  // namespace
}  // namespace keycell::broker::http

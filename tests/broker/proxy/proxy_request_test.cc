#include "broker/proxy/proxy_request.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/broker/http/http_test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::proxy {
namespace {

using http::HeaderField;
using http::Method;
using http::Request;
using http::StringBodyReader;
using http::test::MakeTestRequest;

std::vector<std::string> Names(const std::vector<HeaderField>& fields) {
  std::vector<std::string> out;
  for (const HeaderField& f : fields) out.push_back(f.name);
  return out;
}

TEST(HeaderFilterTest, DroppedByNameTable) {
  const std::pair<std::string_view, bool> kCases[] = {
      // Hop-by-hop.
      {"Connection", true},
      {"Keep-Alive", true},
      {"Proxy-Authorization", true},
      {"Proxy-Connection", true},
      {"proxy-anything", true},
      {"TE", true},
      {"Trailer", true},
      {"Transfer-Encoding", true},
      {"Upgrade", true},
      // The hop to us.
      {"Host", true},
      {"Content-Length", true},
      {"Expect", true},
      // keycell's own credentials and controls.
      {"Authorization", true},
      {"AUTHORIZATION", true},
      {"X-API-Key", true},
      {"x-api-key", true},
      {"X-Target-Url", true},
      {"X-Target-Method", true},
      {"x-target-anything", true},
      {"X-Credential-Name", true},
      // Forwarded.
      {"Content-Type", false},
      {"Accept", false},
      {"anthropic-version", false},
      {"OpenAI-Organization", false},
      {"Cookie", false},
      {"User-Agent", false},
      {"X-Target", false},  // not the X-Target-* prefix
      {"X-Credential", false},
      {"Proxy", false},  // not the Proxy-* prefix
      {"TEx", false},
      {"Authorization2", false},
      {"Hostname", false},
      {"X-Api-Key-Id", false},
  };
  for (const auto& [name, dropped] : kCases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(IsDroppedHeader(name), dropped);
    const std::vector<HeaderField> in = {{std::string(name), "v"}};
    KC_ASSERT_OK_AND_ASSIGN(auto out, FilterForwardHeaders(in));
    EXPECT_EQ(out.size(), dropped ? 0u : 1u);
  }
}

TEST(HeaderFilterTest, ConnectionNamedHeadersGoToo) {
  const std::vector<HeaderField> in = {
      {"Content-Type", "application/json"},
      {"X-Hop", "1"},
      {"Connection", "keep-alive, x-hop ,X-Other"},
      {"x-other", "2"},
      {"Connection", "close"},
      {"X-Keep", "3"},
      {"Connection", "bad option, ,"},  // a non-token element names nothing
      {"bad", "4"},
  };
  KC_ASSERT_OK_AND_ASSIGN(auto out, FilterForwardHeaders(in));
  EXPECT_EQ(Names(out), (std::vector<std::string>{"Content-Type", "X-Keep", "bad"}));
  EXPECT_EQ(out[0].value, "application/json");
}

TEST(HeaderFilterTest, OrderAndDuplicatesKept) {
  const std::vector<HeaderField> in = {
      {"Accept", "a"}, {"Authorization", "Bearer pxr_x"}, {"Accept", "b"}, {"Cookie", "c=1"}};
  KC_ASSERT_OK_AND_ASSIGN(auto out, FilterForwardHeaders(in));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].value, "a");
  EXPECT_EQ(out[1].value, "b");
  EXPECT_EQ(out[2].name, "Cookie");
}

TEST(HeaderFilterTest, RefusesBadFieldsAndTooMany) {
  const std::vector<std::vector<HeaderField>> bad_names = {
      {{"", "v"}}, {{"Bad Name", "v"}}, {{"a:b", "v"}}, {{"X\r\nY", "v"}}};
  for (const auto& in : bad_names)
    EXPECT_STREQ(FilterForwardHeaders(in).status().where(), kWhereHeaderName);
  // Checked even on headers that would be dropped.
  const std::vector<std::vector<HeaderField>> bad_values = {
      {{"X-A", "a\r\nX-Evil: 1"}},
      {{"X-A", "a\nb"}},
      {{"Authorization", std::string("Bearer x\0y", 10)}}};
  for (const auto& in : bad_values)
    EXPECT_STREQ(FilterForwardHeaders(in).status().where(), kWhereHeaderValue);

  std::vector<HeaderField> many(kMaxForwardedHeaders, HeaderField{"X-A", "1"});
  KC_EXPECT_OK(FilterForwardHeaders(many));
  many.push_back({"X-A", "1"});
  auto r = FilterForwardHeaders(many);
  EXPECT_EQ(r.status().code(), Err::kTooLarge);
  EXPECT_STREQ(r.status().where(), kWhereTooManyHeaders);
}

TEST(MethodTest, Rules) {
  const std::pair<std::string_view, Method> kOk[] = {
      {"GET", Method::kGet},         {"HEAD", Method::kHead},   {"POST", Method::kPost},
      {"PUT", Method::kPut},         {"PATCH", Method::kPatch}, {"DELETE", Method::kDelete},
      {"OPTIONS", Method::kOptions},
  };
  for (const auto& [name, m] : kOk) {
    KC_ASSERT_OK_AND_ASSIGN(Method got, ResolveMethod(Method::kPost, name));
    EXPECT_EQ(got, m) << name;
  }
  for (const std::string_view bad : {"TRACE", "CONNECT", "post", "Get", "", "GET ", "PROPFIND"}) {
    auto r = ResolveMethod(Method::kPost, bad);
    EXPECT_STREQ(r.status().where(), kWhereMethodNotAllowed) << bad;
  }
  // Default: the request's own method.
  KC_ASSERT_OK_AND_ASSIGN(Method own, ResolveMethod(Method::kDelete, std::nullopt));
  EXPECT_EQ(own, Method::kDelete);
  EXPECT_STREQ(ResolveMethod(Method::kOther, std::nullopt).status().where(),
               kWhereMethodNotAllowed);
}

TEST(ParseProxyRequestTest, AgentKeysExample) {
  StringBodyReader body(R"({"from":"hi@example.com"})");
  const Request req = MakeTestRequest("POST", "/v1/proxy",
                                      {{"Host", "127.0.0.1:8787"},
                                       {"Authorization", "Bearer kc_apikey"},
                                       {"X-Credential-Name", "Resend"},
                                       {"X-Target-Url", "https://api.resend.com/emails"},
                                       {"Content-Type", "application/json"},
                                       {"Content-Length", "25"},
                                       {"anthropic-version", "2023-06-01"}},
                                      &body);
  KC_ASSERT_OK_AND_ASSIGN(ProxyCall call, ParseProxyRequest(req));
  EXPECT_EQ(call.credential_name, std::optional<std::string>("Resend"));
  EXPECT_EQ(call.target.host, "api.resend.com");
  EXPECT_EQ(call.target.port, 443);
  EXPECT_EQ(call.target.target, "/emails");
  EXPECT_EQ(call.method, Method::kPost);
  EXPECT_EQ(Names(call.headers), (std::vector<std::string>{"Content-Type", "anthropic-version"}));
}

TEST(ParseProxyRequestTest, ProxyTokenAndMethodOverride) {
  StringBodyReader body("");
  const Request req =
      MakeTestRequest("POST", "/v1/proxy",
                      {{"Authorization", "Bearer pxr_abc"},
                       {"x-target-url", "https://api.github.com/user/repos?per_page=5"},
                       {"x-target-method", "GET"}},
                      &body);
  KC_ASSERT_OK_AND_ASSIGN(ProxyCall call, ParseProxyRequest(req));
  EXPECT_FALSE(call.credential_name.has_value());
  EXPECT_EQ(call.method, Method::kGet);
  EXPECT_EQ(call.target.target, "/user/repos?per_page=5");
  EXPECT_TRUE(call.headers.empty());
}

TEST(ParseProxyRequestTest, Refusals) {
  StringBodyReader body("");
  struct Case {
    std::vector<HeaderField> headers;
    const char* where;
  };
  const std::string long_name(kMaxCredentialNameBytes + 1, 'n');
  const Case kCases[] = {
      {{}, kWhereNoTargetUrl},
      {{{"X-Target-Url", "https://a/"}, {"X-Target-Url", "https://a/"}}, kWhereRepeatedTargetUrl},
      {{{"X-Target-Url", "https://a/#x"}}, kWhereUrlFragment},
      {{{"X-Target-Url", "https://u@a/"}}, kWhereUrlUserinfo},
      {{{"X-Target-Url", "https://a/"}, {"X-Target-Method", "TRACE"}}, kWhereMethodNotAllowed},
      {{{"X-Target-Url", "https://a/"}, {"X-Target-Method", "GET"}, {"X-Target-Method", "GET"}},
       kWhereRepeatedTargetMethod},
      {{{"X-Target-Url", "https://a/"}, {"X-Credential-Name", "a"}, {"X-Credential-Name", "a"}},
       kWhereRepeatedCredentialName},
      {{{"X-Target-Url", "https://a/"}, {"X-Credential-Name", ""}}, kWhereBadCredentialName},
      {{{"X-Target-Url", "https://a/"}, {"X-Credential-Name", long_name}}, kWhereBadCredentialName},
      {{{"X-Target-Url", "https://a/"}, {"X-Credential-Name", "a\x01"}}, kWhereBadCredentialName},
      {{{"X-Target-Url", "https://a/"}, {"X-A", "a\r\nb"}}, kWhereHeaderValue},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.where);
    const Request req = MakeTestRequest("POST", "/v1/proxy", c.headers, &body);
    auto call = ParseProxyRequest(req);
    ASSERT_FALSE(call.ok());
    EXPECT_EQ(call.status().code(), Err::kInvalidArgument);
    EXPECT_STREQ(call.status().where(), c.where);
  }
  // The request's own method is the default, and it must be one of the seven.
  const Request trace =
      MakeTestRequest("TRACE", "/v1/proxy", {{"X-Target-Url", "https://a/"}}, &body);
  EXPECT_STREQ(ParseProxyRequest(trace).status().where(), kWhereMethodNotAllowed);
}

TEST(ParseProxyRequestTest, CredentialNameValid) {
  EXPECT_TRUE(IsValidCredentialName("openai/prod"));
  EXPECT_TRUE(IsValidCredentialName("My Resend key"));
  EXPECT_TRUE(IsValidCredentialName(std::string(kMaxCredentialNameBytes, 'x')));
  EXPECT_FALSE(IsValidCredentialName(""));
  EXPECT_FALSE(IsValidCredentialName("a\x7f"));
  EXPECT_FALSE(IsValidCredentialName(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace keycell::broker::proxy

#include "broker/proxy/routes.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "broker/json/json.h"
#include "tests/broker/http/http_test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::proxy {
namespace {

using http::HeaderField;
using http::Method;
using http::Request;
using http::StringBodyReader;
using http::test::MakeTestRequest;

Result<std::vector<Route>> ParseText(std::string_view text) {
  auto doc = json::ParseJson(text);
  EXPECT_TRUE(doc.ok()) << text;
  if (!doc.ok()) return doc.status();
  return ParseRoutes(doc->get());
}

RouteConfig Config() {
  auto routes = ParseText(R"({"routes": [
      {"name": "openai", "upstream": "https://api.openai.com/v1", "credential": "openai/prod"},
      {"name": "anthropic", "upstream": "https://api.anthropic.com/", "credential": "claude"},
      {"name": "local-1", "upstream": "http://127.0.0.1:8080/base/path/", "credential": "t"}]})");
  EXPECT_TRUE(routes.ok());
  return RouteConfig{routes.ok() ? std::move(routes).value() : std::vector<Route>{}};
}

TEST(ParseRoutesTest, Valid) {
  const RouteConfig config = Config();
  ASSERT_EQ(config.routes.size(), 3u);
  const Route* openai = config.Find("openai");
  ASSERT_NE(openai, nullptr);
  EXPECT_EQ(openai->upstream.host, "api.openai.com");
  EXPECT_EQ(openai->upstream.target, "/v1");
  EXPECT_EQ(openai->credential, "openai/prod");
  EXPECT_EQ(config.Find("anthropic")->upstream.target, "");  // the root, no trailing "/"
  EXPECT_EQ(config.Find("local-1")->upstream.target, "/base/path");
  EXPECT_EQ(config.Find("local-1")->upstream.port, 8080);
  EXPECT_EQ(config.Find("OpenAI"), nullptr);
  EXPECT_EQ(config.Find("nope"), nullptr);

  KC_ASSERT_OK_AND_ASSIGN(auto none, ParseText("{}"));
  EXPECT_TRUE(none.empty());
  KC_ASSERT_OK_AND_ASSIGN(auto empty, ParseText(R"({"routes": []})"));
  EXPECT_TRUE(empty.empty());
  // Loopback over plain http, by every spelling.
  for (const char* up : {"http://localhost:1", "http://[::1]:9/x", "http://127.9.9.9"}) {
    const std::string doc =
        std::string(R"({"routes":[{"name":"t","upstream":")") + up + R"(","credential":"c"}]})";
    KC_EXPECT_OK(ParseText(doc));
  }
}

TEST(ParseRoutesTest, RefuseTable) {
  struct Case {
    std::string_view doc;
    const char* where;
    int32_t index;
  };
  const Case kCases[] = {
      {"[]", kWhereRoutesNotObject, -1},
      {R"({"routes": [], "extra": 1})", kWhereRoutesUnknownKey, -1},
      {R"({"Routes": []})", kWhereRoutesUnknownKey, -1},
      {R"({"routes": {}})", kWhereRoutesNotArray, -1},
      {R"({"routes": [1]})", kWhereRouteNotObject, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h","credential":"c","x":1}]})",
       kWhereRouteUnknownField, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h"}]})", kWhereRouteMissingField, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h","credential":7}]})",
       kWhereRouteMissingField, 0},
      {R"({"routes": [{"name":"A","upstream":"https://h","credential":"c"}]})", kWhereRouteName, 0},
      {R"({"routes": [{"name":"","upstream":"https://h","credential":"c"}]})", kWhereRouteName, 0},
      {R"({"routes": [{"name":"a_b","upstream":"https://h","credential":"c"}]})", kWhereRouteName,
       0},
      {R"({"routes": [{"name":"a/b","upstream":"https://h","credential":"c"}]})", kWhereRouteName,
       0},
      {R"({"routes": [{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","upstream":"https://h","credential":"c"}]})",
       kWhereRouteName, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h","credential":"c"},
                      {"name":"a","upstream":"https://g","credential":"c"}]})",
       kWhereRouteDuplicate, 1},
      {R"({"routes": [{"name":"a","upstream":"ftp://h","credential":"c"}]})", kWhereRouteUpstream,
       0},
      {R"({"routes": [{"name":"a","upstream":"https://u@h/","credential":"c"}]})",
       kWhereRouteUpstream, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h/#f","credential":"c"}]})",
       kWhereRouteUpstream, 0},
      {R"({"routes": [{"name":"a","upstream":"http://api.example.com","credential":"c"}]})",
       kWhereRouteHttp, 0},
      {R"({"routes": [{"name":"a","upstream":"http://10.0.0.1","credential":"c"}]})",
       kWhereRouteHttp, 0},
      {R"({"routes": [{"name":"a","upstream":"https://127.0.0.1","credential":"c"}]})",
       kWhereRouteIpHttps, 0},
      {R"({"routes": [{"name":"a","upstream":"https://[::1]","credential":"c"}]})",
       kWhereRouteIpHttps, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h/v1?key=x","credential":"c"}]})",
       kWhereRouteQuery, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h","credential":""}]})",
       kWhereRouteCredential, 0},
      {R"({"routes": [{"name":"a","upstream":"https://h","credential":"a\tb"}]})",
       kWhereRouteCredential, 0},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.doc);
    auto routes = ParseText(c.doc);
    ASSERT_FALSE(routes.ok());
    EXPECT_EQ(routes.status().code(), Err::kInvalidArgument);
    EXPECT_STREQ(routes.status().where(), c.where);
    EXPECT_EQ(routes.status().detail(), c.index);
  }
  // Too many routes.
  std::string doc = R"({"routes": [)";
  for (size_t i = 0; i <= kMaxRoutes; ++i) {
    if (i > 0) doc += ",";
    doc += R"({"name":"r)" + std::to_string(i) + R"(","upstream":"https://h","credential":"c"})";
  }
  doc += "]}";
  EXPECT_STREQ(ParseText(doc).status().where(), kWhereTooManyRoutes);
}

struct TargetCase {
  std::string_view route;
  std::string_view rest;
  bool has_query;
  std::string_view query;
  std::string_view want;
};

TEST(RouteTargetTest, BaseRestQuery) {
  const RouteConfig config = Config();
  const TargetCase kCases[] = {
      {"openai", "/chat/completions", false, "", "/v1/chat/completions"},
      {"openai", "", false, "", "/v1"},
      {"openai", "/", false, "", "/v1/"},
      {"openai", "/files/a%2Fb/content", false, "", "/v1/files/a%2Fb/content"},  // %2F kept raw
      {"openai", "/models", true, "limit=5&after=x%20y", "/v1/models?limit=5&after=x%20y"},
      {"openai", "/models", true, "", "/v1/models?"},
      {"anthropic", "/v1/messages", false, "", "/v1/messages"},
      {"anthropic", "", false, "", "/"},
      {"anthropic", "", true, "a=1", "/?a=1"},
      {"local-1", "/x", false, "", "/base/path/x"},
  };
  for (const TargetCase& c : kCases) {
    SCOPED_TRACE(std::string(c.route) + " " + std::string(c.rest));
    KC_ASSERT_OK_AND_ASSIGN(TargetUrl url,
                            RouteTarget(*config.Find(c.route), c.rest, c.has_query, c.query));
    EXPECT_EQ(url.target, c.want);
    EXPECT_EQ(url.host, config.Find(c.route)->upstream.host);
  }
  const Route& openai = *config.Find("openai");
  EXPECT_STREQ(RouteTarget(openai, "/x", true, "q=100%").status().where(), kWhereRouteTargetEscape);
  EXPECT_STREQ(RouteTarget(openai, "/x", true, "q=%zz").status().where(), kWhereRouteTargetEscape);
  EXPECT_STREQ(RouteTarget(openai, "/x y", false, "").status().where(), kWhereRouteTargetBytes);
  EXPECT_STREQ(RouteTarget(openai, "/x", true, "a#b").status().where(), kWhereRouteTargetBytes);
  EXPECT_STREQ(RouteTarget(openai, "/x\r\n", false, "").status().where(), kWhereRouteTargetBytes);
  EXPECT_STREQ(RouteTarget(openai, "x", false, "").status().where(), kWhereRouteRest);
  EXPECT_STREQ(
      RouteTarget(openai, "/" + std::string(kMaxTargetUrlBytes, 'a'), false, "").status().where(),
      kWhereRouteTargetTooLong);
}

TEST(ParseRouteCallTest, OpenAiSdk) {
  const RouteConfig config = Config();
  StringBodyReader body("{}");
  Request req = MakeTestRequest("POST", "/r/openai/chat/completions?stream=true",
                                {{"Host", "127.0.0.1:8787"},
                                 {"Authorization", "Bearer pxr_sdk_token"},
                                 {"Content-Type", "application/json"},
                                 {"OpenAI-Beta", "assistants=v2"},
                                 {"X-Target-Url", "https://evil.example/"},
                                 {"X-Credential-Name", "other"}},
                                &body);
  req.SetRouteMatch({{"route", "openai"}}, "/chat/completions");
  KC_ASSERT_OK_AND_ASSIGN(ProxyCall call, ParseRouteCall(req, config));
  EXPECT_EQ(call.target.host, "api.openai.com");
  EXPECT_EQ(call.target.target, "/v1/chat/completions?stream=true");
  EXPECT_EQ(call.method, Method::kPost);
  EXPECT_EQ(call.credential_name, std::optional<std::string>("openai/prod"));
  std::vector<std::string> names;
  for (const HeaderField& f : call.headers) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Content-Type", "OpenAI-Beta"}));
}

TEST(ParseRouteCallTest, AnthropicSdkKeyNotForwarded) {
  const RouteConfig config = Config();
  StringBodyReader body("{}");
  Request req =
      MakeTestRequest("POST", "/r/anthropic/v1/messages",
                      {{"x-api-key", "kc_key"}, {"anthropic-version", "2023-06-01"}}, &body);
  req.SetRouteMatch({{"route", "anthropic"}}, "/v1/messages");
  KC_ASSERT_OK_AND_ASSIGN(ProxyCall call, ParseRouteCall(req, config));
  EXPECT_EQ(call.target.target, "/v1/messages");
  ASSERT_EQ(call.headers.size(), 1u);
  EXPECT_EQ(call.headers[0].name, "anthropic-version");
}

TEST(ParseRouteCallTest, EncodedSlashStaysOneSegment) {
  const RouteConfig config = Config();
  StringBodyReader body("");
  Request req = MakeTestRequest("GET", "/r/openai/files/a%2Fb", {}, &body);
  req.SetRouteMatch({{"route", "openai"}}, "/files/a%2Fb");
  KC_ASSERT_OK_AND_ASSIGN(ProxyCall call, ParseRouteCall(req, config));
  EXPECT_EQ(call.target.target, "/v1/files/a%2Fb");
  EXPECT_EQ(call.method, Method::kGet);
}

TEST(ParseRouteCallTest, Refusals) {
  const RouteConfig config = Config();
  StringBodyReader body("");
  Request unknown = MakeTestRequest("GET", "/r/nope/x", {}, &body);
  unknown.SetRouteMatch({{"route", "nope"}}, "/x");
  auto a = ParseRouteCall(unknown, config);
  EXPECT_EQ(a.status().code(), Err::kUnknownKey);
  EXPECT_STREQ(a.status().where(), kWhereNoSuchRoute);

  Request unmounted = MakeTestRequest("GET", "/x", {}, &body);
  EXPECT_STREQ(ParseRouteCall(unmounted, config).status().where(), kWhereRouteParam);

  Request trace = MakeTestRequest("TRACE", "/r/openai/x", {}, &body);
  trace.SetRouteMatch({{"route", "openai"}}, "/x");
  EXPECT_STREQ(ParseRouteCall(trace, config).status().where(), kWhereMethodNotAllowed);

  Request pct = MakeTestRequest("GET", "/r/openai/x?q=100%", {}, &body);
  pct.SetRouteMatch({{"route", "openai"}}, "/x");
  EXPECT_STREQ(ParseRouteCall(pct, config).status().where(), kWhereRouteTargetEscape);
}

}  // namespace
}  // namespace keycell::broker::proxy

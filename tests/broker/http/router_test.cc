#include "broker/http/router.h"

#include <gtest/gtest.h>

#include <string>

#include "broker/json/json.h"
#include "tests/broker/http/http_test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::http {
namespace {

using test::BodyOf;
using test::CaptureChannel;
using test::MakeTestRequest;

// A handler that answers with a fixed name, so a test sees which route ran.
Handler Named(std::string name) {
  return [name](Request& req, ResponseWriter& res) {
    std::string body = name;
    for (const char* p : {"id", "route", "cred"}) {
      if (auto v = req.Param(p)) body += std::string(" ") + p + "=" + std::string(*v);
    }
    body += " rest=" + std::string(req.rest());
    (void)res.Send(200, "text/plain", body);
  };
}

struct Routed {
  int status = 0;
  std::string body;
  std::string raw;
};

Routed Route(const Router& router, const char* method, const char* target) {
  StringBodyReader body("");
  Request req = MakeTestRequest(method, target, {}, &body);
  CaptureChannel channel;
  ResponseWriter res(channel, {});
  router.Dispatch(req, res);
  return {res.status(), BodyOf(channel.out), channel.out};
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KC_ASSERT_OK(router_.Add(Method::kGet, "/", Named("root")));
    KC_ASSERT_OK(router_.Add({Method::kGet, Method::kPost}, "/api/v1/agents", Named("agents")));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/api/v1/agents/:id", Named("agent")));
    KC_ASSERT_OK(router_.Add(Method::kDelete, "/api/v1/agents/:id", Named("delete-agent")));
    KC_ASSERT_OK(router_.Add({Method::kGet, Method::kPost}, "/api/v1/agents/:id/credentials",
                             Named("agent-creds")));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/api/v1/agents/self/credentials", Named("self-creds")));
    KC_ASSERT_OK(
        router_.Add({Method::kGet, Method::kPost, Method::kPut}, "/r/:route/*", Named("mount")));
    KC_ASSERT_OK(router_.Add(Method::kGet, "/static/*", Named("static")));
  }
  Router router_;
};

TEST_F(RouterTest, ExactRoutes) {
  EXPECT_EQ(Route(router_, "GET", "/").body, "root rest=");
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents").body, "agents rest=");
  EXPECT_EQ(Route(router_, "POST", "/api/v1/agents?x=1").body, "agents rest=");
  // No implicit trailing-slash or case folding.
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents/").status, 404);
  EXPECT_EQ(Route(router_, "GET", "/API/v1/agents").status, 404);
  EXPECT_EQ(Route(router_, "GET", "/api//v1/agents").status, 404);
}

TEST_F(RouterTest, ParamsAreDecodedSegments) {
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents/agt_1").body, "agent id=agt_1 rest=");
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents/a%20b").body, "agent id=a b rest=");
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents/a%2Fb/credentials").body,
            "agent-creds id=a/b rest=");
  EXPECT_EQ(Route(router_, "DELETE", "/api/v1/agents/x").body, "delete-agent id=x rest=");
  // Literal segments match the decoded form too.
  EXPECT_EQ(Route(router_, "GET", "/api/v1/%61gents").body, "agents rest=");
}

TEST_F(RouterTest, MostSpecificRouteWins) {
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents/self/credentials").body, "self-creds rest=");
  EXPECT_EQ(Route(router_, "GET", "/api/v1/agents/other/credentials").body,
            "agent-creds id=other rest=");
  // The literal route has no POST: the param route takes it.
  EXPECT_EQ(Route(router_, "POST", "/api/v1/agents/self/credentials").body,
            "agent-creds id=self rest=");
}

TEST_F(RouterTest, PrefixMountsKeepTheRawRest) {
  EXPECT_EQ(Route(router_, "GET", "/r/openai/v1/chat/completions?stream=true").body,
            "mount route=openai rest=/v1/chat/completions");
  EXPECT_EQ(Route(router_, "PUT", "/r/gitlab/projects/g%2Fp/issues").body,
            "mount route=gitlab rest=/projects/g%2Fp/issues");
  EXPECT_EQ(Route(router_, "GET", "/r/openai/").body, "mount route=openai rest=/");
  EXPECT_EQ(Route(router_, "GET", "/r/openai").body, "mount route=openai rest=");
  EXPECT_EQ(Route(router_, "GET", "/static/a/b").body, "static rest=/a/b");
  EXPECT_EQ(Route(router_, "GET", "/static").body, "static rest=");
  EXPECT_EQ(Route(router_, "GET", "/r").status, 404);     // :route needs a segment
  EXPECT_EQ(Route(router_, "GET", "/r//x").status, 404);  // ... a non-empty one
}

TEST_F(RouterTest, NotFoundIsErrorJson) {
  const Routed r = Route(router_, "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"not found","code":"not_found","status":404})");
  EXPECT_NE(r.raw.find("Content-Type: application/json\r\n"), std::string::npos);
}

TEST_F(RouterTest, MethodNotAllowedListsAllow) {
  const Routed r = Route(router_, "PATCH", "/api/v1/agents/x");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.raw.find("\r\nAllow: GET, DELETE\r\n"), std::string::npos) << r.raw;
  EXPECT_EQ(r.body, R"({"error":"method not allowed","code":"method_not_allowed","status":405})");
  // HEAD is not implied by GET; unknown methods never match.
  EXPECT_EQ(Route(router_, "HEAD", "/").status, 405);
  EXPECT_EQ(Route(router_, "TRACE", "/").status, 405);
  EXPECT_EQ(Route(router_, "get", "/").status, 405);  // methods are case-sensitive
  EXPECT_EQ(Route(router_, "TRACE", "/nope").status, 404);
}

TEST(RouterAddTest, RefusesBadPatterns) {
  Router r;
  const Handler h = [](Request&, ResponseWriter&) {};
  for (const char* bad : {"", "api", "/a//b", "/a/", "/a/*/b", "/:", "/:a-b", "/a/:x/:x", "/a/%20",
                          "/a/..", "/a/.", "/a b", "/a?b"}) {
    EXPECT_EQ(r.Add(Method::kGet, bad, h).code(), Err::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(r.Add(MethodSet(), "/x", h).ok());
  EXPECT_FALSE(r.Add(Method::kGet, "/x", Handler()).ok());
  EXPECT_EQ(r.size(), 0u);
}

TEST(RouterAddTest, RefusesAmbiguousDuplicates) {
  Router r;
  const Handler h = [](Request&, ResponseWriter&) {};
  KC_ASSERT_OK(r.Add({Method::kGet, Method::kPost}, "/a/:id", h));
  EXPECT_FALSE(r.Add(Method::kPost, "/a/:other", h).ok());  // same shape, shared POST
  KC_EXPECT_OK(r.Add(Method::kDelete, "/a/:other", h));     // same shape, other method
  KC_EXPECT_OK(r.Add(Method::kGet, "/a/b", h));             // literal beats param
  KC_EXPECT_OK(r.Add(Method::kGet, "/a/*", h));
  EXPECT_FALSE(r.Add(Method::kGet, "/a/*", h).ok());
}

TEST(RouterTest2, HandlerWithoutResponseLeavesHeadUnwritten) {
  // The connection, not the router, turns this into a 500 (connection_test.cc).
  Router r;
  KC_ASSERT_OK(r.Add(Method::kGet, "/", [](Request&, ResponseWriter&) {}));
  const Routed routed = Route(r, "GET", "/");
  EXPECT_EQ(routed.status, 0);
  EXPECT_TRUE(routed.raw.empty());
}

TEST(MethodTest, NamesRoundTrip) {
  for (int i = 0; i < kMethodCount; ++i) {
    const Method m = static_cast<Method>(i);
    EXPECT_EQ(ParseMethod(MethodName(m)), m);
  }
  EXPECT_EQ(ParseMethod("CONNECT"), Method::kOther);
  EXPECT_EQ(MethodSet({Method::kOptions, Method::kGet}).ToAllowHeader(), "GET, OPTIONS");
}

}  // namespace
}  // namespace keycell::broker::http

// MCP over HTTP (McpHttp): the real http::Server on 127.0.0.1, raw-socket clients, and
// authentication through a RestApi over real stores and the real enclave, so a session's
// binding to its principal is tested with two real API keys.

#include "broker/daemon/mcp_http.h"
#include "broker/daemon/mcp_tools.h"
#include "broker/daemon/unlock_page.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "broker/daemon/rest_api.h"
#include "broker/http/server.h"
#include "broker/identity/rate_limiter.h"
#include "broker/json/json.h"
#include "tests/broker/daemon/daemon_fixture.h"
#include "tests/broker/http/test_client.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::daemon {
namespace {

using http::test::MakeRequest;
using http::test::TestClient;
using http::test::TestResponse;

constexpr char kInit[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
constexpr char kInitialized[] = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
constexpr char kList[] = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
constexpr char kCall[] =
    R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi there"}}})";

json::Json ParsedOrEmpty(std::string_view text) {
  auto r = json::ParseJson(text);
  return r.ok() ? std::move(r).value() : json::MakeObject();
}

// One trivial tool: echo {text} back, logging first (a notification for GET streams).
std::shared_ptr<const mcp::ToolRegistry> TestTools() {
  auto tools = std::make_shared<mcp::ToolRegistry>();
  auto schema = json::ParseJson(
      R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})");
  mcp::Tool echo;
  echo.name = "echo";
  echo.description = "Echoes its text.";
  echo.input_schema = std::move(*schema);
  echo.annotations.read_only_hint = true;
  echo.handler = [](const mcp::ToolContext& ctx, const cJSON* args) {
    ctx.Log(mcp::LogLevel::kInfo, "echoing");
    return mcp::ToolResult::Text(std::string(json::GetString(args, "text").value_or("")));
  };
  EXPECT_TRUE(tools->Add(std::move(echo)).ok());
  // ask: one server-to-client request, answered with what the client said.
  mcp::Tool ask;
  ask.name = "ask";
  ask.description = "Asks the client.";
  ask.input_schema = ParsedOrEmpty(R"({"type":"object"})");
  ask.handler = [](const mcp::ToolContext& ctx, const cJSON*) {
    auto r = ctx.Request("elicitation/create", ParsedOrEmpty(R"({"mode":"url"})"),
                         std::chrono::seconds(30));
    if (!r.ok()) return mcp::ToolResult::Error(ErrName(r.status().code()));
    return mcp::ToolResult::Text("client said " +
                                 std::string(json::GetString(r->get(), "action").value_or("?")));
  };
  EXPECT_TRUE(tools->Add(std::move(ask)).ok());
  return tools;
}

class McpHttpTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (HasFatalFailure()) return;
    rate_limiter_ =
        std::make_unique<identity::RateLimiter>(identity::SystemClock(), identity::RateLimit{});
    api_ = std::make_unique<RestApi>(*vault_, *identities_, *rate_limiter_, 1000);

    key_a_ = NewKey("mcp-a");
    key_b_ = NewKey("mcp-b");
  }

  void Start(McpHttpOptions options = {}) {
    mcp_ = std::make_unique<McpHttp>([](const identity::Principal&) { return TestTools(); },
                                     std::move(options));
    http::Router router;
    ASSERT_TRUE(mcp_->Register(router, *api_).ok());
    server_ = std::make_unique<http::Server>(std::move(router));
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
  }

  // McpHttp with keycell's real tools (unlock_vault among them) and the unlock pages, on
  // a clock the test moves.
  void StartWithUnlock() {
    UnlockPageOptions o;
    o.now = [this] { return clock_; };
    pages_ = std::make_unique<UnlockPages>(*vault_, o);
    mcp_ = std::make_unique<McpHttp>(
        [this](const identity::Principal& who) {
          McpToolOptions opts;
          opts.unlock_pages = pages_.get();
          return BuildToolRegistry(*vault_, who, opts);
        },
        McpHttpOptions{});
    http::Router router;
    ASSERT_TRUE(mcp_->Register(router, *api_).ok());
    ASSERT_TRUE(pages_->Register(router).ok());
    server_ = std::make_unique<http::Server>(std::move(router));
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
    pages_->SetBaseUrl("http://127.0.0.1:" + std::to_string(server_->port()));
  }

  // The path of a new page.
  std::string NewPage() {
    auto page = pages_->Create("test");
    EXPECT_TRUE(page.ok());
    if (!page.ok()) return "";
    EXPECT_EQ(page->url.rfind("http://127.0.0.1:", 0), 0u);
    return page->url.substr(page->url.find("/unlock/"));
  }

  std::optional<TestResponse> SubmitPin(const std::string& path, std::string_view form,
                                        const std::string& extra = "") {
    return Call("POST", path,
                "Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://127.0.0.1:" +
                    std::to_string(server_->port()) + "\r\n" + extra,
                form);
  }

  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(2));
  }

  std::string NewKey(const std::string& name) {
    identity::ApiKeySpec spec;
    spec.name = name;
    auto k = identities_->CreateApiKey(spec);
    EXPECT_TRUE(k.ok()) << k.status().where();
    if (!k.ok()) return "";
    return std::string(reinterpret_cast<const char*>(k->key.data()), k->key.size());
  }

  static int StatusOf(const std::optional<TestResponse>& r) { return r ? r->status : -1; }

  static std::string Auth(const std::string& key) {
    return "Authorization: Bearer " + key + "\r\n";
  }

  // One request on a fresh connection.
  std::optional<TestResponse> Call(std::string_view method, std::string_view target,
                                   const std::string& headers, std::string_view body = "") {
    TestClient c;
    if (!c.Connect(server_->port())) return std::nullopt;
    if (!c.Send(MakeRequest(method, target, headers, body))) return std::nullopt;
    return c.ReadResponse();
  }

  // The headers of a POST to /mcp by `key`: a JSON body, either kind of reply accepted.
  static std::string PostHeaders(const std::string& key, const std::string& session = "",
                                 const std::string& extra = "") {
    std::string h =
        Auth(key) +
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n" + extra;
    if (!session.empty()) h += "Mcp-Session-Id: " + session + "\r\n";
    return h;
  }

  std::optional<TestResponse> Post(const std::string& key, std::string_view body,
                                   const std::string& session = "", const std::string& extra = "") {
    return Call("POST", "/mcp", PostHeaders(key, session, extra), body);
  }

  // A POST to /mcp in `session` on `c`'s own connection, read up to the end of the reply's
  // head: the rest (the request's SSE stream) is the test's to read event by event.
  bool PostAndReadHead(TestClient& c, const std::string& key, const std::string& session,
                       std::string_view body, TestResponse* head) {
    return c.Connect(server_->port()) &&
           c.Send(MakeRequest("POST", "/mcp", PostHeaders(key, session), body)) &&
           c.ReadHead(head);
  }

  // initialize + notifications/initialized; the session id.
  std::string Initialize(const std::string& key) {
    auto r = Post(key, kInit);
    EXPECT_TRUE(r.has_value());
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    auto id = r->Header("Mcp-Session-Id");
    EXPECT_TRUE(id.has_value());
    if (!id) return "";
    auto done = Post(key, kInitialized, *id);
    EXPECT_TRUE(done && done->status == 202);
    return *id;
  }

  std::unique_ptr<identity::RateLimiter> rate_limiter_;
  std::unique_ptr<RestApi> api_;
  std::unique_ptr<McpHttp> mcp_;
  std::unique_ptr<http::Server> server_;
  std::string key_a_, key_b_;
  std::chrono::steady_clock::time_point clock_ = std::chrono::steady_clock::now();
  std::unique_ptr<UnlockPages> pages_;
};

TEST_F(McpHttpTest, InitializeListAndCallOverStreamableHttp) {
  Start();
  auto init = Post(key_a_, kInit);
  ASSERT_TRUE(init);
  EXPECT_EQ(init->status, 200);
  EXPECT_EQ(init->Header("Content-Type").value_or(""), "application/json");
  EXPECT_NE(init->body.find(R"("protocolVersion":"2025-11-25")"), std::string::npos) << init->body;
  auto id = init->Header("Mcp-Session-Id");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 32u);
  EXPECT_EQ(mcp_->session_count(), 1u);

  auto note = Post(key_a_, kInitialized, *id, "MCP-Protocol-Version: 2025-11-25\r\n");
  ASSERT_TRUE(note);
  EXPECT_EQ(note->status, 202);
  EXPECT_TRUE(note->body.empty());

  auto list = Post(key_a_, kList, *id, "MCP-Protocol-Version: 2025-11-25\r\n");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_NE(list->body.find(R"("name":"echo")"), std::string::npos) << list->body;

  auto call = Post(key_a_, kCall, *id);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status, 200);
  EXPECT_NE(call->body.find(R"("text":"hi there")"), std::string::npos) << call->body;
  EXPECT_NE(call->body.find(R"("id":3)"), std::string::npos) << call->body;
}

TEST_F(McpHttpTest, AnswersAsOneSseEventWhenTheClientAcceptsOnlySse) {
  Start();
  const std::string id = Initialize(key_a_);
  auto r =
      Call("POST", "/mcp",
           Auth(key_a_) + "Accept: text/event-stream\r\nMcp-Session-Id: " + id + "\r\n", kList);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Type").value_or(""), "text/event-stream");
  EXPECT_EQ(r->body.rfind("event: message\ndata: {", 0), 0u) << r->body;
  EXPECT_EQ(r->body.substr(r->body.size() - 2), "\n\n");
}

TEST_F(McpHttpTest, PostAnswerStreamsTheCallsNotificationsThenItsResponse) {
  Start();
  const std::string id = Initialize(key_a_);
  auto call = Post(key_a_, kCall, id);  // accepts JSON and SSE
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status, 200);
  EXPECT_EQ(call->Header("Content-Type").value_or(""), "text/event-stream");
  EXPECT_EQ(call->Header("Cache-Control").value_or(""), "no-store");
  const size_t log = call->body.find("notifications/message");
  const size_t response = call->body.find(R"("id":3,"result")");
  ASSERT_NE(log, std::string::npos) << call->body;
  ASSERT_NE(response, std::string::npos) << call->body;
  EXPECT_LT(log, response) << call->body;
  EXPECT_EQ(call->body.rfind("event: message\ndata: ", 0), 0u) << call->body;
  // A request that produces nothing but its response stays plain JSON.
  auto list = Post(key_a_, kList, id);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->Header("Content-Type").value_or(""), "application/json");
}

TEST_F(McpHttpTest, ServerToClientRequestTravelsOnThePostStreamAndItsAnswerOnAPost) {
  Start();
  const std::string id = Initialize(key_a_);
  TestClient c;
  TestResponse head;
  ASSERT_TRUE(PostAndReadHead(
      c, key_a_, id,
      R"({"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":"ask"}})", &head));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Type").value_or(""), "text/event-stream");
  auto asked = c.ReadChunk();
  ASSERT_TRUE(asked);
  EXPECT_NE(asked->find(R"("method":"elicitation/create")"), std::string::npos) << *asked;
  EXPECT_NE(asked->find(R"("id":"keycell-1")"), std::string::npos) << *asked;
  // The client's answer is a POST of its own: accepted, no body.
  auto answer =
      Post(key_a_, R"({"jsonrpc":"2.0","id":"keycell-1","result":{"action":"accept"}})", id);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  auto reply = c.ReadChunk();
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->find(R"("id":"q")"), std::string::npos) << *reply;
  EXPECT_NE(reply->find("client said accept"), std::string::npos) << *reply;
  auto end = c.ReadChunk();
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, "");  // the stream ends after the response
}

// 2026-07-28: a request with the per-request _meta version needs no session, and the
// Mcp-Method / Mcp-Name headers must agree with the body.
TEST_F(McpHttpTest, ModernRequestsAreServedWithoutASession) {
  Start();
  const std::string meta =
      R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
      R"("io.modelcontextprotocol/clientCapabilities":{}})";
  const std::string modern = "MCP-Protocol-Version: 2026-07-28\r\n";
  auto discover = Post(key_a_, R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{)" +
                                   meta + "}}",
                       "", modern + "Mcp-Method: server/discover\r\n");
  ASSERT_TRUE(discover);
  EXPECT_EQ(discover->status, 200) << discover->body;
  EXPECT_NE(discover->body.find(R"("supportedVersions":["2026-07-28")"), std::string::npos)
      << discover->body;
  EXPECT_FALSE(discover->Header("Mcp-Session-Id").has_value());
  EXPECT_EQ(mcp_->session_count(), 0u);

  const std::string call =
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},)" +
      meta + "}}";
  auto called = Post(key_a_, call, "", modern + "Mcp-Method: tools/call\r\nMcp-Name: echo\r\n");
  ASSERT_TRUE(called);
  EXPECT_EQ(called->status, 200);
  EXPECT_NE(called->body.find(R"("resultType":"complete")"), std::string::npos) << called->body;
  EXPECT_NE(called->body.find(R"("text":"hi")"), std::string::npos) << called->body;

  auto wrong_method = Post(key_a_, call, "", modern + "Mcp-Method: tools/list\r\n");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 400);
  auto wrong_name = Post(key_a_, call, "", modern + "Mcp-Method: tools/call\r\nMcp-Name: ask\r\n");
  ASSERT_TRUE(wrong_name);
  EXPECT_EQ(wrong_name->status, 400);
  // Without the _meta claim, a request without a session is still refused (legacy).
  auto legacy = Post(key_a_, kList);
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->status, 400);
  // Authentication applies as everywhere.
  auto anonymous = Call("POST", "/mcp", "Content-Type: application/json\r\n", call);
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

TEST_F(McpHttpTest, SessionIdIsRequiredKnownAndBoundToItsPrincipal) {
  Start();
  // Missing: 400 for anything but initialize.
  auto missing = Post(key_a_, kList);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  // Unknown: 404.
  auto unknown = Post(key_a_, kList, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  // Another principal's session reads as unknown.
  const std::string id = Initialize(key_a_);
  auto other = Post(key_b_, kList, id);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  auto mine = Post(key_a_, kList, id);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->status, 200);
  // Unsupported protocol version header: 400.
  auto version = Post(key_a_, kList, id, "MCP-Protocol-Version: 1999-01-01\r\n");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 400);
}

TEST_F(McpHttpTest, UnparseableBodyIsAJsonRpcParseError) {
  Start();
  auto r = Post(key_a_, "{not json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("-32700"), std::string::npos) << r->body;
  EXPECT_EQ(mcp_->session_count(), 0u);
}

TEST_F(McpHttpTest, RefusesForeignOriginsAndHostsBeforeAuthentication) {
  Start();
  for (const char* origin :
       {"http://evil.example", "https://127.0.0.1", "null", "http://127.0.0.1.evil.example"}) {
    auto r = Post(key_a_, kInit, "", std::string("Origin: ") + origin + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << origin;
    EXPECT_NE(r->body.find(R"("code":"forbidden")"), std::string::npos);
  }
  for (const char* origin : {"http://127.0.0.1:8787", "http://localhost", "http://[::1]:3000"}) {
    auto r = Post(key_a_, kInit, "", std::string("Origin: ") + origin + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << origin;
  }
  // A bad Host: the request is written by hand (MakeRequest sends Host: 127.0.0.1).
  for (const char* host : {"evil.example", "evil.example:8787", "127.0.0.1.nip.io"}) {
    TestClient c;
    ASSERT_TRUE(c.Connect(server_->port()));
    const std::string body = kInit;
    ASSERT_TRUE(c.Send(std::string("POST /mcp HTTP/1.1\r\nHost: ") + host + "\r\n" + Auth(key_a_) +
                       "Content-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << host;
  }
  EXPECT_FALSE(McpHttp::IsLoopbackOrigin("http://"));
  EXPECT_TRUE(McpHttp::IsLoopbackOrigin("HTTP://LOCALHOST:1"));
  EXPECT_FALSE(McpHttp::IsLoopbackOrigin("http://localhost/"));
}

TEST_F(McpHttpTest, EveryRouteNeedsAuthentication) {
  Start();
  const std::string id = Initialize(key_a_);
  const std::string json = "Content-Type: application/json\r\n";
  for (const auto& [method, target, body] :
       {std::tuple<const char*, const char*, std::string>{"POST", "/mcp", kInit},
        {"POST", "/mcp", kList},
        {"GET", "/mcp", ""},
        {"DELETE", "/mcp", ""},
        {"GET", "/sse", ""},
        {"POST", "/messages?sessionId=0123456789abcdef0123456789abcdef", kList}}) {
    auto r = Call(method, target, json + "Mcp-Session-Id: " + id + "\r\n", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << method << " " << target;
    EXPECT_EQ(r->Header("WWW-Authenticate").value_or(""), "Bearer");
  }
  auto bad = Post("kc_not_a_real_key", kInit);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
}

TEST_F(McpHttpTest, DeleteEndsTheSession) {
  Start();
  const std::string id = Initialize(key_a_);
  auto other = Call("DELETE", "/mcp", Auth(key_b_) + "Mcp-Session-Id: " + id + "\r\n");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  auto del = Call("DELETE", "/mcp", Auth(key_a_) + "Mcp-Session-Id: " + id + "\r\n");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204);
  EXPECT_EQ(mcp_->session_count(), 0u);
  auto after = Post(key_a_, kList, id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 404);
  auto none = Call("DELETE", "/mcp", Auth(key_a_));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 400);
}

TEST_F(McpHttpTest, GetStreamCarriesNotificationsAndEndsWithTheSession) {
  Start();
  const std::string id = Initialize(key_a_);
  TestClient stream;
  ASSERT_TRUE(stream.Connect(server_->port()));
  ASSERT_TRUE(stream.Send(
      MakeRequest("GET", "/mcp",
                  Auth(key_a_) + "Accept: text/event-stream\r\nMcp-Session-Id: " + id + "\r\n")));
  TestResponse head;
  ASSERT_TRUE(stream.ReadHead(&head));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Type").value_or(""), "text/event-stream");

  // A second stream for the same session is refused.
  auto second = Call("GET", "/mcp", Auth(key_a_) + "Mcp-Session-Id: " + id + "\r\n");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409);

  // The tool logs before answering; a client that reads only JSON answers gets the
  // notification on the GET stream.
  auto call = Call("POST", "/mcp",
                   Auth(key_a_) + "Accept: application/json\r\nMcp-Session-Id: " + id + "\r\n",
                   kCall);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status, 200);
  auto event = stream.ReadChunk();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->rfind("event: message\ndata: ", 0), 0u) << *event;
  EXPECT_NE(event->find("notifications/message"), std::string::npos) << *event;
  EXPECT_NE(event->find("echoing"), std::string::npos) << *event;

  auto del = Call("DELETE", "/mcp", Auth(key_a_) + "Mcp-Session-Id: " + id + "\r\n");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204);
  auto last = stream.ReadChunk();
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, "");  // the stream ended
}

TEST_F(McpHttpTest, LegacySseDeliversRepliesOnTheStream) {
  Start();
  TestClient stream;
  ASSERT_TRUE(stream.Connect(server_->port()));
  ASSERT_TRUE(
      stream.Send(MakeRequest("GET", "/sse", Auth(key_a_) + "Accept: text/event-stream\r\n")));
  TestResponse head;
  ASSERT_TRUE(stream.ReadHead(&head));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Type").value_or(""), "text/event-stream");
  auto endpoint = stream.ReadChunk();
  ASSERT_TRUE(endpoint);
  const std::string prefix = "event: endpoint\ndata: /messages?sessionId=";
  ASSERT_EQ(endpoint->rfind(prefix, 0), 0u) << *endpoint;
  const size_t data_at = std::string("event: endpoint\ndata: ").size();
  const std::string path = endpoint->substr(data_at, endpoint->size() - data_at - 2);
  ASSERT_EQ(path.rfind("/messages?sessionId=", 0), 0u);
  const std::string json = "Content-Type: application/json\r\n";

  auto init = Call("POST", path, Auth(key_a_) + json, kInit);
  ASSERT_TRUE(init);
  EXPECT_EQ(init->status, 202);
  EXPECT_TRUE(init->body.empty());
  auto reply = stream.ReadChunk();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->rfind("event: message\ndata: {", 0), 0u) << *reply;
  EXPECT_NE(reply->find(R"("protocolVersion":"2025-11-25")"), std::string::npos) << *reply;

  ASSERT_EQ(StatusOf(Call("POST", path, Auth(key_a_) + json, kInitialized)), 202);
  ASSERT_EQ(StatusOf(Call("POST", path, Auth(key_a_) + json, kCall)), 202);
  // The log notification first, then the result.
  auto log = stream.ReadChunk();
  ASSERT_TRUE(log);
  EXPECT_NE(log->find("notifications/message"), std::string::npos) << *log;
  auto result = stream.ReadChunk();
  ASSERT_TRUE(result);
  EXPECT_NE(result->find(R"("text":"hi there")"), std::string::npos) << *result;

  // Another principal, or the Streamable HTTP endpoint, does not know this session.
  EXPECT_EQ(StatusOf(Call("POST", path, Auth(key_b_) + json, kList)), 404);
  EXPECT_EQ(StatusOf(Call("POST", "/messages?sessionId=ffffffffffffffffffffffffffffffff",
                          Auth(key_a_) + json, kList)),
            404);
  EXPECT_EQ(StatusOf(Call("POST", "/messages", Auth(key_a_) + json, kList)), 400);

  // The session lives as long as its stream.
  EXPECT_EQ(mcp_->session_count(), 1u);
  stream.Close();
  for (int i = 0; i < 100 && mcp_->session_count() != 0; ++i) {
    // The handler notices at its next write: prod it with a message.
    (void)Call("POST", path, Auth(key_a_) + json, R"({"jsonrpc":"2.0","id":9,"method":"ping"})");
    usleep(20'000);
  }
  EXPECT_EQ(mcp_->session_count(), 0u);
}

TEST_F(McpHttpTest, SessionsAreBoundedAndTheLeastRecentlyUsedIsEvicted) {
  McpHttpOptions options;
  options.max_sessions = 2;
  Start(options);
  const std::string first = Initialize(key_a_);
  const std::string second = Initialize(key_a_);
  ASSERT_EQ(StatusOf(Post(key_a_, kList, first)), 200);  // first is now the more recent
  const std::string third = Initialize(key_a_);
  EXPECT_EQ(mcp_->session_count(), 2u);
  EXPECT_EQ(StatusOf(Post(key_a_, kList, second)), 404);
  EXPECT_EQ(StatusOf(Post(key_a_, kList, first)), 200);
  EXPECT_EQ(StatusOf(Post(key_a_, kList, third)), 200);
}

TEST_F(McpHttpTest, IdleSessionsExpire) {
  McpHttpOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  Start(options);
  const std::string id = Initialize(key_a_);
  usleep(250'000);
  EXPECT_EQ(StatusOf(Post(key_a_, kList, id)), 404);
}

}  // namespace
}  // namespace keycell::broker::daemon

namespace keycell::broker::daemon {
namespace {

// ---- unlock_vault's one-time page (unlock_page.h) against the real enclave ------------

TEST_F(McpHttpTest, UnlockPageWrongPinThenRightPinThenSpent) {
  StartWithUnlock();
  ASSERT_FALSE(enclave_->unlocked());
  const std::string path = NewPage();
  auto get = Call("GET", path, "");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->Header("Content-Type").value_or(""), "text/html; charset=utf-8");
  EXPECT_EQ(get->Header("Cache-Control").value_or(""), "no-store");
  EXPECT_NE(get->Header("Content-Security-Policy").value_or("").find("default-src 'none'"),
            std::string::npos);
  EXPECT_NE(get->body.find("type=\"password\" name=\"pin\""), std::string::npos) << get->body;
  EXPECT_EQ(get->body.find(path.substr(8)), std::string::npos);  // the token is not repeated

  auto wrong = SubmitPin(path, "pin=9999");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  EXPECT_NE(wrong->body.find("Wrong PIN"), std::string::npos) << wrong->body;
  EXPECT_FALSE(enclave_->unlocked());

  auto empty = SubmitPin(path, "pin=");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);

  auto right = SubmitPin(path, "other=x&pin=%31%32%334");  // "1234", %-encoded in part
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;
  EXPECT_TRUE(enclave_->unlocked());

  // Spent: 410 for GET and POST alike; a token never issued is 404.
  auto again = Call("GET", path, "");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 410);
  auto repost = SubmitPin(path, "pin=1234");
  ASSERT_TRUE(repost);
  EXPECT_EQ(repost->status, 410);
  auto unknown = Call("GET", "/unlock/" + std::string(64, 'a'), "");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto junk = Call("GET", "/unlock/not-a-token", "");
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->status, 404);
}

TEST_F(McpHttpTest, UnlockPageExpiresAndChecksHostAndOrigin) {
  StartWithUnlock();
  const std::string path = NewPage();
  auto foreign = SubmitPin(path, "pin=1234", "Origin: http://evil.example\r\n");
  ASSERT_TRUE(foreign);
  // The request has two Origin headers (SubmitPin adds one): refused either way.
  EXPECT_EQ(foreign->status, 403);
  auto evil = Call("POST", path, "Origin: http://evil.example\r\n", "pin=1234");
  ASSERT_TRUE(evil);
  EXPECT_EQ(evil->status, 403);
  TestClient rebound;  // MakeRequest would add a loopback Host of its own
  ASSERT_TRUE(rebound.Connect(server_->port()));
  ASSERT_TRUE(rebound.Send("GET " + path + " HTTP/1.1\r\nHost: evil.example\r\n\r\n"));
  auto refused = rebound.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_FALSE(enclave_->unlocked());

  clock_ += std::chrono::minutes(10);
  auto expired = Call("GET", path, "");
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 410);
  auto late = SubmitPin(path, "pin=1234");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 410);
  EXPECT_FALSE(enclave_->unlocked());
  EXPECT_EQ(pages_->page_count(), 0u);
}

TEST_F(McpHttpTest, UnlockPageAllowsFewAttempts) {
  StartWithUnlock();
  const std::string path = NewPage();
  for (int i = 0; i < UnlockPages::kMaxAttemptsPerPage; ++i) {
    auto wrong = SubmitPin(path, "pin=0000");
    ASSERT_TRUE(wrong);
    // The vault's unlock rate limit (5 a minute here) may answer first.
    EXPECT_TRUE(wrong->status == 403 || wrong->status == 429) << wrong->status;
  }
  auto over = SubmitPin(path, "pin=1234");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 410);
  EXPECT_FALSE(enclave_->unlocked());
}

// unlock_vault in a session whose client declared URL elicitation: elicitation/create on
// the POST's stream, the page unlocks, then elicitation/complete and the result.
TEST_F(McpHttpTest, UnlockVaultElicitsTheUrlAndCompletesWhenThePageIsUsed) {
  StartWithUnlock();
  auto init = Post(
      key_a_,
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"t","version":"1"}}})");
  ASSERT_TRUE(init && init->status == 200);
  const std::string id = init->Header("Mcp-Session-Id").value_or("");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(StatusOf(Post(key_a_, kInitialized, id)), 202);

  TestClient c;
  TestResponse head;
  ASSERT_TRUE(PostAndReadHead(
      c, key_a_, id,
      R"({"jsonrpc":"2.0","id":"u","method":"tools/call","params":{"name":"unlock_vault"}})", &head));
  ASSERT_EQ(head.status, 200);
  auto event = c.ReadChunk();
  ASSERT_TRUE(event);
  const size_t data = event->find("data: ");
  ASSERT_NE(data, std::string::npos) << *event;
  auto request = json::ParseJson(event->substr(data + 6, event->find('\n', data) - data - 6));
  ASSERT_TRUE(request.ok()) << *event;
  EXPECT_EQ(json::GetString(request->get(), "method"), "elicitation/create");
  const cJSON* params = json::GetObject(request->get(), "params");
  EXPECT_EQ(json::GetString(params, "mode"), "url");
  const std::string url(json::GetString(params, "url").value_or(""));
  const std::string elicitation(json::GetString(params, "elicitationId").value_or(""));
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  ASSERT_FALSE(elicitation.empty());
  const std::string request_id(json::GetString(request->get(), "id").value_or(""));
  ASSERT_EQ(StatusOf(Post(key_a_,
                          R"({"jsonrpc":"2.0","id":")" + request_id +
                              R"(","result":{"action":"accept"}})",
                          id)),
            202);

  // The human uses the page.
  const std::string path = url.substr(url.find("/unlock/"));
  auto right = SubmitPin(path, "pin=1234");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);

  auto complete = c.ReadChunk();
  ASSERT_TRUE(complete);
  EXPECT_NE(complete->find("notifications/elicitation/complete"), std::string::npos) << *complete;
  EXPECT_NE(complete->find(elicitation), std::string::npos) << *complete;
  auto result = c.ReadChunk();
  ASSERT_TRUE(result);
  EXPECT_NE(result->find(R"("id":"u")"), std::string::npos) << *result;
  EXPECT_NE(result->find(R"("unlocked":true)"), std::string::npos) << *result;
  EXPECT_NE(result->find(R"("isError":false)"), std::string::npos) << *result;
  EXPECT_TRUE(enclave_->unlocked());
}

// Without URL elicitation the tool hands back the page's URL and the terminal advice;
// a password argument is refused while config does not allow it.
TEST_F(McpHttpTest, UnlockVaultWithoutElicitationGivesTheUrlAndRefusesPasswords) {
  StartWithUnlock();
  const std::string id = Initialize(key_a_);  // capabilities: {}
  auto r = Post(key_a_,
                R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"unlock_vault"}})",
                id);
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find(R"("unlocked":false)"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("/unlock/"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("keycell unlock"), std::string::npos) << r->body;
  EXPECT_EQ(pages_->page_count(), 1u);

  auto pw = Post(key_a_,
                 R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"unlock_vault","arguments":{"password":"1234"}}})",
                 id);
  ASSERT_TRUE(pw);
  EXPECT_NE(pw->body.find(R"("isError":true)"), std::string::npos) << pw->body;
  EXPECT_NE(pw->body.find("mcp.allow_password_unlock"), std::string::npos) << pw->body;
  EXPECT_FALSE(enclave_->unlocked());
}

}  // namespace
}  // namespace keycell::broker::daemon

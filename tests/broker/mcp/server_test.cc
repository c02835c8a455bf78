// Tests for broker/mcp/server.{h,cc}, tool_registry.{h,cc} and schema.{h,cc}: the MCP
// lifecycle and version negotiation, tools/list pagination and per-version fields,
// tools/call dispatch and validation, logging, cancellation and unknown methods.

#include "broker/mcp/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/mcp/schema.h"
#include "tests/support/status_testing.h"

namespace keycell::mcp {
namespace {

json::Json MustJson(std::string_view text) {
  auto r = json::ParseJson(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? std::move(r).value() : json::MakeNull();
}

std::string Print(const cJSON* item) {
  if (item == nullptr) return "<absent>";
  auto r = json::Print(item);
  return r.ok() ? *r : "<unprintable>";
}

// Collects notifications; thread-safe like a real transport's writer.
struct Outbox {
  std::mutex mu;
  std::vector<std::string> sent;
  Session::Notify Sink() {
    return [this](std::string m) {
      std::lock_guard<std::mutex> lock(mu);
      sent.push_back(std::move(m));
    };
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::exchange(sent, {});
  }
};

Tool MakeTool(std::string name, std::string_view input_schema = R"({"type":"object"})") {
  Tool t;
  t.name = std::move(name);
  t.title = "Title of " + t.name;
  t.description = "Does " + t.name;
  t.input_schema = MustJson(input_schema);
  t.handler = [](const ToolContext&, const cJSON*) { return ToolResult::Text("ok"); };
  return t;
}

constexpr char kEchoSchema[] = R"({
  "type": "object",
  "properties": {
    "name":  {"type": "string", "maxLength": 8, "description": "a name"},
    "count": {"type": "integer", "minimum": 1, "maximum": 10},
    "mode":  {"type": "string", "enum": ["create", "upsert"]},
    "tags":  {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    "opts":  {"type": "object", "properties": {"on": {"type": "boolean"}},
              "required": ["on"], "additionalProperties": false}
  },
  "required": ["name"],
  "additionalProperties": false
})";

class SessionTest : public ::testing::Test {
 protected:
  // Registry: "echo" (validated args, structured output), "fail" (isError),
  // "broken" (violates its outputSchema), "logger" (logs through ctx), plus
  // the tools a test adds before Start().
  void SetUp() override {
    Tool echo = MakeTool("echo", kEchoSchema);
    echo.output_schema = MustJson(
        R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})");
    echo.annotations.read_only_hint = true;
    echo.annotations.destructive_hint = false;
    echo.annotations.idempotent_hint = true;
    echo.annotations.open_world_hint = false;
    echo.handler = [](const ToolContext&, const cJSON* args) {
      json::Json out = json::MakeObject();
      EXPECT_TRUE(json::SetString(out.get(), "name", *json::GetString(args, "name")).ok());
      return ToolResult::Structured(std::move(out));
    };
    Add(std::move(echo));
    Tool fail = MakeTool("fail");
    fail.handler = [](const ToolContext&, const cJSON*) {
      return ToolResult::Error("vault is locked");
    };
    Add(std::move(fail));
    Tool broken = MakeTool("broken");
    broken.output_schema = MustJson(R"({"type":"object","required":["x"]})");
    Add(std::move(broken));
    Tool logger = MakeTool("logger");
    logger.handler = [](const ToolContext& ctx, const cJSON*) {
      ctx.Log(LogLevel::kDebug, "debug line");
      ctx.Log(LogLevel::kWarning, "warning line");
      return ToolResult::Text("logged");
    };
    Add(std::move(logger));
  }

  void Add(Tool tool) {
    std::string why;
    KC_ASSERT_OK(registry_->Add(std::move(tool), &why));
  }

  void Start(ServerOptions options = DefaultOptions()) {
    session_ = std::make_unique<Session>(registry_, std::move(options), outbox_.Sink());
  }

  static ServerOptions DefaultOptions() {
    ServerOptions o;
    o.version = "0.1.0-test";
    o.instructions = "Use keycell to reach secrets without seeing them.";
    return o;
  }

  // Sends one message that must be answered; returns the parsed reply.
  json::Json Ask(std::string_view message) {
    std::optional<std::string> reply = session_->Handle(message);
    EXPECT_TRUE(reply.has_value()) << message;
    if (!reply) return json::MakeNull();
    EXPECT_EQ(reply->find('\n'), std::string::npos);
    return MustJson(*reply);
  }

  json::Json Request(int64_t id, std::string_view method, std::string_view params = "") {
    std::string m = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" +
                    std::string(method) + "\"";
    if (!params.empty()) m += R"(,"params":)" + std::string(params);
    return Ask(m + "}");
  }

  json::Json Initialize(std::string_view version = "2025-11-25") {
    json::Json r = Request(1, "initialize",
                           R"({"protocolVersion":")" + std::string(version) +
                               R"(","capabilities":{"elicitation":{}},)"
                               R"("clientInfo":{"name":"test","version":"1"}})");
    EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"),
              std::nullopt);
    return r;
  }

  static int64_t ErrorCode(const json::Json& reply) {
    const cJSON* error = json::GetObject(reply.get(), "error");
    EXPECT_NE(error, nullptr) << Print(reply.get());
    const auto code = json::GetInt(error, "code");
    return code.value_or(0);
  }

  static const cJSON* ResultOf(const json::Json& reply) {
    const cJSON* result = json::GetObject(reply.get(), "result");
    EXPECT_NE(result, nullptr) << Print(reply.get());
    return result;
  }

  std::shared_ptr<ToolRegistry> registry_ = std::make_shared<ToolRegistry>();
  Outbox outbox_;
  std::unique_ptr<Session> session_;
};

// ---- Lifecycle -----------------------------------------------------------------------

TEST_F(SessionTest, NegotiatesEachSupportedVersionAndFallsBackToLatest) {
  const std::pair<const char*, const char*> cases[] = {
      {"2025-11-25", "2025-11-25"}, {"2025-06-18", "2025-06-18"}, {"2025-03-26", "2025-03-26"},
      {"2024-11-05", "2024-11-05"}, {"2099-01-01", "2025-11-25"}, {"1.0", "2025-11-25"},
  };
  for (const auto& [asked, answered] : cases) {
    Start();
    json::Json reply = Initialize(asked);
    const cJSON* result = ResultOf(reply);
    EXPECT_EQ(json::GetString(result, "protocolVersion"), answered) << asked;
    EXPECT_EQ(session_->protocol_version(), answered);
    EXPECT_TRUE(session_->initialized());
    EXPECT_TRUE(session_->client_ready());
  }
}

TEST_F(SessionTest, InitializeResultCarriesServerInfoCapabilitiesAndInstructions) {
  Start();
  json::Json reply = Initialize();
  EXPECT_EQ(json::GetInt(reply.get(), "id"), 1);
  const cJSON* result = ResultOf(reply);
  const cJSON* info = json::GetObject(result, "serverInfo");
  EXPECT_EQ(json::GetString(info, "name"), "keycell");
  EXPECT_EQ(json::GetString(info, "version"), "0.1.0-test");
  const cJSON* caps = json::GetObject(result, "capabilities");
  EXPECT_EQ(Print(caps), R"({"tools":{"listChanged":false},"logging":{}})");
  EXPECT_EQ(json::GetString(result, "instructions"),
            "Use keycell to reach secrets without seeing them.");
  json::Json client_caps = session_->client_capabilities();
  EXPECT_EQ(Print(client_caps.get()), R"({"elicitation":{}})");
}

TEST_F(SessionTest, EmptyInstructionsAreOmitted) {
  ServerOptions o = DefaultOptions();
  o.instructions.clear();
  Start(o);
  json::Json reply = Initialize();
  EXPECT_EQ(json::GetMember(ResultOf(reply), "instructions"), nullptr);
}

TEST_F(SessionTest, InitializeWithBadParamsIsInvalidParams) {
  Start();
  EXPECT_EQ(ErrorCode(Request(1, "initialize", R"({"capabilities":{}})")), kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(2, "initialize", R"({"protocolVersion":20241105})")), kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(3, "initialize",
                              R"({"protocolVersion":"2025-11-25",)"
                              R"("capabilities":[]})")),
            kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(4, "initialize")), kInvalidParams);
  EXPECT_FALSE(session_->initialized());
  // A failed initialize does not use up the one allowed.
  EXPECT_NE(ResultOf(Initialize()), nullptr);
}

TEST_F(SessionTest, RequestsBeforeInitializeAreRefusedExceptPing) {
  Start();
  EXPECT_EQ(ErrorCode(Request(1, "tools/list")), kNotInitialized);
  EXPECT_EQ(ErrorCode(Request(2, "tools/call", R"({"name":"fail"})")), kNotInitialized);
  EXPECT_EQ(ErrorCode(Request(3, "logging/setLevel", R"({"level":"debug"})")), kNotInitialized);
  EXPECT_EQ(kNotInitialized, -32600);
  EXPECT_EQ(Print(ResultOf(Request(4, "ping"))), "{}");
  // Unknown methods read -32601 in every state (server/discover probes).
  EXPECT_EQ(ErrorCode(Request(5, "server/discover")), kMethodNotFound);
  // notifications/initialized before initialize does not open the session.
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"),
            std::nullopt);
  EXPECT_FALSE(session_->client_ready());
  EXPECT_EQ(ErrorCode(Request(6, "tools/list")), kNotInitialized);
}

TEST_F(SessionTest, RequestsAfterInitializeResponseWorkBeforeInitializedNotification) {
  Start();
  EXPECT_NE(ResultOf(Request(1, "initialize", R"({"protocolVersion":"2025-11-25"})")), nullptr);
  EXPECT_FALSE(session_->client_ready());
  EXPECT_NE(ResultOf(Request(2, "tools/list")), nullptr);
}

TEST_F(SessionTest, SecondInitializeIsRefused) {
  Start();
  Initialize("2025-06-18");
  json::Json again = Request(7, "initialize", R"({"protocolVersion":"2024-11-05"})");
  EXPECT_EQ(ErrorCode(again), kInvalidRequest);
  EXPECT_EQ(json::GetInt(again.get(), "id"), 7);
  EXPECT_EQ(session_->protocol_version(), "2025-06-18");
}

TEST_F(SessionTest, PingAnswersEmptyObjectWithStringId) {
  Start();
  Initialize();
  json::Json reply = Ask(R"({"jsonrpc":"2.0","id":"abc","method":"ping"})");
  EXPECT_EQ(Print(reply.get()), R"({"jsonrpc":"2.0","id":"abc","result":{}})");
}

// ---- Errors and unknown methods --------------------------------------------------------

TEST_F(SessionTest, UnknownMethodsAreMethodNotFoundAndSessionStaysAlive) {
  Start();
  Initialize();
  for (const char* method : {"server/discover", "resources/list", "prompts/list",
                             "completion/complete", "tools/unknown"}) {
    EXPECT_EQ(ErrorCode(Request(10, method, "{}")), kMethodNotFound) << method;
  }
  EXPECT_EQ(Print(ResultOf(Request(11, "ping"))), "{}");
}

TEST_F(SessionTest, MalformedMessagesGetJsonRpcErrors) {
  Start();
  Initialize();
  json::Json parse = Ask("{not json");
  EXPECT_EQ(ErrorCode(parse), kParseError);
  EXPECT_EQ(json::TypeOf(json::GetMember(parse.get(), "id")), json::Type::kNull);
  EXPECT_EQ(ErrorCode(Ask(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])")), kInvalidRequest);
  EXPECT_EQ(ErrorCode(Ask(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")), kInvalidRequest);
  // Positional params fit no MCP method.
  EXPECT_EQ(ErrorCode(Ask(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":[]})")),
            kInvalidParams);
  EXPECT_EQ(Print(ResultOf(Request(3, "ping"))), "{}");
}

TEST_F(SessionTest, ResponsesAndUnknownNotificationsAreNotAnswered) {
  Start();
  Initialize();
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","id":5,"result":{}})"), std::nullopt);
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","id":5,"error":{"code":-1,"message":"x"}})"),
            std::nullopt);
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/progress",)"
                             R"("params":{"progressToken":1,"progress":1}})"),
            std::nullopt);
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                             R"("params":{"requestId":99}})"),
            std::nullopt);
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/cancelled"})"),
            std::nullopt);
}

TEST_F(SessionTest, NeverEmitsModernProtocolErrorCodes) {
  Start();
  const char* probes[] = {
      R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}})",
      R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":)"
      R"({"modelcontextprotocol.io/protocolVersion":"2026-07-28"}}})",
      R"({"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2026-07-28"}})",
      R"({"jsonrpc":"2.0","id":4,"method":"server/discover"})",
  };
  for (const char* probe : probes) {
    json::Json reply = Ask(probe);
    if (const cJSON* error = json::GetObject(reply.get(), "error")) {
      const int64_t code = json::GetInt(error, "code").value_or(0);
      EXPECT_FALSE(code <= -32020 && code >= -32022) << probe;
    }
  }
  EXPECT_EQ(session_->protocol_version(), "2025-11-25");
}

// ---- The 2026-07-28 (stateless) revision --------------------------------------------------

constexpr char kModernMeta[] =
    R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
    R"("io.modelcontextprotocol/clientInfo":{"name":"v2","version":"1"},)"
    R"("io.modelcontextprotocol/clientCapabilities":{}})";

TEST_F(SessionTest, ModernDiscoverNeedsNoInitializeAndOffersEveryVersion) {
  Start();
  json::Json reply = Request(1, "server/discover", std::string("{") + kModernMeta + "}");
  const cJSON* result = ResultOf(reply);
  EXPECT_EQ(Print(json::GetMember(result, "supportedVersions")),
            R"(["2026-07-28","2025-11-25","2025-06-18","2025-03-26","2024-11-05"])");
  EXPECT_EQ(Print(json::GetObject(result, "capabilities")),
            R"({"tools":{"listChanged":false},"logging":{}})");
  EXPECT_EQ(json::GetString(result, "resultType"), "complete");
  EXPECT_EQ(json::GetInt(result, "ttlMs"), 0);
  const cJSON* info = json::GetObject(json::GetObject(result, "_meta"),
                                      "io.modelcontextprotocol/serverInfo");
  EXPECT_EQ(json::GetString(info, "name"), "keycell");
  // A stateless request initializes nothing: the legacy lifecycle is untouched.
  EXPECT_FALSE(session_->initialized());
  // Without the _meta claim, server/discover is still the legacy probe answer.
  EXPECT_EQ(ErrorCode(Request(2, "server/discover", "{}")), kMethodNotFound);
}

TEST_F(SessionTest, ModernListAndCallCarryResultTypeAndCacheHints) {
  Start();
  json::Json list = Request(3, "tools/list", std::string("{") + kModernMeta + "}");
  const cJSON* result = ResultOf(list);
  EXPECT_EQ(json::GetString(result, "resultType"), "complete");
  EXPECT_EQ(json::GetString(result, "cacheScope"), "private");
  EXPECT_EQ(json::GetInt(result, "ttlMs"), 0);
  const cJSON* echo = cJSON_GetArrayItem(json::GetMember(result, "tools"), 0);
  EXPECT_EQ(json::GetString(echo, "title"), "Title of echo");
  EXPECT_NE(json::GetObject(echo, "outputSchema"), nullptr);

  json::Json call = Request(4, "tools/call",
                            std::string(R"({"name":"echo","arguments":{"name":"bob"},)") +
                                kModernMeta + "}");
  const cJSON* called = ResultOf(call);
  EXPECT_EQ(json::GetString(called, "resultType"), "complete");
  EXPECT_EQ(json::GetString(json::GetObject(called, "structuredContent"), "name"), "bob");
  EXPECT_EQ(ErrorCode(Request(5, "resources/list", std::string("{") + kModernMeta + "}")),
            kMethodNotFound);
}

TEST_F(SessionTest, ModernToolSeesThePerRequestCapabilitiesAndCannotAskTheClient) {
  std::string seen;
  Status asked;
  Tool t = MakeTool("caps");
  t.handler = [&](const ToolContext& ctx, const cJSON*) {
    seen = Print(ctx.ClientCapabilities().get());
    asked = ctx.Request("elicitation/create", json::MakeObject(), std::chrono::seconds(30))
                .status();
    return ToolResult::Text("ok");
  };
  Add(std::move(t));
  Start();
  (void)Request(6, "tools/call",
                R"({"name":"caps","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
                R"("io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}})");
  EXPECT_EQ(seen, R"({"elicitation":{"url":{}}})");
  EXPECT_EQ(asked.code(), Err::kUnavailable);
}

TEST_F(SessionTest, UnknownModernVersionIsUnsupportedProtocolVersionWithTheList) {
  Start();
  json::Json reply = Request(
      7, "server/discover",
      R"({"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}})");
  EXPECT_EQ(ErrorCode(reply), kUnsupportedProtocolVersion);
  const cJSON* data = json::GetObject(json::GetObject(reply.get(), "error"), "data");
  EXPECT_EQ(Print(json::GetMember(data, "supported")),
            R"(["2026-07-28","2025-11-25","2025-06-18","2025-03-26","2024-11-05"])");
  EXPECT_EQ(json::GetString(data, "requested"), "2099-01-01");
}

// ---- tools/list ----------------------------------------------------------------------

TEST_F(SessionTest, ToolsListPaginatesAcrossPages) {
  Add(MakeTool("e"));  // 5 tools: echo fail broken logger e
  ServerOptions o = DefaultOptions();
  o.page_size = 2;
  Start(o);
  Initialize();
  std::vector<std::string> names;
  std::string cursor;
  int pages = 0;
  for (;;) {
    const std::string params = cursor.empty() ? "{}" : R"({"cursor":")" + cursor + "\"}";
    json::Json reply = Request(20 + pages, "tools/list", params);
    const cJSON* result = ResultOf(reply);
    ASSERT_NE(result, nullptr);
    const cJSON* tools = json::GetArray(result, "tools");
    EXPECT_LE(json::ChildCount(tools), 2u);
    for (const cJSON* t : json::Children(tools)) {
      names.emplace_back(json::GetString(t, "name").value_or(""));
    }
    ++pages;
    const auto next = json::GetString(result, "nextCursor");
    if (!next) break;
    cursor = std::string(*next);
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "fail", "broken", "logger", "e"}));
}

TEST_F(SessionTest, ToolsListSinglePageHasNoNextCursor) {
  Start();
  Initialize();
  const cJSON* result = nullptr;
  json::Json reply = Request(2, "tools/list");
  result = ResultOf(reply);
  EXPECT_EQ(json::ChildCount(json::GetArray(result, "tools")), 4u);
  EXPECT_EQ(json::GetMember(result, "nextCursor"), nullptr);
}

TEST_F(SessionTest, ToolsListRefusesInvalidCursors) {
  ServerOptions o = DefaultOptions();
  o.page_size = 2;
  Start(o);
  Initialize();
  EXPECT_NE(ResultOf(Request(1, "tools/list", R"({"cursor":"o2"})")), nullptr);
  for (const char* bad : {R"("")", R"("bogus")", R"("o1")", R"("o0")", R"("o4")", R"("o02")",
                          R"("o99999999999")", "2", "null", "{}"}) {
    EXPECT_EQ(ErrorCode(Request(2, "tools/list", std::string(R"({"cursor":)") + bad + "}")),
              kInvalidParams)
        << bad;
  }
}

TEST_F(SessionTest, ToolsListFieldsFollowTheNegotiatedVersion) {
  struct Case {
    const char* version;
    bool title, output_schema, annotations, annotations_title;
  };
  const Case cases[] = {
      {"2024-11-05", false, false, false, false},
      {"2025-03-26", false, false, true, true},
      {"2025-06-18", true, true, true, false},
      {"2025-11-25", true, true, true, false},
  };
  for (const Case& c : cases) {
    Start();
    Initialize(c.version);
    json::Json reply = Request(2, "tools/list");
    const cJSON* echo = json::GetArray(ResultOf(reply), "tools")->child;
    ASSERT_EQ(json::GetString(echo, "name"), "echo");
    EXPECT_EQ(json::GetString(echo, "description"), "Does echo");
    EXPECT_NE(json::GetObject(echo, "inputSchema"), nullptr);
    EXPECT_EQ(json::GetMember(echo, "title") != nullptr, c.title) << c.version;
    EXPECT_EQ(json::GetMember(echo, "outputSchema") != nullptr, c.output_schema) << c.version;
    const cJSON* a = json::GetObject(echo, "annotations");
    EXPECT_EQ(a != nullptr, c.annotations) << c.version;
    if (a != nullptr) {
      EXPECT_EQ(json::GetMember(a, "title") != nullptr, c.annotations_title) << c.version;
      EXPECT_EQ(json::GetBool(a, "readOnlyHint"), true);
      EXPECT_EQ(json::GetBool(a, "destructiveHint"), false);
      EXPECT_EQ(json::GetBool(a, "idempotentHint"), true);
      EXPECT_EQ(json::GetBool(a, "openWorldHint"), false);
    }
  }
}

// ---- tools/call ----------------------------------------------------------------------

TEST_F(SessionTest, ToolsCallDispatchesAndReturnsStructuredContent) {
  Start();
  Initialize();
  json::Json reply =
      Request(3, "tools/call", R"({"name":"echo","arguments":{"name":"abc","count":3}})");
  EXPECT_EQ(Print(ResultOf(reply)), R"({"content":[{"type":"text","text":"{\"name\":\"abc\"}"}],)"
                                    R"("structuredContent":{"name":"abc"},"isError":false})");
}

TEST_F(SessionTest, StructuredContentIsLeftOutBefore20250618) {
  Start();
  Initialize("2025-03-26");
  json::Json reply = Request(3, "tools/call", R"({"name":"echo","arguments":{"name":"abc"}})");
  EXPECT_EQ(Print(ResultOf(reply)),
            R"({"content":[{"type":"text","text":"{\"name\":\"abc\"}"}],"isError":false})");
}

TEST_F(SessionTest, ToolErrorsAreResultsWithIsError) {
  Start();
  Initialize();
  json::Json reply = Request(3, "tools/call", R"({"name":"fail"})");
  EXPECT_EQ(Print(ResultOf(reply)),
            R"({"content":[{"type":"text","text":"vault is locked"}],"isError":true})");
}

TEST_F(SessionTest, ToolsCallBadParamsAreInvalidParams) {
  Start();
  Initialize();
  EXPECT_EQ(ErrorCode(Request(1, "tools/call", R"({"name":"nope"})")), kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(2, "tools/call", R"({"arguments":{}})")), kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(3, "tools/call", R"({"name":7})")), kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(4, "tools/call", R"({"name":"fail","arguments":[1]})")),
            kInvalidParams);
  EXPECT_EQ(ErrorCode(Request(5, "tools/call")), kInvalidParams);
  // The unknown name is not echoed.
  json::Json unknown = Request(6, "tools/call", R"({"name":"sk-live-1234"})");
  EXPECT_EQ(Print(unknown.get()).find("sk-live"), std::string::npos);
}

TEST_F(SessionTest, ArgumentValidationFailuresAreIsErrorResultsWithoutValues) {
  Start();
  Initialize();
  struct Case {
    const char* arguments;
    const char* message;
  };
  const Case cases[] = {
      {R"({})", "invalid arguments: arguments.name: required property missing"},
      {R"({"name":12345})", "invalid arguments: arguments.name: expected string"},
      {R"({"name":"SECRETVALUE1"})", "invalid arguments: arguments.name: longer than 8 characters"},
      {R"({"name":"a","SECRETKEY":1})",
       "invalid arguments: arguments: unexpected property (allowed: name, count, mode, tags, "
       "opts)"},
      {R"({"name":"a","count":1.5})", "invalid arguments: arguments.count: expected integer"},
      {R"({"name":"a","count":11})", "invalid arguments: arguments.count: above the maximum"},
      {R"({"name":"a","mode":"SECRETMODE"})",
       "invalid arguments: arguments.mode: not one of the allowed values"},
      {R"({"name":"a","tags":["x","SECRET",3]})",
       "invalid arguments: arguments.tags[2]: expected string"},
      {R"({"name":"a","opts":{}})",
       "invalid arguments: arguments.opts.on: required property missing"},
  };
  for (const Case& c : cases) {
    json::Json reply =
        Request(4, "tools/call", std::string(R"({"name":"echo","arguments":)") + c.arguments + "}");
    const cJSON* result = ResultOf(reply);
    ASSERT_NE(result, nullptr) << c.arguments;
    EXPECT_EQ(json::GetBool(result, "isError"), true) << c.arguments;
    const cJSON* first = json::GetArray(result, "content")->child;
    EXPECT_EQ(json::GetString(first, "text"), c.message) << c.arguments;
    EXPECT_EQ(Print(result).find("SECRET"), std::string::npos) << c.arguments;
    EXPECT_EQ(json::GetMember(result, "structuredContent"), nullptr);
  }
}

TEST_F(SessionTest, ToolViolatingItsOutputSchemaIsInternalError) {
  Start();
  Initialize();
  EXPECT_EQ(ErrorCode(Request(5, "tools/call", R"({"name":"broken"})")), kInternalError);
  // The session survives and logs the contract breach for the operator.
  EXPECT_EQ(Print(ResultOf(Request(6, "ping"))), "{}");
  std::vector<std::string> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(sent[0].find("no structuredContent"), std::string::npos);
}

// ---- Logging -------------------------------------------------------------------------

TEST_F(SessionTest, SetLevelFiltersLogNotifications) {
  Start();
  session_->Log(LogLevel::kEmergency, "core", "before initialize");
  EXPECT_TRUE(outbox_.Take().empty());
  Initialize();
  EXPECT_EQ(session_->log_level(), LogLevel::kInfo);
  session_->Log(LogLevel::kDebug, "core", "dropped");
  session_->Log(LogLevel::kInfo, "core", "kept");
  EXPECT_EQ(outbox_.Take(), (std::vector<std::string>{
                                R"({"jsonrpc":"2.0","method":"notifications/message",)"
                                R"("params":{"level":"info","logger":"core","data":"kept"}})"}));

  EXPECT_EQ(Print(ResultOf(Request(2, "logging/setLevel", R"({"level":"error"})"))), "{}");
  EXPECT_EQ(session_->log_level(), LogLevel::kError);
  session_->Log(LogLevel::kWarning, "core", "dropped");
  session_->Log(LogLevel::kError, "", "no logger");
  json::Json data = MustJson(R"({"event":"unlock","ok":true})");
  session_->Log(LogLevel::kAlert, "audit", data.get());
  EXPECT_EQ(
      outbox_.Take(),
      (std::vector<std::string>{
          R"({"jsonrpc":"2.0","method":"notifications/message",)"
          R"("params":{"level":"error","data":"no logger"}})",
          R"({"jsonrpc":"2.0","method":"notifications/message",)"
          R"("params":{"level":"alert","logger":"audit","data":{"event":"unlock","ok":true}}})"}));
}

TEST_F(SessionTest, SetLevelAcceptsTheEightLevelsAndRefusesOthers) {
  Start();
  Initialize();
  const char* levels[] = {"debug", "info",     "notice", "warning",
                          "error", "critical", "alert",  "emergency"};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_NE(
        ResultOf(Request(1, "logging/setLevel", std::string(R"({"level":")") + levels[i] + "\"}")),
        nullptr);
    EXPECT_EQ(session_->log_level(), static_cast<LogLevel>(i));
  }
  for (const char* bad :
       {R"({"level":"DEBUG"})", R"({"level":"trace"})", R"({"level":3})", R"({})"}) {
    EXPECT_EQ(ErrorCode(Request(2, "logging/setLevel", bad)), kInvalidParams) << bad;
  }
  EXPECT_EQ(ErrorCode(Request(3, "logging/setLevel")), kInvalidParams);
  EXPECT_EQ(session_->log_level(), LogLevel::kEmergency);
}

TEST_F(SessionTest, ToolLogsCarryTheToolNameAndRespectTheLevel) {
  Start();
  Initialize();
  json::Json reply = Request(3, "tools/call", R"({"name":"logger"})");
  EXPECT_EQ(json::GetBool(ResultOf(reply), "isError"), false);
  EXPECT_EQ(outbox_.Take(),
            (std::vector<std::string>{
                R"({"jsonrpc":"2.0","method":"notifications/message",)"
                R"("params":{"level":"warning","logger":"logger","data":"warning line"}})"}));
}

// ---- Cancellation --------------------------------------------------------------------

TEST_F(SessionTest, CancelledRequestGetsNoResponse) {
  bool saw_cancel = false;
  Tool t = MakeTool("slow");
  t.handler = [this, &saw_cancel](const ToolContext& ctx, const cJSON*) {
    EXPECT_FALSE(ctx.cancelled());
    // The transport delivers the client's cancel while the call runs.
    const std::string cancel = R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                               R"("params":{"requestId":"call-1","reason":"user"}})";
    EXPECT_EQ(session_->Handle(cancel), std::nullopt);
    saw_cancel = ctx.cancelled();
    return ToolResult::Text("too late");
  };
  Add(std::move(t));
  Start();
  Initialize();
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","id":"call-1","method":"tools/call",)"
                             R"("params":{"name":"slow"}})"),
            std::nullopt);
  EXPECT_TRUE(saw_cancel);
  // The session carries on.
  EXPECT_NE(ResultOf(Ask(R"({"jsonrpc":"2.0","id":"call-2","method":"tools/call",)"
                         R"("params":{"name":"fail"}})")),
            nullptr);
}

TEST_F(SessionTest, CancelFromAnotherThreadStopsARunningTool) {
  Tool t = MakeTool("wait");
  t.handler = [](const ToolContext& ctx, const cJSON*) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ctx.cancelled() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ToolResult::Text(ctx.cancelled() ? "cancelled" : "timed out");
  };
  Add(std::move(t));
  Start();
  Initialize();
  std::optional<std::string> reply = std::string("unset");
  std::atomic<bool> done{false};
  std::thread call([&] {
    reply = session_->Handle(
        R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"wait"}})");
    done = true;
  });
  // Cancels until the call ends: before the call is in flight, the id is unknown and
  // the cancel is ignored, so keep sending.
  const auto start = std::chrono::steady_clock::now();
  while (!done && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                     R"("params":{"requestId":42}})");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  call.join();
  EXPECT_EQ(reply, std::nullopt);
}

TEST_F(SessionTest, DuplicateInFlightIdIsRefused) {
  int64_t inner_code = 0;
  Tool t = MakeTool("reenter");
  t.handler = [this, &inner_code](const ToolContext&, const cJSON*) {
    std::optional<std::string> inner = session_->Handle(
        R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fail"}})");
    if (inner)
      inner_code =
          json::GetInt(json::GetObject(MustJson(*inner).get(), "error"), "code").value_or(0);
    return ToolResult::Text("outer");
  };
  Add(std::move(t));
  Start();
  Initialize();
  EXPECT_NE(ResultOf(Request(9, "tools/call", R"({"name":"reenter"})")), nullptr);
  EXPECT_EQ(inner_code, kInvalidRequest);
}

// ---- Server-to-client requests ---------------------------------------------------------

// A client that sees every outgoing message with the request it belongs to, and may answer
// (by calling back into the session, as a transport's reader thread would).
class RequestTest : public SessionTest {
 protected:
  struct Sent {
    std::string message;
    std::optional<Id> related;
  };
  void StartWithClient(std::function<void(const json::Json&)> on_message,
                       ServerOptions options = DefaultOptions()) {
    on_message_ = std::move(on_message);
    session_ = std::make_unique<Session>(
        registry_, std::move(options),
        Session::Outgoing([this](std::string m, const std::optional<Id>& related) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            sent_.push_back({m, related});
          }
          if (on_message_) on_message_(MustJson(m));
        }));
  }
  std::vector<Sent> TakeSent() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(sent_, {});
  }
  void Answer(const json::Json& request, std::string_view result) {
    const std::string id(*json::GetString(request.get(), "id"));
    EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","id":")" + id + R"(","result":)" +
                               std::string(result) + "}"),
              std::nullopt);
  }
  // A tool that asks the client once and reports what came back.
  void AddAsker(std::chrono::milliseconds timeout) {
    Tool t = MakeTool("ask");
    t.handler = [timeout](const ToolContext& ctx, const cJSON*) {
      auto r = ctx.Request("elicitation/create", MustJson(R"({"mode":"url","message":"m"})"),
                           timeout);
      if (!r.ok())
        return ToolResult::Error(std::string(ErrName(r.status().code())) + " " +
                                 std::to_string(r.status().detail()));
      return ToolResult::Text(std::string(json::GetString(r->get(), "action").value_or("?")));
    };
    Add(std::move(t));
  }
  std::string CallAsk(std::string_view id = "\"c1\"") {
    std::optional<std::string> reply = session_->Handle(
        R"({"jsonrpc":"2.0","id":)" + std::string(id) +
        R"(,"method":"tools/call","params":{"name":"ask"}})");
    if (!reply) return "<no response>";
    const json::Json doc = MustJson(*reply);
    const cJSON* result = json::GetObject(doc.get(), "result");
    const cJSON* item = cJSON_GetArrayItem(json::GetMember(result, "content"), 0);
    return std::string(json::GetString(item, "text").value_or("<no text>"));
  }

  std::mutex mu_;
  std::vector<Sent> sent_;
  std::function<void(const json::Json&)> on_message_;
};

TEST_F(RequestTest, ToolRequestReachesTheClientTaggedAndGetsItsResult) {
  AddAsker(std::chrono::seconds(30));
  StartWithClient([this](const json::Json& m) {
    if (json::GetString(m.get(), "method") == "elicitation/create")
      Answer(m, R"({"action":"accept"})");
  });
  Initialize();
  EXPECT_EQ(CallAsk(), "accept");
  std::vector<Sent> sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  json::Json request = MustJson(sent[0].message);
  EXPECT_EQ(json::GetString(request.get(), "method"), "elicitation/create");
  EXPECT_EQ(json::GetString(request.get(), "id"), "keycell-1");
  EXPECT_EQ(json::GetString(json::GetObject(request.get(), "params"), "mode"), "url");
  ASSERT_TRUE(sent[0].related.has_value());
  EXPECT_EQ(*sent[0].related, Id(std::string("c1")));
}

TEST_F(RequestTest, ClientErrorIsReportedWithItsCode) {
  AddAsker(std::chrono::seconds(30));
  StartWithClient([this](const json::Json& m) {
    if (!json::GetString(m.get(), "method")) return;
    const std::string id(*json::GetString(m.get(), "id"));
    EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","id":")" + id +
                               R"(","error":{"code":-32601,"message":"no elicitation"}})"),
              std::nullopt);
  });
  Initialize();
  EXPECT_EQ(CallAsk(), std::string(ErrName(Err::kPolicyDenied)) + " -32601");
}

TEST_F(RequestTest, UnansweredRequestTimesOutTellsTheClientAndIgnoresALateAnswer) {
  AddAsker(std::chrono::milliseconds(20));
  StartWithClient(nullptr);
  Initialize();
  EXPECT_EQ(CallAsk(), std::string(ErrName(Err::kTimeout)) + " 0");
  std::vector<Sent> sent = TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  json::Json cancel = MustJson(sent[1].message);
  EXPECT_EQ(json::GetString(cancel.get(), "method"), "notifications/cancelled");
  EXPECT_EQ(json::GetString(json::GetObject(cancel.get(), "params"), "requestId"), "keycell-1");
  // The late answer matches nothing and changes nothing.
  EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","id":"keycell-1","result":{"action":"accept"}})"),
            std::nullopt);
  EXPECT_EQ(CallAsk("\"c2\""), std::string(ErrName(Err::kTimeout)) + " 0");
}

TEST_F(RequestTest, CancellingTheToolCallEndsTheWait) {
  AddAsker(std::chrono::minutes(10));
  StartWithClient([this](const json::Json& m) {
    // The user gives up: the client cancels the tools/call instead of answering.
    if (json::GetString(m.get(), "method") == "elicitation/create") {
      EXPECT_EQ(session_->Handle(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                                 R"("params":{"requestId":"c1"}})"),
                std::nullopt);
    }
  });
  Initialize();
  EXPECT_EQ(CallAsk(), "<no response>");
}

TEST_F(RequestTest, AnsweredFromAnotherThread) {
  AddAsker(std::chrono::seconds(30));
  std::mutex m;
  std::condition_variable cv;
  std::optional<json::Json> asked;
  StartWithClient([&](const json::Json& msg) {
    std::lock_guard<std::mutex> lock(m);
    asked = json::Clone(msg.get());
    cv.notify_all();
  });
  Initialize();
  std::thread client([&] {
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return asked.has_value(); })) return;
    Answer(*asked, R"({"action":"decline"})");
  });
  EXPECT_EQ(CallAsk(), "decline");
  client.join();
}

TEST_F(RequestTest, PendingRequestsAreBoundedAndNeedInitialize) {
  AddAsker(std::chrono::seconds(30));
  ServerOptions options = DefaultOptions();
  options.max_pending_requests = 1;
  Status second;
  StartWithClient(
      [&](const json::Json& m) {
        if (json::GetString(m.get(), "method") != "elicitation/create") return;
        // A second request while the first is pending is refused at once.
        second = session_->Request("ping", json::MakeObject(), std::chrono::seconds(30)).status();
        Answer(m, R"({"action":"cancel"})");
      },
      std::move(options));
  EXPECT_EQ(session_->Request("ping", json::MakeObject(), std::chrono::seconds(1)).status().code(),
            Err::kUnavailable);
  Initialize();
  EXPECT_EQ(CallAsk(), "cancel");
  EXPECT_EQ(second.code(), Err::kUnavailable);
}

TEST_F(RequestTest, ToolLogsAreTaggedWithTheirCall) {
  StartWithClient(nullptr);
  Initialize();
  EXPECT_NE(ResultOf(Request(5, "tools/call", R"({"name":"logger"})")), nullptr);
  session_->Log(LogLevel::kError, "keycell", "session-wide");
  std::vector<Sent> sent = TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].related, std::optional<Id>(Id(int64_t{5})));
  EXPECT_EQ(sent[1].related, std::nullopt);
}

// ---- Registry and schema ---------------------------------------------------------------

TEST(ToolRegistryTest, RefusesBadDefinitions) {
  ToolRegistry r;
  std::string why;
  KC_EXPECT_OK(r.Add(MakeTool("good.name-1_x"), &why));
  EXPECT_EQ(r.Add(MakeTool("good.name-1_x"), &why).code(), Err::kInvalidArgument);
  EXPECT_NE(why.find("duplicate"), std::string::npos);
  EXPECT_FALSE(r.Add(MakeTool(""), &why).ok());
  EXPECT_FALSE(r.Add(MakeTool("has space"), &why).ok());
  EXPECT_FALSE(r.Add(MakeTool(std::string(129, 'a')), &why).ok());
  KC_EXPECT_OK(r.Add(MakeTool(std::string(128, 'a')), &why));
  Tool no_handler = MakeTool("h");
  no_handler.handler = nullptr;
  EXPECT_FALSE(r.Add(std::move(no_handler), &why).ok());
  Tool no_schema = MakeTool("s");
  no_schema.input_schema.reset();
  EXPECT_FALSE(r.Add(std::move(no_schema), &why).ok());
  EXPECT_FALSE(r.Add(MakeTool("arr", R"({"type":"array"})"), &why).ok());
  EXPECT_FALSE(r.Add(MakeTool("pat", R"({"type":"object","properties":{"a":)"
                                     R"({"type":"string","pattern":"^x"}}})"),
                     &why)
                   .ok());
  EXPECT_EQ(why,
            "inputSchema: schema.properties.a.pattern: keyword not supported by "
            "keycell's validator");
  Tool bad_out = MakeTool("out");
  bad_out.output_schema = MustJson(R"({"type":"object","oneOf":[]})");
  EXPECT_FALSE(r.Add(std::move(bad_out), &why).ok());
  EXPECT_EQ(r.size(), 2u);
  EXPECT_NE(r.Find("good.name-1_x"), nullptr);
  EXPECT_EQ(r.Find("missing"), nullptr);
}

TEST(SchemaTest, ChecksKeywordValues) {
  const char* good[] = {
      R"({})",
      R"({"type":["string","null"],"description":"x","default":"a","format":"uri"})",
      R"({"type":"object","additionalProperties":{"type":"integer"}})",
      R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"})",
  };
  for (const char* s : good) EXPECT_TRUE(CheckSchema(MustJson(s).get()).ok()) << s;
  const char* bad[] = {
      R"([])",
      R"({"type":"str"})",
      R"({"type":[]})",
      R"({"required":"a"})",
      R"({"required":[1]})",
      R"({"maxLength":-1})",
      R"({"maxLength":1.5})",
      R"({"enum":[]})",
      R"({"minimum":"1"})",
      R"({"properties":{"a":1}})",
      R"({"items":true})",
      R"({"$ref":"#/x"})",
  };
  for (const char* s : bad) EXPECT_FALSE(CheckSchema(MustJson(s).get()).ok()) << s;
}

TEST(SchemaTest, CountsCodePointsAndChecksTypes) {
  json::Json schema = MustJson(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_EQ(ValidateAgainstSchema(schema.get(), MustJson(R"("é€𝄞")").get(), "v"), "");
  EXPECT_EQ(ValidateAgainstSchema(schema.get(), MustJson(R"("é")").get(), "v"),
            "v: shorter than 2 characters");
  json::Json nullable = MustJson(R"({"type":["integer","null"]})");
  EXPECT_EQ(ValidateAgainstSchema(nullable.get(), MustJson("null").get(), "v"), "");
  EXPECT_EQ(ValidateAgainstSchema(nullable.get(), MustJson("7").get(), "v"), "");
  EXPECT_EQ(ValidateAgainstSchema(nullable.get(), MustJson("true").get(), "v"),
            "v: expected integer or null");
  json::Json extra = MustJson(R"({"type":"object","additionalProperties":{"type":"integer"}})");
  EXPECT_EQ(ValidateAgainstSchema(extra.get(), MustJson(R"({"a":1})").get(), "v"), "");
  EXPECT_EQ(ValidateAgainstSchema(extra.get(), MustJson(R"({"SECRET":"x"})").get(), "v"),
            "v.<additional property>: expected integer");
}

}  // namespace
}  // namespace keycell::mcp

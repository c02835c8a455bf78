// Tests for broker/mcp/jsonrpc.{h,cc}: the accept and refuse tables, exact ids, the
// serializers' one-line output and the serialize -> parse round trip.

#include "broker/mcp/jsonrpc.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/status_testing.h"

namespace keycell::mcp {
namespace {

Message MustParse(std::string_view text) {
  auto r = ParseMessage(text);
  EXPECT_TRUE(r.ok()) << test::Describe(r.status()) << " for " << text;
  return r.ok() ? std::move(r).value() : Message();
}

json::Json MustJson(std::string_view text) {
  auto r = json::ParseJson(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? std::move(r).value() : json::Json();
}

std::string Print(const cJSON* item) {
  if (item == nullptr) return "<absent>";
  auto r = json::Print(item);
  return r.ok() ? *r : "<unprintable>";
}

// ---- Accept table -------------------------------------------------------------------

struct AcceptCase {
  const char* text;
  MessageKind kind;
  std::optional<Id> id;
  const char* method;  // "" unless a call
  const char* params;  // printed params, result or error.data; nullptr when absent
};

TEST(JsonRpcParseTest, AcceptTable) {
  const AcceptCase kCases[] = {
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", MessageKind::kRequest, Id{int64_t{1}},
       "tools/list", nullptr},
      {R"({"jsonrpc":"2.0","id":"abc","method":"m","params":{"a":1}})", MessageKind::kRequest,
       Id{std::string("abc")}, "m", R"({"a":1})"},
      {R"({"jsonrpc":"2.0","id":0,"method":"m","params":[1,"x",null]})", MessageKind::kRequest,
       Id{int64_t{0}}, "m", R"([1,"x",null])"},
      {R"({"jsonrpc":"2.0","id":-5,"method":"m","params":[]})", MessageKind::kRequest,
       Id{int64_t{-5}}, "m", "[]"},
      {R"({"jsonrpc":"2.0","id":"","method":""})", MessageKind::kRequest, Id{std::string()}, "",
       nullptr},
      {R"({"jsonrpc":"2.0","method":"notifications/initialized"})", MessageKind::kNotification,
       std::nullopt, "notifications/initialized", nullptr},
      {R"({"method":"n","params":{},"jsonrpc":"2.0"})", MessageKind::kNotification, std::nullopt,
       "n", "{}"},
      {R"({"jsonrpc":"2.0","id":7,"result":{"tools":[]}})", MessageKind::kResponse,
       Id{int64_t{7}}, "", R"({"tools":[]})"},
      {R"({"jsonrpc":"2.0","id":"r","result":null})", MessageKind::kResponse,
       Id{std::string("r")}, "", "null"},
      {R"({"jsonrpc":"2.0","id":8,"error":{"code":-32601,"message":"no such method"}})",
       MessageKind::kErrorResponse, Id{int64_t{8}}, "", nullptr},
      {R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x","data":[1]}})",
       MessageKind::kErrorResponse, std::nullopt, "", "[1]"},
      // Unknown members are ignored; an integral number with an exponent is an integer id.
      {R"({"jsonrpc":"2.0","id":1e2,"method":"m","extra":true})", MessageKind::kRequest,
       Id{int64_t{100}}, "m", nullptr},
      {" \n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"m\"}\r\n", MessageKind::kRequest,
       Id{int64_t{2}}, "m", nullptr},
  };
  for (const AcceptCase& c : kCases) {
    SCOPED_TRACE(c.text);
    const Message m = MustParse(c.text);
    EXPECT_EQ(m.kind, c.kind);
    EXPECT_EQ(m.id, c.id);
    EXPECT_EQ(m.method, c.method);
    const cJSON* payload = m.kind == MessageKind::kResponse        ? m.result.get()
                           : m.kind == MessageKind::kErrorResponse ? m.error.data.get()
                                                                   : m.params.get();
    EXPECT_EQ(Print(payload), c.params != nullptr ? c.params : "<absent>");
  }
}

TEST(JsonRpcParseTest, ErrorObjectFields) {
  const Message m =
      MustParse(R"({"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"boom \u00e9"}})");
  EXPECT_EQ(m.kind, MessageKind::kErrorResponse);
  EXPECT_EQ(m.error.code, -32000);
  EXPECT_EQ(m.error.message, "boom \xc3\xa9");
  EXPECT_EQ(m.error.data, nullptr);
}

// ---- Refuse table -------------------------------------------------------------------

struct RefuseCase {
  std::string text;
  int code;
  std::optional<Id> id;  // the id the failure reports
};

TEST(JsonRpcParseTest, RefuseTable) {
  const Id one{int64_t{1}};
  const std::vector<RefuseCase> kCases = {
      {"", kParseError, std::nullopt},
      {"{", kParseError, std::nullopt},
      {"not json", kParseError, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"method":"m"} x)", kParseError, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"id":2,"method":"m"})", kParseError, std::nullopt},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\xff\"}", kParseError, std::nullopt},
      {std::string(100, '[') + std::string(100, ']'), kParseError, std::nullopt},
      {R"([{"jsonrpc":"2.0","id":1,"method":"m"}])", kInvalidRequest, std::nullopt},
      {"[]", kInvalidRequest, std::nullopt},
      {"1", kInvalidRequest, std::nullopt},
      {R"("x")", kInvalidRequest, std::nullopt},
      {"null", kInvalidRequest, std::nullopt},
      {R"({"id":1,"method":"m"})", kInvalidRequest, one},
      {R"({"jsonrpc":"1.0","id":1,"method":"m"})", kInvalidRequest, one},
      {R"({"jsonrpc":2.0,"id":1,"method":"m"})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0 ","id":1,"method":"m"})", kInvalidRequest, one},
      {R"({"JSONRPC":"2.0","id":1,"method":"m"})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"method":5})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"method":null})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":{},"method":"m"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":[1],"method":"m"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":true,"method":"m"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1.5,"method":"m"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":9007199254740992,"method":"m"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":-9007199254740993,"method":"m"})", kInvalidRequest,
       std::nullopt},
      {R"({"jsonrpc":"2.0","id":null,"method":"m"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","params":1})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","params":"x"})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","params":null})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","method":"m","params":true})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","result":1})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}})",
       kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0"})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","result":1})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":null,"result":1})", kInvalidRequest, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"error":"bad"})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"error":{"message":"x"}})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"x"}})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":1,"error":{"code":1}})", kInvalidRequest, one},
      {R"({"jsonrpc":"2.0","id":"s","error":{"code":1,"message":2}})", kInvalidRequest,
       Id{std::string("s")}},
  };
  for (const RefuseCase& c : kCases) {
    SCOPED_TRACE(c.text.substr(0, 120));
    ParseFailure failure;
    auto r = ParseMessage(c.text, &failure);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(failure.code, c.code) << failure.message;
    EXPECT_EQ(r.status().detail(), c.code);
    EXPECT_EQ(failure.id, c.id);
    EXPECT_STRNE(failure.message, "");
  }
}

TEST(JsonRpcParseTest, SizeCapIsCheckedBeforeParsing) {
  // Exactly at the cap: valid JSON-RPC padded with whitespace is accepted.
  const std::string msg = R"({"jsonrpc":"2.0","id":1,"method":"m"})";
  std::string at_cap = msg + std::string(kMaxMessageBytes - msg.size(), ' ');
  ASSERT_EQ(at_cap.size(), kMaxMessageBytes);
  EXPECT_TRUE(ParseMessage(at_cap).ok());
  // One byte over: refused as an invalid request (even though the text is not JSON).
  std::string over(kMaxMessageBytes + 1, '{');
  ParseFailure failure;
  auto r = ParseMessage(over, &failure);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Err::kTooLarge);
  EXPECT_EQ(failure.code, kInvalidRequest);
}

TEST(JsonRpcParseTest, FailureLeftAloneOnSuccess) {
  ParseFailure failure;
  failure.code = 42;
  EXPECT_TRUE(ParseMessage(R"({"jsonrpc":"2.0","method":"m"})", &failure).ok());
  EXPECT_EQ(failure.code, 42);
}

// ---- Exact ids ----------------------------------------------------------------------

TEST(JsonRpcIdTest, LargeIntegersArePreservedExactly) {
  for (const int64_t n : {json::kMaxSafeInteger, -json::kMaxSafeInteger, int64_t{4294967296},
                          int64_t{1234567890123456}}) {
    const std::string text =
        R"({"jsonrpc":"2.0","id":)" + std::to_string(n) + R"(,"method":"m"})";
    const Message m = MustParse(text);
    EXPECT_EQ(m.id, Id{n});
    // The serialized answer carries the same digits.
    const std::string out = SerializeResponse(*m.id, nullptr);
    EXPECT_NE(out.find("\"id\":" + std::to_string(n) + ","), std::string::npos) << out;
  }
}

TEST(JsonRpcIdTest, StringIdsArePreservedExactly) {
  const Message m = MustParse(R"({"jsonrpc":"2.0","id":"\u00e9\ud83d\ude00 1\"\\/","method":"m"})");
  EXPECT_EQ(m.id, Id{std::string("\xc3\xa9\xf0\x9f\x98\x80 1\"\\/")});
  // Raw UTF-8 too, and numbers-as-strings stay strings.
  EXPECT_EQ(MustParse("{\"jsonrpc\":\"2.0\",\"id\":\"\xe2\x82\xac\",\"method\":\"m\"}").id,
            Id{std::string("\xe2\x82\xac")});
  EXPECT_EQ(MustParse(R"({"jsonrpc":"2.0","id":"007","method":"m"})").id,
            Id{std::string("007")});
  const std::string out = SerializeResponse(*m.id, nullptr);
  const Message back = MustParse(out);
  EXPECT_EQ(back.id, m.id);
}

// ---- Serializers --------------------------------------------------------------------

TEST(JsonRpcSerializeTest, ExactShapes) {
  const json::Json result = MustJson(R"({"ok":true})");
  EXPECT_EQ(SerializeResponse(Id{int64_t{1}}, result.get()),
            R"({"jsonrpc":"2.0","id":1,"result":{"ok":true}})");
  EXPECT_EQ(SerializeResponse(Id{std::string("a")}, nullptr),
            R"({"jsonrpc":"2.0","id":"a","result":null})");
  EXPECT_EQ(SerializeError(std::nullopt, kParseError, "parse error"),
            R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})");
  const json::Json data = MustJson(R"(["d"])");
  EXPECT_EQ(SerializeError(Id{int64_t{2}}, kInvalidParams, "bad", data.get()),
            R"({"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"bad","data":["d"]}})");
  auto n = SerializeNotification("notifications/initialized", nullptr);
  KC_ASSERT_OK(n);
  EXPECT_EQ(*n, R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  const json::Json params = MustJson(R"({"x":[]})");
  auto q = SerializeRequest(Id{int64_t{9}}, "ping", params.get());
  KC_ASSERT_OK(q);
  EXPECT_EQ(*q, R"({"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":[]}})");
}

TEST(JsonRpcSerializeTest, NoRawNewlines) {
  const std::string nl = "line1\nline2\r\n\u2028";
  auto s_id = Id{nl};
  const json::Json params = MustJson(R"({"text":"a\nb","arr":["\r\n"]})");
  std::vector<std::string> outs = {
      SerializeResponse(s_id, params.get()),
      SerializeError(s_id, kInternalError, nl, params.get()),
  };
  auto n = SerializeNotification(nl, params.get());
  KC_ASSERT_OK(n);
  outs.push_back(*n);
  auto q = SerializeRequest(s_id, nl, params.get());
  KC_ASSERT_OK(q);
  outs.push_back(*q);
  for (const std::string& out : outs) {
    EXPECT_EQ(out.find('\n'), std::string::npos) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
    EXPECT_TRUE(ParseMessage(out).ok()) << out;
  }
}

TEST(JsonRpcSerializeTest, RefusesWhatCannotBeSent) {
  const json::Json scalar = MustJson("1");
  EXPECT_EQ(SerializeNotification("m", scalar.get()).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(SerializeRequest(Id{int64_t{1}}, "m\xff", nullptr).status().code(),
            Err::kInvalidArgument);
  EXPECT_EQ(SerializeRequest(Id{json::kMaxSafeInteger + 1}, "m", nullptr).status().code(),
            Err::kInvalidArgument);
}

TEST(JsonRpcSerializeTest, ResponsesAlwaysSerialize) {
  // An id that cannot be printed exactly falls back to an internal error with a null id.
  const Message m = MustParse(SerializeResponse(Id{json::kMaxSafeInteger + 1}, nullptr));
  EXPECT_EQ(m.kind, MessageKind::kErrorResponse);
  EXPECT_EQ(m.error.code, kInternalError);
  EXPECT_EQ(m.id, std::nullopt);
  // A result nested too deep to wrap becomes an internal error for the same id.
  const std::string deep = std::string(json::kMaxJsonDepth, '[') +
                           std::string(json::kMaxJsonDepth, ']');
  const json::Json deep_json = MustJson(deep);
  const Message e = MustParse(SerializeResponse(Id{int64_t{4}}, deep_json.get()));
  EXPECT_EQ(e.kind, MessageKind::kErrorResponse);
  EXPECT_EQ(e.id, Id{int64_t{4}});
  // Same for error data: it is dropped, the error itself still goes out.
  const Message d = MustParse(SerializeError(Id{int64_t{5}}, -1, "m", deep_json.get()));
  EXPECT_EQ(d.error.code, -1);
  EXPECT_EQ(d.error.data, nullptr);
  // A message that is not UTF-8 is replaced.
  const Message u = MustParse(SerializeError(std::nullopt, -2, "bad\xff"));
  EXPECT_EQ(u.error.code, -2);
  EXPECT_FALSE(u.error.message.empty());
}

TEST(JsonRpcSerializeTest, RoundTrip) {
  const char* const kTexts[] = {
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2.5,"\n"]}}})",
      R"({"jsonrpc":"2.0","id":"\u00e9","method":"m","params":[true,null,{}]})",
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})",
      R"({"jsonrpc":"2.0","method":"n"})",
      R"({"jsonrpc":"2.0","id":9007199254740991,"result":{"content":[{"type":"text","text":"a\nb"}]}})",
      R"({"jsonrpc":"2.0","id":"x","result":false})",
      R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})",
      R"({"jsonrpc":"2.0","id":-1,"error":{"code":-32001,"message":"m","data":{"k":"v"}}})",
  };
  for (const char* text : kTexts) {
    SCOPED_TRACE(text);
    const Message first = MustParse(text);
    auto out = SerializeMessage(first);
    KC_ASSERT_OK(out);
    EXPECT_EQ(out->find('\n'), std::string::npos);
    const Message second = MustParse(*out);
    EXPECT_TRUE(SameMessage(first, second)) << *out;
    // And printing is a fixed point.
    auto again = SerializeMessage(second);
    KC_ASSERT_OK(again);
    EXPECT_EQ(*again, *out);
  }
}

TEST(JsonRpcSerializeTest, SameMessageDistinguishes) {
  const Message a = MustParse(R"({"jsonrpc":"2.0","id":1,"method":"m","params":[1]})");
  EXPECT_TRUE(SameMessage(a, MustParse(R"({"jsonrpc":"2.0","id":1,"method":"m","params":[1]})")));
  EXPECT_FALSE(SameMessage(a, MustParse(R"({"jsonrpc":"2.0","id":"1","method":"m","params":[1]})")));
  EXPECT_FALSE(SameMessage(a, MustParse(R"({"jsonrpc":"2.0","id":1,"method":"m","params":[2]})")));
  EXPECT_FALSE(SameMessage(a, MustParse(R"({"jsonrpc":"2.0","id":1,"method":"m"})")));
  EXPECT_FALSE(SameMessage(a, MustParse(R"({"jsonrpc":"2.0","method":"m","params":[1]})")));
}

}  // namespace
}  // namespace keycell::mcp

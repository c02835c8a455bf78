// ParseJson, Print, Clone and the getters. The comments on each rejection say what
// cJSON 1.7.15 alone would have done with the same bytes.

#include "broker/json/json.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/status_testing.h"

namespace keycell::json {
namespace {

using std::string_literals::operator""s;

Json MustParse(std::string_view text) {
  auto r = ParseJson(text);
  EXPECT_TRUE(r.ok()) << test::Describe(r.status()) << " for " << text;
  return r.ok() ? std::move(r).value() : Json();
}

Status ParseStatus(std::string_view text, size_t max_bytes = kMaxJsonBytes) {
  return ParseJson(text, max_bytes).status();
}

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonParseTest, RoundTripsCompactAndPretty) {
  const char* const kDocs[] = {
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{}}})",
      R"([1,-2.5,"\u00e9\ud83d\ude00",true,false,null,[],{},"\"\\/\b\f\n\r\t"])",
      R"("just a string")",
      "0",
      "-0",
      "1e-300",
      "123456789012"};
  for (const char* doc : kDocs) {
    Json a = MustParse(doc);
    ASSERT_TRUE(a) << doc;
    for (bool pretty : {false, true}) {
      auto text = Print(a.get(), pretty);
      KC_ASSERT_OK(text);
      Json b = MustParse(*text);
      EXPECT_TRUE(Equal(a.get(), b.get())) << doc << " -> " << *text;
    }
  }
}

TEST(JsonParseTest, CompactPrintIsStable) {
  Json a = MustParse(" { \"b\" : [ 1 , 2 ] , \"a\" : \"x\" } ");
  auto text = Print(a.get());
  KC_ASSERT_OK(text);
  EXPECT_EQ(*text, R"({"b":[1,2],"a":"x"})");  // member order is kept
}

TEST(JsonParseTest, EmptyAndBlankInputRejected) {
  EXPECT_EQ(ParseStatus("").code(), Err::kBadFrame);
  EXPECT_STREQ(ParseStatus(" \t\r\n").where(), "json: empty input");
}

TEST(JsonParseTest, TrailingBytesRejected) {
  // cJSON with require_null_terminated=false stops after the first value and succeeds.
  for (const char* doc : {"{} x", "[1]]", "1 2", "nulll", "\"a\"\"b\"", "{}{}"}) {
    const Status st = ParseStatus(doc);
    EXPECT_EQ(st.code(), Err::kBadFrame) << doc;
  }
  EXPECT_STREQ(ParseStatus("{} x").where(), "json: trailing bytes after value");
  EXPECT_EQ(ParseStatus("{} x").detail(), 2);
  KC_EXPECT_OK(ParseStatus("{}  \r\n\t"));  // trailing whitespace is fine
}

TEST(JsonParseTest, DeepNestingRejectedBeforeCjson) {
  KC_EXPECT_OK(ParseStatus(Nested(kMaxJsonDepth)));
  const Status st = ParseStatus(Nested(kMaxJsonDepth + 1));
  EXPECT_EQ(st.code(), Err::kTooLarge);
  EXPECT_STREQ(st.where(), "json: nesting too deep");
  // A million levels: cJSON's own limit (1000) would also refuse, but only after
  // recursing 1000 frames; the pre-scan refuses at byte 65 without recursing at all.
  EXPECT_EQ(ParseStatus(std::string(1'000'000, '{'), 2'000'000).code(), Err::kTooLarge);
  // Brackets inside strings are not nesting.
  KC_EXPECT_OK(ParseStatus("\"" + std::string(10'000, '[') + "\""));
}

TEST(JsonParseTest, SizeCapEnforced) {
  EXPECT_EQ(ParseStatus("[1,2,3]", 6).code(), Err::kTooLarge);
  KC_EXPECT_OK(ParseStatus("[1,2,3]", 7));
}

TEST(JsonParseTest, NulByteAndNulEscapeRejected) {
  // cJSON would stop reading the string at the NUL and yield "a": the value silently
  // changes. \u0000 decodes to the same truncation.
  EXPECT_STREQ(ParseStatus("\"a\0b\""s).where(), "json: NUL in input");
  EXPECT_STREQ(ParseStatus("{\"a\":1}\0"s).where(), "json: NUL in input");
  EXPECT_STREQ(ParseStatus(R"({"admin\u0000x":1})").where(), "json: \\u0000 escape");
  // An escaped backslash followed by "u0000" is the literal text \u0000: accepted.
  Json j = MustParse(R"("\\u0000")");
  EXPECT_EQ(AsString(j.get()), "\\u0000");
}

TEST(JsonParseTest, InvalidUtf8Rejected) {
  // cJSON copies raw bytes through unchecked ("a\xff" parses and prints as is), so the
  // wrapper checks the whole input. Escaped lone surrogates are refused by cJSON itself.
  for (std::string doc : {"\"a\xff\""s, "\"\xc0\xaf\""s, "\"\xed\xa0\x80\""s,
                          "\"\xf4\x90\x80\x80\""s, "\"\xe2\x82\""s}) {
    EXPECT_STREQ(ParseStatus(doc).where(), "json: invalid UTF-8") << doc;
  }
  EXPECT_STREQ(ParseStatus(R"("\ud800")").where(), "json: syntax error");
  EXPECT_STREQ(ParseStatus(R"("\udc00x")").where(), "json: syntax error");
  Json ok = MustParse("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
  EXPECT_EQ(AsString(ok.get()), "h\xc3\xa9llo \xf0\x9f\x98\x80");
}

TEST(JsonParseTest, ControlCharactersRejected) {
  EXPECT_STREQ(ParseStatus("\"a\tb\"").where(), "json: control character");  // RFC 8259 §7
  EXPECT_STREQ(ParseStatus("\x01[1]").where(), "json: control character");   // cJSON: whitespace
  Json j = MustParse(R"("a\tb\u0001")");  // escaped forms are fine
  EXPECT_EQ(AsString(j.get()), "a\tb\x01");
}

TEST(JsonParseTest, DuplicateKeysRejected) {
  // cJSON keeps both members and GetObjectItem returns the first; other parsers return
  // the last. Refusing removes the ambiguity. Case differs -> different keys.
  EXPECT_STREQ(ParseStatus(R"({"a":1,"a":2})").where(), "json: duplicate key");
  EXPECT_STREQ(ParseStatus(R"({"x":{"a":1,"b":2,"a":3}})").where(), "json: duplicate key");
  KC_EXPECT_OK(ParseStatus(R"({"a":1,"A":2,"x":{"a":3}})"));
  std::string big = "{";
  for (int i = 0; i < 5000; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  KC_EXPECT_OK(ParseStatus(big + "\"end\":0}"));
  EXPECT_STREQ(ParseStatus(big + "\"k4999\":1}").where(), "json: duplicate key");
}

TEST(JsonParseTest, TruncatedAndMalformedInputRejected) {
  for (const char* doc : {"{\"1\":1,", "[", "\"abc", "\"abc\\", "]", "{\"a\" 1}", "[1 2]", "tru",
                          "-", "NaN", "Infinity", "-inf", "0x10", "'a'", "{a:1}", "[1,]"}) {
    EXPECT_EQ(ParseStatus(doc).code(), Err::kBadFrame) << doc;
  }
}

TEST(JsonParseTest, NumbersOutOfDoubleRangeRejected) {
  // cJSON stores inf and prints it as null: the round trip would change the value.
  EXPECT_STREQ(ParseStatus("1e999").where(), "json: number out of range");
  EXPECT_STREQ(ParseStatus("[-1e400]").where(), "json: number out of range");
  KC_EXPECT_OK(ParseStatus("1e-999"));  // underflows to 0, which prints back as 0
}

TEST(JsonParseTest, DocumentedLeniency) {
  // Kept from cJSON (harmless: the value prints back canonically).
  Json a = MustParse("0123");
  EXPECT_EQ(AsInt(a.get()), 123);
  Json b = MustParse("\xef\xbb\xbf{}");  // UTF-8 BOM skipped
  EXPECT_EQ(TypeOf(b.get()), Type::kObject);
}

TEST(JsonParseTest, ConcurrentParsesAreIndependent) {
  // Every parse makes cJSON write its global error position (serialised by ParseJson);
  // results must not leak between threads.
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 500; ++i) {
        const bool good = (i + t) % 2 == 0;
        const bool ok = ParseJson(good ? R"({"a":[1,2,{"b":null}]})" : R"({"a":[1,2,}])").ok();
        if (ok != good) ++wrong;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(JsonGetTest, BigIntegers) {
  Json j = MustParse(R"({"max":9007199254740991,"neg":-9007199254740991,"over":9007199254740992,
                         "round":9007199254740993,"frac":1.5,"exp":1e3,"huge":1e300,"s":"1"})");
  EXPECT_EQ(GetInt(j.get(), "max"), kMaxSafeInteger);
  EXPECT_EQ(GetInt(j.get(), "neg"), -kMaxSafeInteger);
  EXPECT_EQ(GetInt(j.get(), "over"), std::nullopt);
  EXPECT_EQ(GetInt(j.get(), "round"), std::nullopt);  // reads as 2^53: a rounded value
  EXPECT_EQ(GetInt(j.get(), "frac"), std::nullopt);
  EXPECT_EQ(GetInt(j.get(), "exp"), 1000);
  EXPECT_EQ(GetInt(j.get(), "huge"), std::nullopt);
  EXPECT_EQ(GetInt(j.get(), "s"), std::nullopt);  // no coercion from strings
}

TEST(JsonGetTest, TypedGettersAreCaseSensitiveAndTypeStrict) {
  Json j = MustParse(R"({"s":"v","b":true,"n":1,"a":[1],"o":{"x":null},"z":null})");
  EXPECT_EQ(GetString(j.get(), "s"), "v");
  EXPECT_EQ(GetString(j.get(), "S"), std::nullopt);
  EXPECT_EQ(GetString(j.get(), "n"), std::nullopt);
  EXPECT_EQ(GetBool(j.get(), "b"), true);
  EXPECT_EQ(GetBool(j.get(), "n"), std::nullopt);  // 1 is not true
  EXPECT_NE(GetArray(j.get(), "a"), nullptr);
  EXPECT_EQ(GetArray(j.get(), "o"), nullptr);
  EXPECT_NE(GetObject(j.get(), "o"), nullptr);
  EXPECT_EQ(GetObject(j.get(), "a"), nullptr);
  EXPECT_EQ(TypeOf(GetMember(j.get(), "z")), Type::kNull);
  EXPECT_EQ(GetMember(j.get(), "missing"), nullptr);
  EXPECT_EQ(GetString(GetArray(j.get(), "a"), "s"), std::nullopt);  // not an object
  EXPECT_EQ(GetString(nullptr, "s"), std::nullopt);
  EXPECT_EQ(GetString(j.get(), nullptr), std::nullopt);
}

TEST(JsonGetTest, ChildrenAndKeys) {
  Json j = MustParse(R"({"one":1,"two":[true,false]})");
  std::string keys;
  for (const cJSON* m : Children(j.get())) keys += std::string(KeyOf(m)) + ",";
  EXPECT_EQ(keys, "one,two,");
  EXPECT_EQ(ChildCount(GetArray(j.get(), "two")), 2u);
  EXPECT_EQ(ChildCount(GetMember(j.get(), "one")), 0u);
  EXPECT_EQ(ChildCount(nullptr), 0u);
  EXPECT_EQ(KeyOf(j.get()), "");
}

TEST(JsonPrintTest, CloneIsDeepAndIndependent) {
  Json a = MustParse(R"({"id":"abc","p":[1,{"q":2}]})");
  Json b = Clone(GetMember(a.get(), "p"));
  a.reset();  // the clone must not borrow from the original
  auto text = Print(b.get());
  KC_ASSERT_OK(text);
  EXPECT_EQ(*text, R"([1,{"q":2}])");
  EXPECT_FALSE(Clone(nullptr));
  EXPECT_EQ(Print(nullptr).status().code(), Err::kInvalidArgument);
  EXPECT_FALSE(Equal(nullptr, nullptr));
}

TEST(JsonPrintTest, NumbersPrintExactly) {
  // cJSON_Print keeps "%1.15g" whenever it reads back within an epsilon, so big integers
  // lose digits. This pins the upstream behaviour that made us write our own printer.
  Json j = MustParse("[9007199254740991,1234567890123456789,0.1,1e300,-0,1e-7]");
  JsonText cjson_text(cJSON_PrintUnformatted(j.get()));
  ASSERT_TRUE(cjson_text);
  EXPECT_STREQ(cjson_text.get(),
               "[9.00719925474099e+15,1.2345678901234568e+18,0.1,1e+300,-0,1e-07]");
  auto text = Print(j.get());
  KC_ASSERT_OK(text);
  EXPECT_EQ(*text, "[9007199254740991,1234567890123456768,0.1,1e+300,-0,1e-07]");
  EXPECT_EQ(AsInt(GetMember(MustParse(R"({"id":9007199254740991})").get(), "id")), kMaxSafeInteger);
}

TEST(JsonPrintTest, PrettyLayout) {
  Json j = MustParse(R"({"a":[1,{}],"b":{"c":"d"},"e":[]})");
  auto text = Print(j.get(), /*pretty=*/true);
  KC_ASSERT_OK(text);
  EXPECT_EQ(*text,
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": {\n    \"c\": \"d\"\n  },\n"
            "  \"e\": []\n}");
}

TEST(JsonPrintTest, RefusesTreesTheParserWouldRefuse) {
  // Built directly with cJSON, bypassing the builders' checks.
  Json deep = MakeArray();
  cJSON* at = deep.get();
  for (int i = 1; i < kMaxJsonDepth + 1; ++i) {
    cJSON* inner = cJSON_CreateArray();
    cJSON_AddItemToArray(at, inner);
    at = inner;
  }
  EXPECT_EQ(Print(deep.get()).status().code(), Err::kTooLarge);
  Json bad(cJSON_CreateString("a\xff"));
  EXPECT_EQ(Print(bad.get()).status().code(), Err::kInvalidArgument);
  Json inf(cJSON_CreateNumber(INFINITY));
  EXPECT_EQ(Print(inf.get()).status().code(), Err::kInvalidArgument);
}

}  // namespace
}  // namespace keycell::json

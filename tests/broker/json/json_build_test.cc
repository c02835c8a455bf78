// Builders: ownership moves only on success, and what they build reads back equal.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "broker/json/json.h"
#include "tests/support/status_testing.h"

namespace keycell::json {
namespace {

using std::string_literals::operator""s;

TEST(JsonBuildTest, BuildPrintParseRoundTrip) {
  Json root = MakeObject();
  KC_ASSERT_OK(SetString(root.get(), "jsonrpc", "2.0"));
  KC_ASSERT_OK(SetInt(root.get(), "id", kMaxSafeInteger));
  KC_ASSERT_OK(SetBool(root.get(), "ok", true));
  KC_ASSERT_OK(SetNumber(root.get(), "pi", 3.141592653589793));
  Json arr = MakeArray();
  KC_ASSERT_OK(Append(arr.get(), MakeNull()));
  KC_ASSERT_OK_AND_ASSIGN(Json s, MakeString("\xc3\xa9\t\"q\"\x01"));
  KC_ASSERT_OK(Append(arr.get(), std::move(s)));
  EXPECT_FALSE(s);  // moved into the tree
  KC_ASSERT_OK(Set(root.get(), "list", std::move(arr)));

  KC_ASSERT_OK_AND_ASSIGN(std::string text, Print(root.get()));
  EXPECT_EQ(text, R"({"jsonrpc":"2.0","id":9007199254740991,"ok":true,"pi":3.141592653589793,)"
                  R"("list":[null,"é\t\"q\"\u0001"]})");
  KC_ASSERT_OK_AND_ASSIGN(Json back, ParseJson(text));
  EXPECT_TRUE(Equal(root.get(), back.get()));
  EXPECT_EQ(GetInt(back.get(), "id"), kMaxSafeInteger);
}

TEST(JsonBuildTest, SetReplacesInsteadOfDuplicating) {
  Json root = MakeObject();
  KC_ASSERT_OK(SetInt(root.get(), "a", 1));
  KC_ASSERT_OK(SetInt(root.get(), "a", 2));
  KC_ASSERT_OK(SetInt(root.get(), "A", 3));  // case-sensitive: a different key
  KC_ASSERT_OK_AND_ASSIGN(std::string text, Print(root.get()));
  EXPECT_EQ(text, R"({"a":2,"A":3})");
}

TEST(JsonBuildTest, OwnershipStaysWithCallerOnError) {
  Json not_object = MakeArray();
  Json child = MakeBool(false);
  EXPECT_EQ(Set(not_object.get(), "k", std::move(child)).code(), Err::kInvalidArgument);
  EXPECT_TRUE(child);  // still ours: no leak, no double free
  Json obj = MakeObject();
  EXPECT_EQ(Set(obj.get(), "bad\xff", std::move(child)).code(), Err::kInvalidArgument);
  EXPECT_EQ(Set(obj.get(), nullptr, std::move(child)).code(), Err::kInvalidArgument);
  EXPECT_EQ(Append(obj.get(), std::move(child)).code(), Err::kInvalidArgument);
  EXPECT_TRUE(child);
  EXPECT_EQ(Set(obj.get(), "k", Json()).code(), Err::kInvalidArgument);
  EXPECT_EQ(Append(not_object.get(), Json()).code(), Err::kInvalidArgument);
  EXPECT_EQ(Set(nullptr, "k", std::move(child)).code(), Err::kInvalidArgument);
  EXPECT_TRUE(child);
}

TEST(JsonBuildTest, RefusesValuesThatWouldNotReadBack) {
  EXPECT_EQ(MakeString("a\0b"s).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MakeString("a\xff").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MakeString("\xed\xa0\x80").status().code(), Err::kInvalidArgument);  // surrogate
  EXPECT_EQ(MakeInt(kMaxSafeInteger + 1).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MakeInt(std::numeric_limits<int64_t>::min()).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MakeNumber(NAN).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MakeNumber(-INFINITY).status().code(), Err::kInvalidArgument);
  Json obj = MakeObject();
  EXPECT_EQ(SetString(obj.get(), "k", "\xc0\x80").code(), Err::kInvalidArgument);
  EXPECT_EQ(ChildCount(obj.get()), 0u);
}

TEST(JsonBuildTest, CloneOfMemberCanBeSetUnderAnotherKey) {
  KC_ASSERT_OK_AND_ASSIGN(Json req, ParseJson(R"({"id":"req-1","method":"ping"})"));
  Json reply = MakeObject();
  // JSON-RPC: the id is echoed back as an opaque copy (STYLE.md §3.3.5).
  KC_ASSERT_OK(Set(reply.get(), "id", Clone(GetMember(req.get(), "id"))));
  KC_ASSERT_OK(Set(reply.get(), "result", MakeObject()));
  req.reset();
  KC_ASSERT_OK_AND_ASSIGN(std::string text, Print(reply.get()));
  EXPECT_EQ(text, R"({"id":"req-1","result":{}})");
}

}  // namespace
}  // namespace keycell::json

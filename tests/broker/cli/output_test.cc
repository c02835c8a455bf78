#include "broker/cli/output.h"

#include <gtest/gtest.h>

namespace keycell::cli {
namespace {

TEST(OutputTest, TableAlignsColumnsWithoutTrailingBlanks) {
  Table t({"NAME", "ENV", "TAGS"});
  t.AddRow({"openai-prod", "prod", "a,b"});
  t.AddRow({"x", "", ""});
  t.AddRow({"only-name"});
  EXPECT_EQ(t.rows(), 3u);
  EXPECT_EQ(t.Render(),
            "NAME         ENV   TAGS\n"
            "openai-prod  prod  a,b\n"
            "x\n"
            "only-name\n");
}

TEST(OutputTest, TableCountsCodePointsAndNeutralisesControlCharacters) {
  Table t({"NAME", "X"});
  t.AddRow({"clé", "1"});
  t.AddRow({"a\x1b[31mb", "2"});
  EXPECT_EQ(t.Render(),
            "NAME     X\n"
            "clé      1\n"
            "a?[31mb  2\n");
}

TEST(OutputTest, PrintableEscapesNewlinesAndControls) {
  EXPECT_EQ(Printable("plain"), "plain");
  EXPECT_EQ(Printable("two\nlines"), "two\\nlines");
  EXPECT_EQ(Printable(std::string("a\0b\x7f", 4)), "a?b?");
  EXPECT_EQ(Printable("ünïcode"), "ünïcode");
}

TEST(OutputTest, TimesAreUtcAndZeroIsADash) {
  EXPECT_EQ(FormatTime(0), "-");
  EXPECT_EQ(FormatDate(0), "-");
  EXPECT_EQ(FormatTime(1767225600 + 8 * 3600 + 5 * 60 + 59), "2026-01-01 08:05 UTC");
  EXPECT_EQ(FormatDate(4102358400), "2099-12-31");
}

TEST(OutputTest, JsonFieldHelpers) {
  auto doc =
      json::ParseJson(R"({"n": 3, "t": 1767225600, "s": "x\ny", "a": ["p", 1, "q"], "z": null})");
  ASSERT_TRUE(doc.ok());
  const cJSON* o = doc->get();
  EXPECT_EQ(IntField(o, "n"), "3");
  EXPECT_EQ(IntField(o, "z"), "-");
  EXPECT_EQ(IntField(o, "missing"), "-");
  EXPECT_EQ(TimeField(o, "t"), "2026-01-01 00:00 UTC");
  EXPECT_EQ(TimeField(o, "z"), "-");
  EXPECT_EQ(StringField(o, "s"), "x\\ny");
  EXPECT_EQ(StringField(o, "missing"), "");
  EXPECT_EQ(StringsOf(json::GetArray(o, "a")), (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(StringsOf(json::GetMember(o, "n")).empty());
  EXPECT_EQ(JoinOrDash({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(JoinOrDash({}), "-");
}

TEST(OutputTest, KeyValueBlockPadsLabels) {
  EXPECT_EQ(KeyValueBlock({{"name", "k"}, {"allowed hosts", "a.example"}}),
            "name:           k\n"
            "allowed hosts:  a.example\n");
}

}  // namespace
}  // namespace keycell::cli

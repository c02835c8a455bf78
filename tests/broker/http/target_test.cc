#include "broker/http/target.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/status_testing.h"

namespace keycell::broker::http {
namespace {

using Segments = std::vector<std::string>;

TEST(TargetTest, OriginFormSplitsPathAndQuery) {
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget t, ParseTarget("/api/v1/agents?limit=5&x=%20"));
  EXPECT_EQ(t.path, "/api/v1/agents");
  EXPECT_TRUE(t.has_query);
  EXPECT_EQ(t.query, "limit=5&x=%20");  // raw: never decoded here
  EXPECT_EQ(t.segments, (Segments{"api", "v1", "agents"}));
  EXPECT_EQ(t.segment_offsets, (std::vector<size_t>{1, 5, 8}));
  EXPECT_TRUE(t.scheme.empty());
}

TEST(TargetTest, RootAndTrailingSlashes) {
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget root, ParseTarget("/"));
  EXPECT_TRUE(root.segments.empty());
  EXPECT_FALSE(root.has_query);
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget trailing, ParseTarget("/a/"));
  EXPECT_EQ(trailing.segments, (Segments{"a", ""}));
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget empty_query, ParseTarget("/a?"));
  EXPECT_TRUE(empty_query.has_query);
  EXPECT_EQ(empty_query.query, "");
}

TEST(TargetTest, SegmentsArePercentDecodedOneByOne) {
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget t, ParseTarget("/r/group%2Fproject/%61gents/a+b"));
  // "%2F" stays inside its segment; "+" is not a space in a path.
  EXPECT_EQ(t.segments, (Segments{"r", "group/project", "agents", "a+b"}));
  EXPECT_EQ(t.path, "/r/group%2Fproject/%61gents/a+b");
}

TEST(TargetTest, RefusesDotSegmentsEvenEncoded) {
  for (const char* bad : {"/a/../b", "/..", "/a/.", "/%2e%2e/x", "/%2E./x", "/.%2e", "/a/%2e"}) {
    auto r = ParseTarget(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Err::kBadFrame);
    EXPECT_STREQ(r.status().where(), "http: dot segment in path") << bad;
  }
  // Dots inside a segment are fine.
  KC_EXPECT_OK(ParseTarget("/v1/file.json"));
  KC_EXPECT_OK(ParseTarget("/.well-known/mcp.json"));
  KC_EXPECT_OK(ParseTarget("/a/..."));
}

TEST(TargetTest, RefusesControlBytesRawOrEncoded) {
  const std::vector<std::string> bad = {std::string("/a\0b", 4),
                                        "/a\rb",
                                        "/a\nb",
                                        "/a b",
                                        "/a\tb",
                                        "/a\x7f",
                                        "/\xc3\xa9",
                                        "/a%00b",
                                        "/a%0d%0aSet-Cookie:x",
                                        "/%7f",
                                        "/a?q=\r\n"};
  for (const std::string& t : bad) EXPECT_FALSE(ParseTarget(t).ok()) << t;
}

TEST(TargetTest, RefusesBadPercentEncoding) {
  for (const char* bad : {"/a%", "/a%4", "/a%zz", "/a%4g", "/%%41"}) {
    auto r = ParseTarget(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_STREQ(r.status().where(), "http: bad percent-encoding") << bad;
  }
}

TEST(TargetTest, RefusesCharactersOutsidePchar) {
  for (const char* bad :
       {"/a\\b", "/a\"b", "/a<b", "/a>b", "/a^b", "/a`b", "/a{b", "/a|b", "/a}b", "/a[b", "/a]b"}) {
    EXPECT_FALSE(ParseTarget(bad).ok()) << bad;
  }
  KC_EXPECT_OK(ParseTarget("/a-b_c.d~e!f$g&h'i(j)k*l+m,n;o=p:q@r"));
}

TEST(TargetTest, QueryKeepsVisibleAsciiButNoFragment) {
  KC_EXPECT_OK(ParseTarget("/a?filter[name]=x|y&q=\"z\""));
  auto frag = ParseTarget("/a?b#c");
  ASSERT_FALSE(frag.ok());
  EXPECT_STREQ(frag.status().where(), "http: fragment in target");
}

TEST(TargetTest, OtherFormsNeedPermission) {
  auto absolute = ParseTarget("http://example.com/x");
  ASSERT_FALSE(absolute.ok());
  EXPECT_STREQ(absolute.status().where(), "http: absolute-form target not allowed");
  EXPECT_STREQ(ParseTarget("example.com:443").status().where(), "http: target not origin-form");
  EXPECT_STREQ(ParseTarget("*").status().where(), "http: asterisk-form target");
  EXPECT_FALSE(ParseTarget("").ok());
}

TEST(TargetTest, AbsoluteFormWhenAllowed) {
  const TargetOptions allow{.allow_absolute_form = true};
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget t,
                          ParseTarget("HTTP://api.example.com:8080/v1/x?y=1", allow));
  EXPECT_EQ(t.scheme, "http");
  EXPECT_EQ(t.authority, "api.example.com:8080");
  EXPECT_EQ(t.path, "/v1/x");
  EXPECT_EQ(t.query, "y=1");
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget bare, ParseTarget("https://[::1]", allow));
  EXPECT_EQ(bare.path, "/");
  EXPECT_EQ(bare.authority, "[::1]");
  KC_ASSERT_OK_AND_ASSIGN(ParsedTarget q, ParseTarget("http://h?x", allow));
  EXPECT_EQ(q.path, "/");
  EXPECT_EQ(q.query, "x");
  EXPECT_STREQ(ParseTarget("http://user:pw@h/", allow).status().where(),
               "http: userinfo in target");
  EXPECT_FALSE(ParseTarget("ftp://h/", allow).ok());
  EXPECT_FALSE(ParseTarget("http:///x", allow).ok());
  EXPECT_FALSE(ParseTarget("http://h/../x", allow).ok());
}

TEST(TargetTest, PercentDecodeForQueries) {
  KC_ASSERT_OK_AND_ASSIGN(std::string plus, PercentDecode("a+b%2Bc", /*plus_as_space=*/true));
  EXPECT_EQ(plus, "a b+c");
  KC_ASSERT_OK_AND_ASSIGN(std::string raw, PercentDecode("a+b"));
  EXPECT_EQ(raw, "a+b");
  EXPECT_FALSE(PercentDecode("%G0").ok());
}

}  // namespace
}  // namespace keycell::broker::http

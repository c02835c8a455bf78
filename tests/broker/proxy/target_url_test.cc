#include "broker/proxy/target_url.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "tests/support/status_testing.h"

namespace keycell::broker::proxy {
namespace {

struct Accepted {
  std::string_view in;
  Scheme scheme;
  HostKind kind;
  std::string_view host;
  uint16_t port;
  std::string_view target;
};

TEST(TargetUrlTest, AcceptTable) {
  const Accepted kCases[] = {
      {"https://api.openai.com/v1/chat/completions", Scheme::kHttps, HostKind::kName,
       "api.openai.com", 443, "/v1/chat/completions"},
      {"HTTPS://API.Example.COM", Scheme::kHttps, HostKind::kName, "api.example.com", 443, "/"},
      {"http://localhost:8080/x?y=1&z", Scheme::kHttp, HostKind::kName, "localhost", 8080,
       "/x?y=1&z"},
      {"https://h?q=1", Scheme::kHttps, HostKind::kName, "h", 443, "/?q=1"},
      {"https://h/a%2Fb/%7e?x=%41", Scheme::kHttps, HostKind::kName, "h", 443, "/a%2Fb/%7e?x=%41"},
      {"https://h/a/../b/./c", Scheme::kHttps, HostKind::kName, "h", 443, "/a/../b/./c"},
      {"https://h/p?filter[name]=a|b&x={}", Scheme::kHttps, HostKind::kName, "h", 443,
       "/p?filter[name]=a|b&x={}"},
      {"https://1.example.com:65535/", Scheme::kHttps, HostKind::kName, "1.example.com", 65535,
       "/"},
      {"https://xn--bcher-kva.example/", Scheme::kHttps, HostKind::kName, "xn--bcher-kva.example",
       443, "/"},
      {"http://127.0.0.1:1/", Scheme::kHttp, HostKind::kIpv4, "127.0.0.1", 1, "/"},
      {"https://255.255.255.255/", Scheme::kHttps, HostKind::kIpv4, "255.255.255.255", 443, "/"},
      {"http://[::1]:8080/a", Scheme::kHttp, HostKind::kIpv6, "::1", 8080, "/a"},
      {"https://[2001:DB8:0:0::1]/", Scheme::kHttps, HostKind::kIpv6, "2001:db8::1", 443, "/"},
      {"https://[::ffff:169.254.169.254]/", Scheme::kHttps, HostKind::kIpv6,
       "::ffff:169.254.169.254", 443, "/"},
      {"https://h/?", Scheme::kHttps, HostKind::kName, "h", 443, "/?"},
  };
  for (const Accepted& c : kCases) {
    SCOPED_TRACE(c.in);
    KC_ASSERT_OK_AND_ASSIGN(TargetUrl url, ParseTargetUrl(c.in));
    EXPECT_EQ(url.scheme, c.scheme);
    EXPECT_EQ(url.host_kind, c.kind);
    EXPECT_EQ(url.host, c.host);
    EXPECT_EQ(url.port, c.port);
    EXPECT_EQ(url.target, c.target);
    // The canonical form reads back to the same URL.
    KC_ASSERT_OK_AND_ASSIGN(TargetUrl again, ParseTargetUrl(FormatTargetUrl(url)));
    EXPECT_EQ(FormatTargetUrl(again), FormatTargetUrl(url));
    EXPECT_EQ(again.host, url.host);
    EXPECT_EQ(again.target, url.target);
  }
}

struct Refused {
  std::string_view in;
  const char* where;
};

TEST(TargetUrlTest, RefuseTable) {
  const std::string too_long = "https://h/" + std::string(kMaxTargetUrlBytes, 'a');
  const Refused kCases[] = {
      {"", kWhereUrlEmpty},
      {too_long, kWhereUrlTooLong},
      // CR/LF/NUL anywhere: header splitting or C-string truncation.
      {"https://h/a\r\nX-Evil: 1", kWhereUrlCrLfNul},
      {"https://h/a\nb", kWhereUrlCrLfNul},
      {std::string_view("https://h\0.evil.example/", 24), kWhereUrlCrLfNul},
      {"https://h\r/", kWhereUrlCrLfNul},
      // Spaces and other controls.
      {"https://h/a b", kWhereUrlControl},
      {" https://h/", kWhereUrlControl},
      {"https://h/\t", kWhereUrlControl},
      {"https://h/\x7f", kWhereUrlControl},
      {"https://h/\x01", kWhereUrlControl},
      {"https://h/caf\xc3\xa9", kWhereUrlNonAscii},
      // Schemes.
      {"ftp://h/", kWhereUrlScheme},
      {"https:/h/", kWhereUrlScheme},
      {"//h/", kWhereUrlScheme},
      {"file:///etc/passwd", kWhereUrlScheme},
      {"httpx://h/", kWhereUrlScheme},
      {"/v1/x", kWhereUrlScheme},
      // Userinfo, fragments.
      {"https://user:pw@h/", kWhereUrlUserinfo},
      {"https://api.example.com@evil.example/", kWhereUrlUserinfo},
      {"https://@h/", kWhereUrlUserinfo},
      {"https://h/#frag", kWhereUrlFragment},
      {"https://h#", kWhereUrlFragment},
      // Hosts.
      {"https:///path", kWhereUrlHost},
      {"https://:443/", kWhereUrlHost},
      {"https://h_1/", kWhereUrlHost},
      {"https://h./", kWhereUrlHost},
      {"https://.h/", kWhereUrlHost},
      {"https://a..b/", kWhereUrlHost},
      {"https://-h/", kWhereUrlHost},
      {"https://h-/", kWhereUrlHost},
      {"https://h%2e/", kWhereUrlHost},
      {"https://h\\evil/", kWhereUrlHost},
      {"https://127.1/", kWhereUrlNumericHost},
      {"https://0x7f.0.0.1/", kWhereUrlNumericHost},
      {"https://2130706433/", kWhereUrlNumericHost},
      {"https://127.000.0.1/", kWhereUrlNumericHost},
      {"https://1.2.3.256/", kWhereUrlNumericHost},
      {"https://1.2.3.4.5/", kWhereUrlNumericHost},
      {"https://example.0x1/", kWhereUrlNumericHost},
      {"https://[::1/", kWhereUrlIpv6},
      {"https://[::1]x/", kWhereUrlIpv6},
      {"https://[fe80::1%25eth0]/", kWhereUrlIpv6},
      {"https://[not:an:ip]/", kWhereUrlIpv6},
      {"https://[]/", kWhereUrlIpv6},
      {"https://[127.0.0.1]/", kWhereUrlIpv6},
      // Ports.
      {"https://h:/", kWhereUrlPort},
      {"https://h:0/", kWhereUrlPort},
      {"https://h:65536/", kWhereUrlPort},
      {"https://h:123456/", kWhereUrlPort},
      {"https://h:0443/", kWhereUrlPort},
      {"https://h:-1/", kWhereUrlPort},
      {"https://h:8a/", kWhereUrlPort},
      {"https://h:80:80/", kWhereUrlPort},
      {"https://[::1]:/", kWhereUrlPort},
      // Escapes.
      {"https://h/%zz", kWhereUrlEscape},
      {"https://h/%4", kWhereUrlEscape},
      {"https://h/a%", kWhereUrlEscape},
      {"https://h/?q=100%", kWhereUrlEscape},
  };
  for (const Refused& c : kCases) {
    SCOPED_TRACE(testing::PrintToString(std::string(c.in)));
    auto url = ParseTargetUrl(c.in);
    ASSERT_FALSE(url.ok());
    EXPECT_EQ(url.status().code(), Err::kInvalidArgument);
    EXPECT_STREQ(url.status().where(), c.where);
  }
}

TEST(TargetUrlTest, ErrorsNeverEchoInput) {
  // `where` is a literal; the offending bytes are only ever a detail offset.
  auto url = ParseTargetUrl("https://h/secret\r\nsk-live-123");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(std::string_view(url.status().where()).find("sk-live"), std::string_view::npos);
  EXPECT_EQ(url.status().detail(), 16);
}

TEST(TargetUrlTest, PathQueryAndHostHeader) {
  KC_ASSERT_OK_AND_ASSIGN(TargetUrl url, ParseTargetUrl("https://h:8443/a/b?c=d?e"));
  EXPECT_EQ(url.path(), "/a/b");
  EXPECT_TRUE(url.has_query());
  EXPECT_EQ(url.query(), "c=d?e");
  EXPECT_EQ(HostHeaderValue(url), "h:8443");
  EXPECT_TRUE(url.explicit_port);

  KC_ASSERT_OK_AND_ASSIGN(TargetUrl def, ParseTargetUrl("https://h:443"));
  EXPECT_EQ(HostHeaderValue(def), "h");
  EXPECT_EQ(FormatTargetUrl(def), "https://h:443/");
  EXPECT_FALSE(def.has_query());
  EXPECT_EQ(def.query(), "");

  KC_ASSERT_OK_AND_ASSIGN(TargetUrl v6, ParseTargetUrl("http://[::1]"));
  EXPECT_EQ(HostHeaderValue(v6), "[::1]");
  EXPECT_EQ(FormatTargetUrl(v6), "http://[::1]/");
}

TEST(TargetUrlTest, LoopbackSpelling) {
  const std::pair<std::string_view, bool> kCases[] = {
      {"http://localhost/", true},    {"http://LOCALHOST:1/", true},
      {"http://127.0.0.1/", true},    {"http://127.255.1.2/", true},
      {"http://[::1]/", true},        {"http://localhost.example/", false},
      {"http://128.0.0.1/", false},   {"http://[::ffff:127.0.0.1]/", false},
      {"http://example.com/", false},
  };
  for (const auto& [in, loopback] : kCases) {
    SCOPED_TRACE(in);
    KC_ASSERT_OK_AND_ASSIGN(TargetUrl url, ParseTargetUrl(in));
    EXPECT_EQ(IsLoopbackSpelling(url), loopback);
  }
}

TEST(TargetUrlTest, LongestHost) {
  // 4 labels of 63 + 3 dots = 255 > 253; 3 of 63 + one of 61 = 253.
  const std::string l63(63, 'a');
  const std::string ok = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  KC_EXPECT_OK(ParseTargetUrl("https://" + ok + "/"));
  EXPECT_STREQ(ParseTargetUrl("https://" + ok + "b/").status().where(), kWhereUrlHost);
  EXPECT_STREQ(ParseTargetUrl("https://" + std::string(64, 'a') + "/").status().where(),
               kWhereUrlHost);
}

}  // namespace
}  // namespace keycell::broker::proxy

// The URL parser's accept/refuse table, the delivery policy (http only to loopback), and
// the response-head parser.

#include "broker/webhooks/webhook_url.h"

#include <gtest/gtest.h>

#include <string>

#include "broker/webhooks/http_response.h"
#include "broker/webhooks/types.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::webhooks {
namespace {

using ::keycell::test::Describe;

struct Accepted {
  const char* url;
  UrlScheme scheme;
  HostKind kind;
  const char* host;
  uint16_t port;
  const char* target;
};

TEST(WebhookUrlTest, AcceptsTable) {
  // clang-format off
  const Accepted kCases[] = {
      {"https://hooks.example.com/keycell", UrlScheme::kHttps, HostKind::kName, "hooks.example.com", 443, "/keycell"},
      {"https://hooks.example.com", UrlScheme::kHttps, HostKind::kName, "hooks.example.com", 443, "/"},
      {"HTTPS://Hooks.Example.COM/A/b", UrlScheme::kHttps, HostKind::kName, "hooks.example.com", 443, "/A/b"},
      {"https://example.com:8443/x?token=abc&y=1", UrlScheme::kHttps, HostKind::kName, "example.com", 8443, "/x?token=abc&y=1"},
      {"https://example.com?q=1", UrlScheme::kHttps, HostKind::kName, "example.com", 443, "/?q=1"},
      {"https://a-b.c-d.example/p%20q/~user/!$&'()*+,;=:@", UrlScheme::kHttps, HostKind::kName, "a-b.c-d.example", 443, "/p%20q/~user/!$&'()*+,;=:@"},
      {"https://xn--bcher-kva.example/", UrlScheme::kHttps, HostKind::kName, "xn--bcher-kva.example", 443, "/"},
      {"http://localhost:8080/hook", UrlScheme::kHttp, HostKind::kName, "localhost", 8080, "/hook"},
      {"http://127.0.0.1:9/h", UrlScheme::kHttp, HostKind::kIpv4, "127.0.0.1", 9, "/h"},
      {"http://127.255.1.2/", UrlScheme::kHttp, HostKind::kIpv4, "127.255.1.2", 80, "/"},
      {"http://[::1]:65535/x", UrlScheme::kHttp, HostKind::kIpv6, "::1", 65535, "/x"},
      {"http://[0:0:0:0:0:0:0:1]/", UrlScheme::kHttp, HostKind::kIpv6, "::1", 80, "/"},
      {"https://8.8.8.8/", UrlScheme::kHttps, HostKind::kIpv4, "8.8.8.8", 443, "/"},
      {"https://[2001:DB8::1]/", UrlScheme::kHttps, HostKind::kIpv6, "2001:db8::1", 443, "/"},
  };
  // clang-format on
  for (const Accepted& c : kCases) {
    SCOPED_TRACE(c.url);
    auto u = ParseWebhookUrl(c.url);
    ASSERT_TRUE(u.ok()) << Describe(u.status());
    EXPECT_EQ(u->scheme, c.scheme);
    EXPECT_EQ(u->host_kind, c.kind);
    EXPECT_EQ(u->host, c.host);
    EXPECT_EQ(u->port, c.port);
    EXPECT_EQ(u->target, c.target);
    // The canonical form parses back to the same thing.
    auto again = ParseWebhookUrl(FormatWebhookUrl(*u));
    ASSERT_TRUE(again.ok()) << FormatWebhookUrl(*u);
    EXPECT_EQ(FormatWebhookUrl(*again), FormatWebhookUrl(*u));
  }
}

struct Refused {
  std::string url;
  const char* where_contains;
};

TEST(WebhookUrlTest, RefusesTable) {
  const Refused kCases[] = {
      {"", "empty"},
      {"https://example.com/" + std::string(2048, 'a'), "longer than 2048"},
      {"ftp://example.com/", "scheme"},
      {"example.com/hook", "scheme"},
      {"https:/example.com", "scheme"},
      {"javascript://example.com", "scheme"},
      {"https://user:pw@example.com/", "user info"},
      {"https://user@example.com/", "user info"},
      {"https://example.com/#frag", "fragments"},
      {"https://example.com#", "fragments"},
      {"https://example.com/a b", "control character, space"},
      {"https://example.com/a\r\nX-Injected: 1", "control character, space"},
      {"https://example.com/a\nb", "control character, space"},
      {std::string("https://example.com/a\0b", 23), "control character, space"},
      {"https://example.com/\t", "control character, space"},
      {"https://exa mple.com/", "control character, space"},
      {"https://bücher.example/", "non-ASCII"},
      {"https://example.com/\x7f", "non-ASCII"},
      {"https:///path", "missing host"},
      {"https://:443/", "missing host"},
      {"https://exa_mple.com/", "invalid character in host"},
      {"https://example.com./", "label"},
      {"https://.example.com/", "label"},
      {"https://a..b/", "label"},
      {"https://-a.example/", "'-'"},
      {"https://a-.example/", "'-'"},
      {"https://" + std::string(64, 'a') + ".example/", "label"},
      {"https://example.123/", "numeric label"},
      {"http://127.1/", "IPv4"},
      {"http://127.0.0.01/", "IPv4"},
      {"http://127.0.0.256/", "IPv4"},
      {"http://127.0.0.1.1/", "IPv4"},
      {"http://0x7f.0.0.1/", "numeric label"},
      {"http://[::1/", "IPv6"},
      {"http://[::1]x/", "after IPv6"},
      {"http://[fe80::1%25eth0]/", "IPv6"},
      {"http://[zz::1]/", "IPv6"},
      {"http://[]/", "IPv6"},
      {"https://example.com:0/", "port"},
      {"https://example.com:65536/", "port"},
      {"https://example.com:080/", "port"},
      {"https://example.com:/", "port"},
      {"https://example.com:123456/", "port"},
      {"https://example.com:+80/", "port"},
      {"https://example.com:80:80/", "port"},
      {"https://example.com/%zz", "%-escape"},
      {"https://example.com/%4", "%-escape"},
      {"https://example.com/a\"b", "invalid character in path"},
      {"https://example.com/a<b>", "invalid character in path"},
      {"https://example.com/a\\b", "invalid character in path"},
      {"https://example.com/{x}", "invalid character in path"},
      {"https://example.com/a|b", "invalid character in path"},
      {"https://example.com/a^b", "invalid character in path"},
      {"https://example.com/a`b", "invalid character in path"},
  };
  for (const Refused& c : kCases) {
    SCOPED_TRACE(c.url);
    auto u = ParseWebhookUrl(c.url);
    ASSERT_FALSE(u.ok()) << FormatWebhookUrl(*u);
    EXPECT_EQ(u.status().code(), Err::kInvalidArgument);
    EXPECT_NE(std::string(u.status().where()).find(c.where_contains), std::string::npos)
        << u.status().where();
  }
}

TEST(WebhookUrlTest, PlainHttpOnlyToLoopback) {
  for (const char* ok : {"http://localhost/", "http://LOCALHOST:1/", "http://127.0.0.1/",
                         "http://127.9.9.9/", "http://[::1]/", "https://hooks.example.com/"}) {
    SCOPED_TRACE(ok);
    KC_EXPECT_OK(ParseAndCheckWebhookUrl(ok));
  }
  for (const char* bad :
       {"http://example.com/", "http://10.0.0.1/", "http://128.0.0.1/", "http://[::2]/",
        "http://localhost.example.com/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"}) {
    SCOPED_TRACE(bad);
    auto u = ParseAndCheckWebhookUrl(bad);
    ASSERT_FALSE(u.ok());
    EXPECT_EQ(u.status().code(), Err::kPolicyDenied);
    EXPECT_NE(std::string(u.status().where()).find("only to loopback"), std::string::npos);
  }
}

TEST(WebhookUrlTest, HttpsNeedsAHostName) {
  // mbedTLS 2.28 cannot verify a certificate for an IP address.
  for (const char* bad : {"https://8.8.8.8/", "https://127.0.0.1/", "https://[::1]/"}) {
    SCOPED_TRACE(bad);
    auto u = ParseAndCheckWebhookUrl(bad);
    ASSERT_FALSE(u.ok());
    EXPECT_EQ(u.status().code(), Err::kPolicyDenied);
    EXPECT_NE(std::string(u.status().where()).find("host name"), std::string::npos);
  }
}

TEST(WebhookUrlTest, HostHeader) {
  EXPECT_EQ(HostHeader(*ParseWebhookUrl("https://Example.com/x")), "example.com");
  EXPECT_EQ(HostHeader(*ParseWebhookUrl("https://example.com:8443/x")), "example.com:8443");
  EXPECT_EQ(HostHeader(*ParseWebhookUrl("http://[::1]:99/")), "[::1]:99");
  // An explicit default port stays (it was typed), an absent one is not invented.
  EXPECT_EQ(HostHeader(*ParseWebhookUrl("https://example.com:443/")), "example.com:443");
}

TEST(WebhookResponseTest, StatusLine) {
  auto s = ParseStatusLine("HTTP/1.1 204 No Content");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status, 204);
  EXPECT_EQ(s->http_minor, 1);
  EXPECT_EQ(s->reason, "No Content");
  EXPECT_EQ(ParseStatusLine("HTTP/1.0 500")->status, 500);
  EXPECT_EQ(ParseStatusLine("HTTP/1.1 200 ")->reason, "");
  for (const char* bad :
       {"", "HTTP/1.1", "HTTP/1.1 20", "HTTP/1.1 2000 OK", "HTTP/2 200 OK", "HTTP/1.2 200 OK",
        "HTTP/1.1  200 OK", "http/1.1 200 OK", "HTTP/1.1 099 X", "HTTP/1.1 600 X",
        "HTTP/1.1 2x0 OK", "HTTP/1.1 200\tOK", "ICY 200 OK", "HTTP/1.1 200 O\x01K"}) {
    SCOPED_TRACE(bad);
    auto r = ParseStatusLine(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Err::kBadFrame);
  }
}

TEST(WebhookResponseTest, Head) {
  const std::string head = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nX-A: b\tc\r\n\r\nbody";
  auto r = ParseResponseHead(head);
  ASSERT_TRUE(r.ok()) << Describe(r.status());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->status, 201);
  EXPECT_EQ((*r)->head_bytes, head.size() - 4);
  // Bare LF line endings are accepted (RFC 9112 §2.2).
  auto lf = ParseResponseHead("HTTP/1.1 200 OK\nA: b\n\n");
  ASSERT_TRUE(lf.ok() && lf->has_value());
  // Incomplete: nullopt, not an error.
  for (const char* partial :
       {"", "H", "HTTP/1.1 20", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n"}) {
    auto p = ParseResponseHead(partial);
    ASSERT_TRUE(p.ok()) << partial;
    EXPECT_FALSE(p->has_value()) << partial;
  }
}

TEST(WebhookResponseTest, HeadRefusals) {
  struct Bad {
    std::string text;
    Err code;
  };
  const Bad kCases[] = {
      {"SSH-2.0-OpenSSH\r\n", Err::kBadFrame},
      {"GARBAGE", Err::kBadFrame},  // refused at the first bytes, before a line ends
      {"HTTP/1.1 200 OK\rX\r\n\r\n", Err::kBadFrame},
      {"HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n", Err::kBadFrame},
      {"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", Err::kBadFrame},
      {"HTTP/1.1 200 OK\r\n: empty\r\n\r\n", Err::kBadFrame},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", Err::kBadFrame},
      {"HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n", Err::kBadFrame},
      {"HTTP/1.1 200 OK\r\n" + std::string(kMaxResponseHeadBytes, 'a'), Err::kTooLarge},
  };
  for (const Bad& c : kCases) {
    SCOPED_TRACE(c.text.substr(0, 40));
    auto r = ParseResponseHead(c.text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code);
  }
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (size_t i = 0; i <= kMaxResponseHeaders; ++i) many += "A: b\r\n";
  EXPECT_EQ(ParseResponseHead(many + "\r\n").status().code(), Err::kTooLarge);
}

}  // namespace
}  // namespace keycell::broker::webhooks

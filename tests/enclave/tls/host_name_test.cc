// CheckHostName: DNS names only; every IP-literal spelling is refused (mbedTLS 2.28
// cannot verify iPAddress SANs).
#include <gtest/gtest.h>

#include <string>

#include "enclave/tls/tls_connection.h"

namespace keycell::enclave::tls {
namespace {

TEST(CheckHostNameTest, AcceptsDnsNames) {
  for (const char* host :
       {"upstream.test", "api.github.com", "UPSTREAM.Test", "localhost", "a-b.c-d.example",
        "123.example.com", "xn--bcher-kva.example", "a1.b2.c3"}) {
    EXPECT_TRUE(CheckHostName(host).ok()) << host;
  }
  const std::string label63(63, 'a');
  EXPECT_TRUE(CheckHostName(label63 + ".example").ok());
  // 253 bytes exactly: 3 x (63 + '.') + 61.
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_TRUE(CheckHostName(longest).ok());
}

TEST(CheckHostNameTest, RefusesIpLiterals) {
  for (const char* host :
       {"127.0.0.1", "10.1.2.3", "::1", "[::1]", "fe80::1%eth0", "[2001:db8::1]:443", "127.1",
        "0x7f.1", "0x7F000001", "2130706433", "1.2.3", "example.123", "a.0x10"}) {
    const Status s = CheckHostName(host);
    EXPECT_EQ(s.code(), Err::kInvalidArgument) << host;
    EXPECT_STREQ(s.where(), kHostIsIpLiteral) << host;
  }
}

TEST(CheckHostNameTest, RefusesMalformedNames) {
  const std::string label64(64, 'a');
  const std::string label63(63, 'a');
  const std::string too_long = label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');
  for (const std::string& host :
       {std::string(""), std::string("."), std::string("example.com."), std::string(".example"),
        std::string("a..b"), std::string("-a.example"), std::string("a-.example"),
        std::string("under_score.example"), std::string("sp ace.example"),
        std::string("host\r\n.example"), std::string("a/b.example"), std::string("*.example"),
        std::string("user@example.com"), label64 + ".example", too_long,
        std::string("nul\0byte.example", 16), std::string("caf\xc3\xa9.example")}) {
    const Status s = CheckHostName(host);
    EXPECT_EQ(s.code(), Err::kInvalidArgument) << host;
    EXPECT_STREQ(s.where(), kBadHostName) << host;
  }
}

}  // namespace
}  // namespace keycell::enclave::tls

// Target parsing and the authoritative destination / recipe checks (enclave/proxy/target.h).

#include "enclave/proxy/target.h"

#include <gtest/gtest.h>
#include <string.h>

#include <string>

#include "tests/enclave/test_policies.h"
#include "tests/support/status_testing.h"

namespace keycell::enclave::proxy {
namespace {

using ::keycell::enclave::testing::MakePolicy;
using namespace std::string_literals;

Policy WithInsecure(Policy p, const char* host) {
  strcpy(p.insecure_http_hosts[p.insecure_http_hosts_count++], host);
  return p;
}

Policy WithPort(Policy p, uint32_t port) {
  for (pb_size_t i = 0; i < p.allowed_hosts_count; ++i) p.allowed_hosts[i].port = port;
  return p;
}

TEST(ProxyTarget, ParsesUrlParts) {
  KC_ASSERT_OK_AND_ASSIGN(Target t,
                          Target::FromUrl("HTTPS://API.Example.COM/v1/items?limit=10&q=a%2Fb"));
  EXPECT_TRUE(t.https());
  EXPECT_EQ(t.host(), "api.example.com");
  EXPECT_EQ(t.port(), 443);
  EXPECT_TRUE(t.default_port());
  EXPECT_FALSE(t.ip_literal());
  EXPECT_EQ(t.path(), "/v1/items?limit=10&q=a%2Fb");  // percent-encoding kept as given
  EXPECT_EQ(t.path_without_query(), "/v1/items");
  EXPECT_TRUE(t.has_query());
  EXPECT_EQ(t.query(), "limit=10&q=a%2Fb");
}

TEST(ProxyTarget, DefaultsAndExplicitPorts) {
  KC_ASSERT_OK_AND_ASSIGN(Target a, Target::FromUrl("https://h.example"));
  EXPECT_EQ(a.path(), "/");
  EXPECT_FALSE(a.has_query());
  KC_ASSERT_OK_AND_ASSIGN(Target b, Target::FromUrl("http://h.example?x=1"));
  EXPECT_EQ(b.port(), 80);
  EXPECT_EQ(b.path(), "/?x=1");
  KC_ASSERT_OK_AND_ASSIGN(Target c, Target::FromUrl("https://h.example:8443/p"));
  EXPECT_EQ(c.port(), 8443);
  EXPECT_FALSE(c.default_port());
  KC_ASSERT_OK_AND_ASSIGN(Target d, Target::FromUrl("https://h.example:443/p"));
  EXPECT_TRUE(d.default_port());
  KC_ASSERT_OK_AND_ASSIGN(Target e, Target::FromParts(Scheme::kHttp, "Loopback.Test", 0, "/x?"));
  EXPECT_EQ(e.host(), "loopback.test");
  EXPECT_EQ(e.port(), 80);
  EXPECT_TRUE(e.has_query());
  EXPECT_EQ(e.query(), "");
}

TEST(ProxyTarget, RecognisesIpv4Literals) {
  for (const char* url :
       {"http://127.0.0.1/", "http://127.1/", "http://0x7f.1/", "https://10.0.0.1:8443/"}) {
    KC_ASSERT_OK_AND_ASSIGN(Target t, Target::FromUrl(url));
    EXPECT_TRUE(t.ip_literal()) << url;
  }
  KC_ASSERT_OK_AND_ASSIGN(Target t, Target::FromUrl("https://1password.example/"));
  EXPECT_FALSE(t.ip_literal());
}

struct SyntaxCase {
  const char* label;
  std::string url;
  const char* where;
};

TEST(ProxyTarget, RefusesBadSyntax) {
  const std::string long_host = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                std::string(63, 'c') + "." + std::string(63, 'd');  // 255 bytes
  const SyntaxCase cases[] = {
      {"ftp scheme", "ftp://h.example/", kWhereBadScheme},
      {"no scheme", "h.example/", kWhereBadScheme},
      {"userinfo", "https://user:pw@h.example/", kWhereUserinfo},
      {"CRLF in host", "https://h.example\r\nX-Evil: 1/", kWhereHostControl},
      {"LF in host", "https://h.ex\nample/", kWhereHostControl},
      {"NUL in host", "https://h.ex\0ample/"s, kWhereHostControl},
      {"empty host", "https:///p", kWhereBadHost},
      {"underscore", "https://h_x.example/", kWhereBadHost},
      {"trailing dot", "https://h.example./", kWhereBadHost},
      {"double dot", "https://h..example/", kWhereBadHost},
      {"label dash", "https://-h.example/", kWhereBadHost},
      {"percent host", "https://%68.example/", kWhereBadHost},
      {"long label", "https://" + std::string(64, 'a') + ".example/", kWhereBadHost},
      {"long host", "https://" + long_host + "/", kWhereBadHost},
      {"ipv6", "https://[::1]/", kWhereIpv6},
      {"ipv6 port", "https://[::1]:443/", kWhereIpv6},
      {"bare ipv6", "https://::1/", kWhereIpv6},
      {"empty port", "https://h.example:/", kWhereBadPort},
      {"port 0", "https://h.example:0/", kWhereBadPort},
      {"port 65536", "https://h.example:65536/", kWhereBadPort},
      {"port sign", "https://h.example:+443/", kWhereBadPort},
      {"port CRLF", "https://h.example:44\r\n3/", kWhereHostControl},
      {"fragment", "https://h.example/p#frag", kWherePathFragment},
      {"fragment only", "https://h.example#frag", kWherePathFragment},
      {"CRLF in path", "https://h.example/p\r\nX-Evil: 1", kWherePathControl},
      {"LF in path", "https://h.example/p\nq", kWherePathControl},
      {"NUL in path", "https://h.example/p\0q"s, kWherePathControl},
      {"space in path", "https://h.example/a b", kWherePathControl},
      {"tab in query", "https://h.example/a?b=\t", kWherePathControl},
      {"DEL in path", "https://h.example/a\x7f", kWherePathControl},
      {"non-ASCII path", "https://h.example/caf\xc3\xa9", kWherePathNonAscii},
      {"bad escape", "https://h.example/a%2", kWherePathBadEscape},
      {"bad escape hex", "https://h.example/a%zz", kWherePathBadEscape},
  };
  for (const SyntaxCase& c : cases) {
    auto t = Target::FromUrl(c.url);
    ASSERT_FALSE(t.ok()) << c.label;
    EXPECT_EQ(t.status().code(), Err::kInvalidArgument) << c.label;
    EXPECT_STREQ(t.status().where(), c.where) << c.label;
  }
  EXPECT_STREQ(Target::FromParts(Scheme::kHttps, "h.example", 0, "p").status().where(),
               kWherePathNotOrigin);
  EXPECT_STREQ(Target::FromParts(Scheme::kHttps, "h.example", 0, "").status().where(),
               kWherePathNotOrigin);
  EXPECT_STREQ(Target::FromParts(Scheme::kHttps, "h.example", 70000, "/").status().where(),
               kWhereBadPort);
  EXPECT_STREQ(Target::FromParts(Scheme::kHttps, "h.example\r", 0, "/").status().where(),
               kWhereHostControl);
}

TEST(ProxyTarget, CheckTargetAllowsPolicyHosts) {
  const Policy p = MakePolicy({"api.example.com", "*.svc.example.org"});
  for (const char* url : {"https://api.example.com/", "https://API.example.com:443/x",
                          "https://a.svc.example.org/", "https://a.b.svc.example.org/"}) {
    KC_ASSERT_OK_AND_ASSIGN(Target t, Target::FromUrl(url));
    KC_EXPECT_OK(CheckTarget(p, t));
  }
}

struct PolicyCase {
  const char* label;
  Policy policy;
  const char* url;
  const char* where;
};

TEST(ProxyTarget, CheckTargetRefusals) {
  const Policy p = MakePolicy({"api.example.com", "*.svc.example.org"});
  const Policy loop =
      WithInsecure(WithPort(MakePolicy({"127.0.0.1", "localhost.test"}), 8080), "127.0.0.1");
  const PolicyCase cases[] = {
      {"host not in policy", p, "https://evil.example.net/", kWhereHostNotAllowed},
      {"suffix itself", p, "https://svc.example.org/", kWhereHostNotAllowed},
      {"lookalike", p, "https://api.example.com.evil.net/", kWhereHostNotAllowed},
      {"port not in policy", p, "https://api.example.com:8443/", kWherePortNotAllowed},
      {"http not insecure-allowed", p, "http://api.example.com/", kWhereHttpNotAllowed},
      {"http port 443", p, "http://api.example.com:443/", kWhereHttpNotAllowed},
      {"ip over https", loop, "https://127.0.0.1:8080/", kWhereIpNeedsTls},
      {"ip not insecure", loop, "http://127.0.0.2:8080/", kWhereIpNeedsTls},
      {"ip other spelling", loop, "http://127.1:8080/", kWhereIpNeedsTls},
      {"ip not in policy at all", p, "https://10.1.2.3/", kWhereIpNeedsTls},
      {"insecure host, wrong port", loop, "http://127.0.0.1:8081/", kWherePortNotAllowed},
      {"http to a non-insecure host", loop, "http://localhost.test:8080/", kWhereHttpNotAllowed},
  };
  for (const PolicyCase& c : cases) {
    KC_ASSERT_OK_AND_ASSIGN(Target t, Target::FromUrl(c.url));
    const Status s = CheckTarget(c.policy, t);
    EXPECT_EQ(s.code(), Err::kPolicyDenied) << c.label;
    EXPECT_STREQ(s.where(), c.where) << c.label;
  }
  // The loopback test server the policy names insecure-allowed, IP literal included.
  KC_ASSERT_OK_AND_ASSIGN(Target ok, Target::FromUrl("http://127.0.0.1:8080/"));
  KC_EXPECT_OK(CheckTarget(loop, ok));
  KC_ASSERT_OK_AND_ASSIGN(Target tls, Target::FromUrl("https://localhost.test:8080/"));
  KC_EXPECT_OK(CheckTarget(loop, tls));
}

TEST(ProxyTarget, CheckInjectable) {
  Policy p = MakePolicy({"api.example.com"});
  KC_EXPECT_OK(CheckInjectable(p, 1000));

  p.expires_at = 1000;
  KC_EXPECT_OK(CheckInjectable(p, 999));
  EXPECT_STREQ(CheckInjectable(p, 1000).where(), kWhereExpired);
  EXPECT_EQ(CheckInjectable(p, 5000).code(), Err::kPolicyDenied);

  Policy none = MakePolicy({"api.example.com"}, keycell_ipc_InjectKind_INJECT_NONE);
  EXPECT_STREQ(CheckInjectable(none, 0).where(), kWhereNoRecipe);
  none.has_injection = false;
  EXPECT_STREQ(CheckInjectable(none, 0).where(), kWhereNoRecipe);

  Policy unknown = MakePolicy({"api.example.com"});
  const int32_t wire = 99;  // what a newer sealer could have written
  memcpy(&unknown.injection.kind, &wire, sizeof(wire));
  EXPECT_STREQ(CheckInjectable(unknown, 0).where(), kWhereUnknownRecipe);
}

}  // namespace
}  // namespace keycell::enclave::proxy

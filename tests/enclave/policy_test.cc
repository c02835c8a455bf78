#include "enclave/policy.h"

#include <gtest/gtest.h>

#include "tests/enclave/test_policies.h"

namespace keycell::enclave {
namespace {

using testing::MakePolicy;

TEST(Policy, ValidatesHostPatterns) {
  EXPECT_TRUE(ValidatePolicy(MakePolicy({"api.openai.com", "*.stripe.com"})).ok());
  for (const char* bad : {"API.openai.com", "*.com", "a..b", "-a.com", "a-.com", "*", "a b.com",
                          "evil.com\r\nX: y", "*.*.example.com", ""}) {
    EXPECT_EQ(ValidatePolicy(MakePolicy({bad})).code(), Err::kInvalidArgument) << bad;
  }
}

TEST(Policy, ValidatesInjectionRecipes) {
  EXPECT_TRUE(ValidatePolicy(MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_HEADER,
                                        "X-Api-Key", "Token ")).ok());
  EXPECT_FALSE(ValidatePolicy(MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_HEADER,
                                         "X Api", "")).ok());
  EXPECT_FALSE(ValidatePolicy(MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_HEADER,
                                         "X-Api", "a\nb")).ok());
  EXPECT_FALSE(ValidatePolicy(MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_QUERY, "", "")).ok());
  EXPECT_FALSE(ValidatePolicy(MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_BEARER, "x", "")).ok());
  EXPECT_TRUE(ValidatePolicy(MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_COOKIE, "sid", "")).ok());
  auto p = MakePolicy({"a.example.com"});
  const int32_t unknown = 42;  // what a hostile peer can put on the wire
  memcpy(&p.injection.kind, &unknown, sizeof(unknown));
  EXPECT_FALSE(ValidatePolicy(p).ok());
}

TEST(Policy, HostMatching) {
  auto p = MakePolicy({"api.openai.com", "*.example.com"});
  p.allowed_hosts[1].port = 8443;
  EXPECT_TRUE(HostAllowed(p, "api.openai.com", 443, true));
  EXPECT_FALSE(HostAllowed(p, "api.openai.com", 8443, true));
  EXPECT_FALSE(HostAllowed(p, "api.openai.com", 80, false));  // plain http not allowed
  EXPECT_FALSE(HostAllowed(p, "evil-api.openai.com", 443, true));
  EXPECT_TRUE(HostAllowed(p, "a.b.example.com", 8443, true));
  EXPECT_FALSE(HostAllowed(p, "example.com", 8443, true));  // the suffix itself is not covered
  EXPECT_FALSE(HostAllowed(p, "a.example.com.evil.net", 8443, true));
}

TEST(Policy, InsecureHttpOnlyForNamedHosts) {
  auto p = MakePolicy({"localhost"});
  p.allowed_hosts[0].port = 8080;
  EXPECT_FALSE(HostAllowed(p, "localhost", 8080, false));
  strcpy(p.insecure_http_hosts[0], "localhost");
  p.insecure_http_hosts_count = 1;
  EXPECT_TRUE(ValidatePolicy(p).ok());
  EXPECT_TRUE(HostAllowed(p, "localhost", 8080, false));
  strcpy(p.insecure_http_hosts[0], "other.example.com");  // must also be an allowed host
  EXPECT_FALSE(ValidatePolicy(p).ok());
}

TEST(Policy, RevealRules) {
  auto p = MakePolicy({"a.example.com"});
  EXPECT_FALSE(RevealAllowed(p, ""));
  p.reveal = true;
  EXPECT_TRUE(RevealAllowed(p, "anyone"));
  strcpy(p.reveal_agents[0], "agent-1");
  p.reveal_agents_count = 1;
  EXPECT_TRUE(RevealAllowed(p, "agent-1"));
  EXPECT_FALSE(RevealAllowed(p, "agent-2"));
  EXPECT_FALSE(RevealAllowed(p, ""));
}

TEST(Policy, Expiry) {
  auto p = MakePolicy({"a.example.com"});
  EXPECT_FALSE(Expired(p, 2000000000));
  p.expires_at = 100;
  EXPECT_FALSE(Expired(p, 99));
  EXPECT_TRUE(Expired(p, 100));
}

TEST(Policy, NarrowingIsNotWidening) {
  auto wide = MakePolicy({"*.example.com", "api.openai.com"});
  wide.reveal = true;
  wide.env_export = true;
  wide.expires_at = 5000;
  auto narrow = MakePolicy({"a.example.com"});
  narrow.expires_at = 4000;
  EXPECT_FALSE(IsWidening(wide, narrow));
  EXPECT_FALSE(IsWidening(wide, wide));
  auto sub = MakePolicy({"*.a.example.com"});
  sub.expires_at = 10;
  EXPECT_FALSE(IsWidening(wide, sub));
}

TEST(Policy, EachWideningIsDetected) {
  const auto base = MakePolicy({"a.example.com"});
  auto p = base;
  strcpy(p.allowed_hosts[p.allowed_hosts_count++].host, "b.example.com");
  EXPECT_TRUE(IsWidening(base, p)) << "new host";
  p = base;
  p.allowed_hosts[0].port = 8443;
  EXPECT_TRUE(IsWidening(base, p)) << "new port";
  p = base;
  strcpy(p.allowed_hosts[0].host, "*.example.com");
  EXPECT_TRUE(IsWidening(base, p)) << "exact -> wildcard";
  p = base;
  p.reveal = true;
  EXPECT_TRUE(IsWidening(base, p)) << "reveal on";
  p = base;
  p.env_export = true;
  EXPECT_TRUE(IsWidening(base, p)) << "env on";
  p = base;
  p.injection.kind = keycell_ipc_InjectKind_INJECT_QUERY;
  strcpy(p.injection.name, "key");
  EXPECT_TRUE(IsWidening(base, p)) << "recipe change";
  p = base;
  strcpy(p.insecure_http_hosts[p.insecure_http_hosts_count++], "a.example.com");
  EXPECT_TRUE(IsWidening(base, p)) << "insecure http";
  auto expiring = base;
  expiring.expires_at = 100;
  EXPECT_TRUE(IsWidening(expiring, base)) << "expiry removed";
  p = expiring;
  p.expires_at = 200;
  EXPECT_TRUE(IsWidening(expiring, p)) << "expiry extended";
  auto restricted = base;
  restricted.reveal = true;
  strcpy(restricted.reveal_agents[restricted.reveal_agents_count++], "a1");
  p = restricted;
  p.reveal_agents_count = 0;
  EXPECT_TRUE(IsWidening(restricted, p)) << "reveal opened to everyone";
  p = restricted;
  strcpy(p.reveal_agents[p.reveal_agents_count++], "a2");
  EXPECT_TRUE(IsWidening(restricted, p)) << "reveal to another agent";
}

TEST(Policy, EnvNames) {
  EXPECT_TRUE(ValidEnvName("OPENAI_API_KEY"));
  EXPECT_TRUE(ValidEnvName("_x1"));
  EXPECT_FALSE(ValidEnvName("1X"));
  EXPECT_FALSE(ValidEnvName("A-B"));
  EXPECT_FALSE(ValidEnvName(""));
  EXPECT_FALSE(ValidEnvName("A=B"));
}

}  // namespace
}  // namespace keycell::enclave

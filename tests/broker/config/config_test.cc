// LoadConfigFromText: defaults, file values, environment overrides, and every way a
// file or variable can be wrong. No filesystem (see config_file_test.cc for that).

#include "broker/config/config.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/status_testing.h"

namespace keycell::broker {
namespace {

using std::string_literals::operator""s;

MapEnvironment HomeEnv() {
  return MapEnvironment(MapEnvironment::Vars{{"HOME", "/home/u"}}, "/opt/kc/bin", 1000);
}

Config MustLoad(std::string_view text, const Environment& env) {
  std::string why;
  auto r = LoadConfigFromText(text, "cfg.json", env, &why);
  EXPECT_TRUE(r.ok()) << why;
  return r.ok() ? std::move(r).value() : Config();
}

// Loads expecting failure; returns the message.
std::string MustFail(std::string_view text, const Environment& env, Err code, const char* where) {
  std::string why;
  auto r = LoadConfigFromText(text, "cfg.json", env, &why);
  EXPECT_FALSE(r.ok()) << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), code) << why;
  EXPECT_STREQ(r.status().where(), where) << why;
  return why;
}

TEST(ConfigLoadTest, DefaultsWithoutFileOrEnvironment) {
  const Config c = MustLoad("", HomeEnv());
  EXPECT_EQ(c.data_dir, "/home/u/.local/share/keycell");
  EXPECT_EQ(c.runtime_dir, "/tmp/keycell-1000");
  EXPECT_EQ(c.pkcs11_module, KEYCELL_PKCS11_MODULE);  // the build-time default
  EXPECT_EQ(c.pkcs11_token_label, "keycell");
  EXPECT_EQ(c.idle_lock_seconds, 900);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.enclave_path, "/opt/kc/bin/keycell-enclave");
  EXPECT_EQ(c.http_listen, "127.0.0.1:8787");
  EXPECT_EQ(c.http_host, "127.0.0.1");
  EXPECT_EQ(c.http_port, 8787);
  EXPECT_FALSE(c.http_allow_non_loopback);
  EXPECT_EQ(c.tls_extra_ca_file, "");
  EXPECT_EQ(c.mcp_tool_sets, std::vector<std::string>{"all"});
  EXPECT_FALSE(c.mcp_allow_password_unlock);
  EXPECT_EQ(c.ratelimit_requests_per_minute, 600);
  EXPECT_EQ(c.unlock_max_attempts_per_minute, 5);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_EQ(c.origin.at("idle_lock"), "default");
  EXPECT_TRUE(ToolSetEnabled(c, "vault_secret"));
}

TEST(ConfigLoadTest, XdgDefaults) {
  MapEnvironment env = HomeEnv();
  env.Set("XDG_DATA_HOME", "/xdg/data");
  env.Set("XDG_RUNTIME_DIR", "/run/user/1000");
  const Config c = MustLoad("", env);
  EXPECT_EQ(c.data_dir, "/xdg/data/keycell");
  EXPECT_EQ(c.runtime_dir, "/run/user/1000/keycell");
  env.Set("XDG_DATA_HOME", "relative/data");  // ignored, as the XDG spec says
  EXPECT_EQ(MustLoad("", env).data_dir, "/home/u/.local/share/keycell");
}

TEST(ConfigLoadTest, NoHomeMeansNoDataDirDefault) {
  MapEnvironment env;
  const std::string why = MustFail("", env, Err::kInvalidArgument, "config: no default");
  EXPECT_NE(why.find("KEYCELL_DATA_DIR"), std::string::npos) << why;
  env.Set("KEYCELL_DATA_DIR", "/srv/kc");
  EXPECT_EQ(MustLoad("", env).data_dir, "/srv/kc");
  EXPECT_EQ(MustFail("", MapEnvironment(MapEnvironment::Vars{{"HOME", "/h"}}, ""),
                     Err::kInvalidArgument, "config: no default")
                .find("enclave.path"),
            0u);
}

TEST(ConfigLoadTest, FileValuesDottedAndNested) {
  const Config c = MustLoad(R"({
    "data_dir": "/d", "idle_lock": "2h", "log.level": "debug",
    "pkcs11": {"module": "/usr/lib/x/p11.so", "token_label": "work"},
    "http": {"listen": "[::1]:9000"},
    "mcp.tool_sets": ["pushkey", "vault_secret"],
    "mcp": {"allow_password_unlock": true},
    "ratelimit": {"requests_per_minute": 10}, "unlock.max_attempts_per_minute": 3,
    "tls.extra_ca_file": "/etc/ssl/extra.pem"})",
                            HomeEnv());
  EXPECT_EQ(c.data_dir, "/d");
  EXPECT_EQ(c.idle_lock_seconds, 7200);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.pkcs11_module, "/usr/lib/x/p11.so");
  EXPECT_EQ(c.pkcs11_token_label, "work");
  EXPECT_EQ(c.http_host, "::1");
  EXPECT_EQ(c.http_port, 9000);
  EXPECT_TRUE(ToolSetEnabled(c, "pushkey"));
  EXPECT_FALSE(ToolSetEnabled(c, "agentkeys"));
  EXPECT_TRUE(c.mcp_allow_password_unlock);
  ASSERT_EQ(c.warnings.size(), 1u);  // password unlock is worth a warning
  EXPECT_EQ(c.ratelimit_requests_per_minute, 10);
  EXPECT_EQ(c.unlock_max_attempts_per_minute, 3);
  EXPECT_EQ(c.tls_extra_ca_file, "/etc/ssl/extra.pem");
  EXPECT_EQ(c.origin.at("pkcs11.module"), "file");
  EXPECT_EQ(c.config_file, "cfg.json");
}

TEST(ConfigLoadTest, DurationAsNumberOfSeconds) {
  EXPECT_EQ(MustLoad(R"({"idle_lock": 600})", HomeEnv()).idle_lock_seconds, 600);
  EXPECT_EQ(MustLoad(R"({"idle_lock": 0})", HomeEnv()).idle_lock_seconds, 0);
  MustFail(R"({"idle_lock": -1})", HomeEnv(), Err::kInvalidArgument, "config: wrong type");
  MustFail(R"({"idle_lock": 1.5})", HomeEnv(), Err::kInvalidArgument, "config: wrong type");
}

TEST(ConfigLoadTest, PrecedenceEnvOverFileOverDefault) {
  MapEnvironment env = HomeEnv();
  env.Set("KEYCELL_IDLE_LOCK", "1h");
  env.Set("KEYCELL_PKCS11_TOKEN_LABEL", "from-env");
  env.Set("KEYCELL_MCP_TOOL_SETS", "agentkeys, pushkey");
  env.Set("KEYCELL_MCP_ALLOW_PASSWORD_UNLOCK", "0");
  env.Set("KEYCELL_LOG_LEVEL", "");  // empty = unset: the file's value stands
  const Config c = MustLoad(
      R"({"idle_lock":"5m","pkcs11.token_label":"from-file","log.level":"warn",
          "mcp.allow_password_unlock":true,"ratelimit.requests_per_minute":7})",
      env);
  EXPECT_EQ(c.idle_lock_seconds, 3600);
  EXPECT_EQ(c.pkcs11_token_label, "from-env");
  EXPECT_EQ(c.origin.at("pkcs11.token_label"), "KEYCELL_PKCS11_TOKEN_LABEL");
  EXPECT_EQ(c.mcp_tool_sets, (std::vector<std::string>{"agentkeys", "pushkey"}));
  EXPECT_FALSE(c.mcp_allow_password_unlock);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.ratelimit_requests_per_minute, 7);   // file
  EXPECT_EQ(c.unlock_max_attempts_per_minute, 5);  // default
}

TEST(ConfigLoadTest, UnknownKeysNamedWithSuggestion) {
  std::string why =
      MustFail(R"({"pkcs11.modul":"/x"})", HomeEnv(), Err::kInvalidArgument, "config: unknown key");
  EXPECT_EQ(why, R"(cfg.json: unknown key "pkcs11.modul" (did you mean "pkcs11.module"?))");
  why = MustFail(R"({"pkcs11":{"modle":"/x"}})", HomeEnv(), Err::kInvalidArgument,
                 "config: unknown key");
  EXPECT_NE(why.find("\"pkcs11.modle\""), std::string::npos) << why;
  why = MustFail(R"({"Idle_Lock":"5m"})", HomeEnv(), Err::kInvalidArgument, "config: unknown key");
  MustFail(R"({"pkcs11":"/x"})", HomeEnv(), Err::kInvalidArgument, "config: unknown key");
  MustFail(R"({"pkcs11":{"pkcs11":{"module":"/x"}}})", HomeEnv(), Err::kInvalidArgument,
           "config: unknown key");
  MustFail(R"({"$schema":"x"})", HomeEnv(), Err::kInvalidArgument, "config: unknown key");
  // A hostile key is echoed truncated and without control characters.
  why = MustFail("{\"" + std::string(5000, 'k') + "\\n\":1}", HomeEnv(), Err::kInvalidArgument,
                 "config: unknown key");
  EXPECT_LT(why.size(), 200u);
  EXPECT_EQ(why.find('\n'), std::string::npos);
}

TEST(ConfigLoadTest, WrongTypesNamedWithExpectedType) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {R"({"data_dir": 5})", "cfg.json: data_dir: expected string, got number"},
      {R"({"idle_lock": true})", "cfg.json: idle_lock: expected duration, got boolean"},
      {R"({"http.allow_non_loopback": "true"})",
       "cfg.json: http.allow_non_loopback: expected boolean, got string"},
      {R"({"ratelimit.requests_per_minute": "600"})",
       "cfg.json: ratelimit.requests_per_minute: expected integer, got string"},
      {R"({"ratelimit.requests_per_minute": 1e20})",
       "cfg.json: ratelimit.requests_per_minute: expected integer, got number"},
      {R"({"mcp.tool_sets": "all"})", "cfg.json: mcp.tool_sets: expected list, got string"},
      {R"({"mcp.tool_sets": ["all", 1]})",
       "cfg.json: mcp.tool_sets: expected list: every item must be a non-empty string without "
       "control characters"},
      {R"({"pkcs11": {"module": null}})", "cfg.json: pkcs11.module: expected string, got null"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MustFail(c.text, HomeEnv(), Err::kInvalidArgument, "config: wrong type"), c.message);
  }
}

TEST(ConfigLoadTest, InvalidValuesNamedWithRule) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {R"({"data_dir": "rel/dir"})",
       R"(cfg.json: data_dir must be an absolute path (got "rel/dir"))"},
      {R"({"idle_lock": "31d"})",
       R"(cfg.json: idle_lock must be at most 30d (0 = never) (got "31d"))"},
      {R"({"log.level": "verbose"})",
       R"(cfg.json: log.level must be error, warn, info or debug (got "verbose"))"},
      {R"({"pkcs11.token_label": "keycell "})",
       R"(cfg.json: pkcs11.token_label must not start or end with a space (got "keycell "))"},
      {R"({"mcp.tool_sets": []})",
       R"(cfg.json: mcp.tool_sets must name at least one tool set (got ""))"},
      {R"({"mcp.tool_sets": ["all","all"]})",
       R"(cfg.json: mcp.tool_sets must not repeat a tool set (got "all,all"))"},
      {R"({"unlock.max_attempts_per_minute": 0})",
       R"(cfg.json: unlock.max_attempts_per_minute must be between 1 and 60 (got "0"))"},
      {R"({"http.listen": "example.com:80"})",
       "cfg.json: http.listen must be IPv4:PORT, [IPv6]:PORT or localhost:PORT with PORT 0 to "
       "65535 (got \"example.com:80\")"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MustFail(c.text, HomeEnv(), Err::kInvalidArgument, "config: invalid value"),
              c.message);
  }
  std::string long_dir = R"({"runtime_dir": "/)" + std::string(80, 'r') + "\"}";
  MustFail(long_dir, HomeEnv(), Err::kInvalidArgument, "config: invalid value");
}

TEST(ConfigLoadTest, EnvironmentValuesUseTheSameValidators) {
  MapEnvironment env = HomeEnv();
  env.Set("KEYCELL_IDLE_LOCK", "15 minutes");
  EXPECT_EQ(MustFail("", env, Err::kInvalidArgument, "config: wrong type"),
            "environment variable KEYCELL_IDLE_LOCK: idle_lock: expected duration like 900, "
            "900s, 15m, 2h, 1d or 0 (got \"15 minutes\")");
  env.Set("KEYCELL_IDLE_LOCK", "40d");
  MustFail("", env, Err::kInvalidArgument, "config: invalid value");
  env.Unset("KEYCELL_IDLE_LOCK");
  env.Set("KEYCELL_PKCS11_MODULE", "libsofthsm2.so");  // dlopen would search the path
  MustFail("", env, Err::kInvalidArgument, "config: invalid value");
  env.Unset("KEYCELL_PKCS11_MODULE");
  env.Set("KEYCELL_HTTP_ALLOW_NON_LOOPBACK", "yes");
  MustFail("", env, Err::kInvalidArgument, "config: wrong type");
  env.Unset("KEYCELL_HTTP_ALLOW_NON_LOOPBACK");
  env.Set("KEYCELL_LOG_LEVEL", "info\nfake log line");
  MustFail("", env, Err::kInvalidArgument, "config: wrong type");
}

TEST(ConfigLoadTest, FileErrorsReportedEvenWhenEnvironmentOverrides) {
  MapEnvironment env = HomeEnv();
  env.Set("KEYCELL_IDLE_LOCK", "5m");
  MustFail(R"({"idle_lock": "soon"})", env, Err::kInvalidArgument, "config: wrong type");
}

TEST(ConfigLoadTest, NonLoopbackListenNeedsOptIn) {
  const std::string why = MustFail(R"({"http.listen": "0.0.0.0:8787"})", HomeEnv(),
                                   Err::kPolicyDenied, "config: non-loopback listen address");
  EXPECT_NE(why.find("http.allow_non_loopback"), std::string::npos);
  const Config c =
      MustLoad(R"({"http": {"listen": "0.0.0.0:8787", "allow_non_loopback": true}})", HomeEnv());
  EXPECT_EQ(c.http_host, "0.0.0.0");
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("not a loopback address"), std::string::npos);
  MapEnvironment env = HomeEnv();
  env.Set("KEYCELL_HTTP_LISTEN", "localhost:0");
  EXPECT_EQ(MustLoad("", env).http_host, "127.0.0.1");
}

TEST(ConfigLoadTest, KeyGivenTwiceRefused) {
  MustFail(R"({"pkcs11.module":"/a","pkcs11":{"module":"/b"}})", HomeEnv(), Err::kInvalidArgument,
           "config: key given twice");
  MustFail(R"({"log.level":"info","log.level":"warn"})", HomeEnv(), Err::kBadFrame,
           "config: not JSON");  // duplicate JSON keys: refused by the parser
}

TEST(ConfigLoadTest, HostileText) {
  const MapEnvironment env = HomeEnv();
  std::string why = MustFail("[1,2]", env, Err::kInvalidArgument, "config: not an object");
  MustFail("\"str\"", env, Err::kInvalidArgument, "config: not an object");
  why = MustFail(std::string(100, '{'), env, Err::kTooLarge, "config: not JSON");
  EXPECT_NE(why.find("nesting too deep"), std::string::npos) << why;
  MustFail(std::string(kMaxConfigBytes + 1, ' ') + "{}", env, Err::kTooLarge, "config: not JSON");
  MustFail(
      "\x7f"
      "ELF\x02\x01\x01\0\0\0"s,
      env, Err::kBadFrame, "config: not JSON");
  MustFail("{\"data_dir\":\"/a\xff\"}", env, Err::kBadFrame, "config: not JSON");
  MustFail("{\"data_dir\":\"/a\\u0000b\"}", env, Err::kBadFrame, "config: not JSON");
  MustFail("{\"data_dir\":\"/a\\nb\"}", env, Err::kInvalidArgument, "config: wrong type");
  MustFail("{} {}", env, Err::kBadFrame, "config: not JSON");
  MustFail("// comment\n{}", env, Err::kBadFrame, "config: not JSON");
  EXPECT_EQ(MustLoad(" \n\t", env).idle_lock_seconds, 900);  // blank file = no settings
  EXPECT_EQ(MustLoad("{}", env).idle_lock_seconds, 900);
}

TEST(ConfigDescribeTest, OneLinePerKeyWithOrigin) {
  MapEnvironment env = HomeEnv();
  env.Set("KEYCELL_LOG_LEVEL", "debug");
  const Config c = MustLoad(R"({"idle_lock": 3600, "http.listen": "0.0.0.0:1",
                                "http.allow_non_loopback": true})",
                            env);
  const std::string text = DescribeConfig(c);
  EXPECT_NE(text.find("# config file: cfg.json\n"), std::string::npos) << text;
  EXPECT_NE(text.find("idle_lock                      = 1h  # file\n"), std::string::npos) << text;
  EXPECT_NE(text.find("log.level                      = debug  # KEYCELL_LOG_LEVEL\n"),
            std::string::npos);
  EXPECT_NE(text.find("tls.extra_ca_file              = \"\"  # default\n"), std::string::npos);
  EXPECT_NE(text.find("mcp.tool_sets                  = all  # default\n"), std::string::npos);
  EXPECT_NE(text.find("# warning: http.listen 0.0.0.0:1 is not a loopback"), std::string::npos);
}

}  // namespace
}  // namespace keycell::broker

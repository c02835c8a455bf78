// The key registry: every row is consistent, every default is valid, the env names
// follow the rule, and docs/configuration.md carries the generated table verbatim.

#include "broker/config/config_keys.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "broker/config/listen_address.h"

namespace keycell::broker {
namespace {

size_t FieldIndexFor(KeyType type) {
  switch (type) {
    case KeyType::kString:
      return 0;
    case KeyType::kInt:
    case KeyType::kDuration:
      return 1;
    case KeyType::kBool:
      return 2;
    case KeyType::kList:
      return 3;
  }
  return 99;
}

TEST(ConfigKeysTest, RowsAreConsistent) {
  const MapEnvironment env(MapEnvironment::Vars{{"HOME", "/home/u"}});
  std::set<std::string> names, vars;
  for (const KeySpec& spec : ConfigKeys()) {
    SCOPED_TRACE(spec.name);
    EXPECT_TRUE(names.insert(spec.name).second);
    EXPECT_TRUE(vars.insert(EnvVarName(spec.name)).second) << "two keys share a variable";
    EXPECT_EQ(spec.field.index(), FieldIndexFor(spec.type)) << "field type != key type";
    EXPECT_NE(spec.help, nullptr);
    EXPECT_EQ(std::string(spec.help).find('|'), std::string::npos);  // breaks the table
    EXPECT_EQ(std::string(spec.default_doc).find('|'), std::string::npos);
    for (char c : std::string(spec.name)) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.');
    }
    // The default passes the same parser and validator as user input.
    const std::optional<std::string> def =
        spec.default_fn ? spec.default_fn(env) : std::optional<std::string>(spec.default_text);
    ASSERT_TRUE(def.has_value());
    std::string rule;
    const std::optional<Value> value = ValueFromText(spec.type, *def, &rule);
    ASSERT_TRUE(value.has_value()) << rule;
    EXPECT_EQ(spec.validate ? spec.validate(*value) : "", "");
    EXPECT_EQ(FindKey(spec.name), &spec);
  }
  EXPECT_FALSE(vars.count("KEYCELL_CONFIG")) << "KEYCELL_CONFIG names the file, not a key";
}

TEST(ConfigKeysTest, EnvVarNames) {
  EXPECT_EQ(EnvVarName("pkcs11.module"), "KEYCELL_PKCS11_MODULE");
  EXPECT_EQ(EnvVarName("pkcs11.token_label"), "KEYCELL_PKCS11_TOKEN_LABEL");
  EXPECT_EQ(EnvVarName("idle_lock"), "KEYCELL_IDLE_LOCK");
  EXPECT_EQ(EnvVarName("unlock.max_attempts_per_minute"), "KEYCELL_UNLOCK_MAX_ATTEMPTS_PER_MINUTE");
}

TEST(ConfigKeysTest, SectionsAndLookup) {
  EXPECT_TRUE(IsSection("pkcs11"));
  EXPECT_TRUE(IsSection("http"));
  EXPECT_FALSE(IsSection("pkcs1"));
  EXPECT_FALSE(IsSection("data_dir"));
  EXPECT_FALSE(IsSection(""));
  EXPECT_EQ(FindKey("PKCS11.MODULE"), nullptr);  // case-sensitive
  EXPECT_EQ(FindKey("pkcs11"), nullptr);
}

TEST(ConfigKeysTest, ValueFromText) {
  std::string rule;
  EXPECT_EQ(ValueFromText(KeyType::kInt, "-42", &rule), Value(int64_t{-42}));
  for (const char* bad : {"", "-", "4 2", "+4", "0x10", "1e3", "9999999999999999999"}) {
    EXPECT_FALSE(ValueFromText(KeyType::kInt, bad, &rule)) << bad;
  }
  EXPECT_EQ(ValueFromText(KeyType::kBool, "1", &rule), Value(true));
  EXPECT_EQ(ValueFromText(KeyType::kBool, "false", &rule), Value(false));
  EXPECT_FALSE(ValueFromText(KeyType::kBool, "yes", &rule));
  EXPECT_EQ(rule, "expected boolean (true, false, 1 or 0)");
  EXPECT_EQ(ValueFromText(KeyType::kDuration, "2h", &rule), Value(int64_t{7200}));
  EXPECT_EQ(ValueFromText(KeyType::kList, " pushkey , agentkeys", &rule),
            Value(std::vector<std::string>{"pushkey", "agentkeys"}));
  EXPECT_FALSE(ValueFromText(KeyType::kList, "a,,b", &rule));
  EXPECT_FALSE(ValueFromText(KeyType::kList, "a,", &rule));
  EXPECT_FALSE(ValueFromText(KeyType::kString, "a\nb", &rule));  // log-line forgery
  EXPECT_EQ(rule, "must not contain control characters");
}

TEST(ConfigKeysTest, ValueToTextRoundTrips) {
  EXPECT_EQ(ValueToText(KeyType::kDuration, int64_t{900}), "15m");
  EXPECT_EQ(ValueToText(KeyType::kList, std::vector<std::string>{"a", "b"}), "a,b");
  EXPECT_EQ(ValueToText(KeyType::kBool, true), "true");
}

TEST(ConfigListenTest, ParsesLiteralsAndClassifiesLoopback) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
    bool loopback;
  } cases[] = {
      {"127.0.0.1:8787", "127.0.0.1", 8787, true},
      {"127.1.2.3:1", "127.1.2.3", 1, true},
      {"localhost:0", "127.0.0.1", 0, true},
      {"[::1]:65535", "::1", 65535, true},
      {"[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80, true},
      {"0.0.0.0:8787", "0.0.0.0", 8787, false},
      {"[::]:8787", "::", 8787, false},
      {"192.168.1.5:443", "192.168.1.5", 443, false},
  };
  for (const Case& c : cases) {
    auto a = ParseListenAddress(c.text);
    ASSERT_TRUE(a.ok()) << c.text;
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
    EXPECT_EQ(a->loopback, c.loopback) << c.text;
  }
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "::1:80",
        "[::1:80", "example.com:80", "127.1:80", "LOCALHOST:80", "[localhost]:80", ":80",
        "[fe80::1%eth0]:80", "127.0.0.1:080808"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

std::string ReadDocs() {
  std::ifstream in(KEYCELL_SOURCE_DIR "/docs/configuration.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ConfigKeysTest, DocsContainTheGeneratedTable) {
  const std::string docs = ReadDocs();
  ASSERT_FALSE(docs.empty()) << "docs/configuration.md missing";
  for (const KeySpec& spec : ConfigKeys()) {
    EXPECT_NE(docs.find(std::string("`") + spec.name + "`"), std::string::npos) << spec.name;
    EXPECT_NE(docs.find(EnvVarName(spec.name)), std::string::npos) << spec.name;
  }
  // Verbatim, so help text and defaults cannot drift either. On failure, paste this:
  EXPECT_NE(docs.find(ConfigKeysMarkdown()), std::string::npos)
      << "docs/configuration.md is out of date; the table should read:\n"
      << ConfigKeysMarkdown();
}

}  // namespace
}  // namespace keycell::broker

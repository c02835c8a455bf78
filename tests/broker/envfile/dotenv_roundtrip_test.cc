// ParseDotenv reads back what the enclave writes (enclave/env_line.cc) and agrees with
// python-dotenv. The broker does not link enclave code, so the enclave's output is
// pinned here twice: as literal FormatEnvLine outputs (generated once from the real
// function) and as a re-statement of its three quoting rules for generated values.

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "broker/envfile/dotenv_parser.h"
#include "tests/broker/envfile/test_util.h"

namespace keycell::broker::envfile {
namespace {

using test::ValueOf;

// {value, FormatEnvLine(name, value)} exactly as enclave/env_line.cc wrote them.
const std::pair<std::string, std::string> kEnclaveLines[] = {
    {"sk-abc123", "PLAIN='sk-abc123'\n"},
    {"  leading and trailing  ", "SPACES='  leading and trailing  '\n"},
    {"value # not a comment", "HASH='value # not a comment'\n"},
    {"$HOME ${PATH} $(whoami) `id`", "DOLLAR='$HOME ${PATH} $(whoami) `id`'\n"},
    {"line1\nline2\n\nline4", "NEWLINES='line1\nline2\n\nline4'\n"},
    {"it's", "SINGLE_QUOTE=\"it's\"\n"},
    {"say \"hi\"", "DOUBLE_QUOTE='say \"hi\"'\n"},
    {"it's \"both\"\nand $DOLLAR", "BOTH_QUOTES=\"it's \\\"both\\\"\\nand $DOLLAR\"\n"},
    {"C:\\path\\to\\n", "BACKSLASH=\"C:\\\\path\\\\to\\\\n\"\n"},
    {"a\r\nb\rc", "CR=\"a\\r\\nb\\rc\"\n"},
    {"p\xC3\xA4ss-\xF0\x9F\x94\x91", "UNICODE='p\xC3\xA4ss-\xF0\x9F\x94\x91'\n"},
    {"", "EMPTY=''\n"},
    {"'", "ONLY_QUOTE=\"'\"\n"},
    {"it's $5", "QUOTE_DOLLAR=\"it's $5\"\n"},
    {"trailing\\", "ENDS_BACKSLASH=\"trailing\\\\\"\n"},
    {"export X=1", "EXPORT_LIKE='export X=1'\n"},
    {"#not-a-comment", "HASH_START='#not-a-comment'\n"},
};

// The enclave's quoting rules (docs/env-files.md), restated.
std::string QuoteLikeEnclave(const std::string& name, const std::string& v) {
  const auto has = [&](char c) { return v.find(c) != std::string::npos; };
  if (!has('\'') && !has('\\') && !has('\r')) return name + "='" + v + "'\n";
  if (!has('"') && !has('\\') && !has('\r') && !has('$')) return name + "=\"" + v + "\"\n";
  std::string out = name + "=\"";
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out + "\"\n";
}

std::map<std::string, std::string> ParseToMap(const std::string& file) {
  auto parsed = ParseDotenv(AsBytes(file));
  EXPECT_TRUE(parsed.ok()) << DescribeEnvfileError(parsed.status());
  std::map<std::string, std::string> out;
  if (parsed.ok()) {
    for (const EnvEntry& e : *parsed) out[e.name] = ValueOf(e);
  }
  return out;
}

TEST(EnvfileDotenvRoundTrip, ReadsEveryEnclaveLineBack) {
  std::string file;
  for (const auto& [value, line] : kEnclaveLines) {
    const std::string name = line.substr(0, line.find('='));
    EXPECT_EQ(QuoteLikeEnclave(name, value), line) << name << ": restated rules drifted";
    auto one = ParseDotenv(AsBytes(line));
    ASSERT_TRUE(one.ok()) << name << ": " << DescribeEnvfileError(one.status());
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].name, name);
    EXPECT_EQ(ValueOf((*one)[0]), value) << name;
    file += line;
  }
  // All together, in one file, in any order (ENDS_BACKSLASH is not last here).
  const auto all = ParseToMap(file);
  ASSERT_EQ(all.size(), std::size(kEnclaveLines));
  EXPECT_EQ(all.at("ENDS_BACKSLASH"), "trailing\\");
  EXPECT_EQ(all.at("CR"), "a\r\nb\rc");
}

// Random well-formed UTF-8 without NUL, biased towards the bytes quoting cares about.
std::string RandomValue(std::mt19937& rng) {
  static const char* const kPieces[] = {"'",
                                        "\"",
                                        "\\",
                                        "\r",
                                        "\n",
                                        "$",
                                        "#",
                                        " ",
                                        "\t",
                                        "=",
                                        "\\n",
                                        "a",
                                        "Z",
                                        "\xC3\xA4",
                                        "\xE2\x82\xAC",
                                        "\xF0\x9F\x94\x91",
                                        "`",
                                        "\x01",
                                        "\x7f",
                                        "export "};
  std::string v;
  const size_t n = rng() % 24;
  for (size_t i = 0; i < n; ++i) v += kPieces[rng() % std::size(kPieces)];
  return v;
}

TEST(EnvfileDotenvRoundTrip, GeneratedValuesThroughTheEnclaveQuotingRules) {
  std::mt19937 rng(20240611);
  std::vector<std::string> values;
  std::string file = "# generated\r\n\n";
  for (int i = 0; i < 500; ++i) {
    values.push_back(RandomValue(rng));
    file += QuoteLikeEnclave("V" + std::to_string(i), values.back());
  }
  const auto parsed = ParseToMap(file);
  ASSERT_EQ(parsed.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(parsed.at("V" + std::to_string(i)), values[i]) << i;
}

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += {d[c >> 4], d[c & 15]};
  return out;
}

// python-dotenv (Debian python3-dotenv) on `path`, interpolation off: name -> hex.
std::map<std::string, std::string> ParseWithPythonDotenv(const std::string& path) {
  const std::string cmd =
      "/usr/bin/python3 -c 'import sys; from dotenv import dotenv_values\n"
      "for k, v in dotenv_values(sys.argv[1], interpolate=False).items(): "
      "print(k, (v or \"\").encode().hex())' " +
      path;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::map<std::string, std::string> out;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  // Each line is "NAME HEX\n"; HEX is empty for an empty value.
  while (p != nullptr && (n = getline(&line, &cap, p)) > 0) {
    std::string l(line, static_cast<size_t>(n));
    if (l.back() == '\n') l.pop_back();
    const size_t sp = l.find(' ');
    out[l.substr(0, sp)] = sp == std::string::npos ? "" : l.substr(sp + 1);
  }
  free(line);
  if (p != nullptr) {
    EXPECT_EQ(pclose(p), 0);
  }
  return out;
}

TEST(EnvfileDotenvRoundTrip, AgreesWithPythonDotenv) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  // Hand-written lines covering the rest of the dialect...
  std::string file =
      "# comment\n"
      "\n"
      "UNQUOTED=plain value   \n"
      "INLINE=abc # comment\n"
      "HASH_IN=abc#def\n"
      "export EXPORTED=1\n"
      "SPACED = around\t\n"
      "CRLF=crlf\r\n"
      "CRLF_QUOTED=\"x\r\ny\"\r\n"
      "SINGLE_ML='first\nsecond'\n"
      "DOUBLE_ESC=\"tab\\there \\'q\\' \\d\"\n"
      "AFTER_QUOTE='v' # c\n"
      "EMPTY_UNQUOTED=\n"
      "UNQUOTED_QUOTES=a'b\"c\n"
      "UNICODE_UNQUOTED=p\xC3\xA4ss\n";
  // ...then the enclave's lines and generated values. ENDS_BACKSLASH goes last:
  // python-dotenv misreads a closing quote after an escaped backslash otherwise.
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string v = RandomValue(rng);
    if (!v.empty() && v.back() == '\\') v += 'x';  // same python-dotenv limit
    file += QuoteLikeEnclave("GEN" + std::to_string(i), v);
  }
  for (const auto& [value, line] : kEnclaveLines) {
    if (line.starts_with("ENDS_BACKSLASH")) continue;
    file += line;
  }
  file += "ENDS_BACKSLASH=\"trailing\\\\\"\n";

  test::TempDir dir;
  const std::string path = dir / "cross.env";
  test::WriteFile(path, file);
  const auto python = ParseWithPythonDotenv(path);
  const auto ours = ParseToMap(file);
  ASSERT_FALSE(ours.empty());
  ASSERT_EQ(python.size(), ours.size());
  for (const auto& [name, value] : ours) {
    ASSERT_TRUE(python.count(name)) << name;
    EXPECT_EQ(python.at(name), Hex(value)) << name;
  }
}

}  // namespace
}  // namespace keycell::broker::envfile

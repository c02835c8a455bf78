// FormatEnvLine against a real dotenv parser: python-dotenv from Debian
// (python3-dotenv), run as a separate process on the file the lines were written to.

#include "enclave/env_line.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace keycell::enclave {
namespace {

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string Line(const std::string& name, const std::string& value) {
  auto l = FormatEnvLine(name, SecretView(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
  EXPECT_TRUE(l.ok()) << name;
  return l.ok() ? std::string(AsChars(l->view().bytes())) : std::string();
}

// Parses `path` with python-dotenv (no interpolation: .env files written by keycell
// are data, not templates) and returns name -> hex(value).
std::map<std::string, std::string> ParseWithPythonDotenv(const std::string& path) {
  const std::string cmd =
      "/usr/bin/python3 -c 'import sys; from dotenv import dotenv_values\n"
      "for k, v in dotenv_values(sys.argv[1], interpolate=False).items(): print(k, (v or \"\").encode().hex())' " +
      path;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::map<std::string, std::string> out;
  char name[256], hex[300000];
  while (p != nullptr && fscanf(p, "%255s %299999s", name, hex) == 2) out[name] = hex;
  if (p != nullptr) {
    EXPECT_EQ(pclose(p), 0);
  }
  return out;
}

TEST(EnvLine, HostileValuesRoundTripThroughPythonDotenv) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"PLAIN", "sk-abc123"},
      {"SPACES", "  leading and trailing  "},
      {"HASH", "value # not a comment"},
      {"DOLLAR", "$HOME ${PATH} $(whoami) `id`"},
      {"EQUALS", "a=b=c"},
      {"NEWLINES", "line1\nline2\n\nline4"},
      {"SINGLE_QUOTE", "it's"},
      {"DOUBLE_QUOTE", "say \"hi\""},
      {"BOTH_QUOTES", "it's \"both\"\nand $DOLLAR"},
      {"BACKSLASH", "C:\\path\\to\\n"},
      {"CR", "a\r\nb\rc"},
      {"UNICODE", "pässwörd-🔑-ключ"},
      {"EXPORT_LIKE", "export X=1"},
      {"ONLY_QUOTE", "'"},
  };
  std::string big(64 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 97) big[i] = "\n\"'$#\\ ="[i % 8];
  cases.emplace_back("BIG_64K", big);
  // Last on purpose: python-dotenv's quoted-value regex lets a closing quote preceded
  // by an escaped backslash run on to the next quote in the file, so a value ending in
  // a backslash reads back only as the final line there (docs/env-files.md).
  cases.emplace_back("ENDS_BACKSLASH", "trailing\\");

  char path[] = "/tmp/keycell-envline-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string file;
  for (const auto& [k, v] : cases) file += Line(k, v);
  ASSERT_EQ(write(fd, file.data(), file.size()), static_cast<ssize_t>(file.size()));
  close(fd);
  const auto parsed = ParseWithPythonDotenv(path);
  unlink(path);
  ASSERT_EQ(parsed.size(), cases.size());
  for (const auto& [k, v] : cases) {
    ASSERT_TRUE(parsed.count(k)) << k;
    EXPECT_EQ(parsed.at(k), Hex(v)) << k;
  }
}

TEST(EnvLine, ChoosesLiteralQuotingWhenItCan) {
  EXPECT_EQ(Line("A", "x y#$"), "A='x y#$'\n");
  EXPECT_EQ(Line("A", "it's"), "A=\"it's\"\n");
  EXPECT_EQ(Line("A", "a\\b"), "A=\"a\\\\b\"\n");
}

TEST(EnvLine, RefusesWhatCannotBeAnEnvironmentValue) {
  const uint8_t nul[] = {'a', 0, 'b'};
  EXPECT_EQ(FormatEnvLine("A", SecretView(nul, 3)).status().code(), Err::kInvalidArgument);
  const uint8_t bad_utf8[] = {0xc3, 0x28};
  EXPECT_EQ(FormatEnvLine("A", SecretView(bad_utf8, 2)).status().code(), Err::kInvalidArgument);
  const uint8_t overlong[] = {0xc0, 0xaf};
  EXPECT_EQ(FormatEnvLine("A", SecretView(overlong, 2)).status().code(), Err::kInvalidArgument);
  const uint8_t ok[] = {'v'};
  EXPECT_EQ(FormatEnvLine("1A", SecretView(ok, 1)).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(FormatEnvLine("A\nB", SecretView(ok, 1)).status().code(), Err::kInvalidArgument);
}

}  // namespace
}  // namespace keycell::enclave

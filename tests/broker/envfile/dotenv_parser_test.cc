// ParseDotenv and ParseNulRecords against tables of accepted and refused inputs, the
// size limits, and hostile bytes. The dialect is documented in dotenv_parser.h.

#include "broker/envfile/dotenv_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/broker/envfile/test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::envfile {
namespace {

using test::ValueOf;
using Pairs = std::vector<std::pair<std::string, std::string>>;
using namespace std::string_literals;

struct GoodCase {
  const char* what;
  std::string input;
  Pairs want;
};

const GoodCase kGood[] = {
    {"unquoted", "A=abc\n", {{"A", "abc"}}},
    {"unquoted trimmed", "A=  abc \t\n", {{"A", "abc"}}},
    {"inline comment", "A=abc # note\nB=x\t#tab\n", {{"A", "abc"}, {"B", "x"}}},
    {"hash inside unquoted", "A=abc#def\n", {{"A", "abc#def"}}},
    {"unquoted quotes and backslash", "A=a'b\"c\\n\n", {{"A", "a'b\"c\\n"}}},
    {"equals in value", "A=a=b=c\n", {{"A", "a=b=c"}}},
    {"empty", "A=\nB=", {{"A", ""}, {"B", ""}}},
    {"blanks around =", "A = b\nC\t=\t'd'\n", {{"A", "b"}, {"C", "d"}}},
    {"export",
     "export A=1\nexport\tB='2'\n  export   C=\"3\"\n",
     {{"A", "1"}, {"B", "2"}, {"C", "3"}}},
    {"export as a name", "export=1\nexported=2\n", {{"export", "1"}, {"exported", "2"}}},
    {"comments and blanks", "# top\n\n   \n  # indented\nA=1\n#end", {{"A", "1"}}},
    {"single literal", "A='a b # c $HOME \"q\"'\n", {{"A", "a b # c $HOME \"q\""}}},
    {"single keeps lone backslash", "A='C:\\path\\n'\n", {{"A", "C:\\path\\n"}}},
    {"single multi-line", "A='l1\nl2\n'\nB=2\n", {{"A", "l1\nl2\n"}, {"B", "2"}}},
    {"double plain", "A=\"a b # c\"\n", {{"A", "a b # c"}}},
    {"double escapes", "A=\"\\\\ \\\" \\n \\r \\t \\'\"\n", {{"A", "\\ \" \n \r \t '"}}},
    {"double python escapes", "A=\"\\a\\b\\f\\v\"\n", {{"A", "\a\b\f\v"}}},
    {"double unknown escapes stay", "A=\"\\d+\\$x\\u\"\n", {{"A", "\\d+\\$x\\u"}}},
    {"double ends in backslash", "A=\"x\\\\\"\nB=\"y\"\n", {{"A", "x\\"}, {"B", "y"}}},
    {"double multi-line", "A=\"l1\nl2\"\n", {{"A", "l1\nl2"}}},
    {"comment after quotes",
     "A='x' # c\nB=\"y\"#c\nC='z'   \n",
     {{"A", "x"}, {"B", "y"}, {"C", "z"}}},
    {"quote char inside other quotes", "A=\"'\"\nB='\"'\n", {{"A", "'"}, {"B", "\""}}},
    {"crlf", "A=1\r\nB='x'\r\nC=\"m\r\nn\"\r\n", {{"A", "1"}, {"B", "x"}, {"C", "m\nn"}}},
    {"lone cr", "A=1\rB='p\rq'\r", {{"A", "1"}, {"B", "p\nq"}}},
    {"bom",
     "\xEF\xBB\xBF"
     "A=1\n",
     {{"A", "1"}}},
    {"unicode", "A=p\xC3\xA4ss \xF0\x9F\x94\x91\n", {{"A", "p\xC3\xA4ss \xF0\x9F\x94\x91"}}},
    {"no final newline", "A=1\nB='2'", {{"A", "1"}, {"B", "2"}}},
    {"names", "_=1\nA_1=2\nlower=3\n", {{"_", "1"}, {"A_1", "2"}, {"lower", "3"}}},
    {"empty file", "", {}},
};

TEST(EnvfileDotenvParser, AcceptsTheCommonDialect) {
  for (const GoodCase& c : kGood) {
    SCOPED_TRACE(c.what);
    auto parsed = ParseDotenv(AsBytes(c.input));
    ASSERT_TRUE(parsed.ok()) << DescribeEnvfileError(parsed.status());
    Pairs got;
    for (const EnvEntry& e : *parsed) got.emplace_back(e.name, ValueOf(e));
    EXPECT_EQ(got, c.want);
  }
}

TEST(EnvfileDotenvParser, ReportsLinesOfEntries) {
  auto parsed = ParseDotenv(AsBytes("# c\r\nA='x\ny'\n\nexport B=1\n"s));
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].line, 2u);
  EXPECT_EQ((*parsed)[1].line, 5u);
}

struct BadCase {
  std::string input;
  Err code;
  int line;
  const char* message;  // what DescribeEnvfileError says
};

// Every input carries the marker SECRET so the tests can check it is never echoed.
const BadCase kBad[] = {
    {"A='SECRET", Err::kInvalidArgument, 1, "line 1: unterminated single quote"},
    {"X=1\nY=2\n\nA=\"SECRET\nmore\n", Err::kInvalidArgument, 4,
     "line 4: unterminated double quote"},
    {"A=\"SECRET\\\"", Err::kInvalidArgument, 1, "line 1: unterminated double quote"},
    {"A='SECRET' junk\n", Err::kInvalidArgument, 1,
     "line 1: unexpected text after the closing quote"},
    {"A=\"SE\nCRET\"x\n", Err::kInvalidArgument, 2,
     "line 2: unexpected text after the closing quote"},
    {"SECRET\n", Err::kInvalidArgument, 1, "line 1: expected '=' after the name"},
    {"A: SECRET\n", Err::kInvalidArgument, 1, "line 1: expected '=' after the name"},
    {"=SECRET\n", Err::kInvalidArgument, 1, "line 1: expected NAME=value"},
    {"'A'=SECRET\n", Err::kInvalidArgument, 1, "line 1: expected NAME=value"},
    {"export \nA=SECRET", Err::kInvalidArgument, 1, "line 1: expected NAME=value"},
    {"1A=SECRET\n", Err::kInvalidArgument, 1, "line 1: invalid variable name"},
    {"a.b=SECRET\n", Err::kInvalidArgument, 1, "line 1: invalid variable name"},
    {"A=1\n# c\nA=SECRET\n", Err::kInvalidArgument, 3, "line 3: duplicate name"},
    {"A=#SECRET\n", Err::kInvalidArgument, 1, "line 1: unquoted value starts with '#'"},
    {"A= # SECRET\n", Err::kInvalidArgument, 1, "line 1: unquoted value starts with '#'"},
    {"A=`SECRET`\n", Err::kInvalidArgument, 1, "line 1: backtick quotes are not supported"},
    {"A='SE\\'CRET'\n", Err::kInvalidArgument, 1, "line 1: \\\\ or \\' inside single quotes"},
    {"A='SECRET\\\\'\n", Err::kInvalidArgument, 1, "line 1: \\\\ or \\' inside single quotes"},
    {"A=1\nB=SE\0CRET\n"s, Err::kInvalidArgument, 2, "line 2: NUL byte"},
    {"# SECRET \0\n"s, Err::kInvalidArgument, 1, "line 1: NUL byte"},
    {"A=SECRET\xff\n", Err::kInvalidArgument, 1, "line 1: value is not UTF-8"},
    {"A=\"SECRET\xC0\xAF\"\n", Err::kInvalidArgument, 1, "line 1: value is not UTF-8"},
    {"A=\"SECRET\xED\xA0\x80\"\n", Err::kInvalidArgument, 1, "line 1: value is not UTF-8"},
    {"A='SECRET\xF4\x90\x80\x80'\n", Err::kInvalidArgument, 1, "line 1: value is not UTF-8"},
    {"A='SECRET\xE2\x82'\n", Err::kInvalidArgument, 1, "line 1: value is not UTF-8"},
};

TEST(EnvfileDotenvParser, RefusesWithLineNumbersAndNeverEchoesContent) {
  for (const BadCase& c : kBad) {
    SCOPED_TRACE(c.message);
    auto parsed = ParseDotenv(AsBytes(c.input));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), c.code);
    EXPECT_EQ(parsed.status().detail(), c.line);
    const std::string described = DescribeEnvfileError(parsed.status());
    EXPECT_EQ(described, c.message);
    EXPECT_EQ(described.find("SECRET"), std::string::npos);
  }
}

TEST(EnvfileDotenvParser, ValueSizeLimitIsPerEntry) {
  const std::string max(kMaxEnvValueBytes, 'v');
  auto ok = ParseDotenv(AsBytes("A=" + max + "\nB='" + max + "'\n"));
  ASSERT_TRUE(ok.ok()) << DescribeEnvfileError(ok.status());
  EXPECT_EQ((*ok)[1].value.size(), kMaxEnvValueBytes);

  auto big = ParseDotenv(AsBytes("A=1\n\nB='" + max + "x'\n"));
  EXPECT_EQ(big.status().code(), Err::kTooLarge);
  EXPECT_EQ(DescribeEnvfileError(big.status()), "line 3: value over 64 KiB");

  // The limit is on the decoded value: 40000 escapes (80000 raw bytes) fit.
  std::string escaped;
  for (int i = 0; i < 40000; ++i) escaped += "\\n";
  auto decoded = ParseDotenv(AsBytes("A=\"" + escaped + "\"\n"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[0].value.size(), 40000u);
}

TEST(EnvfileDotenvParser, FileAndEntryCountLimits) {
  const std::string huge = "# " + std::string(kMaxDotenvBytes, 'c');
  auto too_big = ParseDotenv(AsBytes(huge));
  EXPECT_EQ(too_big.status().code(), Err::kTooLarge);
  EXPECT_EQ(too_big.status().detail(), 0);

  std::string many;
  for (size_t i = 0; i < kMaxEnvEntries; ++i) many += "K" + std::to_string(i) + "=v\n";
  auto at_cap = ParseDotenv(AsBytes(many));
  ASSERT_TRUE(at_cap.ok());
  EXPECT_EQ(at_cap->size(), kMaxEnvEntries);
  many += "ONE_MORE=v\n";
  EXPECT_EQ(ParseDotenv(AsBytes(many)).status().code(), Err::kTooLarge);

  EXPECT_EQ(ParseDotenv(AsBytes(std::string(kMaxEnvNameBytes, 'N') + "=1")).status().code(),
            Err::kOk);
  EXPECT_EQ(ParseDotenv(AsBytes(std::string(kMaxEnvNameBytes + 1, 'N') + "=1")).status().code(),
            Err::kInvalidArgument);
}

TEST(EnvfileDotenvParser, SurvivesHostileBytes) {
  std::mt19937 rng(12345);
  const std::string alphabet = "AB=_'\"\\#\n\r \t$`e\0\xff\xc3"s;
  for (int round = 0; round < 3000; ++round) {
    std::string in(rng() % 200, '\0');
    for (char& c : in) c = round % 2 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    auto parsed = ParseDotenv(AsBytes(in));
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().code(), Err::kOk);
      continue;
    }
    for (const EnvEntry& e : *parsed) EXPECT_TRUE(IsEnvName(e.name));
  }
  // A binary blob with no line structure at all.
  std::string blob(4096, '\0');
  for (char& c : blob) c = static_cast<char>(rng() | 0x80);
  EXPECT_FALSE(ParseDotenv(AsBytes(blob)).ok());
}

TEST(EnvfileNulRecords, ParsesExactBytes) {
  const std::string in = "A\0v\0EMPTY\0\0B\0line1\nline2 'q' \"d\" \\ $x \xff\0"s;
  auto parsed = ParseNulRecords(AsBytes(in));
  ASSERT_TRUE(parsed.ok()) << DescribeEnvfileError(parsed.status());
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].name, "A");
  EXPECT_EQ(ValueOf((*parsed)[0]), "v");
  EXPECT_EQ(ValueOf((*parsed)[1]), "");
  EXPECT_EQ(ValueOf((*parsed)[2]), "line1\nline2 'q' \"d\" \\ $x \xff");
  EXPECT_EQ((*parsed)[2].line, 3u);
  auto empty = ParseNulRecords(ByteView());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(EnvfileNulRecords, Refusals) {
  const std::pair<std::string, const char*> cases[] = {
      // A value with an embedded NUL shifts the stream: the tail becomes a record
      // without a value.
      {"A\0SE\0CRET\0"s, "record 2: truncated record"},
      {"A\0SECRET"s, "record 1: truncated record"},
      {"A"s, "record 1: truncated record"},
      {"\0SECRET\0"s, "record 1: invalid variable name"},
      {"A=B\0SECRET\0"s, "record 1: invalid variable name"},
      {"A\0x\0SE CRET\0y\0"s, "record 2: invalid variable name"},
      {"A\0x\0A\0SECRET\0"s, "record 2: duplicate name"},
  };
  for (const auto& [in, message] : cases) {
    auto parsed = ParseNulRecords(AsBytes(in));
    ASSERT_FALSE(parsed.ok()) << message;
    EXPECT_EQ(DescribeEnvfileError(parsed.status()), message);
  }
  const std::string big = "A\0"s + std::string(kMaxEnvValueBytes + 1, 'x') + "\0"s;
  EXPECT_EQ(ParseNulRecords(AsBytes(big)).status().code(), Err::kTooLarge);
  std::string many;
  for (size_t i = 0; i <= kMaxEnvEntries; ++i) many += "K" + std::to_string(i) + "\0v\0"s;
  EXPECT_EQ(ParseNulRecords(AsBytes(many)).status().code(), Err::kTooLarge);
}

TEST(EnvfileDotenvParser, DecodedValuesAreWipedWithTheirEntries) {
  static std::vector<size_t> wiped_nonzero;
  SecureBuffer::SetWipeObserverForTest([](const uint8_t* p, size_t n) {
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += p[i] != 0;
    wiped_nonzero.push_back(nonzero);
  });
  {
    auto parsed = ParseDotenv(AsBytes("A='secret-one'\nB=\"secret\\ntwo\"\n"s));
    ASSERT_TRUE(parsed.ok());
  }
  SecureBuffer::SetWipeObserverForTest(nullptr);
  ASSERT_GE(wiped_nonzero.size(), 2u);
  for (size_t n : wiped_nonzero) EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace keycell::broker::envfile

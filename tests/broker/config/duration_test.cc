#include "broker/config/duration.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "tests/support/status_testing.h"

namespace keycell::broker {
namespace {

TEST(ConfigDurationTest, AcceptsUnitsAndPlainSeconds) {
  struct Case {
    const char* text;
    int64_t seconds;
  } cases[] = {{"0", 0},     {"0s", 0},     {"900", 900},  {"900s", 900},   {"15m", 900},
               {"2h", 7200}, {"1d", 86400}, {"007m", 420}, {"30d", 2592000}};
  for (const Case& c : cases) {
    auto r = ParseDurationSeconds(c.text);
    KC_ASSERT_OK(r);
    EXPECT_EQ(*r, c.seconds) << c.text;
  }
}

TEST(ConfigDurationTest, RejectsGarbage) {
  struct Case {
    const char* text;
    const char* where;
  } cases[] = {
      {"", "duration: empty"},
      {"-5m", "duration: not a number"},
      {"+5m", "duration: not a number"},
      {" 5m", "duration: not a number"},
      {"m", "duration: not a number"},
      {"5 m", "duration: unknown unit"},
      {"5M", "duration: unknown unit"},
      {"5ms", "duration: unknown unit"},
      {"1h30m", "duration: unknown unit"},
      {"1.5h", "duration: unknown unit"},
      {"5w", "duration: unknown unit"},
      {"15m ", "duration: unknown unit"},
      {"0x10", "duration: unknown unit"},
      {"\xef\xbc\x95m", "duration: not a number"},
  };
  for (const Case& c : cases) {
    const Status st = ParseDurationSeconds(c.text).status();
    EXPECT_EQ(st.code(), Err::kInvalidArgument) << c.text;
    EXPECT_STREQ(st.where(), c.where) << c.text;
  }
}

TEST(ConfigDurationTest, RejectsOverflow) {
  const std::string max = std::to_string(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*ParseDurationSeconds(max), std::numeric_limits<int64_t>::max());
  EXPECT_STREQ(ParseDurationSeconds(max + "0").status().where(), "duration: overflow");
  EXPECT_STREQ(ParseDurationSeconds("9223372036854775808").status().where(), "duration: overflow");
  EXPECT_STREQ(ParseDurationSeconds(max + "m").status().where(), "duration: overflow");
  EXPECT_STREQ(ParseDurationSeconds("106751991167301d").status().where(), "duration: overflow");
  EXPECT_EQ(*ParseDurationSeconds("106751991167300d"), int64_t{106751991167300} * 86400);
  EXPECT_STREQ(ParseDurationSeconds(std::string(10000, '9')).status().where(),
               "duration: overflow");
}

TEST(ConfigDurationTest, FormatRoundTrips) {
  EXPECT_EQ(FormatDuration(0), "0");
  EXPECT_EQ(FormatDuration(900), "15m");
  EXPECT_EQ(FormatDuration(90), "90s");
  EXPECT_EQ(FormatDuration(86400), "1d");
  EXPECT_EQ(FormatDuration(7200), "2h");
  for (int64_t s : {1, 59, 60, 61, 3599, 3600, 86399, 86400, 172800, 2592000}) {
    EXPECT_EQ(*ParseDurationSeconds(FormatDuration(s)), s);
  }
}

}  // namespace
}  // namespace keycell::broker

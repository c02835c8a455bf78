#include "broker/cli/expiry.h"

#include <gtest/gtest.h>

namespace keycell::cli {
namespace {

constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kDay = 86400;

int64_t Parse(std::string_view text) {
  auto r = ParseExpiry(text, kNow);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().where();
  return r.ok() ? *r : -1;
}

std::string Error(std::string_view text) {
  auto r = ParseExpiry(text, kNow);
  EXPECT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), Err::kInvalidArgument);
  return r.ok() ? "" : r.status().where();
}

TEST(ExpiryTest, DaysFromCivilMatchesKnownDates) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(2026, 1, 1) * kDay, kNow);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
}

TEST(ExpiryTest, DatesAreMidnightUtc) {
  EXPECT_EQ(Parse("2026-12-31"), kNow + 364 * kDay);
  EXPECT_EQ(Parse("2028-02-29"), DaysFromCivil(2028, 2, 29) * kDay);  // leap year
  EXPECT_EQ(Parse("2099-12-31"), 4102358400);
}

TEST(ExpiryTest, DateTimesWithZones) {
  EXPECT_EQ(Parse("2026-12-31T00:00:00Z"), kNow + 364 * kDay);
  EXPECT_EQ(Parse("2026-12-31t08:30:15z"), kNow + 364 * kDay + 8 * 3600 + 30 * 60 + 15);
  EXPECT_EQ(Parse("2026-12-31 08:30:00+02:00"), kNow + 364 * kDay + 6 * 3600 + 30 * 60);
  EXPECT_EQ(Parse("2026-12-31T08:30:00-01:30"), kNow + 364 * kDay + 10 * 3600);
  EXPECT_EQ(Parse("2026-12-31T08:30:00.123456Z"), kNow + 364 * kDay + 8 * 3600 + 30 * 60);
  EXPECT_EQ(Parse("2026-06-30T23:59:60Z"),
            DaysFromCivil(2026, 6, 30) * kDay + 86399);  // leap second
}

TEST(ExpiryTest, DurationsFromNow) {
  EXPECT_EQ(Parse("90d"), kNow + 90 * kDay);
  EXPECT_EQ(Parse("12h"), kNow + 12 * 3600);
  EXPECT_EQ(Parse("30m"), kNow + 1800);
  EXPECT_EQ(Parse("45s"), kNow + 45);
  EXPECT_EQ(Parse("2w"), kNow + 14 * kDay);
  EXPECT_EQ(Parse("1y"), kNow + 365 * kDay);
}

TEST(ExpiryTest, RefusesWhatItCannotReadUnambiguously) {
  EXPECT_NE(Error("").find("empty"), std::string::npos);
  EXPECT_NE(Error("soon").find("not a date or a duration"), std::string::npos);
  EXPECT_NE(Error("2026-13-01").find("month"), std::string::npos);
  EXPECT_NE(Error("2026-02-29").find("day"), std::string::npos);  // not a leap year
  EXPECT_NE(Error("2026-04-31").find("day"), std::string::npos);
  EXPECT_NE(Error("2026-12-31T08:30:00").find("zone"), std::string::npos);
  EXPECT_NE(Error("2026-12-31T24:00:00Z").find("out of range"), std::string::npos);
  EXPECT_NE(Error("2026-12-31T08:30Z").find("HH:MM:SS"), std::string::npos);
  EXPECT_NE(Error("2026-12-31X08:30:00Z").find("joined by T"), std::string::npos);
  EXPECT_NE(Error("2026-12-31T08:30:00.Z").find("fraction"), std::string::npos);
  EXPECT_NE(Error("2026-12-31T08:30:00+2:00").find("zone"), std::string::npos);
  EXPECT_NE(Error("26-12-31").find("not a date"), std::string::npos);
  EXPECT_NE(Error("-5d").find("whole number"), std::string::npos);
  EXPECT_NE(Error("1.5d").find("whole number"), std::string::npos);
  EXPECT_NE(Error("d").find("whole number"), std::string::npos);
  EXPECT_NE(Error("90 d").find("whole number"), std::string::npos);
  EXPECT_NE(Error("90D").find("not a date or a duration"), std::string::npos);
  EXPECT_NE(Error("0d").find("in the past"), std::string::npos);
  EXPECT_NE(Error("2025-12-31").find("in the past"), std::string::npos);
  EXPECT_NE(Error("2026-01-01T00:00:00Z").find("in the past"), std::string::npos);  // == now
  EXPECT_NE(Error("999999999999d").find("too far"), std::string::npos);
  EXPECT_NE(Error("9999-12-31").find("too far"), std::string::npos);
}

}  // namespace
}  // namespace keycell::cli

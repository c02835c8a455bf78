// RFC 3339 date-times (vault_secret's expiresAt) to and from Unix seconds.

#include "broker/daemon/rfc3339.h"

#include <time.h>

namespace keycell::broker::daemon {

namespace {

int Digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

// "2026-01-31T12:00:00Z", "...T12:00:00.5+02:00" → Unix seconds (fractions dropped).
std::optional<int64_t> ParseRfc3339(std::string_view s) {
  const int year = Digits(s, 0, 4), month = Digits(s, 5, 2), day = Digits(s, 8, 2);
  const int hour = Digits(s, 11, 2), minute = Digits(s, 14, 2), second = Digits(s, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60 || hour < 0 || minute < 0 || second < 0)
    return std::nullopt;
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    ++at;
    const size_t digits = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == digits) return std::nullopt;
  }
  int64_t offset = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    const int oh = Digits(s, at + 1, 2), om = Digits(s, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || at + 3 >= s.size() || s[at + 3] != ':')
      return std::nullopt;
    offset = (s[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second == 60 ? 59 : second;
  const time_t t = timegm(&tm);
  // timegm normalises 31 February into March: a date that moved was not a date.
  struct tm back {};
  if (gmtime_r(&t, &back) == nullptr || back.tm_mday != day || back.tm_mon != month - 1)
    return std::nullopt;
  return static_cast<int64_t>(t) - offset;
}

std::string FormatRfc3339(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  char buf[32] = "";
  if (gmtime_r(&tt, &tm) != nullptr) strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace keycell::broker::daemon

#include "broker/cli/expiry.h"

#include <limits>

namespace keycell::cli {
namespace {

constexpr int64_t kDay = 24 * 3600;
// Beyond this an expiry is a typo, not a plan (and keeps every product in int64).
constexpr int64_t kMaxYears = 1000;

Status Invalid(const char* where) { return Status(Err::kInvalidArgument, where); }

bool Digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool LeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && LeapYear(y) ? 29 : kDays[m - 1];
}

// "YYYY-MM-DD" at the start of `s`, as days since the epoch.
Result<int64_t> ParseDate(std::string_view s) {
  int64_t y, m, d;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &m) || s[7] != '-' ||
      !Digits(s, 8, 2, &d))
    return Invalid(
        "expiry: not a date or a duration (use 2026-12-31, 2026-12-31T00:00:00Z or 90d)");
  if (m < 1 || m > 12) return Invalid("expiry: month out of range");
  if (d < 1 || d > DaysInMonth(y, static_cast<unsigned>(m)))
    return Invalid("expiry: day out of range");
  return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// "HH:MM:SS[.frac](Z|±HH:MM)": seconds since midnight, minus the offset.
Result<int64_t> ParseTime(std::string_view s) {
  int64_t h, mi, sec;
  if (!Digits(s, 0, 2, &h) || s.size() < 8 || s[2] != ':' || !Digits(s, 3, 2, &mi) || s[5] != ':' ||
      !Digits(s, 6, 2, &sec))
    return Invalid("expiry: bad time of day (use HH:MM:SS)");
  // 60 is a leap second (RFC 3339 §5.6); unix time cannot name it, so it folds onto :59.
  if (h > 23 || mi > 59 || sec > 60) return Invalid("expiry: time of day out of range");
  size_t pos = 8;
  if (pos < s.size() && s[pos] == '.') {
    const size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return Invalid("expiry: empty fraction of a second");
  }
  const int64_t local = h * 3600 + mi * 60 + (sec == 60 ? 59 : sec);
  const std::string_view zone = s.substr(pos);
  if (zone == "Z" || zone == "z") return local;
  int64_t oh, om;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || !Digits(zone, 1, 2, &oh) ||
      zone[3] != ':' || !Digits(zone, 4, 2, &om))
    return Invalid("expiry: a date-time needs a zone: Z or +HH:MM");
  if (oh > 23 || om > 59) return Invalid("expiry: zone offset out of range");
  const int64_t offset = oh * 3600 + om * 60;
  return zone[0] == '+' ? local - offset : local + offset;
}

Result<int64_t> ParseDuration(std::string_view s) {
  int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = kDay;
      break;
    case 'w':
      unit = 7 * kDay;
      break;
    case 'y':
      unit = 365 * kDay;
      break;
    default:
      return Invalid(
          "expiry: not a date or a duration (use 2026-12-31, 2026-12-31T00:00:00Z or 90d)");
  }
  const std::string_view digits = s.substr(0, s.size() - 1);
  int64_t n = 0;
  if (digits.empty() || digits.size() > 12 || !Digits(digits, 0, digits.size(), &n))
    return Invalid("expiry: a duration is a whole number and a unit: 90d, 12h, 2w, 1y");
  if (n == 0) return Invalid("expiry: in the past");
  if (n > kMaxYears * 365 * kDay / unit) return Invalid("expiry: too far in the future");
  return n * unit;
}

}  // namespace

// Howard Hinnant's days_from_civil (public domain), exact for the proleptic calendar.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

Result<int64_t> ParseExpiry(std::string_view text, int64_t now_unix) {
  if (text.empty()) return Invalid("expiry: empty");
  int64_t at = 0;
  if (text.size() >= 10 && text[4] == '-') {
    KC_ASSIGN_OR_RETURN(const int64_t days, ParseDate(text));
    at = days * kDay;
    if (text.size() > 10) {
      const char sep = text[10];
      if (sep != 'T' && sep != 't' && sep != ' ')
        return Invalid("expiry: date and time are joined by T");
      KC_ASSIGN_OR_RETURN(const int64_t secs, ParseTime(text.substr(11)));
      at += secs;
    }
    if (at > now_unix + kMaxYears * 365 * kDay) return Invalid("expiry: too far in the future");
  } else {
    KC_ASSIGN_OR_RETURN(const int64_t secs, ParseDuration(text));
    at = now_unix + secs;
  }
  if (at <= now_unix) return Invalid("expiry: in the past");
  return at;
}

}  // namespace keycell::cli

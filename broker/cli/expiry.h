#pragma once
// `--expires` for `keycell add`: when a credential stops being usable. Pure functions,
// unit-tested (tests/broker/cli/expiry_test.cc).

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace keycell::cli {

// Parses an expiry and returns it as unix seconds (UTC). Accepted forms:
//   2026-12-31                  RFC 3339 full-date: the start of that day, 00:00:00 UTC
//   2026-12-31T08:30:00Z        RFC 3339 date-time, 'T'/'t'/' ' separator, 'Z'/'z' or a
//   2026-12-31T08:30:00+02:00   ±HH:MM offset; fractional seconds are ignored
//   90d  12h  30m  2w  1y       a duration from `now_unix`: s, m, h, d, w (7 days) or
//                               y (365 days); a whole number, no sign, no spaces
// The result must be after `now_unix`: an expiry in the past is refused rather than
// sealed into a credential that could never be used.
// Errors: kInvalidArgument, `where` says what is wrong ("expiry: not a date or a
// duration", "expiry: month out of range", "expiry: in the past", ...). Never blocks.
Result<int64_t> ParseExpiry(std::string_view text, int64_t now_unix);

// Days since 1970-01-01 of a proleptic Gregorian date (negative before 1970); the
// inverse of what gmtime does for the date part. Exposed for the tests.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

}  // namespace keycell::cli

#pragma once
// Durations in configuration values: a non-negative whole number with an optional unit.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::broker {

// "900", "900s", "15m", "2h", "1d" -> seconds. Exactly one unit from s/m/h/d (lower
// case: "M" could be read as months), no sign, no spaces, no fractions, no compound
// forms ("1h30m"). "0" is zero. Errors (Err::kInvalidArgument, `where` says which):
// "duration: empty", "duration: not a number", "duration: unknown unit",
// "duration: overflow" (the result would not fit int64_t). Pure; never blocks.
Result<int64_t> ParseDurationSeconds(std::string_view text);

// The shortest exact text ParseDurationSeconds reads back: 900 -> "15m", 90 -> "90s",
// 0 -> "0". Negative input (never produced by the parser) prints as plain seconds.
std::string FormatDuration(int64_t seconds);

}  // namespace keycell::broker

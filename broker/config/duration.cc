#include "broker/config/duration.h"

#include <iterator>
#include <limits>

namespace keycell::broker {
namespace {

struct Unit {
  char suffix;
  int64_t seconds;
};
constexpr Unit kUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};

}  // namespace

Result<int64_t> ParseDurationSeconds(std::string_view text) {
  if (text.empty()) return Status(Err::kInvalidArgument, "duration: empty");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const int digit = text[i] - '0';
    if (value > (kMax - digit) / 10) return Status(Err::kInvalidArgument, "duration: overflow");
    value = value * 10 + digit;
  }
  if (i == 0) return Status(Err::kInvalidArgument, "duration: not a number");
  if (i == text.size()) return value;  // plain seconds
  if (i + 1 != text.size()) return Status(Err::kInvalidArgument, "duration: unknown unit");
  for (const Unit& unit : kUnits) {
    if (text[i] != unit.suffix) continue;
    if (value > kMax / unit.seconds) return Status(Err::kInvalidArgument, "duration: overflow");
    return value * unit.seconds;
  }
  return Status(Err::kInvalidArgument, "duration: unknown unit");
}

std::string FormatDuration(int64_t seconds) {
  if (seconds <= 0) return std::to_string(seconds);
  // Largest unit first, so 86400 prints as "1d" rather than "24h".
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (seconds % it->seconds == 0) return std::to_string(seconds / it->seconds) + it->suffix;
  }
  return std::to_string(seconds) + "s";  // unreachable: 's' divides everything
}

}  // namespace keycell::broker

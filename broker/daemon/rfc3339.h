#pragma once
// RFC 3339 date-times, as MCP clients send expiry times (vault_secret's expiresAt).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keycell::broker::daemon {

// "2026-01-31T12:00:00Z", "2026-01-31T12:00:00.5+02:00" → Unix seconds (fractions
// dropped, a leap second read as :59). nullopt for anything else: another layout, a
// missing offset, an impossible date (31 February), a year before 1970.
std::optional<int64_t> ParseRfc3339(std::string_view s);

// Unix seconds → "2026-01-31T12:00:00Z".
std::string FormatRfc3339(int64_t t);

}  // namespace keycell::broker::daemon

#pragma once
// The daemon's HTTP listen address (config key http.listen). Literal addresses only: a
// host name would need a DNS lookup at bind time, and what it resolves to could change
// between the loopback check and the bind.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::broker {

struct ListenAddress {
  std::string host;       // numeric, without brackets: "127.0.0.1", "::1"
  uint16_t port = 0;      // 0 = the kernel picks a free port (tests)
  bool loopback = false;  // 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104
};

// Parses "A.B.C.D:PORT", "[IPV6]:PORT" or "localhost:PORT" (taken as 127.0.0.1, never
// resolved). PORT is 0..65535 in decimal, without sign or leading '+'. Errors
// (Err::kInvalidArgument): "listen: missing port", "listen: bad port",
// "listen: host must be an IP literal or localhost". Pure; never blocks.
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace keycell::broker

#pragma once
// The policy sealed with every secret, and the checks the enclave makes against it.
// The enclave's verdict is authoritative; the broker may check early, never instead.

#include <string.h>

#include <cstdint>
#include <string_view>

#include "common/ipc/enclave.pb.h"
#include "common/result.h"

namespace keycell::enclave {

using Policy = keycell_ipc_Policy;

// The numeric value of an enum field decoded from the wire. nanopb stores whatever
// number arrived, and loading an out-of-range value through the enum type is undefined
// behaviour, so wire enums are only ever read through this.
template <class E>
int32_t WireEnum(const E& e) {
  static_assert(sizeof(E) == sizeof(int32_t));
  int32_t v;
  memcpy(&v, &e, sizeof(v));
  return v;
}

// Syntax checks for a policy about to be sealed: lower-case DNS names or "*.suffix",
// ports ≤ 65535, a complete injection recipe with header-safe names, agent ids of
// [A-Za-z0-9._-], insecure hosts that are also allowed hosts, expiry ≥ 0.
// Errors: kInvalidArgument with `where` naming the offending field.
Status ValidatePolicy(const Policy& p);

// Whether `host` (lower-case DNS name) on `port` may receive the credential. Port 0
// in a rule means the scheme's default (443, or 80 for an insecure-allowed host).
bool HostAllowed(const Policy& p, std::string_view host, uint32_t port, bool https);

// Whether plain http:// to `host` is allowed (exact match only).
bool InsecureHttpAllowed(const Policy& p, std::string_view host);

// Whether `agent_id` may reveal the plaintext. The local owner uses an empty id.
bool RevealAllowed(const Policy& p, std::string_view agent_id);

// Whether the record has expired at unix time `now` (expires_at 0 = never).
bool Expired(const Policy& p, int64_t now);

// True if `next` permits anything `prev` did not: a host not covered before, an
// insecure host, reveal switched on or opened to more agents, env export switched on,
// a later or removed expiry, or a different injection recipe. Widening needs the PIN.
bool IsWidening(const Policy& prev, const Policy& next);

// Syntax of an environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool ValidEnvName(std::string_view name);

}  // namespace keycell::enclave

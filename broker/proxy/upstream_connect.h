#pragma once
// The broker's half of reaching an upstream (docs/broker-proxy.md, docs/proxy.md "Who
// does what"): resolve the name once, refuse addresses the caller has no business
// reaching through keycell (SSRF: this machine, its LAN, the cloud metadata service),
// and connect a TCP socket to an address that passed the check. The enclave never
// resolves or connects; it is handed this fd and verifies TLS against the *policy's*
// host name, so this check protects the network around keycell, not the credential.
//
// Why one lookup: resolving again at connect time would let a name with a short TTL
// answer a public address to the check and 127.0.0.1 to the connect (DNS rebinding).
// Here the sockaddr that was classified is the one passed to connect(2).

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::proxy {

// Refusals. Err::kPolicyDenied (403), detail = the AddressClass of the first candidate
// refused:
inline constexpr char kWhereAddressNotAllowed[] =
    "proxy: upstream address not allowed (private/loopback/link-local/metadata)";
// Err::kUnavailable (502), detail = the getaddrinfo EAI_* code:
inline constexpr char kWhereDnsFailed[] = "proxy: DNS lookup failed";
// Err::kTimeout (504):
inline constexpr char kWhereConnectTimeout[] = "proxy: connect timed out";
// Err::kUpstreamIo (502), detail = errno:
inline constexpr char kWhereConnectRefused[] = "proxy: connection refused";
inline constexpr char kWhereConnectFailed[] = "proxy: upstream connect failed";
// Err::kUpstreamIo (503: this process is out of sockets/fds), detail = errno:
inline constexpr char kWhereSocket[] = "proxy: cannot create a socket";
// Err::kInvalidArgument (400): a caller bug or unchecked input, never sent to DNS.
inline constexpr char kWhereBadUpstreamHost[] =
    "proxy: upstream host is empty or has a byte outside visible ASCII";
inline constexpr char kWhereBadUpstreamPort[] = "proxy: upstream port is 0";

// What an address is, for the SSRF check. The table in upstream_connect.cc lists every
// range with its reason; the first (most specific) match wins.
enum class AddressClass : uint8_t {
  kPublic,       // global unicast: always allowed
  kPrivate,      // 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48
  kLoopback,     // 127/8, ::1
  kLinkLocal,    // 169.254/16, fe80::/10
  kCgnat,        // 100.64/10 (RFC 6598 shared address space)
  kReserved,     // documentation, benchmarking, 240/4, IETF assignments, non-2000::/3 IPv6
  kMetadata,     // cloud instance metadata: 169.254.169.254, 169.254.170.2,
                 // 100.100.100.200, fd00:ec2::254
  kUnspecified,  // 0/8, ::
  kMulticast,    // 224/4, ff00::/8
  kBroadcast,    // 255.255.255.255
  kUnsupported,  // null, or a family other than AF_INET / AF_INET6
};

// "public", "private", ... for logs and tests.
const char* AddressClassName(AddressClass c);

// Classifies `sa` (a sockaddr_in for AF_INET, a sockaddr_in6 for AF_INET6). IPv6 forms
// that carry an IPv4 address get the class of that address: IPv4-mapped ::ffff:a.b.c.d
// (what a dual-stack socket really connects to), IPv4-translated ::ffff:0:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d and 6to4 2002:AABB:CCDD::/48.
// Pure; never blocks.
AddressClass ClassifyAddress(const sockaddr* sa);

// Which classes a connect may reach. The default (PublicOnly) reaches kPublic only.
struct AddressPolicy {
  // kPrivate, kLoopback, kLinkLocal, kCgnat, kReserved. keycelld sets it when the
  // credential's policy names this host explicitly (a service on the LAN, a loopback
  // test upstream), never for a wildcard rule.
  bool allow_internal = false;
  // kMetadata. Separate on purpose: allowing a loopback test server must not open the
  // endpoint that hands out the machine's cloud credentials.
  bool allow_metadata = false;

  static constexpr AddressPolicy PublicOnly() { return AddressPolicy{}; }
  static constexpr AddressPolicy Internal() { return AddressPolicy{.allow_internal = true}; }

  // kUnspecified, kMulticast, kBroadcast and kUnsupported are never allowed: they are
  // not unicast destinations (and Linux connects 0.0.0.0 to the local host).
  bool Allows(AddressClass c) const;
};

using Deadline = std::chrono::steady_clock::time_point;

// Resolves `host` with one getaddrinfo(AF_UNSPEC, SOCK_STREAM) call (AI_NUMERICHOST
// for an IP literal, so a literal never reaches DNS), then for each candidate in the
// resolver's order: classify it; skip it unless `policy` allows it; else connect a
// non-blocking SOCK_CLOEXEC socket with TCP_NODELAY to *that* sockaddr, waiting with
// poll(2) until `deadline`. On a refused or failed connect it tries the next allowed
// candidate; a timeout ends the attempt (the deadline covers all candidates).
//
// `host` is a DNS name, a dotted quad or an IPv6 literal without brackets (TargetUrl's
// host). Returns the connected socket, still non-blocking (the enclave's TLS client
// takes either). Blocks: in getaddrinfo (bounded only by the resolver's own timeouts;
// the deadline is checked again after it) and up to `deadline` in connect.
//
// Errors: kWhereBadUpstreamHost / kWhereBadUpstreamPort (kInvalidArgument),
// kWhereDnsFailed (kUnavailable), kWhereAddressNotAllowed (kPolicyDenied: no candidate
// was allowed), kWhereConnectTimeout (kTimeout), kWhereConnectRefused /
// kWhereConnectFailed (kUpstreamIo: the last allowed candidate's error), kWhereSocket.
Result<UniqueFd> ResolveAndConnect(std::string_view host, uint16_t port, AddressPolicy policy,
                                   Deadline deadline);

}  // namespace keycell::broker::proxy

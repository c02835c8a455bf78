#pragma once
// Where an injected request may go (docs/enclave-proxy.md): the parsed target of a
// proxied call, and the authoritative policy checks the enclave makes on it after
// unsealing and before the secret is used (DESIGN.md §4 step 3). The broker may make
// the same checks early for a better error; only the enclave's verdict counts.
//
// A Target can only be made by FromUrl / FromParts, so every Target in the process has
// passed the syntax checks below; BuildRequestHead (request_head.h) relies on that.
//
// Nothing here touches a secret, does I/O or blocks.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "enclave/policy.h"

namespace keycell::enclave::proxy {

// Refusals. `where` is always one of these literals (never input bytes), so callers and
// tests can tell the reasons apart.
// Syntax (Err::kInvalidArgument):
inline constexpr char kWhereBadScheme[] = "proxy: scheme must be https or http";
inline constexpr char kWhereUserinfo[] = "proxy: userinfo in the target URL";
inline constexpr char kWhereHostControl[] = "proxy: host has CR, LF, NUL or a control character";
inline constexpr char kWhereBadHost[] = "proxy: host is not a DNS name";
inline constexpr char kWhereIpv6[] = "proxy: IPv6 address targets are not supported";
inline constexpr char kWhereBadPort[] = "proxy: bad port";
inline constexpr char kWherePathNotOrigin[] = "proxy: path must start with '/'";
inline constexpr char kWherePathControl[] =
    "proxy: path has CR, LF, NUL, space or a control character";
inline constexpr char kWherePathNonAscii[] = "proxy: path has a non-ASCII byte (percent-encode it)";
inline constexpr char kWherePathFragment[] = "proxy: path has a fragment ('#')";
inline constexpr char kWherePathBadEscape[] = "proxy: path has a malformed percent-escape";
// Policy (Err::kPolicyDenied):
inline constexpr char kWhereIpNeedsTls[] = "proxy: IP address targets need TLS name verification";
inline constexpr char kWhereHostNotAllowed[] = "proxy: host not allowed by the credential's policy";
inline constexpr char kWhereHttpNotAllowed[] = "proxy: plain http not allowed for this host";
inline constexpr char kWherePortNotAllowed[] =
    "proxy: port not allowed for this host by the credential's policy";
inline constexpr char kWhereNoRecipe[] = "proxy: the credential's policy has no injection recipe";
inline constexpr char kWhereUnknownRecipe[] = "proxy: unknown injection recipe";
inline constexpr char kWhereExpired[] = "proxy: the credential has expired";

// Longest host name (RFC 1035 presentation form without the trailing dot).
inline constexpr size_t kMaxHostBytes = 253;

enum class Scheme { kHttps, kHttp };

class Target {
 public:
  // Parses an absolute URL "scheme://host[:port][/path][?query]":
  //   - scheme `https` or `http`, any case;
  //   - no userinfo ("user@"); a '[' (bracketed IPv6) or more than one ':' is refused
  //     with kWhereIpv6: no policy can name an IPv6 host (ValidatePolicy);
  //   - host: LDH labels of 1..63 bytes, 1..253 bytes in all, no trailing dot, returned
  //     lower-cased. A final label of digits or 0x-hex makes it an IPv4 literal in one
  //     of the forms inet_aton accepts ("127.0.0.1", "127.1", "0x7f.1"): syntax-valid
  //     here, refused by CheckTarget unless plain http to an insecure-allowed host;
  //   - port: 1..65535, decimal, default 443 / 80;
  //   - path: see FromParts; an empty path becomes "/" (so "https://h?q" is "/?q").
  // Errors: kInvalidArgument with one of the syntax kWhere* literals above.
  static Result<Target> FromUrl(std::string_view url);

  // The same checks on parts. `port` 0 = the scheme's default. `path` is origin-form:
  // '/' path ['?' query], visible ASCII only (no CR/LF/NUL/space/control/DEL, no bytes
  // ≥ 0x80), no '#', every '%' followed by two hex digits. Percent-escapes are kept
  // exactly as given (no decoding or normalising: the upstream sees the caller's bytes).
  // Errors: as FromUrl.
  static Result<Target> FromParts(Scheme scheme, std::string_view host, uint32_t port,
                                  std::string_view path);

  Scheme scheme() const { return scheme_; }
  bool https() const { return scheme_ == Scheme::kHttps; }
  // Lower-case DNS name (or IPv4 literal when ip_literal()).
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  // Whether port() is the scheme's default (then Host carries no port).
  bool default_port() const { return port_ == (https() ? 443 : 80); }
  bool ip_literal() const { return ip_literal_; }
  // Origin-form request target: "/path" or "/path?query".
  const std::string& path() const { return path_; }
  // The path before the first '?', and whether there is a '?' (the query may be empty).
  std::string_view path_without_query() const;
  bool has_query() const;
  // The bytes after the first '?' (empty if none).
  std::string_view query() const;

 private:
  Target() = default;

  Scheme scheme_ = Scheme::kHttps;
  std::string host_;
  uint16_t port_ = 443;
  bool ip_literal_ = false;
  std::string path_;
};

// The authoritative destination check, in this order (first failure wins):
//   1. an IP literal is refused (kWhereIpNeedsTls) unless the target is plain http
//      and the policy names that exact host insecure-allowed: mbedTLS 2.28 verifies
//      only DNS names, so an IP over https could never be verified;
//   2. the host must be covered by an allowed_hosts rule on some port
//      (kWhereHostNotAllowed);
//   3. plain http only for a host in insecure_http_hosts (kWhereHttpNotAllowed);
//   4. HostAllowed(policy, host, port, https): the port must be the rule's
//      (kWherePortNotAllowed).
// Errors: kPolicyDenied with the literal named above.
Status CheckTarget(const Policy& policy, const Target& target);

// Whether the credential may be injected at all at unix time `now`: it needs an
// injection recipe other than INJECT_NONE (kWhereNoRecipe), a kind this build knows
// (kWhereUnknownRecipe; read with WireEnum), and must not have expired (kWhereExpired).
// Errors: kPolicyDenied.
Status CheckInjectable(const Policy& policy, int64_t now);

}  // namespace keycell::enclave::proxy

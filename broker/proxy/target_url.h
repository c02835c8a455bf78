#pragma once
// The upstream URL of a proxied call, as the broker reads it from `X-Target-Url` (and
// from a route's `upstream` in the config). Strict on purpose: the URL is untrusted
// input, and what is accepted must mean exactly one thing to us, to getaddrinfo, to the
// enclave's own parser (enclave/proxy/target.h) and to the upstream.
//
// Accepted:   scheme "://" host [":" port] [path] ["?" query]
//   scheme    "https" or "http" (ASCII case-insensitive)
//   host      a DNS name: LDH labels of 1..63 bytes, at most 253 bytes in all, no empty
//             label, no trailing dot, lower-cased; or a dotted-quad IPv4 literal (four
//             decimal parts 0..255, no leading zeros); or a bracketed IPv6 literal
//             ("[2001:db8::1]", no zone id), stored without brackets in the form
//             inet_ntop writes. A name whose last label is all digits or "0x"-hex is
//             taken as an IPv4 literal and must then be a dotted quad: "127.1",
//             "0x7f.0.0.1" and "2130706433" (what inet_aton would also accept) are refused.
//   port      1..65535, decimal, 1..5 digits, no leading zero; default 443 / 80
//   path      origin-form: starts with "/" (an empty path becomes "/", so "https://h?q"
//             is "/?q"); visible ASCII only; every "%" followed by two hex digits.
//             Escapes are kept as given: no decoding, no case change, no dot-segment
//             removal (the upstream sees the caller's bytes; the credential is bound to
//             the host, not to a path).
//   query     the same characters as the path, after the first "?"
// Refused, each with its own `where` (Err::kInvalidArgument; the daemon answers 400):
// longer than kMaxTargetUrlBytes; CR, LF or NUL anywhere; a space, TAB or other control
// byte (or DEL) anywhere; a byte >= 0x80 anywhere; other schemes; userinfo ("user@");
// a fragment ("#"); an empty or malformed host; a bad port. No message ever contains
// input bytes.
//
// Thread-safety: pure functions; nothing blocks.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::broker::proxy {

inline constexpr size_t kMaxTargetUrlBytes = 8 * 1024;
inline constexpr size_t kMaxHostBytes = 253;  // RFC 1035 presentation form, no trailing dot

// Refusals (Err::kInvalidArgument).
inline constexpr char kWhereUrlEmpty[] = "proxy: X-Target-Url is empty";
inline constexpr char kWhereUrlTooLong[] = "proxy: X-Target-Url is too long";
inline constexpr char kWhereUrlCrLfNul[] = "proxy: X-Target-Url has CR, LF or NUL";
inline constexpr char kWhereUrlControl[] = "proxy: X-Target-Url has a space or a control character";
inline constexpr char kWhereUrlNonAscii[] =
    "proxy: X-Target-Url has a non-ASCII byte (percent-encode it)";
inline constexpr char kWhereUrlScheme[] = "proxy: X-Target-Url scheme must be https or http";
inline constexpr char kWhereUrlUserinfo[] = "proxy: X-Target-Url has userinfo (user@host)";
inline constexpr char kWhereUrlFragment[] = "proxy: X-Target-Url has a fragment ('#')";
inline constexpr char kWhereUrlHost[] = "proxy: X-Target-Url host is not a DNS name or IP address";
inline constexpr char kWhereUrlNumericHost[] =
    "proxy: X-Target-Url host is a non-canonical IPv4 address (use a.b.c.d)";
inline constexpr char kWhereUrlIpv6[] = "proxy: X-Target-Url has a malformed IPv6 address";
inline constexpr char kWhereUrlPort[] = "proxy: X-Target-Url has a bad port";
inline constexpr char kWhereUrlEscape[] = "proxy: X-Target-Url has a malformed percent-escape";

enum class Scheme : uint8_t { kHttps, kHttp };
enum class HostKind : uint8_t { kName, kIpv4, kIpv6 };

struct TargetUrl {
  Scheme scheme = Scheme::kHttps;
  HostKind host_kind = HostKind::kName;
  std::string host;  // lower-case name, dotted quad, or IPv6 without brackets
  uint16_t port = 443;
  bool explicit_port = false;  // ":port" was written (even if it is the default)
  std::string target;          // origin-form request-target: path ["?" query], at least "/"

  bool https() const { return scheme == Scheme::kHttps; }
  // The path before the first "?", and the bytes after it (empty if none).
  std::string_view path() const;
  std::string_view query() const;
  bool has_query() const;
};

// Parses `text` (rules above). Errors: kInvalidArgument with one of the kWhereUrl*
// literals; detail = the byte offset of the problem where there is one.
Result<TargetUrl> ParseTargetUrl(std::string_view text);

// The URL in canonical form: lower-case scheme and host, IPv6 in brackets, ":port" only
// when explicit. ParseTargetUrl(FormatTargetUrl(u)) gives u back.
std::string FormatTargetUrl(const TargetUrl& url);

// The Host header value: host (IPv6 in brackets) plus ":port" unless it is the
// scheme's default.
std::string HostHeaderValue(const TargetUrl& url);

// Whether the host is this machine's loopback by its spelling: "localhost",
// 127.0.0.0/8 or ::1. (Spelling only; ResolveAndConnect checks what a name resolves to.)
bool IsLoopbackSpelling(const TargetUrl& url);

}  // namespace keycell::broker::proxy

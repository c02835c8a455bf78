#pragma once
// The webhook URL parser and the policy on where deliveries may go. The parser is strict
// on purpose: a URL is untrusted input (the CLI, the REST API), and what it accepts must
// mean exactly one thing to us, to getaddrinfo and to the receiver. Its fuzz harness is
// fuzz/webhook_url_fuzzer.cc.
//
// Accepted:   scheme "://" host [":" port] [path] ["?" query]
//   scheme    "https" or "http" (ASCII case-insensitive; stored lower-case)
//   host      a DNS name (LDH labels of 1..63, at most 253 bytes, lower-cased, no trailing
//             dot, last label not all digits), a dotted-quad IPv4 address (four decimal
//             parts 0..255, no leading zeros), or a bracketed IPv6 address (no zone id)
//   port      1..65535, decimal, at most 5 digits; default 443 / 80
//   path      starts with "/"; RFC 3986 pchar, "/" and "%XX" escapes only
//   query     the same characters plus "?"
// Refused (Err::kInvalidArgument, `where` says which rule): anything longer than
// kMaxUrlBytes, any byte outside printable ASCII (so CR, LF, NUL, TAB, space and UTF-8
// are refused anywhere), other schemes, user info ("user@host"), fragments ("#"), an
// empty host, "127.1" / "0x7f.0.0.1" style numeric hosts, and bad ports.
//
// CheckUrlPolicy adds where deliveries may go (Err::kPolicyDenied):
//   - http:// only to a loopback host: 127.0.0.0/8, ::1 or "localhost";
//   - https:// only to a host *name*: mbedTLS 2.28 cannot match a certificate to an IP
//     address, so an IP host could never verify.
//
// Thread-safety: pure functions. Nothing blocks.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::broker::webhooks {

enum class UrlScheme : uint8_t { kHttp, kHttps };
enum class HostKind : uint8_t { kName, kIpv4, kIpv6 };

struct WebhookUrl {
  UrlScheme scheme = UrlScheme::kHttps;
  HostKind host_kind = HostKind::kName;
  std::string host;     // lower-case; IPv6 without brackets
  uint16_t port = 443;  // explicit, or the scheme's default
  bool explicit_port = false;
  std::string target;  // request-target: path and query, at least "/"
};

// Parses `text` (see the rules above). Errors: kInvalidArgument with `where` naming the
// rule, detail = the byte offset of the problem where there is one.
Result<WebhookUrl> ParseWebhookUrl(std::string_view text);

// The policy above. Errors: kPolicyDenied.
Status CheckUrlPolicy(const WebhookUrl& url);

// ParseWebhookUrl + CheckUrlPolicy: what AddWebhook accepts.
Result<WebhookUrl> ParseAndCheckWebhookUrl(std::string_view text);

// Whether the host is loopback by its spelling: "localhost", 127.0.0.0/8 or ::1.
bool IsLoopbackHost(const WebhookUrl& url);

// The URL written back in canonical form (lower-case scheme and host, port only if
// explicit). ParseWebhookUrl(FormatWebhookUrl(u)) gives u back.
std::string FormatWebhookUrl(const WebhookUrl& url);

// The Host header value: host (IPv6 in brackets) plus ":port" when explicit.
std::string HostHeader(const WebhookUrl& url);

}  // namespace keycell::broker::webhooks

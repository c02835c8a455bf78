#pragma once
// How the broker reads a proxied call before anything is looked up or connected
// (docs/broker-proxy.md, DESIGN.md §4 step 1): the AgentKeys `/v1/proxy` contract and the
// header filter shared with route mounts (routes.h).
//
//   POST /v1/proxy
//   Authorization: Bearer pxr_...          (or an API key, then X-Credential-Name)
//   X-Credential-Name: openai/prod         (required with an API key; with a pxr_ token
//                                           it must name the token's credential)
//   X-Target-Url: https://api.openai.com/v1/chat/completions
//   X-Target-Method: POST                  (optional; default: this request's method)
//   Content-Type: application/json         (forwarded)
//
// ParseProxyRequest does not authenticate and does not compare X-Credential-Name with
// the token: it only carries the name. The caller (keycelld's proxy handler) requires it
// for API keys and compares it for pxr_ tokens, after authentication.
//
// Every refusal is a Status whose `where` is one of the kWhere* literals here or in
// target_url.h, never header bytes; HttpErrorFor (proxy_errors.h) maps it to an HTTP
// error. Pure functions: no I/O, nothing blocks. The returned ProxyCall owns copies of
// what it needs and may outlive the Request (it is handed to another thread).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/http/request.h"
#include "broker/proxy/target_url.h"
#include "common/result.h"

namespace keycell::broker::proxy {

// Caller header fields forwarded upstream, at most (before filtering, so the filter's
// work is bounded too). The enclave's request builder has the same default cap.
inline constexpr size_t kMaxForwardedHeaders = 100;
// Longest credential name, as broker/store's ValidateName (kMaxNameBytes).
inline constexpr size_t kMaxCredentialNameBytes = 128;

// Refusals, Err::kInvalidArgument (400) unless noted.
inline constexpr char kWhereNoTargetUrl[] = "proxy: X-Target-Url header is required";
inline constexpr char kWhereRepeatedTargetUrl[] = "proxy: repeated X-Target-Url header";
inline constexpr char kWhereRepeatedTargetMethod[] = "proxy: repeated X-Target-Method header";
inline constexpr char kWhereMethodNotAllowed[] =
    "proxy: method must be one of GET HEAD POST PUT PATCH DELETE OPTIONS";
inline constexpr char kWhereRepeatedCredentialName[] = "proxy: repeated X-Credential-Name header";
inline constexpr char kWhereBadCredentialName[] =
    "proxy: X-Credential-Name is empty, too long or has a control character";
inline constexpr char kWhereHeaderName[] = "proxy: a header name is not a token";
inline constexpr char kWhereHeaderValue[] = "proxy: a header value has CR, LF or NUL";
// Err::kTooLarge (431):
inline constexpr char kWhereTooManyHeaders[] = "proxy: too many header fields to forward";

struct ProxyCall {
  // X-Credential-Name as sent (trimmed by the server), or nullopt when absent. Route
  // mounts set the route's credential here.
  std::optional<std::string> credential_name;
  TargetUrl target;
  http::Method method = http::Method::kGet;  // never kOther
  std::vector<http::HeaderField> headers;    // to forward, in order (FilterForwardHeaders)
};

// Reads a `/v1/proxy` request (the rules above and in target_url.h). Errors: the
// kWhere* literals (kInvalidArgument, kTooLarge).
Result<ProxyCall> ParseProxyRequest(const http::Request& req);

// The method of the upstream request: `x_target_method` when present (case-sensitive,
// RFC 9110 §9.1: "post" is refused), else the request's own. Only GET HEAD POST PUT
// PATCH DELETE OPTIONS: no TRACE (it echoes the injected credential back), no CONNECT.
// Errors: kWhereMethodNotAllowed.
Result<http::Method> ResolveMethod(http::Method own,
                                   std::optional<std::string_view> x_target_method);

// Whether a caller header of this name is kept from the upstream, by name alone
// (case-insensitive). The table in proxy_request.cc gives the reason for each:
// hop-by-hop (Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade),
// Host, Content-Length and Expect (the hop to us), the proxy's own credentials
// (Authorization, X-API-Key), and the proxy's own controls (X-Target-*, X-Credential-Name).
bool IsDroppedHeader(std::string_view name);

// The headers to forward: `in` minus IsDroppedHeader names and minus every header that
// a Connection field names (RFC 9110 §7.6.1), in their original order. Also checks each
// kept field (a token name; no CR, LF or NUL in the value): the HTTP server already
// refused those, but the MCP proxy tool builds fields from JSON. Errors:
// kWhereTooManyHeaders (kTooLarge) for more than kMaxForwardedHeaders input fields,
// kWhereHeaderName, kWhereHeaderValue.
Result<std::vector<http::HeaderField>> FilterForwardHeaders(std::span<const http::HeaderField> in);

// A credential name's syntax: 1..kMaxCredentialNameBytes, no byte < 0x20 or DEL.
bool IsValidCredentialName(std::string_view name);

}  // namespace keycell::broker::proxy

#pragma once
// Credential extraction and Host checks for HTTP handlers. Generic on purpose: this
// library never looks a credential up. keycelld passes what PresentedCredential returns
// to IdentityStore::AuthenticateBearer and applies its RateLimiter (docs/identity.md).
// Separate target (kc_broker_http_auth) because it links broker/identity for
// BearerFromAuthorization.

#include <optional>
#include <string_view>

#include "broker/http/request.h"
#include "common/result.h"

namespace keycell::broker::http {

// The credential the client presented, from exactly one of
//   Authorization: Bearer <credential>     (scheme case-insensitive)
//   X-API-Key: <credential>
// and never from the URL: a query string ends up in shell history, proxy logs and
// Referer headers. The view points into `req`.
//
// Returns nullopt when neither header carries a credential (an Authorization header with
// another scheme, such as Basic, carries none; neither does an empty X-API-Key).
// Errors (Err::kInvalidArgument, answer 400 bad_request):
//   "http: repeated Authorization header", "http: repeated X-API-Key header",
//   "http: Authorization and X-API-Key differ" (both present with different values).
Result<std::optional<std::string_view>> PresentedCredential(const Request& req);

// True when a Host header value names this machine's loopback: "localhost",
// "127.0.0.0/8" addresses or "[::1]", each with an optional ":port" (digits only).
// Case-insensitive for "localhost"; no trailing dot, no userinfo, no other names. For
// the MCP endpoint's DNS-rebinding check (a browser page on evil.example resolving to
// 127.0.0.1 still sends "Host: evil.example"). Pure.
bool IsLoopbackHostHeader(std::string_view host);

}  // namespace keycell::broker::http

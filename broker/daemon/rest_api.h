#pragma once
// keycelld's network face, on http.listen (default 127.0.0.1:8787): who is asking
// (Authorization: Bearer / X-API-Key → an agent's proxy token or an API key), the
// per-principal rate limit (429 + Retry-After, and a usage.limit_reached webhook), and
// the REST API (AgentKeys' /api/v1 shape) as thin routes onto the same Vault ops the CLI
// uses, so roles, scopes and audit apply exactly as on the control socket.
// docs/rest-api.md lists the routes. The injecting proxy (/v1/proxy) will sit here too.
//
// Thread-safety: everything it holds is thread-safe; the server calls handlers from one
// thread per connection.

#include <optional>
#include <string_view>

#include "broker/daemon/vault.h"
#include "broker/http/request.h"
#include "broker/http/response.h"
#include "broker/http/router.h"
#include "broker/identity/identity_store.h"
#include "broker/identity/rate_limiter.h"

namespace keycell::broker::daemon {

class RestApi {
 public:
  // All must outlive the RestApi. `requests_per_minute` is the configured default per
  // agent / API key (ratelimit.requests_per_minute).
  RestApi(Vault& vault, identity::IdentityStore& identities, identity::RateLimiter& limiter,
          int64_t requests_per_minute)
      : vault_(vault), identities_(identities), limiter_(limiter), requests_per_minute_(requests_per_minute) {}

  // Adds every /api/v1 route. Errors: the router's (a duplicate pattern).
  Status Register(http::Router& router);

  // Authenticates the request and takes one unit of its rate limit. On refusal the
  // response (400, 401 or 429) is already sent, the refusal audited, and nullopt
  // returned. For every route that needs a principal, /v1/proxy included.
  std::optional<identity::Principal> Admit(http::Request& req, http::ResponseWriter& res);

  // Runs `op` for `who` and answers: `status` with {`envelope`: result} (or the bare
  // result when `envelope` is empty), or the op's error as {error, code, status}.
  void RunOp(const identity::Principal& who, std::string_view op, const cJSON* args, http::ResponseWriter& res,
             int status = 200, const char* envelope = "");

 private:
  Vault& vault_;
  identity::IdentityStore& identities_;
  identity::RateLimiter& limiter_;
  const int64_t requests_per_minute_;
};

// The HTTP status and code of a control-protocol error code ("forbidden" → 403, ...).
int HttpStatusOf(std::string_view control_code);

}  // namespace keycell::broker::daemon

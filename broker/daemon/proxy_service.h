#pragma once
// The injecting proxy's broker half (docs/proxy.md, DESIGN.md §4): `/v1/proxy` (the
// AgentKeys contract) and route mounts (`/r/NAME/...`) on keycelld's HTTP listener, and
// the same call, buffered, for the CLI (`keycell proxy`) and the MCP `proxy_request`
// tool. For each call, in order:
//
//   authenticate + rate limit (RestApi::Admit) → read the call (X-Target-*, or the
//   route) → which credential (X-Credential-Name, the pxr_ token's own, or the route's)
//   → role and agent scope (identity::Authorize, action "use") → the vault is unlocked
//   → the credential's current sealed version → early host check against its stored
//   policy (the enclave's check is the one that counts) → an exchange on a proxy channel:
//   the enclave unseals, checks, injects, talks TLS and redacts; this side connects the
//   socket when asked (DNS once, address policy, connect to the checked address) and
//   streams both bodies → an audit record through the group-commit queue, and a
//   credential.error webhook when the upstream answered 401 or 403.
//
// The credential's plaintext never reaches this process: what comes back from the
// enclave has been redacted there.
//
// Thread-safety: every member is thread-safe; the HTTP server calls from one thread per
// connection.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/daemon/rest_api.h"
#include "broker/daemon/vault.h"
#include "broker/enclave/proxy_channels.h"
#include "broker/http/errors.h"
#include "broker/http/router.h"
#include "broker/proxy/proxy_request.h"
#include "broker/proxy/routes.h"

namespace keycell::broker::daemon {

struct ProxySettings {
  std::chrono::milliseconds connect_timeout{10'000};  // DNS + TCP connect, per call
  keycell_ipc_ProxyLimits limits = keycell_ipc_ProxyLimits_init_zero;  // 0 = the enclave's defaults
};

// A proxied response collected whole (the CLI and MCP paths). Redacted by the enclave.
struct BufferedResponse {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Why a call failed, for every front end alike: the HTTP error, and a message that names
// the reason (a fixed literal, never request bytes or a secret).
struct ProxyFailure {
  http::ErrorCode code = http::ErrorCode::kInternal;
  std::string message;
};

class ProxyService {
 public:
  // All references must outlive the service.
  ProxyService(Vault& vault, ProxyChannels& channels, webhooks::Dispatcher& hooks, proxy::RouteConfig routes,
               ProxySettings settings)
      : vault_(vault), channels_(channels), hooks_(hooks), routes_(std::move(routes)), settings_(settings) {}

  // Adds /v1/proxy (GET POST PUT PATCH DELETE HEAD OPTIONS) and /r/:route/*. `api`
  // authenticates (and must outlive the router). Errors: the router's.
  Status Register(http::Router& router, RestApi& api);

  // One call for `who`, response collected up to `max_response_bytes` (over that:
  // kTooLarge). For `keycell proxy` and the MCP tool. On failure *failure says what to
  // tell the caller.
  std::optional<BufferedResponse> CallBuffered(const identity::Principal& who, const proxy::ProxyCall& call,
                                               std::string_view body, size_t max_response_bytes,
                                               ProxyFailure* failure);

  const proxy::RouteConfig& routes() const { return routes_; }

 private:
  struct Prepared;
  void Serve(RestApi& api, http::Request& req, http::ResponseWriter& res, bool route_mount);
  std::optional<Prepared> Prepare(const identity::Principal& who, const proxy::ProxyCall& call,
                                  ProxyFailure* failure);
  Result<ProxyOutcome> Exchange(const Prepared& p, ProxyBodyFraming framing, uint64_t content_length,
                                ProxyExchangeIo& io);
  // The audit record, and the credential.error webhook for an upstream 401/403.
  void Record(const identity::Principal& who, const Prepared& p, int upstream_status, const Status& result,
              std::chrono::steady_clock::time_point started);
  // The audit record of a call refused before the exchange (scope, policy, locked...).
  void RecordRefusal(const identity::Principal& who, const proxy::ProxyCall& call, const ProxyFailure& failure,
                     std::chrono::steady_clock::time_point started);

  Vault& vault_;
  ProxyChannels& channels_;
  webhooks::Dispatcher& hooks_;
  const proxy::RouteConfig routes_;
  const ProxySettings settings_;
};

// The HTTP error for a failed proxied call: the broker's own refusals
// (proxy::HttpErrorFor) and the enclave's (policy 403, header injection 400, too large
// 413, TLS and upstream failures 502, timeouts 504, enclave gone 503, locked 423).
ProxyFailure ProxyFailureFor(const Status& status);

}  // namespace keycell::broker::daemon

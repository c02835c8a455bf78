#pragma once
// Route mounts (docs/proxy.md "Route mounts", docs/broker-proxy.md): a configured name
// bound to a fixed upstream base URL and one credential, served at /r/<name>/..., so a
// stock SDK works by changing only its base URL:
//
//   {"routes": [{"name": "openai", "upstream": "https://api.openai.com/v1",
//                "credential": "openai/prod"}]}
//
//   POST /r/openai/chat/completions?x=1        Authorization: Bearer pxr_...
//     -> POST https://api.openai.com/v1/chat/completions?x=1 with openai/prod injected
//
// The SDK authenticates with the header it already sends (`Authorization: Bearer ...`
// for OpenAI's, `x-api-key` for Anthropic's): at a route mount those carry keycell's
// token and are never forwarded (FilterForwardHeaders drops both, as for /v1/proxy).
// X-Target-* and X-Credential-Name are dropped too and have no effect here: the route
// fixes the upstream and the credential.
//
// Thread-safety: pure functions over immutable data; nothing blocks.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "broker/http/request.h"
#include "broker/json/json.h"
#include "broker/proxy/proxy_request.h"
#include "broker/proxy/target_url.h"
#include "common/result.h"

namespace keycell::broker::proxy {

// The router pattern keycelld mounts ParseRouteCall at; ":route" is the route name.
inline constexpr char kRoutePattern[] = "/r/:route/*";
inline constexpr size_t kMaxRoutes = 64;
inline constexpr size_t kMaxRouteNameBytes = 32;

// Config refusals (Err::kInvalidArgument; detail = the index of the offending entry in
// "routes", or -1 for the document itself).
inline constexpr char kWhereRoutesNotObject[] = "proxy: routes config is not an object";
inline constexpr char kWhereRoutesUnknownKey[] = "proxy: routes config has an unknown key";
inline constexpr char kWhereRoutesNotArray[] = "proxy: \"routes\" is not an array";
inline constexpr char kWhereTooManyRoutes[] = "proxy: too many routes";
inline constexpr char kWhereRouteNotObject[] = "proxy: a route is not an object";
inline constexpr char kWhereRouteUnknownField[] =
    "proxy: a route has an unknown field (name, upstream, credential)";
inline constexpr char kWhereRouteMissingField[] =
    "proxy: a route needs string fields name, upstream and credential";
inline constexpr char kWhereRouteName[] = "proxy: a route name must be 1-32 of [a-z0-9-]";
inline constexpr char kWhereRouteDuplicate[] = "proxy: two routes have the same name";
inline constexpr char kWhereRouteUpstream[] = "proxy: a route upstream is not a valid URL";
inline constexpr char kWhereRouteHttp[] =
    "proxy: a route upstream must be https (http only to a loopback host)";
inline constexpr char kWhereRouteIpHttps[] =
    "proxy: a route's https upstream must be a host name (certificates are verified by name)";
inline constexpr char kWhereRouteQuery[] = "proxy: a route upstream must not have a query";
inline constexpr char kWhereRouteCredential[] =
    "proxy: a route credential is empty, too long or has a control character";
// Request refusals:
inline constexpr char kWhereNoSuchRoute[] = "proxy: no such route";  // Err::kUnknownKey, 404
inline constexpr char kWhereRouteParam[] =
    "proxy: route handler mounted without :route";  // Err::kInternal, 500
inline constexpr char kWhereRouteRest[] =
    "proxy: route remainder does not start with '/'";  // Err::kInternal, 500
inline constexpr char kWhereRouteTargetTooLong[] = "proxy: route target is too long";
inline constexpr char kWhereRouteTargetBytes[] =
    "proxy: route path or query has a byte outside visible ASCII";
inline constexpr char kWhereRouteTargetEscape[] =
    "proxy: route path or query has a malformed percent-escape";

struct Route {
  std::string name;
  // Parsed from the config's "upstream"; `upstream.target` is the base path without a
  // trailing "/" ("" for the root, "/v1" for ".../v1/"), never with a query.
  TargetUrl upstream;
  std::string credential;
};

struct RouteConfig {
  std::vector<Route> routes;
  // The route named `name` (exact, case-sensitive), or nullptr.
  const Route* Find(std::string_view name) const;
};

// Parses `doc` = {"routes": [...]} (an absent "routes" means no routes). Each entry has
// exactly the string fields name, upstream, credential:
//   name        [a-z0-9-]{1,32}, unique
//   upstream    ParseTargetUrl; https to a host name, or http only to a loopback host
//               ("localhost", 127/8, [::1]; for tests); no query; a trailing "/" dropped
//   credential  a credential name (IsValidCredentialName)
// Errors: the config kWhere* literals above, detail = entry index.
Result<std::vector<Route>> ParseRoutes(const cJSON* doc);
// The same for the array alone, for a config that keeps it under another key.
Result<std::vector<Route>> ParseRouteArray(const cJSON* array);

// The upstream request-target for a call at the route: base + `rest` (raw, as
// Request::rest() gives it, so "%2F" stays one segment) + ("?" + query if has_query);
// "/" when all are empty. Errors (kInvalidArgument): kWhereRouteTargetTooLong (over
// kMaxTargetUrlBytes), kWhereRouteTargetBytes, kWhereRouteTargetEscape; kWhereRouteRest
// (kInternal) when a non-empty `rest` does not start with "/".
Result<TargetUrl> RouteTarget(const Route& route, std::string_view rest, bool has_query,
                              std::string_view query);

// Reads a call at a route mount (kRoutePattern): the route from Request::Param("route"),
// the target from RouteTarget(rest(), query), the request's own method (the seven of
// ResolveMethod), credential_name = the route's credential, the headers through
// FilterForwardHeaders. Authentication is the caller's (PresentedCredential).
// Errors: kWhereNoSuchRoute (kUnknownKey), kWhereRouteParam (kInternal), RouteTarget's,
// kWhereMethodNotAllowed, FilterForwardHeaders'.
Result<ProxyCall> ParseRouteCall(const http::Request& req, const RouteConfig& config);

}  // namespace keycell::broker::proxy

#include "broker/proxy/routes.h"

#include <utility>

namespace keycell::broker::proxy {
namespace {

Status BadEntry(const char* where, size_t index) {
  return Status(Err::kInvalidArgument, where, static_cast<int32_t>(index));
}

bool IsRouteName(std::string_view name) {
  if (name.empty() || name.size() > kMaxRouteNameBytes) return false;
  for (const char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Result<TargetUrl> ParseUpstream(std::string_view text, size_t index) {
  auto url = ParseTargetUrl(text);
  if (!url.ok()) return BadEntry(kWhereRouteUpstream, index);
  // Plain text may stay on this machine only; a route is long-lived config, so the
  // spelling is checked here and the resolved address again at connect time.
  if (!url->https() && !IsLoopbackSpelling(*url)) return BadEntry(kWhereRouteHttp, index);
  // mbedTLS 2.28 verifies certificates against DNS names only: the enclave refuses https
  // to an IP literal (enclave/proxy/target.h), so such a route could never work.
  if (url->https() && url->host_kind != HostKind::kName) return BadEntry(kWhereRouteIpHttps, index);
  if (url->has_query()) return BadEntry(kWhereRouteQuery, index);
  // The base is joined with Request::rest(), which starts with "/" or is empty.
  while (!url->target.empty() && url->target.back() == '/') url->target.pop_back();
  return std::move(url).value();
}

Result<Route> ParseRouteEntry(const cJSON* entry, size_t index) {
  if (json::TypeOf(entry) != json::Type::kObject) return BadEntry(kWhereRouteNotObject, index);
  for (const cJSON* member : json::Children(entry)) {
    const std::string_view key = json::KeyOf(member);
    if (key != "name" && key != "upstream" && key != "credential")
      return BadEntry(kWhereRouteUnknownField, index);
  }
  const auto name = json::GetString(entry, "name");
  const auto upstream = json::GetString(entry, "upstream");
  const auto credential = json::GetString(entry, "credential");
  if (!name || !upstream || !credential) return BadEntry(kWhereRouteMissingField, index);
  if (!IsRouteName(*name)) return BadEntry(kWhereRouteName, index);
  if (!IsValidCredentialName(*credential)) return BadEntry(kWhereRouteCredential, index);
  Route route;
  route.name = std::string(*name);
  KC_ASSIGN_OR_RETURN(route.upstream, ParseUpstream(*upstream, index));
  route.credential = std::string(*credential);
  return route;
}

}  // namespace

const Route* RouteConfig::Find(std::string_view name) const {
  for (const Route& r : routes)
    if (r.name == name) return &r;
  return nullptr;
}

Result<std::vector<Route>> ParseRouteArray(const cJSON* array) {
  if (json::TypeOf(array) != json::Type::kArray)
    return Status(Err::kInvalidArgument, kWhereRoutesNotArray, -1);
  if (json::ChildCount(array) > kMaxRoutes)
    return Status(Err::kInvalidArgument, kWhereTooManyRoutes, -1);
  std::vector<Route> routes;
  size_t index = 0;
  for (const cJSON* entry : json::Children(array)) {
    KC_ASSIGN_OR_RETURN(Route route, ParseRouteEntry(entry, index));
    for (const Route& earlier : routes)
      if (earlier.name == route.name) return BadEntry(kWhereRouteDuplicate, index);
    routes.push_back(std::move(route));
    ++index;
  }
  return routes;
}

Result<std::vector<Route>> ParseRoutes(const cJSON* doc) {
  if (json::TypeOf(doc) != json::Type::kObject)
    return Status(Err::kInvalidArgument, kWhereRoutesNotObject, -1);
  for (const cJSON* member : json::Children(doc))
    if (json::KeyOf(member) != "routes")
      return Status(Err::kInvalidArgument, kWhereRoutesUnknownKey, -1);
  const cJSON* array = json::GetMember(doc, "routes");
  if (array == nullptr) return std::vector<Route>();
  return ParseRouteArray(array);
}

Result<TargetUrl> RouteTarget(const Route& route, std::string_view rest, bool has_query,
                              std::string_view query) {
  // The server's target parser has already refused controls, spaces, non-ASCII and "#"
  // in a request it accepted; the checks are repeated because Request is also built in
  // memory (tests, the fuzzer), and a Target must never carry such bytes.
  // Request::rest() is "" or starts with "/"; anything else would glue onto the base
  // path's last segment ("/v1" + "x" = "/v1x").
  if (!rest.empty() && rest.front() != '/') return Status(Err::kInternal, kWhereRouteRest);
  TargetUrl url = route.upstream;
  url.target.append(rest);
  // The root, before any query: "/?a=1", never "?a=1". push_back, not `= "/"`: GCC 12
  // reports a false -Wrestrict on that assignment here.
  if (url.target.empty()) url.target.push_back('/');
  if (has_query) {
    url.target.push_back('?');
    url.target.append(query);
  }
  if (url.target.size() > kMaxTargetUrlBytes)
    return Status(Err::kInvalidArgument, kWhereRouteTargetTooLong);
  const std::string& t = url.target;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (c <= 0x20 || c >= 0x7f || c == '#')
      return Status(Err::kInvalidArgument, kWhereRouteTargetBytes, static_cast<int32_t>(i));
    // The server keeps the query raw ("100%" is legal to it); the enclave requires every
    // escape to be well-formed, so refuse here with a clearer message.
    if (c == '%' && (i + 2 >= t.size() || !IsHex(t[i + 1]) || !IsHex(t[i + 2])))
      return Status(Err::kInvalidArgument, kWhereRouteTargetEscape, static_cast<int32_t>(i));
  }
  return url;
}

Result<ProxyCall> ParseRouteCall(const http::Request& req, const RouteConfig& config) {
  const std::optional<std::string_view> name = req.Param("route");
  if (!name) return Status(Err::kInternal, kWhereRouteParam);
  const Route* route = config.Find(*name);
  if (route == nullptr) return Status(Err::kUnknownKey, kWhereNoSuchRoute);
  ProxyCall call;
  KC_ASSIGN_OR_RETURN(call.target, RouteTarget(*route, req.rest(), req.has_query(), req.query()));
  KC_ASSIGN_OR_RETURN(call.method, ResolveMethod(req.method(), std::nullopt));
  call.credential_name = route->credential;
  KC_ASSIGN_OR_RETURN(call.headers, FilterForwardHeaders(req.headers()));
  return call;
}

}  // namespace keycell::broker::proxy

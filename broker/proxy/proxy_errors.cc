#include "broker/proxy/proxy_errors.h"

#include <cstring>

#include "broker/proxy/proxy_request.h"
#include "broker/proxy/routes.h"
#include "broker/proxy/upstream_connect.h"

namespace keycell::broker::proxy {
namespace {

// Literals whose status differs from what their Err code alone would give.
struct WhereRule {
  const char* where;
  http::ErrorCode code;
};
constexpr WhereRule kByWhere[] = {
    {kWhereTooManyHeaders, http::ErrorCode::kHeadersTooLarge},
    {kWhereSocket, http::ErrorCode::kServiceUnavailable},
    {kWhereRouteParam, http::ErrorCode::kInternal},
    {kWhereRouteRest, http::ErrorCode::kInternal},
};

http::ErrorCode ByCode(Err code) {
  switch (code) {
    case Err::kInvalidArgument:
    case Err::kBadFrame:
      return http::ErrorCode::kBadRequest;
    case Err::kTooLarge:
      return http::ErrorCode::kPayloadTooLarge;
    case Err::kPolicyDenied:
      return http::ErrorCode::kForbidden;
    case Err::kUnknownKey:
      return http::ErrorCode::kNotFound;
    case Err::kUnavailable:
    case Err::kUpstreamIo:
    case Err::kTls:
      return http::ErrorCode::kBadGateway;
    case Err::kTimeout:
      return http::ErrorCode::kGatewayTimeout;
    default:
      return http::ErrorCode::kInternal;
  }
}

}  // namespace

ProxyHttpError HttpErrorFor(const Status& status) {
  if (status.ok()) return {http::ErrorCode::kInternal, "proxy: no error"};
  const char* where = status.where() != nullptr ? status.where() : "";
  for (const WhereRule& r : kByWhere) {
    // Compared by content, not address: the same literal may have several addresses
    // across translation units.
    if (std::strcmp(where, r.where) == 0) return {r.code, where};
  }
  return {ByCode(status.code()), where};
}

}  // namespace keycell::broker::proxy

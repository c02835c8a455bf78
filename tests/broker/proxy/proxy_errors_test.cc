#include "broker/proxy/proxy_errors.h"

#include <gtest/gtest.h>

#include "broker/proxy/proxy_request.h"
#include "broker/proxy/routes.h"
#include "broker/proxy/target_url.h"
#include "broker/proxy/upstream_connect.h"

namespace keycell::broker::proxy {
namespace {

using http::ErrorCode;

TEST(HttpErrorForTest, Table) {
  struct Row {
    Status status;
    ErrorCode code;
  };
  const Row kRows[] = {
      {Status(Err::kInvalidArgument, kWhereUrlFragment), ErrorCode::kBadRequest},
      {Status(Err::kInvalidArgument, kWhereNoTargetUrl), ErrorCode::kBadRequest},
      {Status(Err::kInvalidArgument, kWhereMethodNotAllowed), ErrorCode::kBadRequest},
      {Status(Err::kInvalidArgument, kWhereRouteTargetEscape), ErrorCode::kBadRequest},
      {Status(Err::kTooLarge, kWhereTooManyHeaders), ErrorCode::kHeadersTooLarge},
      {Status(Err::kUnknownKey, kWhereNoSuchRoute), ErrorCode::kNotFound},
      {Status(Err::kInternal, kWhereRouteParam), ErrorCode::kInternal},
      {Status(Err::kInternal, kWhereRouteRest), ErrorCode::kInternal},
      {Status(Err::kPolicyDenied, kWhereAddressNotAllowed, 2), ErrorCode::kForbidden},
      {Status(Err::kUnavailable, kWhereDnsFailed, -2), ErrorCode::kBadGateway},
      {Status(Err::kTimeout, kWhereConnectTimeout), ErrorCode::kGatewayTimeout},
      {Status(Err::kUpstreamIo, kWhereConnectRefused, 111), ErrorCode::kBadGateway},
      {Status(Err::kUpstreamIo, kWhereConnectFailed, 113), ErrorCode::kBadGateway},
      {Status(Err::kUpstreamIo, kWhereSocket, 24), ErrorCode::kServiceUnavailable},
      {Status(Err::kInvalidArgument, kWhereBadUpstreamHost), ErrorCode::kBadRequest},
      {Status(Err::kNoMem, "elsewhere"), ErrorCode::kInternal},
  };
  for (const Row& r : kRows) {
    SCOPED_TRACE(r.status.where());
    const ProxyHttpError e = HttpErrorFor(r.status);
    EXPECT_EQ(e.code, r.code);
    EXPECT_EQ(e.message, r.status.where());
  }
  EXPECT_EQ(HttpErrorFor(Status::Ok()).code, ErrorCode::kInternal);
}

TEST(HttpErrorForTest, StatusesMatchTheDaemonContract) {
  // The numbers the brief and docs/proxy.md promise: 403 / 502 / 504.
  EXPECT_EQ(
      http::GetErrorInfo(HttpErrorFor(Status(Err::kPolicyDenied, kWhereAddressNotAllowed)).code)
          .status,
      403);
  EXPECT_EQ(
      http::GetErrorInfo(HttpErrorFor(Status(Err::kUnavailable, kWhereDnsFailed)).code).status,
      502);
  EXPECT_EQ(
      http::GetErrorInfo(HttpErrorFor(Status(Err::kTimeout, kWhereConnectTimeout)).code).status,
      504);
  EXPECT_EQ(
      http::GetErrorInfo(HttpErrorFor(Status(Err::kUpstreamIo, kWhereConnectRefused)).code).status,
      502);
}

}  // namespace
}  // namespace keycell::broker::proxy

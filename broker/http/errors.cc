#include "broker/http/errors.h"

#include <algorithm>

namespace keycell::broker::http {
namespace {

struct ErrorRow {
  ErrorCode code;
  ErrorInfo info;
};
constexpr ErrorRow kErrors[] = {
    {ErrorCode::kBadRequest, {400, "bad_request"}},
    {ErrorCode::kUnauthorized, {401, "unauthorized"}},
    {ErrorCode::kForbidden, {403, "forbidden"}},
    {ErrorCode::kNotFound, {404, "not_found"}},
    {ErrorCode::kMethodNotAllowed, {405, "method_not_allowed"}},
    {ErrorCode::kRequestTimeout, {408, "request_timeout"}},
    {ErrorCode::kConflict, {409, "conflict"}},
    {ErrorCode::kPayloadTooLarge, {413, "payload_too_large"}},
    {ErrorCode::kUnsupportedMediaType, {415, "unsupported_media_type"}},
    {ErrorCode::kExpectationFailed, {417, "expectation_failed"}},
    {ErrorCode::kLocked, {423, "locked"}},
    {ErrorCode::kRateLimited, {429, "rate_limited"}},
    {ErrorCode::kHeadersTooLarge, {431, "headers_too_large"}},
    {ErrorCode::kInternal, {500, "internal_error"}},
    {ErrorCode::kNotImplemented, {501, "not_implemented"}},
    {ErrorCode::kBadGateway, {502, "bad_gateway"}},
    {ErrorCode::kServiceUnavailable, {503, "service_unavailable"}},
    {ErrorCode::kGatewayTimeout, {504, "gateway_timeout"}},
};

constexpr std::string_view kJsonType = "application/json";
// Retry-After beyond a day is a configuration mistake, not a useful hint.
constexpr int64_t kMaxRetryAfterSeconds = 86400;

Result<std::string> BuildErrorJson(const ErrorInfo& info, std::string_view message) {
  const json::Json obj = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(obj.get(), "error", message));
  KC_RETURN_IF_ERROR(json::SetString(obj.get(), "code", info.code));
  KC_RETURN_IF_ERROR(json::SetInt(obj.get(), "status", info.status));
  return json::Print(obj.get());
}

}  // namespace

ErrorInfo GetErrorInfo(ErrorCode code) {
  for (const ErrorRow& row : kErrors) {
    if (row.code == code) return row.info;
  }
  return {500, "internal_error"};
}

std::string ErrorJson(ErrorCode code, std::string_view message) {
  const ErrorInfo info = GetErrorInfo(code);
  auto text = BuildErrorJson(info, message);
  if (text.ok()) return std::move(text).value();
  auto fallback = BuildErrorJson(info, ReasonPhrase(info.status));
  if (fallback.ok()) return std::move(fallback).value();
  return R"({"error":"internal error","code":"internal_error","status":500})";
}

Status SendError(ResponseWriter& res, ErrorCode code, std::string_view message) {
  return res.Send(GetErrorInfo(code).status, kJsonType, ErrorJson(code, message));
}

Status SendRateLimited(ResponseWriter& res, int64_t retry_after_seconds, std::string_view message) {
  const int64_t seconds = std::clamp<int64_t>(retry_after_seconds, 1, kMaxRetryAfterSeconds);
  KC_RETURN_IF_ERROR(res.SetHeader("Retry-After", std::to_string(seconds)));
  return SendError(res, ErrorCode::kRateLimited, message);
}

Status SendBodyReadError(ResponseWriter& res, const Status& read_error) {
  // The body was not read to its end: the next request's start is unknown.
  res.CloseAfterResponse();
  switch (read_error.code()) {
    case Err::kTooLarge:
      return SendError(res, ErrorCode::kPayloadTooLarge, "request body too large");
    case Err::kTimeout:
      return SendError(res, ErrorCode::kRequestTimeout, "timed out reading the request body");
    default:
      return SendError(res, ErrorCode::kBadRequest, "malformed request body");
  }
}

Status SendJson(ResponseWriter& res, int status, const cJSON* body) {
  auto text = json::Print(body);
  if (!text.ok()) return SendError(res, ErrorCode::kInternal, "response did not serialise");
  return res.Send(status, kJsonType, *text);
}

}  // namespace keycell::broker::http

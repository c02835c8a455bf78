#pragma once
// keycell's error responses, one shape everywhere (AgentKeys' proxy contract, with
// keycell's lower-case machine codes as in the control protocol):
//
//   HTTP/1.1 404 Not Found
//   Content-Type: application/json
//
//   {"error":"credential not found","code":"not_found","status":404}
//
// `error` is for humans, `code` for programs, `status` repeats the HTTP status. Messages
// name what is wrong and never echo request bytes (header values, query strings or
// bodies may hold credentials).

#include <cstdint>
#include <string>
#include <string_view>

#include "broker/http/response.h"
#include "broker/json/json.h"
#include "common/result.h"

namespace keycell::broker::http {

enum class ErrorCode {
  kBadRequest,            // 400 bad_request
  kUnauthorized,          // 401 unauthorized
  kForbidden,             // 403 forbidden
  kNotFound,              // 404 not_found
  kMethodNotAllowed,      // 405 method_not_allowed (set Allow first; the router does)
  kRequestTimeout,        // 408 request_timeout
  kConflict,              // 409 conflict
  kPayloadTooLarge,       // 413 payload_too_large
  kUnsupportedMediaType,  // 415 unsupported_media_type
  kExpectationFailed,     // 417 expectation_failed
  kLocked,                // 423 locked (the vault is locked)
  kRateLimited,           // 429 rate_limited (use SendRateLimited: it adds Retry-After)
  kHeadersTooLarge,       // 431 headers_too_large
  kInternal,              // 500 internal_error
  kNotImplemented,        // 501 not_implemented
  kBadGateway,            // 502 bad_gateway
  kServiceUnavailable,    // 503 service_unavailable
  kGatewayTimeout,        // 504 gateway_timeout
};

struct ErrorInfo {
  int status;
  const char* code;
};
ErrorInfo GetErrorInfo(ErrorCode code);

// The JSON body for `code` with `message` (a message that is not clean UTF-8 is replaced
// by the status's reason phrase). Never fails.
std::string ErrorJson(ErrorCode code, std::string_view message);

// Sends ErrorJson as a complete response with Content-Type application/json, after any
// headers already set on `res`. Errors: ResponseWriter::Send's.
Status SendError(ResponseWriter& res, ErrorCode code, std::string_view message);

// 429 with "Retry-After: <seconds>" (at least 1).
Status SendRateLimited(ResponseWriter& res, int64_t retry_after_seconds,
                       std::string_view message = "rate limit exceeded");

// Maps a BodyReader failure to its response: kTooLarge 413, kTimeout 408, anything else
// 400; the connection closes afterwards (the body was not read to its end).
Status SendBodyReadError(ResponseWriter& res, const Status& read_error);

// Sends `body` printed compactly, Content-Type application/json. A tree that does not
// print (not built through broker/json) becomes a 500.
Status SendJson(ResponseWriter& res, int status, const cJSON* body);

}  // namespace keycell::broker::http

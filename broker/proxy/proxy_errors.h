#pragma once
// The HTTP answer for a refusal from kc_broker_proxy (docs/broker-proxy.md), so
// keycelld's /v1/proxy and route handlers map every error the same way:
//
//   syntax of the call (X-Target-Url, methods, headers, route target)   400 bad_request
//   too many header fields                                             431 headers_too_large
//   upstream address not allowed (SSRF policy)                         403 forbidden
//   no such route                                                      404 not_found
//   DNS lookup failed, connection refused or failed                    502 bad_gateway
//   connect timed out                                                  504 gateway_timeout
//   no socket (fd exhaustion)                                          503 service_unavailable
//   anything else (route handler mis-mounted, a Status from elsewhere) 500 internal_error
//
// The message is the Status's `where`: always a string literal naming the rule, never
// request bytes (header values, the URL, the query may hold credentials). Pure.

#include <string_view>

#include "broker/http/errors.h"
#include "common/result.h"

namespace keycell::broker::proxy {

struct ProxyHttpError {
  http::ErrorCode code;
  std::string_view message;
};

// `status` must not be ok (an ok Status maps to kInternal, "proxy: no error").
ProxyHttpError HttpErrorFor(const Status& status);

}  // namespace keycell::broker::proxy

#pragma once
// The HTTP(S) client that delivers webhooks: one POST per connection (Connection: close),
// HTTP/1.1, over plain TCP (loopback only) or TLS via mbedTLS 2.28.
//
// TLS: MBEDTLS_SSL_VERIFY_REQUIRED always, SNI and the certificate's name checked against
// the URL's host, TLS 1.2, ECDHE AEAD suites only, curves X25519/P-256/P-384
// (ENGINEERING-NOTES §4). Trust anchors: the system bundle
// (/etc/ssl/certs/ca-certificates.crt) plus an optional extra CA file (the config key
// tls.extra_ca_file), both parsed once by Create().
//
// Steps and their bounds: getaddrinfo once (bounded by the resolver's own timeouts, not by
// timeout_ms: glibc's resolver cannot be interrupted); then connect (each address in turn),
// handshake, write and reading the response head all share one deadline of timeout_ms.
// Plain http:// is refused unless every resolved address is loopback (a second check
// after CheckUrlPolicy, for a "localhost" that resolves elsewhere). The response: the
// status line and headers are read and checked (http_response.h, at most 16 KiB); the
// body is never read. 1xx interim answers are skipped. Redirects are not followed (a 3xx
// is just a status).
//
// Thread-safety: a HttpClient is immutable after Create(); Post() may run on any number of
// threads at once (each call has its own socket, DRBG and TLS context; the parsed CA chain
// is only read). Blocking: Post() blocks for DNS plus up to timeout_ms, or until
// `cancel_fd` becomes readable.

#include <cstdint>
#include <memory>
#include <span>
#include <sys/socket.h>

#include <functional>
#include <string>
#include <string_view>

#include "broker/webhooks/http_transport.h"
#include "broker/webhooks/webhook_url.h"
#include "common/result.h"

namespace keycell::broker::webhooks {

inline constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";

// Error `where`s of Post() that tests and the daemon may compare against.
inline constexpr char kDnsFailed[] = "webhooks: dns lookup failed";   // kUnavailable, detail EAI_*
inline constexpr char kConnectFailed[] = "webhooks: connect failed";  // kUpstreamIo, errno
inline constexpr char kConnectTimeout[] = "webhooks: timed out connecting";  // kTimeout
inline constexpr char kAddressRefused[] =
    "webhooks: the host resolved to an address webhooks may not reach (metadata or unroutable)";  // kPolicyDenied
inline constexpr char kHttpNotLoopback[] =
    "webhooks: plain http:// resolved to a non-loopback address";  // kPolicyDenied
inline constexpr char kCertNotTrusted[] =
    "webhooks: tls: certificate not trusted (unknown CA or incomplete chain)";
inline constexpr char kCertNameMismatch[] =
    "webhooks: tls: certificate does not match the host name";
inline constexpr char kCertExpired[] = "webhooks: tls: certificate expired or not yet valid";
inline constexpr char kCertVerifyFailed[] = "webhooks: tls: certificate verification failed";
inline constexpr char kTlsHandshakeFailed[] =
    "webhooks: tls handshake failed";  // kTls, mbedTLS code
inline constexpr char kHandshakeTimeout[] = "webhooks: timed out during the TLS handshake";
inline constexpr char kSendTimeout[] = "webhooks: timed out sending the request";
inline constexpr char kResponseTimeout[] = "webhooks: timed out waiting for the response";
inline constexpr char kClosedBeforeResponse[] =
    "webhooks: connection closed before a complete response";    // kUpstreamIo
inline constexpr const char* kCancelled = internal::kCancelled;  // kUnavailable

struct HttpClientOptions {
  std::string system_ca_file = kSystemCaBundle;  // "" = no system trust
  std::string extra_ca_file;                     // tls.extra_ca_file; "" = none
  // Which resolved addresses a delivery may connect to (any scheme); empty = all.
  // keycelld refuses cloud metadata and unroutable addresses here, so a webhook URL can
  // never make it POST to the machine's credential endpoint.
  std::function<bool(const sockaddr*)> address_allowed;
};

struct HttpHeader {
  std::string_view name;   // an HTTP token
  std::string_view value;  // no CR, LF or NUL
};

class HttpClient {
 public:
  // Parses the CA files. Errors: kUpstreamIo ("webhooks: cannot read CA file", errno) for
  // a file that cannot be read; kTls ("webhooks: CA file has no usable certificate") for
  // one with nothing mbedTLS can parse. Blocks on file I/O (~5 ms for the system bundle).
  static Result<std::unique_ptr<HttpClient>> Create(const HttpClientOptions& options);

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to `url` with `headers` plus Host, Content-Length and Connection: close,
  // and returns the final status code (100..599; 1xx interim answers skipped). `url` must
  // satisfy CheckUrlPolicy (kPolicyDenied otherwise). Errors: the `where`s above;
  // kInvalidArgument for a header that is not a token/value; the response parser's
  // kBadFrame/kTooLarge; kUnavailable (kCancelled) when cancel_fd became readable.
  Result<int> Post(const WebhookUrl& url, std::span<const HttpHeader> headers,
                   std::string_view body, int timeout_ms, int cancel_fd = -1) const;

 private:
  HttpClient() = default;
  internal::X509Crt trust_;  // empty when no CA file was given: every https attempt fails
  std::function<bool(const sockaddr*)> address_allowed_;  // empty = every address
};

// One line for the delivery log: the `where` without its "webhooks: " prefix, plus what
// the detail means for it (strerror, gai_strerror, the mbedTLS error or the verification
// flags). Never includes URL, headers or body.
std::string DescribeHttpError(const Status& s);

}  // namespace keycell::broker::webhooks

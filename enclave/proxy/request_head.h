#pragma once
// The request side of the injecting proxy (docs/enclave-proxy.md): builds the HTTP/1.1
// request head, with the credential injected per the sealed recipe, that the enclave
// writes into the verified TLS connection. Pure: no I/O, no clock, never blocks.
//
//   METHOD SP origin-form[+injected query] SP HTTP/1.1 CRLF
//   Host: host[:port] CRLF                       (port only if not the scheme's default)
//   <caller headers, in order, minus the stripped and the replaced ones> CRLF...
//   <the injected header: Authorization / custom / Cookie> CRLF   (not for QUERY)
//   Accept-Encoding: identity CRLF
//   Connection: keep-alive CRLF
//   Content-Length: N CRLF | Transfer-Encoding: chunked CRLF | nothing
//   CRLF
//
// Where the secret's plaintext exists during a build (and nowhere else):
//   1. the caller's SecretView (the unsealed record's SecureBuffer; the caller's);
//   2. the returned SecureBuffer (mlocked, MADV_DONTDUMP, wiped when it dies);
//   3. transiently, CPU registers / the local base64 accumulator (head_writer.h).
// It is never copied into a std::string, vector or any other heap or stack buffer, and
// never into a Status (every `where` is a fixed literal).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"
#include "enclave/policy.h"
#include "enclave/proxy/target.h"

namespace keycell::enclave::proxy {

// Default limits (RequestLimits). The head cap includes the request line, every header
// and the injected secret.
inline constexpr size_t kDefaultMaxRequestHeadBytes = 64 * 1024;
inline constexpr size_t kDefaultMaxRequestHeaderCount = 100;
inline constexpr uint64_t kDefaultMaxRequestBodyBytes = 64ull * 1024 * 1024;

// Refusals (besides target.h's). Err::kInvalidArgument unless noted.
inline constexpr char kWhereMethodNotToken[] = "proxy: method is not a token";
inline constexpr char kWhereMethodNotAllowed[] =
    "proxy: method not allowed (GET HEAD POST PUT PATCH DELETE OPTIONS)";
inline constexpr char kWhereBadFraming[] = "proxy: unknown body framing";
inline constexpr char kWhereHeaderNameControl[] = "proxy: header name has CR, LF or NUL";
inline constexpr char kWhereHeaderNameNotToken[] = "proxy: header name is not a token";
inline constexpr char kWhereHeaderValueCrLfNul[] = "proxy: header value has CR, LF or NUL";
inline constexpr char kWhereHeaderValueControl[] = "proxy: header value has a control character";
inline constexpr char kWhereSecretEmpty[] = "proxy: the secret is empty";
inline constexpr char kWhereSecretCrLfNul[] =
    "proxy: the secret has CR, LF or NUL (cannot go in a header)";
inline constexpr char kWhereSecretControl[] =
    "proxy: the secret has a control character (cannot go in a header)";
inline constexpr char kWhereBasicNotUserPass[] = "proxy: basic secret is not user:pass";
inline constexpr char kWhereCookieSemicolon[] =
    "proxy: the secret has ';' (not a single cookie value)";
// Err::kTooLarge:
inline constexpr char kWhereTooManyHeaders[] = "proxy: too many header fields";
inline constexpr char kWhereHeadTooLarge[] = "proxy: request head over the size limit";
inline constexpr char kWhereBodyTooLarge[] = "proxy: request body over the size limit";
// Err::kPolicyDenied (a sealed recipe this code will not use; ValidatePolicy should
// have refused it when it was sealed):
inline constexpr char kWhereBadRecipe[] =
    "proxy: the policy's injection name or prefix is not valid";
inline constexpr char kWhereReservedHeader[] =
    "proxy: the policy injects into a header the proxy sets itself";

// One caller-supplied header field. Views into the caller's memory (never a secret:
// the broker never has one); valid for the duration of BuildRequestHead.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

enum class BodyFraming {
  kNone,           // no body: POST/PUT/PATCH get "Content-Length: 0", others nothing
  kContentLength,  // "Content-Length: <content_length>"
  kChunked,        // "Transfer-Encoding: chunked"; the body writer sends the chunks
};

struct RequestSpec {
  std::string_view method;               // case-sensitive: "GET", not "get"
  std::span<const HeaderField> headers;  // the caller's, in order
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;  // kContentLength only
};

struct RequestLimits {
  size_t max_head_bytes = kDefaultMaxRequestHeadBytes;      // whole serialized head
  size_t max_header_count = kDefaultMaxRequestHeaderCount;  // caller fields, before stripping
  uint64_t max_body_bytes = kDefaultMaxRequestBodyBytes;    // 0 = unlimited
};

// Checks and builds, in this order (first failure wins):
//   1. CheckInjectable(policy, now) and CheckTarget(policy, target) (target.h): the
//      authoritative policy check, so no head with the secret exists for a refused
//      destination;
//   2. the method: a token, and one of GET HEAD POST PUT PATCH DELETE OPTIONS
//      (no TRACE: it echoes the request, credential included; no CONNECT);
//   3. the framing, and content_length against max_body_bytes;
//   4. the caller's headers: at most max_header_count, names RFC 9110 tokens, values
//      without CR/LF/NUL or other controls but HTAB (surrounding SP/HTAB is trimmed),
//      their raw total within max_head_bytes;
//   5. the recipe (name/prefix still valid; a HEADER recipe may not name a header the
//      proxy sets itself) and the secret for where it goes: non-empty; for BEARER,
//      BASIC, HEADER and COOKIE no CR/LF/NUL or other control but HTAB; BASIC needs a
//      ':'; a named COOKIE no ';'. QUERY takes any bytes (percent-encoded);
//   6. the serialized size against max_head_bytes.
// Then: caller headers named by the table in header_rules.cc (hop-by-hop, framing,
// Host, Accept-Encoding, Proxy-*) or listed in any Connection header are dropped, as is
// any caller header with the injected header's name (case-insensitive: replaced, never
// duplicated); COOKIE merges the caller's Cookie headers into one, minus the cookie(s)
// it sets; QUERY drops caller parameters with its name (after percent-decoding the
// name) and empty parameters, then appends "name=<percent-encoded secret>".
//
// Returns the head in a SecureBuffer of exactly its size; the caller writes it into TLS
// and lets it die (wiped). Errors: kPolicyDenied, kInvalidArgument, kTooLarge with the
// kWhere* literals; kNoMem if the locked allocation fails.
Result<SecureBuffer> BuildRequestHead(const Policy& policy, int64_t now, const Target& target,
                                      const RequestSpec& request, SecretView secret,
                                      const RequestLimits& limits = {});

// For the body writer: whether `total_sent` body bytes are within limits.max_body_bytes
// (a chunked body has no length up front). Errors: kTooLarge kWhereBodyTooLarge.
Status CheckBodyBytes(uint64_t total_sent, const RequestLimits& limits);

}  // namespace keycell::enclave::proxy

#pragma once
// Streaming HTTP/1.1 response parser for the enclave's upstream connections: the
// bytes come out of the TLS session, the parsed head and de-chunked body go to a
// Sink (which redacts and re-emits them to the broker). Pure: no I/O, no clock.
//
// Built on Boost.Beast's basic_parser (response_parser.cc is the only translation unit
// that includes Beast; no Beast type appears here). The body is streamed, never
// buffered whole: the only buffer is one SecureBuffer of max_header_bytes for a head
// still in progress, a chunk-size line or the trailers.
//
// Refused, with a Status whose `where` is a fixed literal (input bytes are never echoed
// into errors: they may contain the secret):
//   kBadFrame   a malformed status line, field or chunk; bare CR or LF; obs-fold (a
//               line starting with SP/HT); HTTP versions other than 1.0/1.1; status
//               outside 100..599; 101 Switching Protocols (we never ask to upgrade);
//               two Content-Length fields or a list in one ("5, 5"); Content-Length
//               with Transfer-Encoding; Transfer-Encoding other than exactly "chunked",
//               twice, or in HTTP/1.0; a non-hex or overflowing chunk size; EOF before
//               the end of a length-delimited or chunked body.
//   kTooLarge   a head (or the trailers, or a chunk-size line) over max_header_bytes;
//               more than kMaxFields fields; a body over max_body_bytes; more than
//               kMaxInterimResponses 1xx responses.
//   kPolicyDenied  a body with a Content-Encoding other than identity (it could not be
//               redacted), unless Options::allow_content_encoding.
// After an error the parser is dead: every later call returns the same Status.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace keycell::enclave::http {

// One header or trailer field, exactly as received (name case preserved, value with
// surrounding whitespace removed). The views point into the parser's buffer or the
// caller's input and are valid only during the Sink call that receives them; the
// value may contain the secret (redact before re-emitting it).
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// How the upstream delimited the body; the enclave re-frames for the broker.
enum class BodyFraming : uint8_t {
  kNone,           // no body: response to HEAD, 1xx, 204, 304
  kContentLength,  // Content-Length (possibly 0)
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // neither: the body ends when the connection closes
};

struct ResponseHead {
  unsigned version = 11;  // 10 or 11
  int status = 0;         // 100..599, never 101
  std::string_view reason;
  std::span<const HeaderField> fields;  // in arrival order
  BodyFraming framing = BodyFraming::kNone;
  std::optional<uint64_t> content_length;  // as sent (also for HEAD/304), if sent
  bool keep_alive = false;  // what the head announces; ResponseParser::KeepAlive() decides
};

// Receives the parse, in order: OnInterim* OnHead OnBody* OnTrailers? OnDone. A
// non-ok Status from any of them stops the parse and is returned by Feed/FeedEof.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // A 1xx response other than 101 (100 Continue, 103 Early Hints). Default: ignored.
  virtual Status OnInterim(const ResponseHead& head);
  virtual Status OnHead(const ResponseHead& head) = 0;
  // De-chunked body bytes as they arrive; the view is valid during the call only.
  virtual Status OnBody(ByteView bytes) = 0;
  // Trailer fields of a chunked body, if there were any. Default: dropped.
  virtual Status OnTrailers(std::span<const HeaderField> fields);
  virtual Status OnDone() = 0;
};

struct ResponseParserOptions {
  size_t max_header_bytes = 64 * 1024;          // head; also trailers and one chunk-size line
  uint64_t max_body_bytes = uint64_t{1} << 30;  // 0 = unlimited
  bool head_request = false;            // the request was HEAD: no body whatever the head says
  bool allow_content_encoding = false;  // accept gzip & co. bodies (which cannot be redacted)
};

class ResponseParser {
 public:
  static constexpr size_t kMaxFields = 256;          // per head, and per trailer section
  static constexpr size_t kMaxInterimResponses = 8;  // 1xx responses before the final one

  // Allocates the head buffer (locked memory). Errors: kInvalidArgument
  // (max_header_bytes 0 or over 16 MiB), kNoMem.
  static Result<ResponseParser> Create(const ResponseParserOptions& options);

  ResponseParser(ResponseParser&&) noexcept;
  ResponseParser& operator=(ResponseParser&&) noexcept;
  ~ResponseParser();  // wipes the buffer

  // Consumes the next bytes of the connection, in pieces of any size (one byte at a
  // time works), calling `sink` as the parse advances. Returns how many bytes belong
  // to this response: fewer than bytes.size() only once done() — the rest is not ours
  // (and KeepAlive() turns false: the connection is out of step). Never blocks.
  Result<size_t> Feed(ByteView bytes, ResponseSink& sink);
  // The upstream closed the connection. Completes a kUntilClose body (OnDone);
  // kBadFrame if the response was incomplete otherwise; Ok if already done.
  Status FeedEof(ResponseSink& sink);

  // The final response is complete (OnDone has been called).
  bool done() const;
  // After done(): whether the connection may carry another request (HTTP/1.1 without
  // "Connection: close", or HTTP/1.0 with "Connection: keep-alive"; never after a
  // close-delimited body or stray bytes past the end). False before done().
  bool KeepAlive() const;
  // The final response's framing (kNone until its head was parsed).
  BodyFraming framing() const;
  // Body bytes delivered so far.
  uint64_t body_bytes() const;

  // Prepares for the next response on the same connection; wipes the buffer.
  void Reset(bool head_request);

 private:
  struct Impl;
  explicit ResponseParser(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keycell::enclave::http

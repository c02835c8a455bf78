#pragma once
// Parsing a webhook receiver's HTTP/1.x response head. The receiver is untrusted (any
// host a user typed), so the parser is strict, bounded and allocation-free; its fuzz
// harness is fuzz/webhook_url_fuzzer.cc. Only the status code is used: the body is never
// read, and header values are checked for shape, not interpreted.
//
// Accepted head: status-line, header lines, an empty line; lines end in CRLF or a bare LF
// (RFC 9112 §2.2 lets a recipient accept LF).
//   status-line = "HTTP/1." DIGIT SP 3DIGIT [SP reason]    status 100..599
//   header-line = token ":" value      value without controls other than HTAB
// Refused (Err::kBadFrame, `where` names the rule, detail = byte offset): a bare CR,
// another protocol or version, a bad status, obs-fold continuation lines, a header name
// that is not a token, control characters in a value. More than kMaxResponseHeaders
// header lines, or no complete head within the byte cap, is Err::kTooLarge.
//
// Thread-safety: pure functions. Nothing blocks.

#include <cstddef>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace keycell::broker::webhooks {

inline constexpr size_t kMaxResponseHeadBytes = 16 * 1024;
inline constexpr size_t kMaxResponseHeaders = 100;

struct StatusLine {
  int http_minor = 1;       // HTTP/1.0 or HTTP/1.1
  int status = 0;           // 100..599
  std::string_view reason;  // points into the parsed text
};

// Parses one status line without its line terminator. Errors: kBadFrame.
Result<StatusLine> ParseStatusLine(std::string_view line);

struct ResponseHead {
  int status = 0;
  size_t head_bytes = 0;  // bytes of `data` the head used, blank line included
};

// Looks for a complete response head at the start of `data`. Returns nullopt when more
// bytes are needed (complete lines seen so far are already checked, so a garbage reply
// fails at its first line instead of waiting for the timeout). Errors: kBadFrame,
// kTooLarge (no end of head within `max_bytes`, or too many headers).
Result<std::optional<ResponseHead>> ParseResponseHead(std::string_view data,
                                                      size_t max_bytes = kMaxResponseHeadBytes);

}  // namespace keycell::broker::webhooks

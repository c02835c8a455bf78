#pragma once
// Finds where a request head ends in the bytes received so far, and enforces the
// byte-level framing rules before Beast sees the head:
//   - every line ends in CRLF: a bare LF or a CR not followed by LF is refused (Beast
//     refuses them too; a proxy in front of us might not, which is how smuggling starts);
//   - no line starts with SP or HTAB: obs-fold (RFC 9112 §5.2) and whitespace between the
//     request line and the first field are refused. Beast would unfold them silently;
//   - at most `max_bytes` of head (leading empty lines included, then 431).
// Empty lines before the request line are skipped (RFC 9112 §2.2: some clients send a
// CRLF after a POST body); they count toward `max_bytes`.
//
// Incremental: call Scan() again with the same bytes plus more; each byte is examined
// once, so a client trickling one byte at a time costs linear time. Pure; never blocks.

#include <cstddef>
#include <string_view>

namespace keycell::broker::http {

class HeadScanner {
 public:
  enum class State { kNeedMore, kComplete, kBadLineEnding, kLeadingWhitespace, kTooLarge };

  explicit HeadScanner(size_t max_bytes) : max_bytes_(max_bytes) {}

  // `buf` starts where the request starts and extends what the previous call saw.
  State Scan(std::string_view buf);

  // Valid once Scan returned kComplete: the head is buf[begin(), end()), ending with the
  // empty line's CRLF; end() is where the body (or the next request) starts.
  size_t begin() const { return begin_; }
  size_t end() const { return end_; }

 private:
  const size_t max_bytes_;
  size_t pos_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool leading_ = true;     // still skipping empty lines before the request line
  bool line_start_ = true;  // pos_ is the first byte of a line
};

}  // namespace keycell::broker::http

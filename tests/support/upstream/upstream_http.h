#pragma once
// HttpsUpstream's HTTP/1.1 half (internal): reading one request off a connection's
// byte stream, and writing the response its path asks for. The transport (TLS or plain,
// stop flag, time budget) is behind Stream, so this file knows nothing of sockets.
// The rules themselves are documented in https_upstream.h.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/support/upstream/https_upstream.h"

namespace keycell::test::upstream {

// One connection's bytes. Every call blocks at most until the connection's budget or the
// server's stop flag.
class Stream {
 public:
  virtual ~Stream() = default;
  // > 0: bytes read into buf; 0: the peer closed; < 0: error, timeout or stop.
  virtual long Read(char* buf, size_t cap) = 0;
  // All of `data` or false.
  virtual bool WriteAll(std::string_view data) = 0;
  // Sleeps `pause` in poll slices; false if the server stopped or the budget ran out.
  virtual bool Pause(std::chrono::milliseconds pause) = 0;
};

enum class Got {
  kRequest,    // a whole request (head and body)
  kClosed,     // the peer closed cleanly between requests
  kBroken,     // I/O error, timeout, stop, or EOF inside a request
  kMalformed,  // unparsable head or chunked framing: answer 400 and close
};

// Reads requests one after the other off `stream`, buffering at most one read (16 KiB)
// beyond the head, so bodies of any size stream through in constant memory.
class RequestReader {
 public:
  explicit RequestReader(Stream& stream) : stream_(stream) {}

  // Reads the next request into `out` (all but connection_index and tls_sni). On
  // kRequest, `*close_after` tells whether the request itself ends the connection
  // (HTTP/1.0, "Connection: close", or both Transfer-Encoding and Content-Length).
  Got Next(RecordedRequest* out, bool* close_after);

 private:
  class BodySink;
  Got Fill();  // one more read appended to buf_
  Got ReadHead(std::string* head);
  Got ReadLine(std::string* line);  // CRLF-terminated, without the CRLF
  Got ReadBody(uint64_t n, BodySink* sink);
  Got ReadChunked(BodySink* sink);

  Stream& stream_;
  std::string buf_;  // bytes read but not consumed start at pos_
  size_t pos_ = 0;
};

// Writes the response to `request` (routes in https_upstream.h). `keep_alive` false adds
// "Connection: close". Returns whether the connection may carry another request (false
// after /close, a 400, or a failed write).
bool Respond(Stream& stream, const RecordedRequest& request, std::string_view leak_secret,
             bool keep_alive);

// The 400 answer to a malformed request (always with Connection: close).
void RespondMalformed(Stream& stream);

// JSON string contents: \" \\ and every byte < 0x20, 0x7f or >= 0x80 as \u00XX
// (upper-case hex with `every_byte`, which escapes every byte that way).
std::string JsonEscape(std::string_view s, bool every_byte = false);

}  // namespace keycell::test::upstream

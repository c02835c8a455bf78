#pragma once
// Writing one HTTP/1.1 response: either whole (Send) or streamed (BeginFixed /
// BeginChunked, then Write per piece, then Finish). Streaming is what the injecting proxy
// relays upstream responses with and what SSE ("text/event-stream") uses: every Write
// goes to the socket at once (TCP_NODELAY, no user-space buffering), so one Write per
// event is one flushed event.
//
// The writer owns the framing headers (Content-Length, Transfer-Encoding, Connection) and
// refuses them from callers, and it refuses header names or values that could split the
// response (CR, LF, NUL): a relayed upstream header cannot smuggle a second response.
//
// HEAD requests get the same head and no body (Write is accepted and discarded).
// HTTP/1.0 clients cannot read chunked encoding: BeginChunked then sends a body delimited
// by closing the connection.
//
// Not thread-safe: one writer per request, used by its handler's thread. Every call
// blocks until the bytes are in the kernel (bounded by the write timeout).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace keycell::broker::http {

// What a ResponseWriter writes into; the connection implements it (tests capture).
class ResponseChannel {
 public:
  virtual ~ResponseChannel() = default;
  // Called once, just before the head is written: may the connection stay open after
  // this response? (The connection knows the client's wish, whether the request body
  // was read, and whether the server is stopping.)
  virtual bool KeepAliveAfterResponse() = 0;
  // Writes every piece in order, or fails; after a failure the connection is dead.
  virtual Status Write(std::span<const std::string_view> pieces) = 0;
};

struct ResponseContext {
  bool head_request = false;  // HEAD: headers only
  int version = 11;           // the request's HTTP version, 10 or 11
};

// The standard reason phrase ("Not Found"), or "" for codes without one here.
const char* ReasonPhrase(int status);

class ResponseWriter {
 public:
  ResponseWriter(ResponseChannel& channel, ResponseContext ctx) : channel_(channel), ctx_(ctx) {}
  ResponseWriter(const ResponseWriter&) = delete;
  ResponseWriter& operator=(const ResponseWriter&) = delete;

  // Adds a header line, kept in order (repeat a name to send it twice). Only before the
  // head is written. Errors (kInvalidArgument): the name is not an RFC 9110 token; the
  // value has a control character other than HTAB (CR, LF, NUL...); the name is one the
  // writer owns (Content-Length, Transfer-Encoding, Connection, Keep-Alive, Upgrade,
  // Trailer, TE); or the head is already out.
  Status SetHeader(std::string_view name, std::string_view value);

  // Asks that the connection close after this response ("Connection: close"). Only has
  // an effect before the head is written.
  void CloseAfterResponse() { close_requested_ = true; }

  // Sends a complete response: status, the headers set so far, `content_type` (omitted
  // when empty), Content-Length and `body`, in one write. Errors: kInvalidArgument (a
  // status outside 200..599, a body on 204/304, head already written), Write's errors.
  Status Send(int status, std::string_view content_type, std::string_view body);

  // Starts a streamed response of exactly `content_length` body bytes.
  Status BeginFixed(int status, uint64_t content_length);
  // Starts a streamed response of unknown length (chunked; close-delimited for HTTP/1.0).
  Status BeginChunked(int status);
  // Sends the next body piece: for chunked responses one chunk per call (an empty
  // `data` sends nothing, it never ends the body). Errors: kInvalidArgument (no Begin*,
  // after Finish, or more bytes than BeginFixed declared), kTimeout / kUpstreamIo from
  // the socket, kUnavailable after any earlier failure.
  Status Write(std::string_view data);
  // Ends the body (the last chunk for chunked). Errors: kInvalidArgument when a fixed
  // body is short (the connection is then closed: the client sees a truncated body,
  // never a response boundary in the wrong place), Write's errors.
  Status Finish();

  // State, for the connection and for tests.
  bool head_written() const { return head_written_; }
  bool finished() const { return finished_; }
  bool failed() const { return failed_; }
  bool keep_alive() const { return keep_alive_; }
  int status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }  // body bytes sent (0 for HEAD)

 private:
  enum class Framing { kNone, kFixed, kChunked, kUntilClose };
  Status CheckStatus(int status, bool has_body) const;
  std::string BuildHead(int status, Framing framing, uint64_t content_length,
                        std::string_view content_type);
  Status WritePieces(std::span<const std::string_view> pieces);

  ResponseChannel& channel_;
  const ResponseContext ctx_;
  std::vector<std::pair<std::string, std::string>> headers_;
  bool close_requested_ = false;
  bool head_written_ = false;
  bool finished_ = false;
  bool failed_ = false;
  bool keep_alive_ = false;
  Framing framing_ = Framing::kNone;
  int status_ = 0;
  uint64_t declared_length_ = 0;
  uint64_t accepted_bytes_ = 0;  // body bytes the handler passed to Write
  uint64_t body_bytes_ = 0;      // body bytes sent (stays 0 for HEAD)
};

// RFC 9110 token (header names, methods).
bool IsToken(std::string_view s);
// A header value we are willing to send: no control characters except HTAB.
bool IsSafeHeaderValue(std::string_view s);

}  // namespace keycell::broker::http

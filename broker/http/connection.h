#pragma once
// One HTTP/1.1 connection: read a request head, check it, route it, let the handler read
// the body and write the response, then keep the connection for the next request or
// close it. The server runs this on a thread per connection over an FdTransport; tests
// and the fuzz harness run it over a MemoryTransport (same code path, no sockets).
//
// What the connection answers itself (keycell error JSON, then closes, except 404/405):
//   400 malformed request line or field (Beast), bare LF / CR, obs-fold, a bad target
//       (target.h), several Content-Length fields or a list value, Content-Length with
//       Transfer-Encoding, Transfer-Encoding in HTTP/1.0, Host missing (HTTP/1.1) or
//       repeated, an HTTP version other than 1.0/1.1
//   408 a head not complete within header_timeout (silence before any byte just closes)
//   413 Content-Length above max_body_bytes
//   417 an Expect other than 100-continue
//   431 head above max_header_bytes, or more than max_header_fields fields
//   501 a Transfer-Encoding other than exactly "chunked"
//   404 / 405 (router), 500 (handler wrote nothing or threw)
//
// Keep-alive after a handler: if the handler left part of the request body unread, the
// connection drains up to 64 KiB of it after the response and stays open; a larger
// remainder, or a client still waiting for "100 Continue", gets "Connection: close" in
// the response head, and the connection closes with a lingering close.

#include <atomic>

#include "broker/http/options.h"
#include "broker/http/request.h"
#include "broker/http/router.h"
#include "broker/http/transport.h"

namespace keycell::broker::http {

// Request-body bytes the connection reads and discards after a response to keep the
// connection alive; more than that and it closes instead.
inline constexpr uint64_t kMaxDrainBytes = 64 * 1024;

struct ConnectionContext {
  const Router* router = nullptr;          // required
  const ServerOptions* options = nullptr;  // required
  PeerAddress peer;
  const std::atomic<bool>* stopping = nullptr;  // null: never stopping
  // The first request's head must be complete by then (accept time + header_timeout).
  Deadline first_request_deadline = Deadline::max();
};

// Serves requests on `transport` until the peer closes, a request asks to close, an error
// or a timeout, or the server stops (idle connections end at once; a request in flight
// finishes first). Blocks for the connection's whole life. Never throws: handler
// exceptions become 500 or a closed connection. Does not close the transport's fd (its
// owner does), but may half-close it (LingeringClose).
void ServeConnection(Transport& transport, const ConnectionContext& ctx);

}  // namespace keycell::broker::http

#pragma once
// MCP over keycelld's HTTP server (issue 6; docs/mcp.md "Transports"): the Streamable
// HTTP transport on /mcp (2025-03-26 and later) and the legacy HTTP+SSE transport on
// /sse + /messages (2024-11-05), both feeding one mcp::Session per MCP session.
//
//   POST   /mcp                      one JSON-RPC message; initialize without
//                                    Mcp-Session-Id opens a session (id in the reply's
//                                    Mcp-Session-Id header); a request is answered with
//                                    application/json (or one SSE event when the client
//                                    accepts only text/event-stream), or, when it sends
//                                    messages while it runs (a tool's log line, an
//                                    elicitation/create) and the client accepts SSE, with
//                                    an SSE stream of those messages, then the response;
//                                    notifications and responses get 202 with no body
//   GET    /mcp                      text/event-stream of the session's server
//                                    notifications (one stream per session at a time)
//   DELETE /mcp                      ends the session (204)
//   GET    /sse                      legacy: opens a session whose first event is
//                                    `endpoint` = /messages?sessionId=<id>; the session
//                                    lives as long as this stream
//   POST   /messages?sessionId=<id>  legacy: 202; the reply goes out on the stream as
//                                    `event: message`
//
// Every request: Host must name loopback and Origin, when present, must be a loopback
// http origin (DNS-rebinding protection, 403), then RestApi::Admit (401/429). A session
// belongs to the principal that opened it: any other principal gets 404 for its id.
//
// Bounded: at most McpHttpOptions::max_sessions sessions (opening one more evicts the
// least recently used), sessions unused for idle_timeout are dropped, bodies are capped at
// mcp::kMaxMessageBytes, a stream's queue at max_queued_events / max_queued_bytes.
//
// Threads: handlers run on the HTTP server's connection threads, several at once;
// everything here is thread-safe. A stream handler waits on its session and returns when
// the session ends, the client goes away or the server stops (Request::stopping()). The
// McpHttp must outlive the http::Server it is registered on.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "broker/daemon/rest_api.h"
#include "broker/http/request.h"
#include "broker/http/response.h"
#include "broker/http/router.h"
#include "broker/identity/types.h"
#include "broker/mcp/server.h"
#include "broker/mcp/tool_registry.h"
#include "common/result.h"

namespace keycell::broker::daemon {

struct McpHttpOptions {
  mcp::ServerOptions server;  // handed to every mcp::Session
  size_t max_sessions = 64;
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(30);
  // An SSE comment line (": keep-alive") after this long without an event, so proxies
  // and clients see the stream alive and a vanished client is noticed.
  std::chrono::milliseconds keepalive_interval = std::chrono::seconds(15);
  // Events (notifications, legacy replies) waiting for a slow stream; beyond either
  // bound the oldest are dropped (the newest is always kept).
  size_t max_queued_events = 256;
  size_t max_queued_bytes = size_t{8} << 20;
};

// Builds the tools of one session for the principal that opens it (so each tool call
// runs with that principal's role and scopes). Called once per new session; must be
// thread-safe. Returning null refuses the session (500).
using McpRegistryFactory =
    std::function<std::shared_ptr<const mcp::ToolRegistry>(const identity::Principal&)>;

class McpHttp {
 public:
  McpHttp(McpRegistryFactory tools, McpHttpOptions options);
  ~McpHttp();
  McpHttp(const McpHttp&) = delete;
  McpHttp& operator=(const McpHttp&) = delete;

  // Adds /mcp, /sse and /messages. `api` authenticates every request and must outlive
  // the router. Errors: the router's (a duplicate pattern).
  Status Register(http::Router& router, RestApi& api);

  size_t session_count() const;

  // The DNS-rebinding checks, exposed for tests. An Origin is accepted when it is
  // "http://" + a loopback host (127.0.0.0/8, localhost, [::1]) + an optional ":port".
  static bool IsLoopbackOrigin(std::string_view origin);

 private:
  struct HttpSession;
  using SessionPtr = std::shared_ptr<HttpSession>;

  void PostMcp(RestApi& api, http::Request& req, http::ResponseWriter& res);
  void GetMcp(RestApi& api, http::Request& req, http::ResponseWriter& res);
  void DeleteMcp(RestApi& api, http::Request& req, http::ResponseWriter& res);
  void GetSse(RestApi& api, http::Request& req, http::ResponseWriter& res);
  void PostMessages(RestApi& api, http::Request& req, http::ResponseWriter& res);

  // Host/Origin checks, then Admit. nullopt once a refusal has been sent.
  std::optional<identity::Principal> Gate(RestApi& api, http::Request& req,
                                          http::ResponseWriter& res);
  // A new session for `who`, evicting as needed; null (500 sent) on failure.
  SessionPtr Open(const identity::Principal& who, bool legacy, http::ResponseWriter& res);
  // The live session `id` owned by `who`, or null.
  SessionPtr Find(std::string_view id, const identity::Principal& who);
  // The Streamable HTTP session the request's one Mcp-Session-Id names for `who`, or null
  // once 400 (no or several ids) or 404 (unknown, another principal's, or legacy) is sent.
  SessionPtr FindNamed(http::Request& req, http::ResponseWriter& res,
                       const identity::Principal& who);
  void Close(const SessionPtr& s);
  void SweepLocked(std::chrono::steady_clock::time_point now);
  // Writes the session's queued events to `res` until the session ends, the client goes
  // away or the server stops.
  void Stream(const SessionPtr& s, http::Request& req, http::ResponseWriter& res);

  const McpRegistryFactory tools_;
  const McpHttpOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, SessionPtr, std::less<>> sessions_;  // guarded by mu_
};

}  // namespace keycell::broker::daemon

#pragma once
// MCP over the control socket: the daemon's half of the stdio transport (`keycell mcp`,
// docs/mcp.md "Transports: stdio"). `keycell mcp` connects to keycelld and sends the
// `mcp` op; after the op's OK reply the connection is an MCP stream in which every
// control frame, in either direction, is one raw JSON-RPC message (no JSON envelope,
// no fd). keycelld runs one mcp::Session per such connection, with the tool registry
// built for the principal the op authenticated, so many agents share one unlocked
// daemon, each with its own identity.
//
//   op args   {"token": "<pxr_ token or kc_ API key>"}   optional; without it the
//                                                      session runs as the socket's
//                                                      peer, the local owner
//   reply     the whoami op's answer: whom the session runs as
//   errors    unauthorized (bad, expired or revoked token; audited), bad_request
//             (token not a string), internal (no tool registry)
//
// Threads: Serve runs on the control connection's thread and reads frames; each
// JSON-RPC request then runs on a thread of its own (at most max_in_flight at once:
// beyond that the request is answered -32603 at once), so a notifications/cancelled,
// or a response the client sends to a server-initiated request, reaches the session
// while a tool runs. Notifications and responses from the client are handled in order
// on the reading thread. Frames going out (replies, the session's notifications and
// requests) are written whole under one mutex.

#include <cstddef>
#include <memory>

#include "broker/daemon/mcp_http.h"
#include "broker/daemon/vault.h"
#include "broker/identity/types.h"
#include "broker/json/json.h"
#include "broker/mcp/server.h"

namespace keycell::broker::daemon {

struct McpStreamOptions {
  mcp::ServerOptions server;  // handed to every mcp::Session
  size_t max_in_flight = 16;  // requests running at once on one stream
  // A client that stops reading is given this long per frame before the stream ends.
  int write_timeout_ms = 30 * 1000;
};

class McpStream {
 public:
  // `vault` (which authenticates tokens) must outlive the McpStream; `tools` builds
  // the registry of each new stream, as for McpHttp.
  McpStream(Vault& vault, McpRegistryFactory tools, McpStreamOptions options)
      : vault_(vault), tools_(std::move(tools)), options_(std::move(options)) {}

  // The `mcp` op on control connection `conn`, as ControlServer::StreamHandler: answers
  // the op, then serves the stream until the peer closes it, a frame is malformed, a
  // write stalls past write_timeout_ms or the connection is shut down (keycelld
  // stopping). Before returning it cancels the requests still running and waits for
  // them, so no thread outlives the Session or touches `conn` after. Blocks.
  void Serve(int conn, const identity::Principal& owner, const cJSON* args);

 private:
  Vault& vault_;
  const McpRegistryFactory tools_;
  const McpStreamOptions options_;
};

}  // namespace keycell::broker::daemon

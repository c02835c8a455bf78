#pragma once
// The transport-independent MCP protocol core (docs/mcp.md). A transport (stdio,
// Streamable HTTP, legacy SSE) owns one Session per MCP connection/session, feeds it one
// raw JSON-RPC message at a time and writes back what Handle returns; server-initiated
// messages (notifications/message, requests such as elicitation/create) go out through
// the Outgoing callback, tagged with the client request they belong to so a transport can
// send them on that request's stream (Streamable HTTP's SSE response to a POST).
//
// Handled: initialize (version negotiation), notifications/initialized, ping,
// tools/list (cursor pagination), tools/call, logging/setLevel, notifications/cancelled,
// and responses from the client to the server's own requests (Request). A request whose
// params._meta names a protocol version (the 2026-07-28 stateless revision) is served on
// its own, without initialize: server/discover, ping, tools/list, tools/call,
// logging/setLevel. Every other method is -32601 in every state, and server/discover
// without that _meta claim is -32601 too, so a legacy probe is refused without ending the
// session. Of the modern codes -32020..-32022 only -32022 is ever produced, and only for
// a request whose _meta claims a version this server does not speak.
//
// Threads: Handle, Log and the accessors are thread-safe; a transport may call Handle
// from several threads at once (requests then run in parallel; that is how a
// notifications/cancelled can reach a running tools/call). No lock is held while a
// tool handler or the Outgoing callback runs. A transport must keep feeding Handle while a
// tools/call runs (another thread), or a tool waiting in Request sees only its timeout.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "broker/json/json.h"
#include "broker/mcp/jsonrpc.h"
#include "broker/mcp/tool_registry.h"

namespace keycell::mcp {

// Newest first; initialize answers the client's version when it is listed here and
// kSupportedProtocolVersions[0] otherwise (lifecycle, "Version Negotiation").
inline constexpr std::array<std::string_view, 4> kSupportedProtocolVersions = {
    "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

// The stateless ("modern") revision: a request that carries this version in
// params._meta["io.modelcontextprotocol/protocolVersion"] is served on its own, with no
// initialize (server/discover, ping, tools/list, tools/call, logging/setLevel); see
// docs/mcp.md "The 2026-07-28 revision".
inline constexpr std::string_view kModernProtocolVersion = "2026-07-28";
inline constexpr char kProtocolVersionMetaKey[] = "io.modelcontextprotocol/protocolVersion";
inline constexpr char kClientCapabilitiesMetaKey[] = "io.modelcontextprotocol/clientCapabilities";
inline constexpr char kServerInfoMetaKey[] = "io.modelcontextprotocol/serverInfo";
// -32022 UnsupportedProtocolVersion (2026-07-28): answered only to a request whose _meta
// claims a version of that era this server does not speak.
inline constexpr int kUnsupportedProtocolVersion = -32022;

// The answer to a request other than initialize/ping before initialize, and to a
// second initialize. MCP defines no code for it; -32600 (Invalid Request: not valid in
// the session's current state) is what JSON-RPC offers. See docs/mcp.md.
inline constexpr int kNotInitialized = kInvalidRequest;

struct ServerOptions {
  std::string version;       // serverInfo.version (keycell's version string)
  std::string instructions;  // InitializeResult.instructions; omitted when empty
  size_t page_size = 50;     // tools per tools/list page; 0 is treated as 1
  // Threshold before the client sends logging/setLevel (the spec leaves it to us).
  LogLevel initial_log_level = LogLevel::kInfo;
  // Server-to-client requests awaiting a response at once; Request beyond it fails.
  size_t max_pending_requests = 16;
};

class Session {
 public:
  // Receives one serialized JSON-RPC notification (no trailing newline). Called from
  // whichever thread calls Log or runs a tool; must be thread-safe. Never called with
  // a Session lock held, so it may call back into the Session.
  using Notify = std::function<void(std::string message)>;
  // The same, plus the id of the client request the message belongs to (the tools/call
  // that logged or asked), or nullopt for a message of the session as a whole.
  using Outgoing = std::function<void(std::string message, const std::optional<Id>& related)>;

  Session(std::shared_ptr<const ToolRegistry> tools, ServerOptions options, Notify notify);
  Session(std::shared_ptr<const ToolRegistry> tools, ServerOptions options, Outgoing outgoing);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Handles one raw message. Returns the serialized reply for a request (or for a
  // message that could not be parsed), nullopt for notifications, for responses from
  // the client, and for a request cancelled while it ran.
  std::optional<std::string> Handle(std::string_view message);

  // Emits notifications/message {level, logger (omitted when empty), data} when
  // `level` is at or above the session's level and initialize has been answered;
  // otherwise drops it. `data` is copied; it must never hold a secret.
  void Log(LogLevel level, std::string_view logger, const cJSON* data);
  void Log(LogLevel level, std::string_view logger, std::string_view text);

  // Sends a request to the client and waits for its response (which reaches the session
  // through Handle). Returns the response's `result`. Errors: Err::kUnavailable (not
  // initialized, no transport, or max_pending_requests already waiting),
  // Err::kInvalidArgument (unserializable), Err::kTimeout (no answer within `timeout`,
  // or `cancelled` became true: the client is then sent notifications/cancelled for
  // it), Err::kPolicyDenied (the client answered with a JSON-RPC error; detail = code).
  // `related` tags the outgoing message (see Outgoing).
  Result<json::Json> Request(std::string_view method, json::Json params,
                             std::chrono::milliseconds timeout,
                             const std::atomic<bool>* cancelled = nullptr,
                             const std::optional<Id>& related = std::nullopt);
  // Sends a notification; Err::kInvalidArgument when it cannot be serialized,
  // Err::kUnavailable before initialize.
  Status SendNotification(std::string_view method, json::Json params,
                const std::optional<Id>& related = std::nullopt);

  bool initialized() const;              // initialize answered successfully
  bool client_ready() const;             // notifications/initialized received
  std::string protocol_version() const;  // negotiated; empty before initialize
  LogLevel log_level() const;
  json::Json client_capabilities() const;  // a copy; empty before initialize

 private:
  std::optional<std::string> HandleRequest(Message& m);
  // A request with a per-request _meta protocol version (the stateless revision).
  std::optional<std::string> HandleModern(Message& m, std::string_view version);
  std::string Discover(const Id& id);
  void HandleNotification(const Message& m);
  void HandleResponse(Message& m);
  void LogFor(LogLevel level, std::string_view logger, const cJSON* data,
              const std::optional<Id>& related);
  std::string Initialize(const Id& id, const cJSON* params);
  std::string ListTools(const Id& id, const cJSON* params,
                        const std::string* modern_version = nullptr);
  // `modern`: the stateless revision (version and capabilities from the request's _meta,
  // no server-to-client requests: there is no session to carry their answers).
  std::optional<std::string> CallTool(const Id& id, const cJSON* params,
                                      const std::string* modern_version = nullptr);
  std::string SetLevel(const Id& id, const cJSON* params);

  const std::shared_ptr<const ToolRegistry> tools_;
  const ServerOptions options_;
  const Outgoing outgoing_;

  // A server-to-client request waiting for its response.
  struct Pending {
    bool done = false;
    bool failed = false;  // the client answered with an error
    int64_t error_code = 0;
    json::Json result;
  };

  mutable std::mutex mu_;
  bool initialized_ = false;        // guarded by mu_
  bool client_ready_ = false;       // guarded by mu_
  std::string protocol_version_;    // guarded by mu_; set once
  json::Json client_capabilities_;  // guarded by mu_; set once
  std::atomic<LogLevel> log_level_;
  // tools/call requests currently running, by id, with their cancellation flag.
  std::map<Id, std::shared_ptr<std::atomic<bool>>> in_flight_;  // guarded by mu_
  // Our requests to the client, by the id we gave them ("keycell-<n>").
  std::map<Id, std::shared_ptr<Pending>> pending_;  // guarded by mu_
  int64_t next_request_ = 1;                       // guarded by mu_
  std::condition_variable pending_cv_;};

}  // namespace keycell::mcp

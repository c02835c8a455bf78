#pragma once
// What an MCP tool is to the protocol core: its description for tools/list, its
// schemas, and the handler tools/call dispatches to. The registry is filled once at
// start-up and then shared, read-only, by every Session (tools.listChanged is false).
//
// Seams for the real tools (broker/mcp/tools.{h,cc}, later): a handler receives
// arguments already validated against its inputSchema (schema.h) and a ToolContext
// with the request id, the negotiated protocol version, a cancellation flag and a
// logger. It reports failures of the call itself (locked vault, policy refusal) as a
// ToolResult with is_error set, never as a JSON-RPC error.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/json/json.h"
#include "broker/mcp/jsonrpc.h"
#include "common/result.h"

namespace keycell::mcp {

// The eight syslog severities of MCP logging, in increasing order.
enum class LogLevel { kDebug, kInfo, kNotice, kWarning, kError, kCritical, kAlert, kEmergency };

// "debug", "info", ... "emergency"; nullopt for anything else (case-sensitive).
std::optional<LogLevel> ParseLogLevel(std::string_view name);
const char* LogLevelName(LogLevel level);

// MCP ToolAnnotations. Always sent in full (2025-03-26 and later), so every value is a
// deliberate statement about the tool. Defaults are the spec's defaults.
struct ToolAnnotations {
  bool read_only_hint = false;
  bool destructive_hint = true;  // meaningful only when read_only_hint is false
  bool idempotent_hint = false;  // meaningful only when read_only_hint is false
  bool open_world_hint = true;
};

// What a handler returns; becomes a CallToolResult.
struct ToolResult {
  std::vector<std::string> text;  // content items of type "text", in order
  json::Json structured;          // structuredContent: an object, or empty
  bool is_error = false;

  static ToolResult Text(std::string text);
  static ToolResult Error(std::string message);
  // structuredContent plus, when `text` is empty, its JSON text as the one content
  // item (the spec's backwards-compatibility advice; the server adds it anyway).
  static ToolResult Structured(json::Json object, std::string text = std::string());
};

// What a handler may send back to the client while it runs, bound to its tools/call by
// the Session (so a transport can route it, e.g. onto the POST's SSE stream). Empty
// functions when the call has no session behind it (unit tests of a handler).
struct ToolPeer {
  // A server-to-client request (e.g. elicitation/create); waits for the client's
  // response. See Session::Request for the errors.
  std::function<Result<json::Json>(std::string_view method, json::Json params,
                                   std::chrono::milliseconds timeout)>
      request;
  // A server-to-client notification (e.g. notifications/elicitation/complete).
  std::function<Status(std::string_view method, json::Json params)> notify;
  // The capabilities the client declared in initialize (a copy; {} when none).
  std::function<json::Json()> client_capabilities;
};

// Per-call context handed to a handler. Valid only for the duration of the call.
class ToolContext {
 public:
  using LogFn = std::function<void(LogLevel, std::string_view)>;
  ToolContext(Id request_id, std::string protocol_version, const std::atomic<bool>* cancelled,
              LogFn log, ToolPeer peer = {})
      : request_id_(std::move(request_id)),
        protocol_version_(std::move(protocol_version)),
        cancelled_(cancelled),
        log_(std::move(log)),
        peer_(std::move(peer)) {}

  const Id& request_id() const { return request_id_; }
  // The version negotiated by initialize, e.g. "2025-11-25".
  const std::string& protocol_version() const { return protocol_version_; }
  // True once the client sent notifications/cancelled for this request. A long-running
  // handler polls it and returns early; whatever it returns is then discarded (a
  // cancelled request gets no response).
  bool cancelled() const { return cancelled_ != nullptr && cancelled_->load(); }
  // A notifications/message with the tool's name as logger, subject to the session's
  // level (logging/setLevel). Never pass secret material.
  void Log(LogLevel level, std::string_view message) const {
    if (log_) log_(level, message);
  }
  // Sends `method` to the client and waits up to `timeout` for its result (the
  // `result` member); see Session::Request for the errors. Returns early when this
  // tools/call is cancelled. Err::kUnavailable without a session.
  Result<json::Json> Request(std::string_view method, json::Json params,
                             std::chrono::milliseconds timeout) const {
    if (!peer_.request) return Status(Err::kUnavailable, "no MCP session");
    return peer_.request(method, std::move(params), timeout);
  }
  Status Notify(std::string_view method, json::Json params) const {
    if (!peer_.notify) return Status(Err::kUnavailable, "no MCP session");
    return peer_.notify(method, std::move(params));
  }
  json::Json ClientCapabilities() const {
    return peer_.client_capabilities ? peer_.client_capabilities() : json::MakeObject();
  }

 private:
  Id request_id_;
  std::string protocol_version_;
  const std::atomic<bool>* cancelled_;
  LogFn log_;
  ToolPeer peer_;
};

// `arguments` is the validated arguments object (never null: {} when the client sent
// none). Borrowed for the duration of the call. Called without any session lock held;
// may run concurrently with other calls of the same tool (from different sessions, or
// from one session whose transport dispatches requests in parallel).
using ToolHandler = std::function<ToolResult(const ToolContext&, const cJSON* arguments)>;

struct Tool {
  std::string name;   // 1-128 of [A-Za-z0-9_.-], unique
  std::string title;  // human-readable; may be empty
  std::string description;
  json::Json input_schema;   // required; an object schema ("type": "object") in schema.h's subset
  json::Json output_schema;  // optional; when set, every non-error result must carry a
                             // structuredContent object that conforms to it
  ToolAnnotations annotations;
  ToolHandler handler;
};

class ToolRegistry {
 public:
  // Err::kInvalidArgument (with a sentence in `why` when non-null) for a bad name, a
  // duplicate name, a missing handler, a schema outside schema.h's subset, or an
  // inputSchema/outputSchema whose root is not {"type": "object", ...}.
  Status Add(Tool tool, std::string* why = nullptr);

  const Tool* Find(std::string_view name) const;  // null when unknown
  // In registration order; tools/list pages over this.
  const std::vector<std::unique_ptr<Tool>>& tools() const { return tools_; }
  size_t size() const { return tools_.size(); }

 private:
  std::vector<std::unique_ptr<Tool>> tools_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace keycell::mcp

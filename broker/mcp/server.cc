#include "broker/mcp/server.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "broker/mcp/schema.h"
#include "common/secure_buffer.h"

namespace keycell::mcp {
namespace {

constexpr char kServerName[] = "keycell";

// Protocol dates compare as strings (YYYY-MM-DD).
bool AtLeast(const std::string& version, std::string_view since) { return version >= since; }

// Things built through json.h that cannot fail on valid input: a failure is a bug.
void Must(const Status& st) { KC_CHECK(st.ok()); }

std::string Error(const Id& id, int code, std::string_view message) {
  return SerializeError(id, code, message);
}

std::string EmptyResult(const Id& id) {
  const json::Json empty = json::MakeObject();
  return SerializeResponse(id, empty.get());
}

// tools/list cursors: "o" + the decimal offset of the page's first tool. Opaque to the
// client; only offsets this server would have issued are accepted.
std::string MakeCursor(size_t offset) { return "o" + std::to_string(offset); }

std::optional<size_t> ReadCursor(std::string_view cursor, size_t page, size_t total) {
  if (cursor.size() < 2 || cursor.size() > 10 || cursor[0] != 'o' || cursor[1] == '0') {
    return std::nullopt;
  }
  size_t offset = 0;
  for (const char c : cursor.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    offset = offset * 10 + static_cast<size_t>(c - '0');
  }
  if (offset % page != 0 || offset >= total) return std::nullopt;
  return offset;
}

json::Json DescribeAnnotations(const Tool& tool, bool with_title) {
  json::Json a = json::MakeObject();
  if (with_title && !tool.title.empty()) Must(json::SetString(a.get(), "title", tool.title));
  Must(json::SetBool(a.get(), "readOnlyHint", tool.annotations.read_only_hint));
  Must(json::SetBool(a.get(), "destructiveHint", tool.annotations.destructive_hint));
  Must(json::SetBool(a.get(), "idempotentHint", tool.annotations.idempotent_hint));
  Must(json::SetBool(a.get(), "openWorldHint", tool.annotations.open_world_hint));
  return a;
}

// One Tool object, with the members the negotiated version defines:
//   2024-11-05: name, description, inputSchema
//   2025-03-26: + annotations (ToolAnnotations then carried the title)
//   2025-06-18 and later: + title, outputSchema
Result<json::Json> DescribeTool(const Tool& tool, const std::string& version) {
  json::Json t = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(t.get(), "name", tool.name));
  const bool modern = AtLeast(version, "2025-06-18");
  if (modern && !tool.title.empty()) {
    KC_RETURN_IF_ERROR(json::SetString(t.get(), "title", tool.title));
  }
  KC_RETURN_IF_ERROR(json::SetString(t.get(), "description", tool.description));
  KC_RETURN_IF_ERROR(json::Set(t.get(), "inputSchema", json::Clone(tool.input_schema.get())));
  if (modern && tool.output_schema) {
    KC_RETURN_IF_ERROR(json::Set(t.get(), "outputSchema", json::Clone(tool.output_schema.get())));
  }
  if (AtLeast(version, "2025-03-26")) {
    KC_RETURN_IF_ERROR(json::Set(t.get(), "annotations", DescribeAnnotations(tool, !modern)));
  }
  return t;
}

// A tool result's text may be a value an allowed reveal returned: its copies are wiped
// when they go out of scope, like the transports' reply text.
class WipeTexts {
 public:
  explicit WipeTexts(std::vector<std::string>& texts) : texts_(texts) {}
  ~WipeTexts() {
    for (std::string& t : texts_) WipeString(t);
  }
  WipeTexts(const WipeTexts&) = delete;
  WipeTexts& operator=(const WipeTexts&) = delete;

 private:
  std::vector<std::string>& texts_;
};

// CallToolResult. structuredContent only from 2025-06-18 on; a result with structured
// content and no text gets the content's JSON text as its one text item.
Result<json::Json> RenderResult(const ToolResult& r, const std::string& version) {
  json::Json out = json::MakeObject();
  json::Json content = json::MakeArray();
  std::vector<std::string> texts = r.text;
  const WipeTexts wipe_texts(texts);
  if (texts.empty() && r.structured) {
    KC_ASSIGN_OR_RETURN(std::string printed, json::Print(r.structured.get()));
    texts.push_back(std::move(printed));
  }
  for (const std::string& text : texts) {
    json::Json item = json::MakeObject();
    Must(json::SetString(item.get(), "type", "text"));
    KC_RETURN_IF_ERROR(json::SetString(item.get(), "text", text));
    KC_RETURN_IF_ERROR(json::Append(content.get(), std::move(item)));
  }
  KC_RETURN_IF_ERROR(json::Set(out.get(), "content", std::move(content)));
  if (r.structured && AtLeast(version, "2025-06-18")) {
    KC_RETURN_IF_ERROR(json::Set(out.get(), "structuredContent", json::Clone(r.structured.get())));
  }
  KC_RETURN_IF_ERROR(json::SetBool(out.get(), "isError", r.is_error));
  return out;
}

// Empty when the handler kept its contract, else why not (for the -32603 message; never
// includes values).
std::string CheckToolContract(const Tool& tool, const ToolResult& r) {
  if (r.structured && json::TypeOf(r.structured.get()) != json::Type::kObject) {
    return "structuredContent is not an object";
  }
  if (!tool.output_schema || r.is_error) return std::string();
  if (!r.structured) return "tool with an outputSchema returned no structuredContent";
  std::string err =
      ValidateAgainstSchema(tool.output_schema.get(), r.structured.get(), "structuredContent");
  return err.empty() ? err : "tool result does not match its outputSchema: " + err;
}

}  // namespace

Session::Session(std::shared_ptr<const ToolRegistry> tools, ServerOptions options, Notify notify)
    : Session(std::move(tools), std::move(options),
              notify ? Outgoing([notify = std::move(notify)](std::string message,
                                                             const std::optional<Id>&) {
                notify(std::move(message));
              })
                     : Outgoing()) {}

Session::Session(std::shared_ptr<const ToolRegistry> tools, ServerOptions options,
                 Outgoing outgoing)
    : tools_(tools ? std::move(tools) : std::make_shared<const ToolRegistry>()),
      options_(std::move(options)),
      outgoing_(std::move(outgoing)),
      log_level_(options_.initial_log_level) {}

bool Session::initialized() const {
  std::lock_guard<std::mutex> lock(mu_);
  return initialized_;
}

bool Session::client_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return client_ready_;
}

std::string Session::protocol_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return protocol_version_;
}

LogLevel Session::log_level() const { return log_level_.load(); }

json::Json Session::client_capabilities() const {
  std::lock_guard<std::mutex> lock(mu_);
  return json::Clone(client_capabilities_.get());
}

std::optional<std::string> Session::Handle(std::string_view message) {
  ParseFailure failure;
  auto parsed = ParseMessage(message, &failure);
  if (!parsed.ok()) return SerializeError(failure.id, failure.code, failure.message);
  Message& m = *parsed;
  switch (m.kind) {
    case MessageKind::kRequest:
      return HandleRequest(m);
    case MessageKind::kNotification:
      HandleNotification(m);
      return std::nullopt;
    case MessageKind::kResponse:
    case MessageKind::kErrorResponse:
      HandleResponse(m);
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> Session::HandleRequest(Message& m) {
  const Id& id = *m.id;
  const cJSON* params = m.params.get();
  // MCP params are always an object; a positional (array) params fits no method.
  if (params != nullptr && json::TypeOf(params) != json::Type::kObject) {
    return Error(id, kInvalidParams, "params must be an object");
  }
  // The stateless revision names its version in every request's _meta.
  if (const auto claimed =
          json::GetString(json::GetObject(params, "_meta"), kProtocolVersionMetaKey)) {
    return HandleModern(m, *claimed);
  }
  if (m.method == "ping") return EmptyResult(id);
  if (m.method == "initialize") return Initialize(id, params);
  const bool known =
      m.method == "tools/list" || m.method == "tools/call" || m.method == "logging/setLevel";
  // Unknown methods first, whatever the state: a probe (server/discover) must read
  // -32601, not a lifecycle error.
  if (!known) return Error(id, kMethodNotFound, "method not found");
  if (!initialized()) return Error(id, kNotInitialized, "server not initialized");
  if (m.method == "tools/list") return ListTools(id, params);
  if (m.method == "tools/call") return CallTool(id, params);
  return SetLevel(id, params);
}

void Session::HandleNotification(const Message& m) {
  if (m.method == "notifications/initialized") {
    std::lock_guard<std::mutex> lock(mu_);
    if (initialized_) client_ready_ = true;
    return;
  }
  if (m.method == "notifications/cancelled") {
    Id target;
    const cJSON* request_id = json::GetMember(m.params.get(), "requestId");
    if (const auto s = json::AsString(request_id)) {
      target = std::string(*s);
    } else if (const auto n = json::AsInt(request_id)) {
      target = *n;
    } else {
      return;  // malformed: notifications are never answered
    }
    std::lock_guard<std::mutex> lock(mu_);
    // Unknown or finished ids are ignored (cancellation, "Behavior Requirements").
    const auto it = in_flight_.find(target);
    if (it != in_flight_.end()) it->second->store(true);
    return;
  }
  // Any other notification (progress, roots/list_changed, ...) is ignored.
}

std::string Session::Initialize(const Id& id, const cJSON* params) {
  const std::optional<std::string_view> requested = json::GetString(params, "protocolVersion");
  if (!requested) return Error(id, kInvalidParams, "protocolVersion must be a string");
  const cJSON* capabilities = json::GetMember(params, "capabilities");
  if (capabilities != nullptr && json::TypeOf(capabilities) != json::Type::kObject) {
    return Error(id, kInvalidParams, "capabilities must be an object");
  }
  std::string version(kSupportedProtocolVersions[0]);
  for (const std::string_view v : kSupportedProtocolVersions) {
    if (*requested == v) version = std::string(v);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (initialized_) return Error(id, kNotInitialized, "already initialized");
    initialized_ = true;
    protocol_version_ = version;
    client_capabilities_ = capabilities != nullptr ? json::Clone(capabilities) : json::MakeObject();
  }

  json::Json result = json::MakeObject();
  Must(json::SetString(result.get(), "protocolVersion", version));
  json::Json caps = json::MakeObject();
  json::Json tools = json::MakeObject();
  Must(json::SetBool(tools.get(), "listChanged", false));
  Must(json::Set(caps.get(), "tools", std::move(tools)));
  Must(json::Set(caps.get(), "logging", json::MakeObject()));
  Must(json::Set(result.get(), "capabilities", std::move(caps)));
  json::Json info = json::MakeObject();
  Must(json::SetString(info.get(), "name", kServerName));
  if (!json::SetString(info.get(), "version", options_.version).ok()) {
    Must(json::SetString(info.get(), "version", "unknown"));
  }
  Must(json::Set(result.get(), "serverInfo", std::move(info)));
  if (!options_.instructions.empty()) {
    // Invalid UTF-8 from the caller's config is dropped rather than sent.
    (void)json::SetString(result.get(), "instructions", options_.instructions);
  }
  return SerializeResponse(id, result.get());
}

std::string Session::ListTools(const Id& id, const cJSON* params,
                               const std::string* modern_version) {
  const size_t page = options_.page_size == 0 ? 1 : options_.page_size;
  const size_t total = tools_->size();
  size_t offset = 0;
  if (const cJSON* cursor = json::GetMember(params, "cursor")) {
    const std::optional<std::string_view> text = json::AsString(cursor);
    const std::optional<size_t> start = text ? ReadCursor(*text, page, total) : std::nullopt;
    if (!start) return Error(id, kInvalidParams, "invalid cursor");
    offset = *start;
  }
  const std::string version = modern_version != nullptr ? *modern_version : protocol_version();
  json::Json list = json::MakeArray();
  const size_t end = std::min(total, offset + page);
  for (size_t i = offset; i < end; ++i) {
    auto tool = DescribeTool(*tools_->tools()[i], version);
    if (!tool.ok()) return Error(id, kInternalError, "tool definition cannot be serialized");
    Must(json::Append(list.get(), std::move(tool).value()));
  }
  json::Json result = json::MakeObject();
  Must(json::Set(result.get(), "tools", std::move(list)));
  if (end < total) Must(json::SetString(result.get(), "nextCursor", MakeCursor(end)));
  if (modern_version != nullptr) {
    // 2026-07-28 list results are cacheable; keycell's tool list is per principal and
    // may change with an upgrade: do not let a client cache it.
    Must(json::SetInt(result.get(), "ttlMs", 0));
    Must(json::SetString(result.get(), "cacheScope", "private"));
  }
  return SerializeResponse(id, result.get());
}

std::optional<std::string> Session::CallTool(const Id& id, const cJSON* params,
                                             const std::string* modern_version) {
  const std::optional<std::string_view> name = json::GetString(params, "name");
  if (!name) return Error(id, kInvalidParams, "name must be a string");
  // The tool name is not echoed: it comes from the client.
  const Tool* tool = tools_->Find(*name);
  if (tool == nullptr) return Error(id, kInvalidParams, "unknown tool");
  const cJSON* arguments = json::GetMember(params, "arguments");
  json::Json empty_arguments;
  if (arguments == nullptr) {
    empty_arguments = json::MakeObject();
    arguments = empty_arguments.get();
  } else if (json::TypeOf(arguments) != json::Type::kObject) {
    return Error(id, kInvalidParams, "arguments must be an object");
  }

  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  std::string version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Ids must be unique per session; a reused id would make cancellation ambiguous.
    if (!in_flight_.emplace(id, cancelled).second) {
      return Error(id, kInvalidRequest, "request id already in use");
    }
    version = modern_version != nullptr ? *modern_version : protocol_version_;
  }

  ToolResult result;
  const WipeTexts wipe_result(result.text);
  const std::string invalid =
      ValidateAgainstSchema(tool->input_schema.get(), arguments, "arguments");
  if (!invalid.empty()) {
    result = ToolResult::Error("invalid arguments: " + invalid);
  } else {
    const std::string logger = tool->name;
    const std::atomic<bool>* flag = cancelled.get();
    ToolPeer peer;
    if (modern_version == nullptr) {
      peer.request = [this, flag, id](std::string_view method, json::Json p,
                                      std::chrono::milliseconds timeout) {
        return Request(method, std::move(p), timeout, flag, id);
      };
      peer.notify = [this, id](std::string_view method, json::Json p) {
        return SendNotification(method, std::move(p), id);
      };
      peer.client_capabilities = [this] { return client_capabilities(); };
    } else {
      // This request's own declaration; no server requests (peer.request stays empty).
      const cJSON* caps =
          json::GetObject(json::GetObject(params, "_meta"), kClientCapabilitiesMetaKey);
      auto declared = std::make_shared<json::Json>(caps != nullptr ? json::Clone(caps)
                                                                   : json::MakeObject());
      peer.client_capabilities = [declared] { return json::Clone(declared->get()); };
    }
    const ToolContext ctx(
        id, version, flag,
        [this, logger, id](LogLevel level, std::string_view text) {
          auto data = json::MakeString(text);
          if (data.ok()) LogFor(level, logger, data->get(), id);
        },
        std::move(peer));
    result = tool->handler(ctx, arguments);
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(id);
  }
  // A cancelled request gets no response (cancellation, "Behavior Requirements").
  if (cancelled->load()) return std::nullopt;

  const std::string broken = CheckToolContract(*tool, result);
  if (!broken.empty()) {
    Log(LogLevel::kError, "keycell", broken);
    return Error(id, kInternalError, "tool produced an invalid result");
  }
  auto rendered = RenderResult(result, version);
  if (!rendered.ok()) return Error(id, kInternalError, "tool result cannot be serialized");
  return SerializeResponse(id, rendered->get());
}

std::string Session::SetLevel(const Id& id, const cJSON* params) {
  const std::optional<std::string_view> name = json::GetString(params, "level");
  const std::optional<LogLevel> level = name ? ParseLogLevel(*name) : std::nullopt;
  if (!level) return Error(id, kInvalidParams, "level must be one of the eight syslog levels");
  log_level_.store(*level);
  return EmptyResult(id);
}

void Session::Log(LogLevel level, std::string_view logger, const cJSON* data) {
  LogFor(level, logger, data, std::nullopt);
}

void Session::LogFor(LogLevel level, std::string_view logger, const cJSON* data,
                     const std::optional<Id>& related) {
  if (level < log_level_.load() || !initialized() || !outgoing_) return;
  json::Json params = json::MakeObject();
  Must(json::SetString(params.get(), "level", LogLevelName(level)));
  if (!logger.empty() && !json::SetString(params.get(), "logger", logger).ok()) return;
  Must(json::Set(params.get(), "data", data != nullptr ? json::Clone(data) : json::MakeNull()));
  auto text = SerializeNotification("notifications/message", params.get());
  if (text.ok()) outgoing_(std::move(text).value(), related);
}

void Session::Log(LogLevel level, std::string_view logger, std::string_view text) {
  auto data = json::MakeString(text);
  if (!data.ok()) return;  // not clean UTF-8: dropped rather than mangled
  Log(level, logger, data->get());
}

namespace {

// Every revision keycell speaks, newest first: the stateless one, then the legacy ones.
json::Json AllVersions() {
  json::Json versions = json::MakeArray();
  Must(json::Append(versions.get(), json::MakeString(kModernProtocolVersion).value()));
  for (const std::string_view v : kSupportedProtocolVersions)
    Must(json::Append(versions.get(), json::MakeString(v).value()));
  return versions;
}

}  // namespace

std::optional<std::string> Session::HandleModern(Message& m, std::string_view version) {
  const Id& id = *m.id;
  const cJSON* params = m.params.get();
  if (version != kModernProtocolVersion) {
    // The client claims a revision of the stateless era this server does not speak: tell
    // it which ones it does, so it can retry or fall back (-32022 with data).
    json::Json data = json::MakeObject();
    Must(json::Set(data.get(), "supported", AllVersions()));
    (void)json::SetString(data.get(), "requested", version);
    return SerializeError(id, kUnsupportedProtocolVersion, "unsupported protocol version",
                          data.get());
  }
  const std::string v(version);
  std::optional<std::string> reply;
  if (m.method == "server/discover") {
    reply = Discover(id);
  } else if (m.method == "ping") {
    reply = EmptyResult(id);
  } else if (m.method == "tools/list") {
    reply = ListTools(id, params, &v);
  } else if (m.method == "tools/call") {
    reply = CallTool(id, params, &v);
  } else if (m.method == "logging/setLevel") {
    reply = SetLevel(id, params);
  } else {
    return Error(id, kMethodNotFound, "method not found");
  }
  if (!reply) return reply;
  // Every 2026-07-28 result names its kind; keycell's are always complete.
  auto parsed = ParseMessage(*reply);
  if (!parsed.ok() || parsed->kind != MessageKind::kResponse ||
      json::TypeOf(parsed->result.get()) != json::Type::kObject)
    return reply;
  Must(json::SetString(parsed->result.get(), "resultType", "complete"));
  WipeString(*reply);
  return SerializeResponse(id, parsed->result.get());
}

std::string Session::Discover(const Id& id) {
  json::Json result = json::MakeObject();
  Must(json::Set(result.get(), "supportedVersions", AllVersions()));
  json::Json caps = json::MakeObject();
  json::Json tools = json::MakeObject();
  Must(json::SetBool(tools.get(), "listChanged", false));
  Must(json::Set(caps.get(), "tools", std::move(tools)));
  Must(json::Set(caps.get(), "logging", json::MakeObject()));
  Must(json::Set(result.get(), "capabilities", std::move(caps)));
  if (!options_.instructions.empty())
    (void)json::SetString(result.get(), "instructions", options_.instructions);
  Must(json::SetInt(result.get(), "ttlMs", 0));
  Must(json::SetString(result.get(), "cacheScope", "private"));
  json::Json info = json::MakeObject();
  Must(json::SetString(info.get(), "name", kServerName));
  if (!json::SetString(info.get(), "version", options_.version).ok())
    Must(json::SetString(info.get(), "version", "unknown"));
  json::Json meta = json::MakeObject();
  Must(json::Set(meta.get(), kServerInfoMetaKey, std::move(info)));
  Must(json::Set(result.get(), "_meta", std::move(meta)));
  return SerializeResponse(id, result.get());
}

Status Session::SendNotification(std::string_view method, json::Json params,
                                 const std::optional<Id>& related) {
  if (!initialized() || !outgoing_) return Status(Err::kUnavailable, "mcp notify");
  KC_ASSIGN_OR_RETURN(std::string text, SerializeNotification(method, params.get()));
  outgoing_(std::move(text), related);
  return Status::Ok();
}

Result<json::Json> Session::Request(std::string_view method, json::Json params,
                                    std::chrono::milliseconds timeout,
                                    const std::atomic<bool>* cancelled,
                                    const std::optional<Id>& related) {
  if (!outgoing_) return Status(Err::kUnavailable, "mcp request: no transport");
  auto pending = std::make_shared<Pending>();
  Id id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!initialized_) return Status(Err::kUnavailable, "mcp request: not initialized");
    if (pending_.size() >= std::max<size_t>(1, options_.max_pending_requests))
      return Status(Err::kUnavailable, "mcp request: too many pending");
    // Our own id space: the client's request ids are a separate namespace (JSON-RPC ids
    // are per sender), the prefix only makes logs readable.
    id = "keycell-" + std::to_string(next_request_++);
    pending_.emplace(id, pending);
  }
  auto forget = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.erase(id);
  };
  auto text = SerializeRequest(id, method, params.get());
  if (!text.ok()) {
    forget();
    return text.status();
  }
  outgoing_(std::move(text).value(), related);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // The cancellation flag is an atomic nobody signals us about: look at it often.
  constexpr std::chrono::milliseconds kPoll{100};
  std::unique_lock<std::mutex> lock(mu_);
  while (!pending->done) {
    const auto now = std::chrono::steady_clock::now();
    const bool gave_up = now >= deadline || (cancelled != nullptr && cancelled->load());
    if (gave_up) {
      pending_.erase(id);
      lock.unlock();
      // Tell the client to stop asking its user (cancellation applies both ways).
      json::Json note = json::MakeObject();
      Must(json::SetString(note.get(), "requestId", std::get<std::string>(id)));
      Must(json::SetString(note.get(), "reason", "no longer needed"));
      auto cancel = SerializeNotification("notifications/cancelled", note.get());
      if (cancel.ok()) outgoing_(std::move(cancel).value(), related);
      return Status(Err::kTimeout, "mcp request: no response");
    }
    pending_cv_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(
                                   kPoll, deadline - now));
  }
  pending_.erase(id);
  if (pending->failed)
    return Status(Err::kPolicyDenied, "mcp request: client error",
                  static_cast<int32_t>(pending->error_code));
  return std::move(pending->result);
}

void Session::HandleResponse(Message& m) {
  // An error response with a null id answers nothing we can match.
  if (!m.id) return;
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = pending_.find(*m.id);
  if (it == pending_.end() || it->second->done) return;  // unknown, late or repeated
  Pending& p = *it->second;
  p.done = true;
  if (m.kind == MessageKind::kErrorResponse) {
    p.failed = true;
    p.error_code = m.error.code;
  } else {
    p.result = std::move(m.result);
  }
  pending_cv_.notify_all();
}

}  // namespace keycell::mcp

#include "broker/daemon/mcp_stream.h"

#include <sys/socket.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "broker/daemon/control_protocol.h"
#include "broker/daemon/log.h"
#include "broker/mcp/jsonrpc.h"
#include "common/ipc/framing.h"
#include "common/secure_buffer.h"

namespace keycell::broker::daemon {
namespace {

constexpr int kReplyTimeoutMs = 30 * 1000;

std::string_view TextOf(const SecureBuffer& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// One MCP stream: the session, the connection's write side and the requests running.
// Shared by the reading thread and the request threads; the Session's Notify callback
// holds a plain pointer (the Stream owns the Session, so it outlives the callback).
struct Stream {
  Stream(int c, int timeout_ms) : conn(c), write_timeout_ms(timeout_ms) {}

  // One whole frame, or none: a stalled or vanished client ends the stream (the reader
  // sees the shutdown as EOF) instead of holding a tool's thread forever.
  void Write(std::string_view text) {
    std::lock_guard<std::mutex> lock(write_mu);
    if (broken) return;
    const ByteView parts[] = {AsBytes(text)};
    if (!ipc::SendFrame(conn, parts, -1, write_timeout_ms).ok()) {
      broken = true;
      shutdown(conn, SHUT_RDWR);
    }
  }

  // Registers a request about to run; false when max_in_flight are already running.
  bool Begin(const mcp::Id& id, size_t max_in_flight) {
    std::lock_guard<std::mutex> lock(mu);
    if (running.size() >= max_in_flight) return false;
    running.insert(id);
    return true;
  }

  void End(const mcp::Id& id) {
    std::lock_guard<std::mutex> lock(mu);
    running.erase(running.find(id));
    if (running.empty()) idle.notify_all();
  }

  const int conn;
  const int write_timeout_ms;
  std::unique_ptr<mcp::Session> session;

  std::mutex write_mu;
  bool broken = false;  // guarded by write_mu

  std::mutex mu;
  std::condition_variable idle;
  std::multiset<mcp::Id> running;  // guarded by mu
};

// notifications/cancelled for `id`, as the client would send it.
std::optional<std::string> CancelMessage(const mcp::Id& id) {
  json::Json params = json::MakeObject();
  if (const auto* n = std::get_if<int64_t>(&id)) {
    (void)json::SetInt(params.get(), "requestId", *n);
  } else if (!json::SetString(params.get(), "requestId", std::get<std::string>(id)).ok()) {
    return std::nullopt;
  }
  (void)json::SetString(params.get(), "reason", "the client closed the stream");
  auto text = mcp::SerializeNotification("notifications/cancelled", params.get());
  if (!text.ok()) return std::nullopt;
  return std::move(*text);
}

// Runs one request on a thread of its own; the payload moves along with it.
void StartRequest(const std::shared_ptr<Stream>& s, SecureBuffer payload, mcp::Id id) {
  std::thread([s, payload = std::move(payload), id = std::move(id)]() {
    if (std::optional<std::string> reply = s->session->Handle(TextOf(payload))) {
      s->Write(*reply);
      WipeString(*reply);  // it may carry a value an allowed reveal returned
    }
    s->End(id);
  }).detach();
}

// The reading loop: one frame, one message, until EOF or a broken peer.
void ReadMessages(const std::shared_ptr<Stream>& s, size_t max_in_flight) {
  for (;;) {
    auto frame = ipc::RecvFrame(s->conn, ipc::kNoTimeout);
    if (!frame.ok() || frame->fd) return;  // EOF, shutdown, or not our protocol
    const std::string_view text = TextOf(frame->payload);
    // Classified here, parsed again by the Session: only requests may block (a tool
    // call), and they must not hold up the cancellations and responses behind them.
    auto m = mcp::ParseMessage(text);
    if (!m.ok() || m->kind != mcp::MessageKind::kRequest) {
      if (std::optional<std::string> reply = s->session->Handle(text)) s->Write(*reply);
      continue;
    }
    if (!s->Begin(*m->id, max_in_flight)) {
      s->Write(mcp::SerializeError(m->id, mcp::kInternalError,
                                   "too many requests in flight on this connection"));
      continue;
    }
    StartRequest(s, std::move(frame->payload), std::move(*m->id));
  }
}

}  // namespace

void McpStream::Serve(int conn, const identity::Principal& owner, const cJSON* args) {
  identity::Principal who = owner;
  if (const cJSON* token = json::GetMember(args, "token")) {
    const std::optional<std::string_view> text = json::AsString(token);
    if (!text) {
      (void)SendError(conn, {"bad_request", "mcp: token must be a string", kExitUsage},
                      kReplyTimeoutMs);
      return;
    }
    OpResult refused;
    std::optional<identity::Principal> as = vault_.AuthenticateToken(*text, &refused);
    if (!as) {
      (void)SendError(conn, refused.error, kReplyTimeoutMs);
      return;
    }
    who = std::move(*as);
  }
  std::shared_ptr<const mcp::ToolRegistry> tools = tools_(who);
  if (!tools) {
    (void)SendError(conn, {"internal", "mcp: the tool registry could not be built", kExitFailure},
                    kReplyTimeoutMs);
    return;
  }
  // The op's reply says whom the session runs as: whoami's answer.
  const OpResult described = vault_.Dispatch(who, "whoami", nullptr, UniqueFd());
  if (!SendOk(conn, described.result.get(), kReplyTimeoutMs).ok()) return;

  auto s = std::make_shared<Stream>(conn, options_.write_timeout_ms);
  Stream* raw = s.get();
  s->session = std::make_unique<mcp::Session>(tools, options_.server,
                                              [raw](std::string message) { raw->Write(message); });
  LogEvent(LogLevel::kInfo, "mcp_stream_open", {{"principal", who.id}, {"agent", who.agent_name}});
  ReadMessages(s, options_.max_in_flight == 0 ? 1 : options_.max_in_flight);

  // The client is gone (or keycelld is stopping): nobody will read the answers, so the
  // running tools are told to stop, then waited for.
  std::multiset<mcp::Id> running;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    running = s->running;
  }
  for (const mcp::Id& id : running)
    if (std::optional<std::string> cancel = CancelMessage(id)) (void)s->session->Handle(*cancel);
  std::unique_lock<std::mutex> lock(s->mu);
  s->idle.wait(lock, [&] { return s->running.empty(); });
  LogEvent(LogLevel::kInfo, "mcp_stream_closed", {{"principal", who.id}});
}

}  // namespace keycell::broker::daemon

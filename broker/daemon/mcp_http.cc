#include "broker/daemon/mcp_http.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <utility>

#include "broker/http/auth.h"
#include "broker/http/errors.h"
#include "broker/json/json.h"
#include "broker/mcp/jsonrpc.h"
#include "broker/store/types.h"
#include "common/secure_buffer.h"

namespace keycell::broker::daemon {

namespace {

using Clock = std::chrono::steady_clock;
using http::ErrorCode;
using http::Method;
using http::Request;
using http::ResponseWriter;

constexpr char kSessionHeader[] = "Mcp-Session-Id";
constexpr char kVersionHeader[] = "MCP-Protocol-Version";
// How often a waiting stream looks at Request::stopping().
constexpr std::chrono::milliseconds kStopPoll{200};

// Steady-clock ticks (ns): fine enough that "least recently used" has no ties in practice.
int64_t Ticks(Clock::time_point t) { return t.time_since_epoch().count(); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Who may use a session: the principal that opened it (kind + token prefix / key id / uid).
std::string OwnerKey(const identity::Principal& p) {
  return std::to_string(static_cast<int>(p.kind)) + ":" + p.id;
}

// The raw value of `key` in a query string, or nullopt. Session ids are hex, so no
// decoding is needed: an encoded id simply does not match.
std::optional<std::string_view> QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == key) return pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string SseEvent(std::string_view event, std::string_view data) {
  // `data` is one line: serialized JSON-RPC never holds a raw newline (jsonrpc.h), and
  // the endpoint is built here.
  std::string out;
  out.reserve(data.size() + event.size() + 16);
  out.append("event: ").append(event).append("\ndata: ").append(data).append("\n\n");
  return out;
}

// Accept lists text/event-stream but neither application/json nor a wildcard: the client
// reads only SSE, so a reply goes out as one event.
bool PrefersSseOnly(const Request& req) {
  auto accept = req.Header("Accept");
  if (!accept) return false;
  const std::string a = Lower(*accept);
  return a.find("text/event-stream") != std::string::npos &&
         a.find("application/json") == std::string::npos && a.find("*/*") == std::string::npos &&
         a.find("application/*") == std::string::npos;
}

// Accept lists text/event-stream: the POST's answer may be an SSE stream that carries the
// request's notifications and server-to-client requests before its response.
bool AcceptsSse(const Request& req) {
  auto accept = req.Header("Accept");
  return accept && Lower(*accept).find("text/event-stream") != std::string::npos;
}

// The SSE response to one POSTed request, opened lazily: only when the session has
// something to send for the request before its response (a tool's log line, an
// elicitation/create). A request that produces nothing else is answered with plain JSON
// as before, which every client accepts.
struct PostStream {
  explicit PostStream(ResponseWriter& r) : res(r) {}
  std::mutex mu;
  ResponseWriter& res;  // guarded by mu
  bool started = false;  // guarded by mu: the 200 and its headers are out
  bool ended = false;    // guarded by mu: the request finished; nothing more goes here
  bool broken = false;   // guarded by mu: a write failed (the client went away)

  // One event, opening the stream first if needed. False when it could not be sent here.
  bool Emit(std::string_view message) {
    std::lock_guard<std::mutex> lock(mu);
    if (ended || broken) return false;
    if (!started) {
      (void)res.SetHeader("Content-Type", "text/event-stream");
      (void)res.SetHeader("Cache-Control", "no-store");
      if (!res.BeginChunked(200).ok()) {
        broken = true;
        return false;
      }
      started = true;
    }
    if (!res.Write(SseEvent("message", message)).ok()) broken = true;
    return !broken;
  }
};

// Content-Type, when sent, must be application/json (parameters allowed).
bool JsonContentType(const Request& req) {
  auto ct = req.Header("Content-Type");
  if (!ct) return true;
  const std::string c = Lower(*ct);
  return c == "application/json" || c.rfind("application/json;", 0) == 0 ||
         c.rfind("application/json ", 0) == 0;
}

bool SupportedVersion(std::string_view v) {
  if (v == mcp::kModernProtocolVersion) return true;
  return std::find(mcp::kSupportedProtocolVersions.begin(), mcp::kSupportedProtocolVersions.end(),
                   v) != mcp::kSupportedProtocolVersions.end();
}

// The body as one message, or nullopt once 413/408/400 is sent.
std::optional<std::string> ReadMessage(Request& req, ResponseWriter& res) {
  if (!JsonContentType(req)) {
    (void)http::SendError(res, ErrorCode::kUnsupportedMediaType,
                          "Content-Type must be application/json");
    return std::nullopt;
  }
  auto body = req.body().ReadAll(mcp::kMaxMessageBytes);
  if (!body.ok()) {
    (void)http::SendBodyReadError(res, body.status());
    return std::nullopt;
  }
  return std::move(*body);
}

}  // namespace

struct McpHttp::HttpSession {
  std::string id;
  std::string owner;
  bool legacy = false;
  std::atomic<int64_t> last_used{0};  // Ticks()
  std::unique_ptr<mcp::Session> session;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;  // guarded by mu: SSE events waiting for the stream
  size_t queued_bytes = 0;        // guarded by mu
  bool stream_attached = false;   // guarded by mu
  bool closed = false;            // guarded by mu
  // The POSTed requests now running whose client reads an SSE answer, by request id.
  std::map<mcp::Id, std::shared_ptr<PostStream>> post_streams;  // guarded by mu

  void Touch() { last_used.store(Ticks(Clock::now())); }

  // Queues one event for the stream; the oldest go first when a bound is passed (a
  // client that does not read its stream loses events, keycelld never grows for it).
  void EnqueueLocked(std::string event, size_t max_events, size_t max_bytes) {
    queued_bytes += event.size();
    queue.push_back(std::move(event));
    while (queue.size() > 1 && (queue.size() > max_events || queued_bytes > max_bytes)) {
      queued_bytes -= queue.front().size();
      queue.pop_front();
    }
    cv.notify_all();
  }
};

McpHttp::McpHttp(McpRegistryFactory tools, McpHttpOptions options)
    : tools_(std::move(tools)), options_(std::move(options)) {}

McpHttp::~McpHttp() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, s] : sessions_) {
    std::lock_guard<std::mutex> sl(s->mu);
    s->closed = true;
    s->cv.notify_all();
  }
}

size_t McpHttp::session_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

bool McpHttp::IsLoopbackOrigin(std::string_view origin) {
  constexpr std::string_view kScheme = "http://";
  if (origin.size() <= kScheme.size() || Lower(origin.substr(0, kScheme.size())) != kScheme)
    return false;
  // An origin has no path; the rest is host[:port], which is what a Host header holds.
  return http::IsLoopbackHostHeader(origin.substr(kScheme.size()));
}

Status McpHttp::Register(http::Router& router, RestApi& api) {
  KC_RETURN_IF_ERROR(router.Add({Method::kPost, Method::kGet, Method::kDelete}, "/mcp",
                                [this, &api](Request& req, ResponseWriter& res) {
                                  if (req.method() == Method::kPost)
                                    PostMcp(api, req, res);
                                  else if (req.method() == Method::kGet)
                                    GetMcp(api, req, res);
                                  else
                                    DeleteMcp(api, req, res);
                                }));
  KC_RETURN_IF_ERROR(
      router.Add(Method::kGet, "/sse",
                 [this, &api](Request& req, ResponseWriter& res) { GetSse(api, req, res); }));
  return router.Add(Method::kPost, "/messages", [this, &api](Request& req, ResponseWriter& res) {
    PostMessages(api, req, res);
  });
}

std::optional<identity::Principal> McpHttp::Gate(RestApi& api, Request& req, ResponseWriter& res) {
  // DNS rebinding: a page on evil.example that resolved to 127.0.0.1 still sends its own
  // Host and Origin. Checked before authentication, so such a request costs nothing.
  auto host = req.Header("Host");
  if (req.HeaderCount("Host") != 1 || !host || !http::IsLoopbackHostHeader(*host)) {
    (void)http::SendError(res, ErrorCode::kForbidden, "Host must name this machine's loopback");
    return std::nullopt;
  }
  if (req.HeaderCount("Origin") > 0) {
    auto origin = req.Header("Origin");
    if (req.HeaderCount("Origin") != 1 || !IsLoopbackOrigin(*origin)) {
      (void)http::SendError(res, ErrorCode::kForbidden, "Origin not allowed");
      return std::nullopt;
    }
  }
  return api.Admit(req, res);
}

McpHttp::SessionPtr McpHttp::Open(const identity::Principal& who, bool legacy,
                                  ResponseWriter& res) {
  auto id = store::NewRecordId();
  std::shared_ptr<const mcp::ToolRegistry> tools = tools_ ? tools_(who) : nullptr;
  if (!id.ok() || tools == nullptr) {
    (void)http::SendError(res, ErrorCode::kInternal, "could not open an MCP session");
    return nullptr;
  }
  auto s = std::make_shared<HttpSession>();
  s->id = std::move(*id);
  s->owner = OwnerKey(who);
  s->legacy = legacy;
  s->Touch();
  const size_t max_events = std::max<size_t>(1, options_.max_queued_events);
  const size_t max_bytes = options_.max_queued_bytes;
  std::weak_ptr<HttpSession> weak = s;
  s->session = std::make_unique<mcp::Session>(
      std::move(tools), options_.server,
      mcp::Session::Outgoing([weak, max_events, max_bytes](
                                 std::string note, const std::optional<mcp::Id>& related) {
        auto held = weak.lock();
        if (!held) return;
        std::shared_ptr<PostStream> post;
        {
          std::lock_guard<std::mutex> lock(held->mu);
          if (held->closed) return;
          if (related) {
            auto it = held->post_streams.find(*related);
            if (it != held->post_streams.end()) post = it->second;
          }
        }
        // Streamable HTTP: a message that belongs to a running POSTed request goes on
        // that request's SSE answer ...
        if (post && post->Emit(note)) return;
        std::lock_guard<std::mutex> lock(held->mu);
        // ... anything else to the GET stream when one is open, else it is dropped (the
        // spec lets a server send nothing outside a stream).
        if (held->closed || (!held->legacy && !held->stream_attached)) return;
        held->EnqueueLocked(SseEvent("message", note), max_events, max_bytes);
      }));

  std::vector<SessionPtr> evicted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SweepLocked(Clock::now());
    const size_t max = std::max<size_t>(1, options_.max_sessions);
    while (sessions_.size() >= max) {
      auto oldest =
          std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
            return a.second->last_used.load() < b.second->last_used.load();
          });
      evicted.push_back(oldest->second);
      sessions_.erase(oldest);
    }
    sessions_.emplace(s->id, s);
  }
  for (const SessionPtr& e : evicted) Close(e);
  return s;
}

void McpHttp::SweepLocked(Clock::time_point now) {
  const int64_t cutoff =
      Ticks(now - std::chrono::duration_cast<Clock::duration>(options_.idle_timeout));
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second->last_used.load() < cutoff) {
      std::lock_guard<std::mutex> sl(it->second->mu);  // order: mu_ then a session's mu
      it->second->closed = true;
      it->second->cv.notify_all();
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

McpHttp::SessionPtr McpHttp::Find(std::string_view id, const identity::Principal& who) {
  std::lock_guard<std::mutex> lock(mu_);
  SweepLocked(Clock::now());
  auto it = sessions_.find(id);
  // Another principal's session reads exactly like an unknown one.
  if (it == sessions_.end() || it->second->owner != OwnerKey(who)) return nullptr;
  it->second->Touch();
  return it->second;
}

void McpHttp::Close(const SessionPtr& s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(s->id);
    if (it != sessions_.end() && it->second == s) sessions_.erase(it);
  }
  std::lock_guard<std::mutex> sl(s->mu);
  s->closed = true;
  s->queue.clear();
  s->queued_bytes = 0;
  s->cv.notify_all();
}

void McpHttp::Stream(const SessionPtr& s, Request& req, ResponseWriter& res) {
  Clock::time_point last_write = Clock::now();
  std::unique_lock<std::mutex> lock(s->mu);
  while (!s->closed && !req.stopping()) {
    std::string out;
    if (!s->queue.empty()) {
      out = std::move(s->queue.front());
      s->queue.pop_front();
      s->queued_bytes -= out.size();
    } else if (Clock::now() - last_write >= options_.keepalive_interval) {
      out = ": keep-alive\n\n";
    } else {
      s->cv.wait_for(lock, kStopPoll);
      continue;
    }
    lock.unlock();
    const bool ok = res.Write(out).ok();
    lock.lock();
    if (!ok) break;  // the client went away
    last_write = Clock::now();
    s->Touch();  // a live stream keeps its session from going idle
  }
  s->stream_attached = false;
  lock.unlock();
  (void)res.Finish();
}

void McpHttp::PostMcp(RestApi& api, Request& req, ResponseWriter& res) {
  auto who = Gate(api, req, res);
  if (!who) return;
  if (req.HeaderCount(kVersionHeader) > 1 ||
      (req.HeaderCount(kVersionHeader) == 1 && !SupportedVersion(*req.Header(kVersionHeader)))) {
    (void)http::SendError(res, ErrorCode::kBadRequest, "unsupported MCP-Protocol-Version");
    return;
  }
  if (req.HeaderCount(kSessionHeader) > 1) {
    (void)http::SendError(res, ErrorCode::kBadRequest, "repeated Mcp-Session-Id");
    return;
  }
  auto body = ReadMessage(req, res);
  if (!body) return;
  const ScopedStringWipe wipe_body(*body);  // it may carry a tool's value argument

  // Unparseable input is answered here: it has no session to go to.
  mcp::ParseFailure failure;
  auto parsed = mcp::ParseMessage(*body, &failure);
  if (!parsed.ok()) {
    (void)res.Send(400, "application/json",
                   mcp::SerializeError(failure.id, failure.code, failure.message));
    return;
  }

  const bool sse = PrefersSseOnly(req);
  // A reply may carry a value an allowed reveal returned: every copy is wiped once sent.
  auto reply_with = [&](std::string& reply) {
    const ScopedStringWipe wipe_reply(reply);
    (void)res.SetHeader("Cache-Control", "no-store");
    if (sse) {
      std::string event = SseEvent("message", reply);
      const ScopedStringWipe wipe_event(event);
      (void)res.Send(200, "text/event-stream", event);
    } else {
      (void)res.Send(200, "application/json", reply);
    }
  };

  // 2026-07-28: Mcp-Method (and Mcp-Name for tools/call) mirror the body so proxies can
  // route without parsing it; a mismatch is refused rather than guessed at.
  if (req.HeaderCount("Mcp-Method") > 0) {
    const bool is_call = parsed->kind == mcp::MessageKind::kRequest ||
                         parsed->kind == mcp::MessageKind::kNotification;
    auto name = json::GetString(parsed->params.get(), "name");
    if (req.HeaderCount("Mcp-Method") != 1 || !is_call ||
        *req.Header("Mcp-Method") != parsed->method ||
        (req.HeaderCount("Mcp-Name") == 1 && parsed->method == "tools/call" &&
         (!name || *req.Header("Mcp-Name") != *name))) {
      (void)http::SendError(res, ErrorCode::kBadRequest, "Mcp-Method/Mcp-Name do not match the body");
      return;
    }
  }

  auto session_id = req.Header(kSessionHeader);
  const bool modern =
      parsed->kind == mcp::MessageKind::kRequest &&
      json::GetString(json::GetObject(parsed->params.get(), "_meta"), mcp::kProtocolVersionMetaKey)
          .has_value();
  if (!session_id && modern) {
    // The stateless revision: the request is served on its own, by a session that lives
    // only for it (its version and capabilities come from its _meta).
    std::shared_ptr<const mcp::ToolRegistry> tools = tools_ ? tools_(*who) : nullptr;
    if (tools == nullptr) {
      (void)http::SendError(res, ErrorCode::kInternal, "could not serve the MCP request");
      return;
    }
    mcp::Session once(std::move(tools), options_.server, mcp::Session::Notify());
    std::optional<std::string> reply = once.Handle(*body);
    if (reply)
      reply_with(*reply);
    else
      (void)res.Send(202, "", "");
    return;
  }
  if (!session_id) {
    if (parsed->kind != mcp::MessageKind::kRequest || parsed->method != "initialize") {
      (void)http::SendError(res, ErrorCode::kBadRequest,
                            "Mcp-Session-Id required (send initialize first)");
      return;
    }
    SessionPtr s = Open(*who, /*legacy=*/false, res);
    if (!s) return;
    std::optional<std::string> reply = s->session->Handle(*body);
    if (!s->session->initialized()) {
      Close(s);  // a failed initialize opens nothing; the client may retry
    } else {
      (void)res.SetHeader(kSessionHeader, s->id);
    }
    if (reply)
      reply_with(*reply);
    else
      (void)res.Send(202, "", "");
    return;
  }

  SessionPtr s = Find(*session_id, *who);
  if (!s || s->legacy) {
    (void)http::SendError(res, ErrorCode::kNotFound, "unknown MCP session");
    return;
  }
  // A request whose client reads SSE gets a stream for what it produces while it runs.
  std::shared_ptr<PostStream> post;
  if (parsed->kind == mcp::MessageKind::kRequest && AcceptsSse(req)) {
    post = std::make_shared<PostStream>(res);
    std::lock_guard<std::mutex> sl(s->mu);
    // A duplicate id is refused by the session; its messages then use the GET stream.
    if (!s->post_streams.emplace(*parsed->id, post).second) post.reset();
  }
  std::optional<std::string> reply = s->session->Handle(*body);
  s->Touch();
  if (post) {
    {
      std::lock_guard<std::mutex> sl(s->mu);
      s->post_streams.erase(*parsed->id);
    }
    std::unique_lock<std::mutex> pl(post->mu);
    post->ended = true;
    if (post->started) {
      // The response is the stream's last event; then the stream ends.
      if (reply && !post->broken) {
        std::string event = SseEvent("message", *reply);
        const ScopedStringWipe wipe_event(event);
        (void)res.Write(event);
      }
      if (reply) WipeString(*reply);
      (void)res.Finish();
      return;
    }
  }
  if (parsed->kind != mcp::MessageKind::kRequest) {
    (void)res.Send(202, "", "");
    return;
  }
  if (reply)
    reply_with(*reply);
  else
    (void)res.Send(202, "", "");  // cancelled while it ran: no response is due
}

McpHttp::SessionPtr McpHttp::FindNamed(Request& req, ResponseWriter& res,
                                       const identity::Principal& who) {
  auto session_id = req.Header(kSessionHeader);
  if (!session_id || req.HeaderCount(kSessionHeader) != 1) {
    (void)http::SendError(res, ErrorCode::kBadRequest, "Mcp-Session-Id required");
    return nullptr;
  }
  SessionPtr s = Find(*session_id, who);
  if (!s || s->legacy) {
    (void)http::SendError(res, ErrorCode::kNotFound, "unknown MCP session");
    return nullptr;
  }
  return s;
}

void McpHttp::GetMcp(RestApi& api, Request& req, ResponseWriter& res) {
  auto who = Gate(api, req, res);
  if (!who) return;
  SessionPtr s = FindNamed(req, res, *who);
  if (!s) return;
  {
    std::lock_guard<std::mutex> sl(s->mu);
    if (s->stream_attached) {
      (void)http::SendError(res, ErrorCode::kConflict, "this session already has a stream open");
      return;
    }
    s->stream_attached = true;
  }
  (void)res.SetHeader("Content-Type", "text/event-stream");
  (void)res.SetHeader("Cache-Control", "no-store");
  if (!res.BeginChunked(200).ok()) {
    std::lock_guard<std::mutex> sl(s->mu);
    s->stream_attached = false;
    return;
  }
  Stream(s, req, res);
}

void McpHttp::DeleteMcp(RestApi& api, Request& req, ResponseWriter& res) {
  auto who = Gate(api, req, res);
  if (!who) return;
  SessionPtr s = FindNamed(req, res, *who);
  if (!s) return;
  Close(s);
  (void)res.Send(204, "", "");
}

void McpHttp::GetSse(RestApi& api, Request& req, ResponseWriter& res) {
  auto who = Gate(api, req, res);
  if (!who) return;
  SessionPtr s = Open(*who, /*legacy=*/true, res);
  if (!s) return;
  {
    std::lock_guard<std::mutex> sl(s->mu);
    s->stream_attached = true;
  }
  (void)res.SetHeader("Content-Type", "text/event-stream");
  (void)res.SetHeader("Cache-Control", "no-store");
  // The endpoint is relative (mcp-testing gotcha 9): the client resolves it against the
  // URL it opened, so it keeps whatever host and port it used.
  if (res.BeginChunked(200).ok() &&
      res.Write(SseEvent("endpoint", "/messages?sessionId=" + s->id)).ok())
    Stream(s, req, res);
  Close(s);  // a legacy session lives exactly as long as its stream
}

void McpHttp::PostMessages(RestApi& api, Request& req, ResponseWriter& res) {
  auto who = Gate(api, req, res);
  if (!who) return;
  auto session_id = QueryParam(req.query(), "sessionId");
  if (!session_id || session_id->empty()) {
    (void)http::SendError(res, ErrorCode::kBadRequest, "sessionId required");
    return;
  }
  SessionPtr s = Find(*session_id, *who);
  if (!s || !s->legacy) {
    (void)http::SendError(res, ErrorCode::kNotFound, "unknown MCP session");
    return;
  }
  auto body = ReadMessage(req, res);
  if (!body) return;
  const ScopedStringWipe wipe_body(*body);  // it may carry a tool's value argument
  // Accepted first: the reply travels on the stream, and a long tools/call must not
  // hold the client's POST.
  (void)res.Send(202, "", "");
  std::optional<std::string> reply = s->session->Handle(*body);
  s->Touch();
  if (!reply) return;
  std::lock_guard<std::mutex> sl(s->mu);
  if (s->closed) return;
  s->EnqueueLocked(SseEvent("message", *reply), std::max<size_t>(1, options_.max_queued_events),
                   options_.max_queued_bytes);
}

}  // namespace keycell::broker::daemon

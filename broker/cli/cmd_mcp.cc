// keycell mcp: the MCP stdio transport (docs/mcp.md "Transports: stdio"). An MCP
// client (Claude Code, VS Code, Cursor, the OpenAI Agents SDK) starts it and writes
// newline-delimited JSON-RPC on its stdin; it relays every message, both ways and
// unchanged, to keycelld's `mcp` op, so every agent on the machine shares one unlocked
// daemon. stdout carries nothing but JSON-RPC lines; everything for people goes to
// stderr.
//
// Identity: $KEYCELL_AGENT_TOKEN (an API key bound to an agent, or a pxr_ token) goes
// to keycelld inside the op's args, never in argv; keycelld authenticates it and the
// session runs as that agent. Without it the session runs as the local owner.

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "broker/cli/commands.h"
#include "broker/cli/session.h"
#include "broker/mcp/jsonrpc.h"
#include "common/ipc/framing.h"
#include "common/secure_buffer.h"

namespace keycell::cli {
namespace {

constexpr char kDetails[] =
    "Speaks MCP (newline-delimited JSON-RPC) on stdin/stdout for an agent's MCP client\n"
    "and relays it to keycelld (started if needed), so every agent on this machine\n"
    "shares one unlocked vault. Not for typing at: let the client start it.\n"
    "\n"
    "Identity: set KEYCELL_AGENT_TOKEN in the client's config (env, never args) to an\n"
    "API key bound to an agent (keycell apikeys create --agent NAME) or a pxr_ token\n"
    "(keycell agents assign); the session then acts as that agent, with its scopes,\n"
    "and every tool call is audited under its name. Without it the session acts as\n"
    "you, the local owner (a note on stderr says so). A refused token ends with exit\n"
    "code 11 and the reason on stderr.\n"
    "\n"
    "stdout carries only JSON-RPC messages; diagnostics go to stderr. EOF on stdin ends\n"
    "the session (exit 0); keycelld going away ends it with exit code 12.\n"
    "\n"
    "Configure a client: keycell mcp-config claude|vscode|cursor|openai\n"
    "Try it by hand:\n"
    "  printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
    "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"sh\","
    "\"version\":\"0\"}}}' | keycell mcp\n";

// How long a failed start waits for the client's first message, to answer it with the
// reason (a client shows a JSON-RPC error; it may not show stderr). Clients write
// initialize right after starting us, so it is normally already there.
constexpr int kPendingRequestWaitMs = 1000;
constexpr size_t kReadChunkBytes = 64 * 1024;

std::mutex g_stdout_mu;  // one whole line at a time on stdout

// Writes `text` and a newline to stdout, whole. False once stdout is gone.
bool WriteLine(std::string_view text) {
  std::lock_guard<std::mutex> lock(g_stdout_mu);
  char nl = '\n';
  iovec iov[2] = {{const_cast<char*>(text.data()), text.size()}, {&nl, 1}};
  int n_iov = 2;
  iovec* at = iov;
  while (n_iov > 0) {
    const ssize_t n = writev(STDOUT_FILENO, at, n_iov);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    size_t left = static_cast<size_t>(n);
    while (n_iov > 0 && left >= at->iov_len) {
      left -= at->iov_len;
      ++at;
      --n_iov;
    }
    if (n_iov > 0) {
      at->iov_base = static_cast<char*>(at->iov_base) + left;
      at->iov_len -= left;
    }
  }
  return true;
}

// $KEYCELL_AGENT_TOKEN in locked memory; the environment's copy is wiped (it is also
// what /proc/PID/environ shows) and the variable removed, so the token does not linger
// in this long-lived process or reach a child.
Result<SecureBuffer> TakeAgentToken() {
  char* env = getenv("KEYCELL_AGENT_TOKEN");
  if (env == nullptr || *env == '\0') return SecureBuffer();
  const size_t len = strlen(env);
  auto token = SecureBuffer::CopyOf(ByteView(reinterpret_cast<const uint8_t*>(env), len));
  SecureWipe(env, len);
  unsetenv("KEYCELL_AGENT_TOKEN");
  return token;
}

// After a failed start: if the client's first message is a request (initialize), it
// gets a JSON-RPC error carrying `reason`, so the client's UI shows why.
void AnswerPendingRequest(std::string_view reason) {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  if (poll(&p, 1, kPendingRequestWaitMs) <= 0) return;
  auto buf = SecureBuffer::Allocate(kReadChunkBytes);
  if (!buf.ok()) return;
  const ssize_t n = read(STDIN_FILENO, buf->data(), buf->size());
  if (n <= 0) return;
  const std::string_view got(reinterpret_cast<const char*>(buf->data()), static_cast<size_t>(n));
  const size_t nl = got.find('\n');
  if (nl == std::string_view::npos) return;
  auto m = mcp::ParseMessage(got.substr(0, nl));
  if (!m.ok() || m->kind != mcp::MessageKind::kRequest) return;
  (void)WriteLine(mcp::SerializeError(m->id, mcp::kInternalError, reason));
}

int FailStart(int exit_code, const std::string& message) {
  AnswerPendingRequest("keycell: " + message);
  return Fail(exit_code, message);
}

// Connects, sends the `mcp` op and reads its reply: the principal the session runs as.
// On failure prints why (and answers a pending request) and returns nullopt.
std::optional<json::Json> OpenStream(const broker::Config& config,
                                     std::optional<DaemonConnection>* conn, int* exit_code) {
  auto token = TakeAgentToken();
  if (!token.ok()) {
    *exit_code = FailStart(kExitFailure, "cannot read KEYCELL_AGENT_TOKEN");
    return std::nullopt;
  }
  std::string why;
  auto c = DaemonConnection::Open(config, /*autostart=*/true, &why);
  if (!c.ok()) {
    if (why.empty()) why = std::string("cannot reach keycelld: ") + c.status().where();
    *exit_code = FailStart(
        c.status().code() == Err::kUnknownKey ? kExitNotInitialised : kExitDaemonUnavailable, why);
    return std::nullopt;
  }
  json::Json args = json::MakeObject();
  // A bearer token, handled as `keycell proxy` handles it: in the op's JSON, over the
  // 0600 socket, never in argv or a log.
  if (!token->empty() &&
      !json::SetString(
           args.get(), "token",
           std::string_view(reinterpret_cast<const char*>(token->data()), token->size()))
           .ok()) {
    *exit_code = FailStart(kExitUsage, "KEYCELL_AGENT_TOKEN is not text");
    return std::nullopt;
  }
  ControlError error;
  Status sent = c->Send("mcp", args.get(), -1);
  auto reply = sent.ok() ? c->Receive(&error) : Result<json::Json>(sent);
  if (!reply.ok()) {
    if (error.code.empty()) {
      *exit_code = FailStart(kExitDaemonUnavailable, "lost the connection to keycelld (see " +
                                                         config.data_dir + "/keycelld.log)");
    } else if (error.code == "unauthorized") {
      *exit_code = FailStart(kExitPolicyDenied, "KEYCELL_AGENT_TOKEN refused: " + error.message);
    } else {
      *exit_code = FailStart(error.exit_code, error.message);
    }
    return std::nullopt;
  }
  conn->emplace(std::move(*c));
  return std::move(*reply);
}

// One note on stderr: whom this session acts as.
void NoteIdentity(const cJSON* who) {
  const std::string_view kind = json::GetString(who, "kind").value_or("");
  if (kind == "owner") {
    fprintf(stderr,
            "keycell mcp: KEYCELL_AGENT_TOKEN is not set: this session acts as the local owner "
            "(%s); set it to an agent's API key to act as that agent\n",
            std::string(json::GetString(who, "id").value_or("")).c_str());
  } else if (auto agent = json::GetString(who, "agent")) {
    fprintf(stderr, "keycell mcp: acting as agent %s\n", std::string(*agent).c_str());
  } else {
    fprintf(stderr, "keycell mcp: acting as API key %s\n",
            std::string(json::GetString(who, "id").value_or("")).c_str());
  }
}

// Reads stdin line by line and sends each message as one frame. Lines are kept in
// locked memory: a message may carry a value (add_key). On EOF (or when keycelld stops
// taking frames) it half-closes the socket, which ends the session cleanly.
class StdinRelay {
 public:
  StdinRelay(int sock, std::atomic<bool>* eof) : sock_(sock), eof_(eof) {}

  void Run() {
    for (;;) {
      if (!Reserve()) break;
      const ssize_t n = read(STDIN_FILENO, buf_.data() + used_, buf_.size() - used_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A last line without a newline is still a message.
        if (used_ > 0 && !discarding_ && !SendLine(0, used_)) return;
        eof_->store(true);  // the client ended the session: exit 0 once keycelld closes
        break;
      }
      used_ += static_cast<size_t>(n);
      if (!SendLines()) return;  // keycelld is gone: the reply side reports it
    }
    shutdown(sock_, SHUT_WR);
  }

 private:
  // Room for one more read: grows the buffer (doubling, up to one message plus a read)
  // when full.
  bool Reserve() {
    if (!buf_.empty() && buf_.size() - used_ >= kReadChunkBytes / 2) return true;
    // At most twice the message cap: SendLines keeps no more than one message's worth,
    // so a full-size buffer always has room for another read.
    const size_t want = buf_.empty() ? kReadChunkBytes : buf_.size() * 2;
    if (want > 2 * mcp::kMaxMessageBytes && !buf_.empty()) return true;
    auto bigger = SecureBuffer::Allocate(want);
    if (!bigger.ok()) return false;
    if (used_ > 0) memcpy(bigger->data(), buf_.data(), used_);
    buf_ = std::move(*bigger);  // the old buffer is wiped
    return true;
  }

  // Sends every complete line; keeps the tail. An over-long line is answered here
  // (keycelld would refuse it too) and skipped up to its newline.
  bool SendLines() {
    size_t start = 0;
    for (size_t i = scanned_; i < used_; ++i) {
      if (buf_.data()[i] != '\n') continue;
      if (!discarding_ && !SendLine(start, i)) return false;
      discarding_ = false;
      start = i + 1;
    }
    memmove(buf_.data(), buf_.data() + start, used_ - start);
    SecureWipe(buf_.data() + (used_ - start), start);
    used_ -= start;
    scanned_ = used_;
    if (!discarding_ && used_ > mcp::kMaxMessageBytes) {
      (void)WriteLine(
          mcp::SerializeError(std::nullopt, mcp::kInvalidRequest, "message larger than 4 MiB"));
      discarding_ = true;
    }
    if (discarding_) {
      SecureWipe(buf_.data(), used_);
      used_ = scanned_ = 0;
    }
    return true;
  }

  bool SendLine(size_t from, size_t to) {
    if (to > from && buf_.data()[to - 1] == '\r') --to;
    bool blank = true;
    for (size_t i = from; i < to && blank; ++i)
      blank = buf_.data()[i] == ' ' || buf_.data()[i] == '\t';
    if (blank) return true;  // keep-alive newlines are not messages
    const ByteView parts[] = {ByteView(buf_.data() + from, to - from)};
    return ipc::SendFrame(sock_, parts, -1, ipc::kNoTimeout).ok();
  }

  const int sock_;
  std::atomic<bool>* const eof_;
  SecureBuffer buf_;
  size_t used_ = 0;
  size_t scanned_ = 0;       // bytes of buf_ already searched for a newline
  bool discarding_ = false;  // inside an over-long line
};

// keycelld → stdout until the stream ends. Returns the exit code.
int RelayReplies(int sock, const std::atomic<bool>& stdin_eof, const std::string& log) {
  for (;;) {
    auto frame = ipc::RecvFrame(sock, ipc::kNoTimeout);
    if (!frame.ok()) {
      if (stdin_eof.load() && frame.status().code() == Err::kUnavailable) return kExitOk;
      return Fail(kExitDaemonUnavailable, "keycelld closed the MCP session (see " + log + ")");
    }
    const std::string_view text(reinterpret_cast<const char*>(frame->payload.data()),
                                frame->payload.size());
    if (frame->fd || !WriteLine(text)) {
      if (frame->fd) return Fail(kExitFailure, "keycelld sent an fd on the MCP session");
      shutdown(sock, SHUT_RDWR);
      return Fail(kExitFailure, "stdout closed: the MCP client went away");
    }
  }
}

int RunMcp() {
  int exit_code = kExitOk;
  auto config = LoadCliConfig(&exit_code);
  if (!config) {
    AnswerPendingRequest("keycell: cannot load the configuration (see stderr)");
    return exit_code;
  }
  std::optional<DaemonConnection> conn;
  std::optional<json::Json> who = OpenStream(*config, &conn, &exit_code);
  if (!who) return exit_code;
  NoteIdentity(who->get());
  std::atomic<bool> stdin_eof{false};
  // Detached: a read(2) of stdin cannot be interrupted portably, and when keycelld goes
  // away the process ends with it blocked there.
  std::thread([sock = conn->fd(), &stdin_eof]() { StdinRelay(sock, &stdin_eof).Run(); }).detach();
  const int code = RelayReplies(conn->fd(), stdin_eof, config->data_dir + "/keycelld.log");
  fflush(stderr);
  _exit(code);  // the stdin thread may still be inside read(2); nothing else to clean up
}

}  // namespace

void RegisterMcpCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd =
      AddCommand(app, "mcp", "Serve MCP on stdin/stdout (for an agent's MCP client)", kDetails);
  cmd->callback([&exit_code] { exit_code = RunMcp(); });
}

}  // namespace keycell::cli

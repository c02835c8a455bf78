#include "broker/daemon/control_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

#include "broker/daemon/log.h"

namespace keycell::broker::daemon {
namespace {

constexpr int kReplyTimeoutMs = 30 * 1000;

bool PeerIsUs(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == getuid();
}

}  // namespace

std::string ControlSocketPath(const std::string& runtime_dir) { return runtime_dir + "/keycelld.sock"; }

Result<std::unique_ptr<ControlServer>> ControlServer::Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Status(Err::kInvalidArgument, "socket path too long");
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status(Err::kUpstreamIo, "socket", errno);
  unlink(path.c_str());
  // The umask makes the socket 0600 from the moment it exists; chmod is belt and braces.
  const mode_t old = umask(0177);
  const int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (rc != 0) return Status(Err::kUpstreamIo, "bind control socket", errno);
  chmod(path.c_str(), 0600);
  if (listen(fd.get(), 64) != 0) return Status(Err::kUpstreamIo, "listen", errno);
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return Status(Err::kUpstreamIo, "pipe", errno);
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(fd), path, UniqueFd(p[0]), UniqueFd(p[1])));
}

ControlServer::~ControlServer() {
  listener_.reset();
  unlink(path_.c_str());
}

void ControlServer::Stop() {
  const char c = 'x';
  (void)!write(wake_write_.get(), &c, 1);
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_) shutdown(fd, SHUT_RDWR);
}

bool ControlServer::WaitIdle(int timeout_ms) {
  for (int waited = 0; active_.load() > 0; waited += 10) {
    if (waited >= timeout_ms) return false;
    usleep(10 * 1000);
  }
  return true;
}

void ControlServer::Serve(Vault& vault) {
  for (;;) {
    pollfd p[2] = {{listener_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LogEvent(LogLevel::kError, "control_poll_failed", {{"errno", strerror(errno)}});
      return;
    }
    if (p[1].revents != 0) return;
    UniqueFd conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    if (!PeerIsUs(conn.get())) {
      LogEvent(LogLevel::kWarn, "peer_refused", {{"reason", "uid differs"}});
      continue;
    }
    if (active_.load() >= kMaxConnections) {
      (void)SendError(conn.get(), {"busy", "too many connections", kExitDaemonUnavailable}, 1000);
      continue;
    }
    ++active_;
    std::thread([this, &vault, c = std::move(conn)]() mutable {
      ServeConnection(vault, std::move(c));
      --active_;
    }).detach();
  }
}

void ControlServer::ServeConnection(Vault& vault, UniqueFd conn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.insert(conn.get());
  }
  ServeRequests(vault, conn.get());
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(conn.get());
}

void ControlServer::ServeRequests(Vault& vault, int conn) {
  // Only our own uid gets here (PeerIsUs): the workspace owner.
  const identity::Principal owner = identity::OwnerPrincipal(getuid());
  for (;;) {
    auto req = RecvControlRequest(conn, kConnectionIdleMs);
    if (!req.ok()) {
      if (req.status().code() == Err::kInvalidArgument || req.status().code() == Err::kBadFrame ||
          req.status().code() == Err::kTooLarge) {
        (void)SendError(conn, {"bad_request", req.status().where(), kExitUsage}, 1000);
      }
      return;  // EOF, timeout or a broken peer: drop the connection
    }
    if (const auto h = stream_handlers_.find(req->op); h != stream_handlers_.end()) {
      if (req->fd) {
        (void)SendError(conn, {"bad_request", "op " + req->op + " takes no fd", kExitUsage}, 1000);
        return;
      }
      h->second(conn, owner, req->args.get());
      return;  // the stream owned the connection to its end
    }
    OpResult r = vault.Dispatch(owner, req->op, req->args.get(), std::move(req->fd));
    const Status sent = r.ok ? SendOk(conn, r.result.get(), kReplyTimeoutMs)
                             : SendError(conn, r.error, kReplyTimeoutMs);
    if (!sent.ok()) return;
  }
}

}  // namespace keycell::broker::daemon

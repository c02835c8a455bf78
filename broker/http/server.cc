#include "broker/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <system_error>
#include <utility>

#include "broker/http/connection.h"
#include "broker/http/errors.h"
#include "broker/http/transport.h"

namespace keycell::broker::http {
namespace {

// Finished connection threads are joined at least this often.
constexpr int kReapIntervalMs = 1000;
// After accept(2) fails for lack of fds or memory, wait before trying again.
constexpr int kAcceptBackoffMs = 50;
// A refused client's bytes read before closing (x 4 KiB): bounded, so a client that keeps
// sending cannot hold the accept thread.
constexpr int kMaxBusyDrainReads = 16;

// Collects a response in memory: used once, to prebuild the 503.
class StringChannel final : public ResponseChannel {
 public:
  bool KeepAliveAfterResponse() override { return false; }
  Status Write(std::span<const std::string_view> pieces) override {
    for (const std::string_view p : pieces) out.append(p);
    return Status::Ok();
  }
  std::string out;
};

std::string BuildBusyResponse() {
  StringChannel channel;
  ResponseWriter res(channel, {});
  (void)res.SetHeader("Retry-After", "1");
  (void)SendError(res, ErrorCode::kServiceUnavailable, "too many connections");
  return channel.out;
}

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

bool ParseNumericHost(std::string_view host, uint16_t port, SockAddr* out) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string h(host);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->len = sizeof(sockaddr_in);
    return true;
  }
  out->storage = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

PeerAddress ToPeer(const sockaddr_storage& ss) {
  PeerAddress peer;
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    peer.port = ntohs(v4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    peer.port = ntohs(v6->sin6_port);
  }
  peer.ip = text;
  return peer;
}

}  // namespace

bool IsNumericHost(std::string_view host) {
  SockAddr unused;
  return ParseNumericHost(host, 0, &unused);
}

Server::Server(Router router, ServerOptions options)
    : router_(std::move(router)),
      options_(std::move(options)),
      busy_response_(BuildBusyResponse()) {}

Server::~Server() { Stop(std::chrono::milliseconds(0)); }

Status Server::Listen(std::string_view host, uint16_t port) {
  std::lock_guard stop_lock(stop_mu_);
  if (stopped_ || listen_fd_.valid())
    return Status(Err::kInvalidArgument, "http: Listen called twice");
  SockAddr addr;
  if (!ParseNumericHost(host, port, &addr)) {
    return Status(Err::kInvalidArgument, "http: listen host must be a numeric IP address");
  }
  const int family = addr.storage.ss_family;
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Status(Err::kUpstreamIo, "http: socket", errno);
  const int one = 1;
  // SO_REUSEADDR: a restarted keycelld can bind while old connections sit in TIME_WAIT.
  (void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // "::1" means IPv6 only; a dual-stack "::" would also take IPv4 behind the config's back.
  if (family == AF_INET6) (void)setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0) {
    return Status(Err::kUpstreamIo, "http: bind", errno);
  }
  if (listen(fd.get(), SOMAXCONN) != 0) return Status(Err::kUpstreamIo, "http: listen", errno);
  SockAddr bound;
  bound.len = sizeof(bound.storage);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.len) != 0) {
    return Status(Err::kUpstreamIo, "http: getsockname", errno);
  }
  UniqueFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return Status(Err::kUpstreamIo, "http: eventfd", errno);
  listen_fd_ = std::move(fd);
  stop_fd_ = std::move(stop);
  port_ = ToPeer(bound.storage).port;
  try {
    accept_thread_ = std::thread(&Server::AcceptLoop, this);
  } catch (const std::system_error&) {
    listen_fd_.reset();
    port_ = 0;
    return Status(Err::kInternal, "http: cannot start the accept thread");
  }
  return Status::Ok();
}

void Server::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    const int rc = poll(fds, 2, kReapIntervalMs);
    Reap();
    if (rc < 0 || (fds[1].revents & POLLIN)) continue;  // EINTR, or stopping (loop test)
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    const int fd = accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of fds or memory: wait (or stop) rather than spin on a readable socket.
        pollfd stop{stop_fd_.get(), POLLIN, 0};
        (void)poll(&stop, 1, kAcceptBackoffMs);
      }
      continue;  // ECONNABORTED, EAGAIN, EINTR...: the next poll decides
    }
    // Small writes (SSE events, chunk by chunk relays) must leave at once, not wait for
    // Nagle's algorithm to coalesce them with the next.
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    StartConnection(fd, ToPeer(ss));
  }
}

void Server::StartConnection(int fd, PeerAddress peer) {
  std::unique_lock lock(mu_);
  if (live_ >= options_.max_connections) {
    lock.unlock();
    RejectBusy(fd);
    return;
  }
  conns_.push_back(std::make_unique<Conn>());
  Conn* conn = conns_.back().get();
  conn->fd = fd;
  ++live_;
  lock.unlock();
  const Deadline first_deadline = Clock::now() + options_.header_timeout;
  try {
    conn->thread = std::thread(&Server::RunConnection, this, conn, std::move(peer), first_deadline);
  } catch (const std::system_error&) {  // out of threads: treat like a full server
    lock.lock();
    conns_.remove_if([conn](const std::unique_ptr<Conn>& c) { return c.get() == conn; });
    --live_;
    lock.unlock();
    RejectBusy(fd);
  }
}

void Server::RunConnection(Conn* conn, PeerAddress peer, Deadline first_request_deadline) {
  {
    FdTransport transport(conn->fd, stop_fd_.get(), options_.write_timeout);
    ConnectionContext ctx;
    ctx.router = &router_;
    ctx.options = &options_;
    ctx.peer = std::move(peer);
    ctx.stopping = &stopping_;
    ctx.first_request_deadline = first_request_deadline;
    ServeConnection(transport, ctx);
  }
  std::lock_guard lock(mu_);
  // Closed under mu_, so Stop() never shuts down a number the kernel already reused.
  ::close(conn->fd);
  conn->fd = -1;
  conn->done = true;
  --live_;
  cv_.notify_all();
}

void Server::RejectBusy(int fd) {
  rejected_.fetch_add(1);
  // Best effort and never blocking: the accept thread must not wait on one client.
  (void)send(fd, busy_response_.data(), busy_response_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)shutdown(fd, SHUT_WR);
  // Read what already arrived, so close() is less likely to answer it with a RST that
  // would destroy the 503 before the client reads it.
  char sink[4096];
  for (int i = 0; i < kMaxBusyDrainReads && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
  }
  ::close(fd);
}

void Server::Reap() {
  std::list<std::unique_ptr<Conn>> finished;
  {
    std::lock_guard lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if ((*it)->done) finished.splice(finished.end(), conns_, it);
      it = next;
    }
  }
  for (auto& c : finished) {
    if (c->thread.joinable()) c->thread.join();
  }
}

void Server::Stop(std::chrono::milliseconds grace) {
  std::lock_guard stop_lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (!listen_fd_.valid()) return;  // never listened
  const Deadline deadline = Clock::now() + grace;
  stopping_.store(true);
  const uint64_t one = 1;
  // Wakes the accept loop and every connection waiting idle between requests.
  (void)!write(stop_fd_.get(), &one, sizeof(one));
  if (accept_thread_.joinable()) accept_thread_.join();
  listen_fd_.reset();

  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return live_ == 0; });
  // Past the grace period: fail every pending read and write of the stragglers.
  for (const auto& c : conns_) {
    if (c->fd >= 0) (void)shutdown(c->fd, SHUT_RDWR);
  }
  std::list<std::unique_ptr<Conn>> all = std::move(conns_);
  conns_.clear();
  lock.unlock();
  for (auto& c : all) {
    if (c->thread.joinable()) c->thread.join();
  }
}

size_t Server::active_connections() const {
  std::lock_guard lock(mu_);
  return live_;
}

}  // namespace keycell::broker::http

#include "broker/http/transport.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

namespace keycell::broker::http {
namespace {

// Lingering close: how long and how much we keep reading after the half-close.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr size_t kMaxLingerBytes = 1u << 20;
// sendmsg takes at most IOV_MAX pieces; responses use a handful.
constexpr size_t kMaxIov = 64;

}  // namespace

int PollTimeoutMs(Deadline deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

FdTransport::FdTransport(int fd, int stop_fd, std::chrono::milliseconds write_timeout)
    : fd_(fd), stop_fd_(stop_fd), write_timeout_(write_timeout) {}

Result<size_t> FdTransport::Read(char* buf, size_t n, Deadline deadline, bool interruptible) {
  for (;;) {
    const ssize_t got = recv(fd_, buf, n, 0);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return Status(Err::kUpstreamIo, "http: recv", errno);
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const nfds_t nfds = interruptible && stop_fd_ >= 0 ? 2 : 1;
    const int timeout = PollTimeoutMs(deadline);
    if (timeout == 0) return Status(Err::kTimeout, "http: read timed out");
    const int rc = poll(fds, nfds, timeout);
    if (rc < 0 && errno != EINTR) return Status(Err::kUpstreamIo, "http: poll", errno);
    // Data wins over stop: a request whose first bytes already arrived is served.
    if (rc > 0 && !(fds[0].revents & (POLLIN | POLLERR | POLLHUP)) && nfds == 2 &&
        (fds[1].revents & POLLIN)) {
      return Status(Err::kUnavailable, "http: server stopping");
    }
  }
}

Status FdTransport::Write(std::span<const std::string_view> pieces) {
  std::vector<iovec> iov;
  iov.reserve(std::min(pieces.size(), kMaxIov));
  size_t first = 0;   // index of the first piece not fully written
  size_t offset = 0;  // bytes of pieces[first] already written
  while (first < pieces.size()) {
    iov.clear();
    for (size_t i = first; i < pieces.size() && iov.size() < kMaxIov; ++i) {
      const std::string_view p = i == first ? pieces[i].substr(offset) : pieces[i];
      if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
    }
    if (iov.empty()) break;
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    // MSG_NOSIGNAL: a peer that went away is an EPIPE error here, not a SIGPIPE.
    ssize_t sent = sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return Status(Err::kUpstreamIo, "http: send", errno);
      }
      // The timeout restarts after every bit of progress: it bounds a stalled peer, not
      // a long response.
      pollfd pfd{fd_, POLLOUT, 0};
      const int rc = poll(&pfd, 1, PollTimeoutMs(Clock::now() + write_timeout_));
      if (rc == 0) return Status(Err::kTimeout, "http: write timed out");
      if (rc < 0 && errno != EINTR) return Status(Err::kUpstreamIo, "http: poll", errno);
      continue;
    }
    // Advance over what was written.
    size_t left = static_cast<size_t>(sent);
    while (first < pieces.size() && left > 0) {
      const size_t rest = pieces[first].size() - offset;
      if (left < rest) {
        offset += left;
        left = 0;
      } else {
        left -= rest;
        ++first;
        offset = 0;
      }
    }
    while (first < pieces.size() && pieces[first].size() == offset) {
      ++first;
      offset = 0;
    }
  }
  return Status::Ok();
}

void FdTransport::LingeringClose() {
  if (closed_) return;
  closed_ = true;
  if (shutdown(fd_, SHUT_WR) != 0) return;
  const Deadline deadline = Clock::now() + kLingerTime;
  char sink[16384];
  size_t total = 0;
  while (total < kMaxLingerBytes) {
    pollfd pfd{fd_, POLLIN, 0};
    const int timeout = PollTimeoutMs(deadline);
    if (timeout == 0) return;
    const int rc = poll(&pfd, 1, timeout);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return;
    const ssize_t got = recv(fd_, sink, sizeof(sink), 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return;
    total += static_cast<size_t>(got);
  }
}

Result<size_t> MemoryTransport::Read(char* buf, size_t n, Deadline /*deadline*/,
                                     bool /*interruptible*/) {
  const size_t take = std::min({n, max_read_, input_.size() - pos_});
  if (take > 0) std::memcpy(buf, input_.data() + pos_, take);
  pos_ += take;
  return take;
}

Status MemoryTransport::Write(std::span<const std::string_view> pieces) {
  for (const std::string_view p : pieces) output_.append(p);
  return Status::Ok();
}

}  // namespace keycell::broker::http

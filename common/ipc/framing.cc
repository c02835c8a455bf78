#include "common/ipc/framing.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <vector>

namespace keycell::ipc {
namespace {

Status WaitFor(int sock, short events, int timeout_ms) {
  pollfd p{sock, events, 0};
  for (;;) {
    const int n = poll(&p, 1, timeout_ms);
    if (n > 0) return Status::Ok();
    if (n == 0) return Status(Err::kTimeout, "ipc poll timeout");
    if (errno != EINTR) return Status(Err::kUpstreamIo, "ipc poll", errno);
  }
}

// Reads exactly `out.size()` bytes. Only the call that reads the first byte of a
// frame may receive an fd (`fd_out` non-null); an fd anywhere else breaks the frame.
Status RecvExact(int sock, MutableByteView out, UniqueFd* fd_out, bool at_frame_start,
                 int timeout_ms) {
  size_t got = 0;
  while (got < out.size()) {
    KC_RETURN_IF_ERROR(WaitFor(sock, POLLIN, timeout_ms));
    iovec iov{out.data() + got, out.size() - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) return Status(Err::kUnavailable, "ipc peer reset");
      return Status(Err::kUpstreamIo, "ipc recvmsg", errno);
    }
    // Own any fd before checking anything else, so every error path closes it.
    UniqueFd received;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
          c->cmsg_len == CMSG_LEN(sizeof(int))) {
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(fd));
        if (received) return Status(Err::kBadFrame, "ipc: more than one fd");
        received.reset(fd);
      } else {
        return Status(Err::kBadFrame, "ipc: unexpected control message");
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) return Status(Err::kBadFrame, "ipc: truncated control data");
    if (received) {
      if (fd_out == nullptr || got != 0 || !at_frame_start || fd_out->valid())
        return Status(Err::kBadFrame, "ipc: fd not on the first byte of a frame");
      *fd_out = std::move(received);
    }
    if (n == 0) {
      if (got == 0 && at_frame_start) return Status(Err::kUnavailable, "ipc peer closed");
      return Status(Err::kBadFrame, "ipc: eof inside a frame");
    }
    got += static_cast<size_t>(n);
    at_frame_start = false;
  }
  return Status::Ok();
}

}  // namespace

Status SendFrame(int sock, std::span<const ByteView> parts, int fd_to_pass, int timeout_ms) {
  size_t total = 0;
  for (ByteView p : parts) total += p.size();
  if (total > kMaxFrameBytes) return Status(Err::kTooLarge, "ipc frame over kMaxFrameBytes");

  uint8_t len[4];
  PutU32Be(len, static_cast<uint32_t>(total));
  std::vector<iovec> iov;
  iov.reserve(parts.size() + 1);
  iov.push_back({len, sizeof(len)});
  for (ByteView p : parts) {
    if (!p.empty()) iov.push_back({const_cast<uint8_t*>(p.data()), p.size()});
  }

  bool fd_pending = fd_to_pass >= 0;
  size_t first = 0;
  while (first < iov.size()) {
    KC_RETURN_IF_ERROR(WaitFor(sock, POLLOUT, timeout_ms));
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = iov.size() - first;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (fd_pending) {
      memset(control, 0, sizeof(control));
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == EPIPE || errno == ECONNRESET) return Status(Err::kUnavailable, "ipc peer gone");
      return Status(Err::kUpstreamIo, "ipc sendmsg", errno);
    }
    fd_pending = false;
    // Advance past what was written (partial writes happen for large frames).
    while (n > 0 && first < iov.size()) {
      if (static_cast<size_t>(n) >= iov[first].iov_len) {
        n -= static_cast<ssize_t>(iov[first].iov_len);
        ++first;
      } else {
        iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + n;
        iov[first].iov_len -= static_cast<size_t>(n);
        n = 0;
      }
    }
  }
  return Status::Ok();
}

Result<Frame> RecvFrame(int sock, int timeout_ms) {
  Frame frame;
  uint8_t len[4];
  // The first byte alone: an fd attached to any later byte then arrives on a later read
  // and is refused, instead of riding along with the rest of the length prefix.
  KC_RETURN_IF_ERROR(RecvExact(sock, MutableByteView(len, 1), &frame.fd, true, timeout_ms));
  KC_RETURN_IF_ERROR(RecvExact(sock, MutableByteView(len + 1, 3), nullptr, false,
                               timeout_ms == kNoTimeout ? kMidFrameTimeoutMs : timeout_ms));
  const uint32_t n = GetU32Be(len);
  if (n > kMaxFrameBytes) return Status(Err::kTooLarge, "ipc frame over kMaxFrameBytes");
  KC_ASSIGN_OR_RETURN(frame.payload, SecureBuffer::Allocate(n));
  // A frame's remaining bytes are expected promptly once its length has arrived: the
  // sender writes a frame in one go, so a stall mid-frame means a broken peer.
  KC_RETURN_IF_ERROR(RecvExact(sock, frame.payload.mutable_bytes(), nullptr, false,
                               timeout_ms == kNoTimeout ? kMidFrameTimeoutMs : timeout_ms));
  return frame;
}

}  // namespace keycell::ipc

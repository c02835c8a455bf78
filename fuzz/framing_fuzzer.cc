// The length-prefixed frame reader (RecvFrame) fed through a real socketpair in
// chunks of input-chosen sizes, so it sees split and short reads, then ParseRequest
// on every frame it returns.
//
// Input layout: ctl | sizes[8] | stream
//   chunk i of the stream is sizes[i % 8] + 1 bytes (1..256), each its own sendmsg
//   ctl bit 0     keep the writer open after the last chunk: an unfinished frame must
//                 time out (kTimeoutOpenMs) rather than hang
//   ctl bit 1     attach an fd (/dev/null) to chunk number (ctl >> 2) & 7
//   ctl bit 5     attach two fds to that chunk instead of one
// Properties: a returned frame is exactly the bytes the stream declared for it; an fd
// arrives only with a frame's length prefix; no fd leaks, whatever happens.

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <thread>
#include <vector>

#include "common/ipc/framing.h"
#include "common/ipc/message.h"

namespace keycell::ipc {
namespace {

constexpr size_t kHeader = 9;
constexpr int kTimeoutMs = 50;     // writer still going: data is on its way
constexpr int kTimeoutOpenMs = 5;  // writer idle but open: only the timeout ends the read
constexpr size_t kMaxFrames = 16;

struct Plan {
  ByteView stream;
  uint8_t sizes[8];
  bool keep_open = false;
  int fd_chunk = -1;  // chunk that carries fds, or -1
  int fd_count = 0;
  size_t fd_offset = SIZE_MAX;  // stream offset of that chunk's first byte
};

// The number the next open() would get: equal before and after a run iff no fd leaked.
int LowestFreeFd() {
  const int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (probe >= 0) close(probe);
  return probe;
}

bool SendChunk(int sock, ByteView chunk, int fd_count) {
  iovec iov{const_cast<uint8_t*>(chunk.data()), chunk.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  int fds[2] = {-1, -1};
  if (fd_count > 0) {
    for (int i = 0; i < fd_count; ++i) fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fd_count * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fd_count * sizeof(int));
    memcpy(CMSG_DATA(c), fds, fd_count * sizeof(int));
  }
  const ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  // The socket holds its own references to in-flight fds.
  for (int fd : fds)
    if (fd >= 0) close(fd);
  return n == static_cast<ssize_t>(chunk.size());  // blocking: all or the reader is gone
}

void Writer(int sock, const Plan& plan) {
  size_t off = 0;
  for (size_t i = 0; off < plan.stream.size(); ++i) {
    const size_t n = std::min<size_t>(plan.sizes[i % 8] + 1, plan.stream.size() - off);
    const int fds = static_cast<int>(i) == plan.fd_chunk ? plan.fd_count : 0;
    if (!SendChunk(sock, plan.stream.subspan(off, n), fds)) break;
    off += n;
  }
  if (plan.keep_open) {
    uint8_t b;
    while (recv(sock, &b, 1, 0) > 0) {
    }  // until the reader closes its end
  }
  close(sock);
}

size_t ChunkStart(const Plan& plan, int chunk) {
  size_t off = 0;
  for (int i = 0; i < chunk; ++i) off += plan.sizes[i % 8] + 1;
  return off;
}

void ReadFrames(int sock, const Plan& plan) {
  size_t off = 0;  // where the next frame starts in the stream
  for (size_t i = 0; i < kMaxFrames; ++i) {
    auto frame = RecvFrame(sock, plan.keep_open ? kTimeoutOpenMs : kTimeoutMs);
    if (!frame.ok()) return;
    KC_CHECK(plan.stream.size() - off >= 4);
    const uint32_t len = GetU32Be(plan.stream.data() + off);
    KC_CHECK(frame->payload.size() == len && plan.stream.size() - off - 4 >= len);
    KC_CHECK(len == 0 || memcmp(frame->payload.data(), plan.stream.data() + off + 4, len) == 0);
    // The kernel hands an fd to the read that takes its chunk's first byte, which may
    // also take the bytes before it: anywhere in the length prefix is accepted.
    if (frame->fd.valid()) KC_CHECK(plan.fd_offset >= off && plan.fd_offset < off + 4);
    off += 4 + len;

    // Parse from an exactly sized heap copy so ASan sees any read past the frame
    // (SecureBuffer's page-rounded slack would hide it).
    const std::vector<uint8_t> copy(frame->payload.data(), frame->payload.data() + len);
    keycell_ipc_Request req;
    Attachments att;
    if (ParseRequest(copy, &req, &att).ok()) {
      KC_CHECK(att.count == req.attachment_sizes_count && att.count <= kMaxAttachments);
      for (size_t a = 0; a < att.count; ++a) {
        KC_CHECK(att[a].size() == 0 ||
                 (att[a].data() >= copy.data() &&
                  att[a].data() + att[a].size() <= copy.data() + copy.size()));
      }
    }
  }
}

}  // namespace
}  // namespace keycell::ipc

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::ipc;
  if (size < kHeader) return 0;
  Plan plan;
  const uint8_t ctl = data[0];
  memcpy(plan.sizes, data + 1, 8);
  plan.stream = keycell::ByteView(data + kHeader, size - kHeader);
  plan.keep_open = ctl & 1;
  if (ctl & 2) {
    plan.fd_chunk = (ctl >> 2) & 7;
    plan.fd_count = (ctl & 0x20) ? 2 : 1;
    plan.fd_offset = ChunkStart(plan, plan.fd_chunk);
  }

  const int fds_before = LowestFreeFd();
  int sv[2];
  KC_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  std::thread writer(Writer, sv[1], std::cref(plan));
  ReadFrames(sv[0], plan);
  // Closing our end unblocks a writer stuck on a full buffer (EPIPE) or waiting for EOF.
  close(sv[0]);
  writer.join();
  KC_CHECK(LowestFreeFd() == fds_before);
  return 0;
}

#include "common/ipc/framing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <string>
#include <thread>
#include <vector>

namespace keycell::ipc {
namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

TEST(Framing, RoundTripWithParts) {
  Pair p;
  const std::vector<ByteView> parts = {AsBytes("hello "), AsBytes(""), AsBytes("world")};
  ASSERT_TRUE(SendFrame(p.a.get(), parts, -1, 1000).ok());
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_TRUE(f.ok()) << f.status().where();
  EXPECT_EQ(AsChars(f->payload.view().bytes()), "hello world");
  EXPECT_FALSE(f->fd.valid());
}

TEST(Framing, PassesOneFd) {
  Pair p;
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  UniqueFd r(pipefd[0]), w(pipefd[1]);
  const std::vector<ByteView> parts = {AsBytes("x")};
  ASSERT_TRUE(SendFrame(p.a.get(), parts, w.get(), 1000).ok());
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->fd.valid());
  ASSERT_EQ(write(f->fd.get(), "ok", 2), 2);
  char buf[2];
  ASSERT_EQ(read(r.get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "ok");
  EXPECT_EQ(fcntl(f->fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(Framing, LargeFrameCrossesSocketBuffers) {
  Pair p;
  std::string big(3 << 20, 'z');
  big[12345] = 'q';
  std::thread sender([&] {
    const std::vector<ByteView> parts = {AsBytes(big)};
    EXPECT_TRUE(SendFrame(p.a.get(), parts, -1, 5000).ok());
  });
  auto f = RecvFrame(p.b.get(), 5000);
  sender.join();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->payload.size(), big.size());
  EXPECT_EQ(f->payload.data()[12345], 'q');
}

TEST(Framing, OversizedLengthRejectedBeforeReadingBody) {
  Pair p;
  uint8_t len[4];
  PutU32Be(len, static_cast<uint32_t>(kMaxFrameBytes + 1));
  ASSERT_EQ(write(p.a.get(), len, 4), 4);
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Err::kTooLarge);
}

TEST(Framing, SenderRefusesOversizedFrame) {
  Pair p;
  std::vector<uint8_t> big(kMaxFrameBytes + 1);
  const std::vector<ByteView> parts = {ByteView(big)};
  EXPECT_EQ(SendFrame(p.a.get(), parts, -1, 1000).code(), Err::kTooLarge);
}

TEST(Framing, TruncatedFrameIsBadFrame) {
  Pair p;
  uint8_t hdr[6];
  PutU32Be(hdr, 10);
  hdr[4] = hdr[5] = 'a';
  ASSERT_EQ(write(p.a.get(), hdr, 6), 6);
  p.a.reset();
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Err::kBadFrame);
}

TEST(Framing, CleanEofIsUnavailable) {
  Pair p;
  p.a.reset();
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Err::kUnavailable);
}

TEST(Framing, TimeoutWhenNothingArrives) {
  Pair p;
  auto f = RecvFrame(p.b.get(), 50);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Err::kTimeout);
}

// Two fds in one control message: the receiver has room for one, sees MSG_CTRUNC,
// and must refuse the frame (and close what it got).
TEST(Framing, TwoFdsRejected) {
  Pair p;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  uint8_t body[5];
  PutU32Be(body, 1);
  body[4] = 'x';
  iovec iov{body, sizeof(body)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(fds))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(fds));
  memcpy(CMSG_DATA(c), fds, sizeof(fds));
  ASSERT_EQ(sendmsg(p.a.get(), &msg, 0), static_cast<ssize_t>(sizeof(body)));
  close(fds[0]);
  close(fds[1]);
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Err::kBadFrame);
}

// An fd attached to a later byte of the frame (a second sendmsg) is refused.
TEST(Framing, FdInsideFrameRejected) {
  Pair p;
  uint8_t len[4];
  PutU32Be(len, 1);
  ASSERT_EQ(write(p.a.get(), len, 4), 4);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::vector<ByteView> none;
  // Raw second message carrying an fd and the body byte.
  uint8_t x = 'x';
  iovec iov{&x, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fds[0], sizeof(int));
  ASSERT_EQ(sendmsg(p.a.get(), &msg, 0), 1);
  close(fds[0]);
  close(fds[1]);
  auto f = RecvFrame(p.b.get(), 1000);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Err::kBadFrame);
}

}  // namespace
}  // namespace keycell::ipc

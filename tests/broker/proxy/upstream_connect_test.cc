// ResolveAndConnect against sockets on 127.0.0.1 only (hermetic: port 0, no network).

#include "broker/proxy/upstream_connect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <vector>

#include "tests/support/status_testing.h"

namespace keycell::broker::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

Deadline In(milliseconds ms) { return steady_clock::now() + ms; }

// A TCP socket bound to 127.0.0.1:0; listening with `backlog` if >= 0.
struct LocalSocket {
  UniqueFd fd;
  uint16_t port = 0;
};

LocalSocket Bind(int backlog) {
  LocalSocket s;
  s.fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(s.fd.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(s.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  if (backlog >= 0) {
    EXPECT_EQ(listen(s.fd.get(), backlog), 0);
  }
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(s.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  s.port = ntohs(addr.sin_port);
  return s;
}

sockaddr_in PeerOf(int fd) {
  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  EXPECT_EQ(getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  return peer;
}

TEST(ResolveAndConnectTest, LoopbackRefusedByDefault) {
  const LocalSocket server = Bind(8);
  auto fd = ResolveAndConnect("127.0.0.1", server.port, AddressPolicy::PublicOnly(),
                              In(milliseconds(2000)));
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Err::kPolicyDenied);
  EXPECT_STREQ(fd.status().where(), kWhereAddressNotAllowed);
  EXPECT_EQ(fd.status().detail(), static_cast<int32_t>(AddressClass::kLoopback));
  // Nothing reached the listener: no connection is waiting to be accepted.
  pollfd p{server.fd.get(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 50), 0);
}

TEST(ResolveAndConnectTest, LoopbackAllowedWithThePolicyFlag) {
  const LocalSocket server = Bind(8);
  KC_ASSERT_OK_AND_ASSIGN(UniqueFd fd,
                          ResolveAndConnect("127.0.0.1", server.port, AddressPolicy::Internal(),
                                            In(milliseconds(2000))));
  const sockaddr_in peer = PeerOf(fd.get());
  EXPECT_EQ(ntohs(peer.sin_port), server.port);
  EXPECT_EQ(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
  // Non-blocking, close-on-exec, TCP_NODELAY.
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  int nodelay = 0;
  socklen_t len = sizeof(nodelay);
  ASSERT_EQ(getsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
  // The server sees the connection.
  UniqueFd accepted(accept4(server.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted.valid());
}

TEST(ResolveAndConnectTest, MetadataNotOpenedByTheInternalFlag) {
  // Refused before any packet is sent, so this needs no network.
  for (const char* host : {"169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"}) {
    auto fd = ResolveAndConnect(host, 80, AddressPolicy::Internal(), In(milliseconds(500)));
    EXPECT_STREQ(fd.status().where(), kWhereAddressNotAllowed) << host;
    EXPECT_EQ(fd.status().detail(), static_cast<int32_t>(AddressClass::kMetadata)) << host;
  }
}

TEST(ResolveAndConnectTest, Ipv6AndMappedLoopbackRefusedByDefault) {
  for (const char* host : {"::1", "::ffff:127.0.0.1", "0.0.0.0", "10.0.0.1", "100.64.1.1"}) {
    auto fd = ResolveAndConnect(host, 443, AddressPolicy::PublicOnly(), In(milliseconds(500)));
    EXPECT_EQ(fd.status().code(), Err::kPolicyDenied) << host;
  }
}

TEST(ResolveAndConnectTest, LocalhostNameRefusedByDefault) {
  auto fd = ResolveAndConnect("localhost", 443, AddressPolicy::PublicOnly(), In(milliseconds(500)));
  if (!fd.ok() && fd.status().where() == std::string_view(kWhereDnsFailed))
    GTEST_SKIP() << "\"localhost\" does not resolve here";
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Err::kPolicyDenied);
  EXPECT_STREQ(fd.status().where(), kWhereAddressNotAllowed);
}

TEST(ResolveAndConnectTest, ClosedPortIsRefused) {
  // Bound but not listening: the port stays ours, and a SYN to it gets a RST.
  const LocalSocket closed = Bind(-1);
  auto fd = ResolveAndConnect("127.0.0.1", closed.port, AddressPolicy::Internal(),
                              In(milliseconds(2000)));
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Err::kUpstreamIo);
  EXPECT_STREQ(fd.status().where(), kWhereConnectRefused);
  EXPECT_EQ(fd.status().detail(), ECONNREFUSED);
}

TEST(ResolveAndConnectTest, ConnectTimesOutAgainstAFullBacklog) {
  // Linux drops a SYN to a listener whose accept queue is full (it does not answer with
  // RST), so the client keeps retransmitting and connect() only ends at our deadline.
  // Fill the queue with plain non-blocking connects until one stays pending; if the
  // kernel never leaves one pending, skip rather than guess.
  const LocalSocket server = Bind(0);
  std::vector<UniqueFd> fillers;
  bool pending = false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(server.port);
  for (int i = 0; i < 16 && !pending; ++i) {
    UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(c.valid());
    if (connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ASSERT_EQ(errno, EINPROGRESS);
      pollfd p{c.get(), POLLOUT, 0};
      pending = poll(&p, 1, 200) == 0;
    }
    fillers.push_back(std::move(c));
  }
  if (!pending) GTEST_SKIP() << "the kernel completed every connect to a full backlog";

  const auto start = steady_clock::now();
  auto fd =
      ResolveAndConnect("127.0.0.1", server.port, AddressPolicy::Internal(), In(milliseconds(300)));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Err::kTimeout);
  EXPECT_STREQ(fd.status().where(), kWhereConnectTimeout);
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(5000));
}

TEST(ResolveAndConnectTest, ExpiredDeadline) {
  const LocalSocket server = Bind(8);
  auto fd = ResolveAndConnect("127.0.0.1", server.port, AddressPolicy::Internal(),
                              steady_clock::now() - milliseconds(1));
  EXPECT_EQ(fd.status().code(), Err::kTimeout);
}

TEST(ResolveAndConnectTest, BadInputNeverReachesTheResolver) {
  const std::string with_nul("127.0.0.1\0.example", 18);
  for (const std::string& host :
       {std::string(), with_nul, std::string("a b"), std::string("h\r\n"), std::string(256, 'a')}) {
    auto fd = ResolveAndConnect(host, 80, AddressPolicy::Internal(), In(milliseconds(100)));
    EXPECT_STREQ(fd.status().where(), kWhereBadUpstreamHost);
  }
  EXPECT_STREQ(ResolveAndConnect("127.0.0.1", 0, AddressPolicy::Internal(), In(milliseconds(100)))
                   .status()
                   .where(),
               kWhereBadUpstreamPort);
}

}  // namespace
}  // namespace keycell::broker::proxy

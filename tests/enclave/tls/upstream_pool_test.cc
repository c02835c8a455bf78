// UpstreamPool and SessionCache over real loopback TLS connections (label: integration).
#include "enclave/tls/upstream_pool.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "enclave/tls/session_cache.h"
#include "tests/enclave/tls/tls_test_util.h"

namespace keycell::enclave::tls {
namespace {

using namespace std::chrono_literals;
using test::ConnectLoopback;
using test::kUpstreamHost;
using test::SharedPki;
using test::Soon;
using test::TlsTestServer;

class UpstreamPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(SharedPki().ca, nullptr);
    trust_ = test::LoadTrust();
    ASSERT_NE(trust_, nullptr);
    config_ = test::MakeConfig(*trust_);
    ASSERT_NE(config_, nullptr);
    server_ = TlsTestServer::Start(test::EchoServer(SharedPki().ca->Issue(kUpstreamHost)));
    ASSERT_NE(server_, nullptr);
    other_server_ = TlsTestServer::Start(test::EchoServer(SharedPki().ca->Issue("other.test")));
    ASSERT_NE(other_server_, nullptr);
  }

  std::unique_ptr<TlsConnection> Connect(const TlsTestServer& server,
                                         std::string_view host = kUpstreamHost) {
    auto r = TlsConnection::Connect(*config_, ConnectLoopback(server.port()), host, server.port(),
                                    Soon());
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Waits (bounded) until the connection's socket is readable.
  static bool WaitReadable(const TlsConnection& conn) {
    pollfd p{conn.fd(), POLLIN, 0};
    return poll(&p, 1, 5000) == 1;
  }

  std::unique_ptr<TrustStore> trust_;
  std::unique_ptr<TlsClientConfig> config_;
  std::unique_ptr<TlsTestServer> server_, other_server_;
};

TEST_F(UpstreamPoolTest, PutThenTakeReusesTheConnection) {
  UpstreamPool pool;
  auto conn = Connect(*server_);
  ASSERT_NE(conn, nullptr);
  TlsConnection* raw = conn.get();
  EXPECT_TRUE(pool.Put(std::move(conn)));
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.Take("other.test", server_->port()), nullptr);  // not for another host
  EXPECT_EQ(pool.Take(kUpstreamHost, static_cast<uint16_t>(server_->port() + 1)), nullptr);
  auto again = pool.Take(kUpstreamHost, server_->port());
  ASSERT_EQ(again.get(), raw);
  EXPECT_EQ(pool.size(), 0u);
  // Still a working connection, and no new handshake was needed.
  std::vector<uint8_t> buf(16);
  KC_ASSERT_OK(again->WriteAll(AsBytes("hi"), Soon()));
  KC_ASSERT_OK_AND_ASSIGN(const size_t n, again->Read(buf, Soon()));
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(server_->handshakes(), 1);
}

TEST_F(UpstreamPoolTest, KeyedByVerifiedHostAndPort) {
  UpstreamPool pool;
  ASSERT_TRUE(pool.Put(Connect(*server_)));
  ASSERT_TRUE(pool.Put(Connect(*other_server_, "other.test")));
  EXPECT_EQ(pool.size(kUpstreamHost, server_->port()), 1u);
  EXPECT_EQ(pool.size("other.test", other_server_->port()), 1u);
  auto c = pool.Take("other.test", other_server_->port());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->host(), "other.test");
}

TEST_F(UpstreamPoolTest, TakeReturnsNewestFirst) {
  UpstreamPool pool;
  auto a = Connect(*server_);
  auto b = Connect(*server_);
  TlsConnection* newest = b.get();
  ASSERT_TRUE(pool.Put(std::move(a)));
  ASSERT_TRUE(pool.Put(std::move(b)));
  EXPECT_EQ(pool.Take(kUpstreamHost, server_->port()).get(), newest);
}

TEST_F(UpstreamPoolTest, BoundedPerHostAndInTotal) {
  UpstreamPool pool({.max_per_host = 2, .max_total = 3, .idle_timeout = 30s});
  std::vector<TlsConnection*> upstream;
  for (int i = 0; i < 3; ++i) {
    auto c = Connect(*server_);
    ASSERT_NE(c, nullptr);
    upstream.push_back(c.get());
    ASSERT_TRUE(pool.Put(std::move(c)));
  }
  EXPECT_EQ(pool.size(kUpstreamHost, server_->port()), 2u);  // the oldest was evicted
  ASSERT_TRUE(pool.Put(Connect(*other_server_, "other.test")));
  ASSERT_TRUE(pool.Put(Connect(*other_server_, "other.test")));
  EXPECT_EQ(pool.size(), 3u);  // total bound: the oldest overall went
  EXPECT_EQ(pool.size(kUpstreamHost, server_->port()), 1u);
  EXPECT_EQ(pool.Take(kUpstreamHost, server_->port()).get(), upstream[2]);
}

TEST_F(UpstreamPoolTest, IdleConnectionsExpire) {
  UpstreamPool pool({.max_per_host = 16, .max_total = 64, .idle_timeout = 1000ms});
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(pool.Put(Connect(*server_), t0));
  ASSERT_TRUE(pool.Put(Connect(*server_), t0 + 800ms));
  EXPECT_EQ(pool.EvictIdle(t0 + 999ms), 0u);
  EXPECT_EQ(pool.EvictIdle(t0 + 1000ms), 1u);
  EXPECT_EQ(pool.size(), 1u);
  // Take drops expired ones too.
  EXPECT_EQ(pool.Take(kUpstreamHost, server_->port(), t0 + 1800ms), nullptr);
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(UpstreamPoolTest, DeadPeerIsDiscardedOnTake) {
  UpstreamPool pool;
  auto conn = Connect(*server_);
  ASSERT_NE(conn, nullptr);
  const TlsConnection* raw = conn.get();
  ASSERT_TRUE(pool.Put(std::move(conn)));
  server_->DropConnections();  // FIN from the server while the connection sits idle
  ASSERT_TRUE(WaitReadable(*raw));
  EXPECT_EQ(pool.Take(kUpstreamHost, server_->port()), nullptr);
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(UpstreamPoolTest, UnreadDataOrBrokenConnectionsAreNotParked) {
  UpstreamPool pool;
  // Bytes arrived that nobody read (an answer the caller did not consume).
  auto chatty = Connect(*server_);
  ASSERT_NE(chatty, nullptr);
  KC_ASSERT_OK(chatty->WriteAll(AsBytes("unread"), Soon()));
  ASSERT_TRUE(WaitReadable(*chatty));
  EXPECT_FALSE(chatty->IdleAndAlive());
  EXPECT_FALSE(pool.Put(std::move(chatty)));
  // A connection that failed (here: a read timeout).
  auto broken = Connect(*server_);
  ASSERT_NE(broken, nullptr);
  std::vector<uint8_t> buf(8);
  EXPECT_EQ(broken->Read(buf, test::In(50ms)).status().code(), Err::kTimeout);
  EXPECT_FALSE(pool.Put(std::move(broken)));
  EXPECT_FALSE(pool.Put(nullptr));
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(UpstreamPoolTest, ClearDropsEverything) {
  UpstreamPool pool;
  ASSERT_TRUE(pool.Put(Connect(*server_)));
  ASSERT_TRUE(pool.Put(Connect(*other_server_, "other.test")));
  pool.Clear();
  EXPECT_EQ(pool.size(), 0u);
}

// ---- SessionCache ----

TEST_F(UpstreamPoolTest, SessionCacheResumesByHostAndPort) {
  SessionCache cache;
  auto first = Connect(*server_);
  ASSERT_NE(first, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(SavedSession saved, first->SaveSession());
  cache.Store(std::move(saved));
  EXPECT_EQ(cache.Find("other.test", server_->port()), nullptr);
  const std::shared_ptr<const SavedSession> s = cache.Find(kUpstreamHost, server_->port());
  ASSERT_NE(s, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(
      auto second, TlsConnection::Connect(*config_, ConnectLoopback(server_->port()), kUpstreamHost,
                                          server_->port(), Soon(), s.get()));
  EXPECT_TRUE(second->resumed());
  // Replacing keeps one entry per host:port.
  KC_ASSERT_OK_AND_ASSIGN(SavedSession newer, second->SaveSession());
  cache.Store(std::move(newer));
  EXPECT_EQ(cache.size(), 1u);
  cache.Forget(kUpstreamHost, server_->port());
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(UpstreamPoolTest, SessionCacheExpiresAndIsBounded) {
  SessionCache cache({.max_entries = 1, .max_age = 60s});
  auto a = Connect(*server_);
  auto b = Connect(*other_server_, "other.test");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(SavedSession sa, a->SaveSession());
  KC_ASSERT_OK_AND_ASSIGN(SavedSession sb, b->SaveSession());
  const Clock::time_point saved = sb.saved_at();
  cache.Store(std::move(sa));
  cache.Store(std::move(sb));  // evicts the upstream.test entry
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find(kUpstreamHost, server_->port()), nullptr);
  EXPECT_NE(cache.Find("other.test", other_server_->port(), saved + 59s), nullptr);
  EXPECT_EQ(cache.Find("other.test", other_server_->port(), saved + 60s), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

// docs/proxy.md: several enclave channel threads share one config, one session cache
// and one pool. Each thread takes or makes a connection, exchanges, saves its session
// and parks the connection, concurrently (run under ASan too).
TEST_F(UpstreamPoolTest, SharedByThreads) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 6;
  UpstreamPool pool;
  SessionCache cache;
  std::atomic<int> failures{0}, resumed{0}, reused{0};
  auto worker = [&](int id) {
    for (int round = 0; round < kRounds; ++round) {
      std::unique_ptr<TlsConnection> conn = pool.Take(kUpstreamHost, server_->port());
      if (conn != nullptr) {
        ++reused;
      } else {
        const auto session = cache.Find(kUpstreamHost, server_->port());
        auto r = TlsConnection::Connect(*config_, ConnectLoopback(server_->port()), kUpstreamHost,
                                        server_->port(), Soon(), session.get());
        if (!r.ok()) {
          ++failures;
          continue;
        }
        conn = std::move(r).value();
        if (conn->resumed()) ++resumed;
        if (auto saved = conn->SaveSession(); saved.ok()) cache.Store(std::move(saved).value());
      }
      const std::string msg = "thread " + std::to_string(id) + " round " + std::to_string(round);
      std::vector<uint8_t> buf(64);
      size_t got = 0;
      if (!conn->WriteAll(AsBytes(msg), Soon()).ok()) ++failures;
      while (got < msg.size()) {
        auto n = conn->Read(MutableByteView(buf.data() + got, buf.size() - got), Soon());
        if (!n.ok() || *n == 0) break;
        got += *n;
      }
      if (std::string(reinterpret_cast<const char*>(buf.data()), got) != msg) ++failures;
      if (round % 3 == 2) KC_EXPECT_OK(config_->Reseed());  // concurrent with handshakes
      pool.Put(std::move(conn));
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reused.load(), 0);
  EXPECT_LE(pool.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace keycell::enclave::tls

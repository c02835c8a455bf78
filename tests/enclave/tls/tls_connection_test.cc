// TlsConnection against real mbedTLS servers on 127.0.0.1 (label: integration). The
// servers' certificates name "upstream.test"; the client connects to 127.0.0.1 and
// verifies that name, as the enclave does with the policy's host.
#include "enclave/tls/tls_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/enclave/tls/tls_test_util.h"

namespace keycell::enclave::tls {
namespace {

using namespace std::chrono_literals;
using test::ConnectLoopback;
using test::EchoServer;
using test::kUpstreamHost;
using test::ServerMode;
using test::SharedPki;
using test::Soon;
using test::TlsTestServer;
using test::TlsTestServerOptions;

class TlsConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(SharedPki().ca, nullptr);
    trust_ = test::LoadTrust();
    ASSERT_NE(trust_, nullptr);
    config_ = test::MakeConfig(*trust_);
    ASSERT_NE(config_, nullptr);
  }

  std::unique_ptr<TlsTestServer> StartServer(TlsTestServerOptions options) {
    auto server = TlsTestServer::Start(std::move(options));
    EXPECT_NE(server, nullptr);
    return server;
  }
  std::unique_ptr<TlsTestServer> StartEcho(const std::string& dns = kUpstreamHost) {
    return StartServer(EchoServer(SharedPki().ca->Issue(dns)));
  }

  Result<std::unique_ptr<TlsConnection>> Connect(const TlsTestServer& server,
                                                 std::string_view host = kUpstreamHost,
                                                 Deadline deadline = Soon(),
                                                 const SavedSession* resume = nullptr,
                                                 const TlsClientConfig* config = nullptr) {
    return TlsConnection::Connect(config ? *config : *config_, ConnectLoopback(server.port()), host,
                                  server.port(), deadline, resume);
  }

  // Writes `msg` and reads back exactly its length.
  void Echo(TlsConnection& conn, const std::string& msg) {
    KC_ASSERT_OK(conn.WriteAll(AsBytes(msg), Soon()));
    std::string got;
    std::vector<uint8_t> buf(4096);
    while (got.size() < msg.size()) {
      KC_ASSERT_OK_AND_ASSIGN(const size_t n, conn.Read(buf, Soon()));
      ASSERT_GT(n, 0u) << "EOF after " << got.size() << " bytes";
      got.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    EXPECT_EQ(got, msg);
  }

  static void ExpectRefused(const Status& s, Err code, const char* where) {
    EXPECT_EQ(s.code(), code) << ::keycell::test::Describe(s);
    EXPECT_STREQ(s.where(), where) << ::keycell::test::Describe(s);
  }

  std::unique_ptr<TrustStore> trust_;
  std::unique_ptr<TlsClientConfig> config_;
};

TEST_F(TlsConnectionTest, HandshakeAndEcho) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server));
  EXPECT_EQ(conn->host(), kUpstreamHost);
  EXPECT_EQ(conn->port(), server->port());
  EXPECT_FALSE(conn->resumed());
  // mbedTLS's server default prefers ChaCha20 over GCM; either is ours.
  const std::string suite = conn->ciphersuite();
  EXPECT_TRUE(suite.find("ECDHE-ECDSA") != std::string::npos) << suite;
  EXPECT_TRUE(suite.find("GCM") != std::string::npos || suite.find("CHACHA20") != std::string::npos)
      << suite;
  Echo(*conn, "GET / HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
  Echo(*conn, "second request on the same connection");
  EXPECT_TRUE(conn->IdleAndAlive());
  conn->CloseNotify();
  EXPECT_FALSE(conn->IdleAndAlive());
  EXPECT_EQ(conn->WriteAll(AsBytes("x"), Soon()).where(),
            std::string("tls: connection already closed"));
  EXPECT_EQ(server->full_handshakes(), 1);
}

TEST_F(TlsConnectionTest, LargeWriteSpansManyRecords) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server));
  std::string big(256 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  // Interleave: 16 writes of 16 KiB, each echoed back, so neither side's socket buffer
  // has to hold everything.
  for (size_t off = 0; off < big.size(); off += 16384) Echo(*conn, big.substr(off, 16384));
}

TEST_F(TlsConnectionTest, RsaCertificateUsesEcdheRsa) {
  auto server =
      StartServer(EchoServer(SharedPki().ca->Issue(kUpstreamHost, test::kLongAgo, test::kFarFuture,
                                                   /*rsa=*/true)));
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server));
  const std::string suite = conn->ciphersuite();
  EXPECT_TRUE(suite.find("ECDHE-RSA") != std::string::npos) << suite;
  Echo(*conn, "rsa");
}

// The broker may hand over a socket whose non-blocking connect() is still in progress:
// the first send sees EAGAIN, and the deadline-bounded poll waits for the connection.
TEST_F(TlsConnectionTest, ConnectStillInProgress) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(server->port());
  const int rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << strerror(errno);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, TlsConnection::Connect(*config_, std::move(fd), kUpstreamHost,
                                                            server->port(), Soon()));
  Echo(*conn, "non-blocking socket");
}

TEST_F(TlsConnectionTest, HostNameIsCaseInsensitive) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server, "Upstream.TEST"));
  Echo(*conn, "ok");
}

TEST_F(TlsConnectionTest, UnknownCaIsNotTrusted) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  // No extra CA: the system bundle (or, without one, a chain of only the other CA).
  TrustStoreOptions o;
  o.system_bundle = access(kSystemCaBundle, R_OK) == 0 ? kSystemCaBundle : "";
  test::TempFile other(SharedPki().other_ca->cert_pem());
  if (o.system_bundle.empty()) o.extra_ca_file = other.path();
  KC_ASSERT_OK_AND_ASSIGN(auto trust, TrustStore::Load(o));
  auto config = test::MakeConfig(*trust);
  ASSERT_NE(config, nullptr);
  const Status s = Connect(*server, kUpstreamHost, Soon(), nullptr, config.get()).status();
  ExpectRefused(s, Err::kTls, kCertNotTrusted);
  EXPECT_NE(static_cast<uint32_t>(s.detail()) & MBEDTLS_X509_BADCERT_NOT_TRUSTED, 0u);
}

TEST_F(TlsConnectionTest, CertificateFromAnotherCaIsNotTrusted) {
  auto server = StartServer(EchoServer(SharedPki().other_ca->Issue(kUpstreamHost)));
  ASSERT_NE(server, nullptr);
  ExpectRefused(Connect(*server).status(), Err::kTls, kCertNotTrusted);
  EXPECT_EQ(server->handshakes(), 0);
}

TEST_F(TlsConnectionTest, WrongNameIsRefused) {
  auto server = StartEcho("wrong.test");
  ASSERT_NE(server, nullptr);
  const Status s = Connect(*server).status();
  ExpectRefused(s, Err::kTls, kCertNameMismatch);
  EXPECT_EQ(static_cast<uint32_t>(s.detail()), MBEDTLS_X509_BADCERT_CN_MISMATCH);
  // The certificate is fine for its own name.
  KC_EXPECT_OK(Connect(*server, "wrong.test").status());
}

TEST_F(TlsConnectionTest, ExpiredCertificateIsRefused) {
  auto server = StartServer(
      EchoServer(SharedPki().ca->Issue(kUpstreamHost, "20200101000000", "20210101000000")));
  ASSERT_NE(server, nullptr);
  const Status s = Connect(*server).status();
  ExpectRefused(s, Err::kTls, kCertExpired);
  EXPECT_EQ(static_cast<uint32_t>(s.detail()), MBEDTLS_X509_BADCERT_EXPIRED);
}

TEST_F(TlsConnectionTest, NotYetValidCertificateIsRefused) {
  auto server = StartServer(
      EchoServer(SharedPki().ca->Issue(kUpstreamHost, "20480101000000", "20490101000000")));
  ASSERT_NE(server, nullptr);
  const Status s = Connect(*server).status();
  ExpectRefused(s, Err::kTls, kCertExpired);
  EXPECT_EQ(static_cast<uint32_t>(s.detail()), MBEDTLS_X509_BADCERT_FUTURE);
}

TEST_F(TlsConnectionTest, CbcOnlyServerIsRefused) {
  TlsTestServerOptions o = EchoServer(SharedPki().ca->Issue(kUpstreamHost));
  o.ciphersuites = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
                    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA};
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  const Status s = Connect(*server).status();
  ExpectRefused(s, Err::kTls, kHandshakeFailed);
  // The server found no common suite and said so with an alert.
  EXPECT_EQ(s.detail(), MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) << ::keycell::test::Describe(s);
  EXPECT_TRUE(server->WaitForFailedHandshakes(1));
  EXPECT_EQ(server->handshakes(), 0);
}

TEST_F(TlsConnectionTest, PlainTextServerFailsTheHandshake) {
  TlsTestServerOptions o;
  o.mode = ServerMode::kPlainText;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  const Status s = Connect(*server).status();
  EXPECT_STREQ(s.where(), kHandshakeFailed) << ::keycell::test::Describe(s);
  EXPECT_TRUE(s.code() == Err::kTls || s.code() == Err::kUpstreamIo)
      << ::keycell::test::Describe(s);
}

TEST_F(TlsConnectionTest, SilentServerTimesOut) {
  TlsTestServerOptions o;
  o.mode = ServerMode::kSilent;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  const auto start = Clock::now();
  const Status s = Connect(*server, kUpstreamHost, test::In(200ms)).status();
  const auto elapsed = Clock::now() - start;
  ExpectRefused(s, Err::kTimeout, kTlsTimeout);
  EXPECT_GE(elapsed, 190ms);
  EXPECT_LT(elapsed, 5s);
}

TEST_F(TlsConnectionTest, DeadlineAlreadyPassed) {
  TlsTestServerOptions o;
  o.mode = ServerMode::kSilent;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  ExpectRefused(Connect(*server, kUpstreamHost, Clock::now() - 1s).status(), Err::kTimeout,
                kTlsTimeout);
}

TEST_F(TlsConnectionTest, IpLiteralIsRefusedBeforeAnyByte) {
  TlsTestServerOptions o;
  o.mode = ServerMode::kSilent;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  for (const char* host : {"127.0.0.1", "::1", "[::1]", "127.1"}) {
    ExpectRefused(Connect(*server, host).status(), Err::kInvalidArgument, kHostIsIpLiteral);
  }
}

TEST_F(TlsConnectionTest, NonStreamFdsAreRefused) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  close(pipe_fds[1]);
  ExpectRefused(
      TlsConnection::Connect(*config_, UniqueFd(pipe_fds[0]), kUpstreamHost, 443, Soon()).status(),
      Err::kInvalidArgument, kNotStreamSocket);
  UniqueFd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(udp.valid());
  ExpectRefused(
      TlsConnection::Connect(*config_, std::move(udp), kUpstreamHost, 443, Soon()).status(),
      Err::kInvalidArgument, kNotStreamSocket);
}

TEST_F(TlsConnectionTest, ReadTimeoutBreaksTheConnection) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server));
  std::vector<uint8_t> buf(64);
  ExpectRefused(conn->Read(buf, test::In(100ms)).status(), Err::kTimeout, kTlsTimeout);
  EXPECT_TRUE(conn->broken());
  EXPECT_FALSE(conn->IdleAndAlive());
  ExpectRefused(conn->Read(buf, Soon()).status(), Err::kInternal, kConnectionBroken);
  ExpectRefused(conn->WriteAll(AsBytes("x"), Soon()), Err::kInternal, kConnectionBroken);
  ExpectRefused(conn->SaveSession().status(), Err::kInternal, kConnectionBroken);
}

TEST_F(TlsConnectionTest, PeerCloseIsEof) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server));
  Echo(*conn, "before");
  server->DropConnections();  // a bare FIN, no close_notify
  std::vector<uint8_t> buf(64);
  KC_ASSERT_OK_AND_ASSIGN(const size_t n, conn->Read(buf, Soon()));
  EXPECT_EQ(n, 0u);
  EXPECT_FALSE(conn->closed_cleanly());
  EXPECT_FALSE(conn->IdleAndAlive());
  KC_ASSERT_OK_AND_ASSIGN(const size_t again, conn->Read(buf, Soon()));
  EXPECT_EQ(again, 0u);
}

TEST_F(TlsConnectionTest, EmptyReadBufferIsAnError) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto conn, Connect(*server));
  EXPECT_EQ(conn->Read(MutableByteView(), Soon()).status().code(), Err::kInvalidArgument);
}

// ---- Resumption ----

TEST_F(TlsConnectionTest, ResumesWithTicket) {
  TlsTestServerOptions o = EchoServer(SharedPki().ca->Issue(kUpstreamHost));
  o.session_cache = false;  // tickets only
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto first, Connect(*server));
  Echo(*first, "one");
  KC_ASSERT_OK_AND_ASSIGN(SavedSession session, first->SaveSession());
  EXPECT_EQ(session.host(), kUpstreamHost);
  EXPECT_EQ(session.port(), server->port());
  first->CloseNotify();
  first.reset();

  KC_ASSERT_OK_AND_ASSIGN(auto second, Connect(*server, kUpstreamHost, Soon(), &session));
  EXPECT_TRUE(second->resumed());
  Echo(*second, "two");
  EXPECT_EQ(server->full_handshakes(), 1);
  EXPECT_EQ(server->resumed_handshakes(), 1);
  // The same saved session resumes again (a ticket may be presented more than once).
  KC_ASSERT_OK_AND_ASSIGN(auto third, Connect(*server, kUpstreamHost, Soon(), &session));
  EXPECT_TRUE(third->resumed());
  EXPECT_EQ(server->resumed_handshakes(), 2);
}

TEST_F(TlsConnectionTest, ResumesWithSessionIdCache) {
  TlsTestServerOptions o = EchoServer(SharedPki().ca->Issue(kUpstreamHost));
  o.session_tickets = false;  // session IDs only
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto first, Connect(*server));
  KC_ASSERT_OK_AND_ASSIGN(SavedSession session, first->SaveSession());
  first.reset();
  KC_ASSERT_OK_AND_ASSIGN(auto second, Connect(*server, kUpstreamHost, Soon(), &session));
  EXPECT_TRUE(second->resumed());
  Echo(*second, "resumed by session id");
  ASSERT_TRUE(server->WaitForHandshakes(2));
  EXPECT_EQ(server->full_handshakes(), 1);
  EXPECT_EQ(server->resumed_handshakes(), 1);
}

TEST_F(TlsConnectionTest, ServerWithoutResumptionFallsBackToFullHandshake) {
  TlsTestServerOptions o = EchoServer(SharedPki().ca->Issue(kUpstreamHost));
  o.session_cache = false;
  o.session_tickets = false;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto first, Connect(*server));
  KC_ASSERT_OK_AND_ASSIGN(SavedSession session, first->SaveSession());
  first.reset();
  KC_ASSERT_OK_AND_ASSIGN(auto second, Connect(*server, kUpstreamHost, Soon(), &session));
  EXPECT_FALSE(second->resumed());
  Echo(*second, "full again");
  ASSERT_TRUE(server->WaitForHandshakes(2));
  EXPECT_EQ(server->full_handshakes(), 2);
}

// A resumed handshake shows no certificate, so a session verified for one name must
// never be offered for another: refused before any byte is sent.
TEST_F(TlsConnectionTest, SessionForAnotherHostOrPortIsRefused) {
  auto server = StartEcho();
  ASSERT_NE(server, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto first, Connect(*server));
  KC_ASSERT_OK_AND_ASSIGN(SavedSession session, first->SaveSession());
  ExpectRefused(Connect(*server, "other.test", Soon(), &session).status(), Err::kInvalidArgument,
                kSessionForOtherHost);
  ExpectRefused(TlsConnection::Connect(*config_, ConnectLoopback(server->port()), kUpstreamHost,
                                       static_cast<uint16_t>(server->port() + 1), Soon(), &session)
                    .status(),
                Err::kInvalidArgument, kSessionForOtherHost);
  ASSERT_TRUE(server->WaitForHandshakes(1));
  EXPECT_EQ(server->handshakes(), 1);  // the refused attempts never reached the server
}

// The server's certificate changed to a wrong one: a full handshake (no resumption
// offered) verifies again and refuses it.
TEST_F(TlsConnectionTest, FullHandshakeAlwaysVerifies) {
  auto good = StartEcho();
  auto bad = StartEcho("wrong.test");
  ASSERT_NE(good, nullptr);
  ASSERT_NE(bad, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(auto first, Connect(*good));
  first.reset();
  ExpectRefused(Connect(*bad).status(), Err::kTls, kCertNameMismatch);
}

}  // namespace
}  // namespace keycell::enclave::tls

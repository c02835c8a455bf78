// The TLS client under the enclave's real seccomp filters (label: sandbox). A forked
// child does what keycell-enclave does: load the CA files and build the config before
// lockdown, get connected sockets from "the broker" (here: connected before lockdown,
// in production passed by SCM_RIGHTS), then ApplySeccomp(kLocked) →
// ForbidAllFilesystem → ApplySeccomp(kServing), and only then handshakes, exchanges
// data, resumes, pools, reseeds the DRBG and fails a verification. Any syscall outside
// the serving filter kills the child with SIGSYS (exit 159 in a debug build).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "enclave/tls/session_cache.h"
#include "enclave/tls/upstream_pool.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp_policy.h"
#include "tests/enclave/tls/tls_test_util.h"
#include "tests/sandbox/sandbox_test_util.h"

namespace keycell::enclave::tls {
namespace {

using test::kUpstreamHost;
using test::SharedPki;
using test::Soon;
using test::TlsTestServer;

// One request/response over `conn`; 0 on success (child-side check style).
int EchoInChild(TlsConnection& conn, const char* msg) {
  const size_t len = std::strlen(msg);
  KC_CHILD_EXPECT(conn.WriteAll(AsBytes(msg), Soon()).ok());
  unsigned char buf[256];
  size_t got = 0;
  while (got < len) {
    auto n = conn.Read(MutableByteView(buf + got, sizeof(buf) - got), Soon());
    KC_CHILD_EXPECT(n.ok() && *n > 0);
    got += *n;
  }
  KC_CHILD_EXPECT(got == len && std::memcmp(buf, msg, len) == 0);
  return 0;
}

int LockDown(int control_fd) {
  sandbox::testing::ApplyOrExit(sandbox::Stage::kLocked, control_fd);
  const Status ll = sandbox::ForbidAllFilesystem();
  KC_CHILD_EXPECT(ll.ok() || ll.code() == Err::kUnavailable);
  sandbox::testing::ApplyOrExit(sandbox::Stage::kServing, control_fd);
  return 0;
}

int ChildBody(const std::string& ca_file, uint16_t port, uint16_t wrong_port) {
  // ---- Before lockdown (enclave startup). ----
  TrustStoreOptions options;
  options.system_bundle = access(kSystemCaBundle, R_OK) == 0 ? kSystemCaBundle : "";
  options.extra_ca_file = ca_file;
  auto trust = TrustStore::Load(options);
  KC_CHILD_EXPECT(trust.ok());
  auto config = TlsClientConfig::Create(**trust);
  KC_CHILD_EXPECT(config.ok());
  UniqueFd fd1 = test::ConnectLoopback(port), fd2 = test::ConnectLoopback(port),
           fd3 = test::ConnectLoopback(wrong_port);
  KC_CHILD_EXPECT(fd1.valid() && fd2.valid() && fd3.valid());
  if (const int rc = LockDown(sandbox::testing::MakeControlFd()); rc != 0) return rc;

  // ---- Under the serving filter. ----
  SessionCache sessions;
  UpstreamPool pool;
  {
    auto conn = TlsConnection::Connect(**config, std::move(fd1), kUpstreamHost, port, Soon());
    KC_CHILD_EXPECT(conn.ok());
    if (const int rc = EchoInChild(**conn, "full handshake"); rc != 0) return rc;
    auto saved = (*conn)->SaveSession();
    KC_CHILD_EXPECT(saved.ok());
    sessions.Store(std::move(saved).value());
    KC_CHILD_EXPECT(pool.Put(std::move(*conn)));
  }
  {
    auto pooled = pool.Take(kUpstreamHost, port);  // poll + liveness check
    KC_CHILD_EXPECT(pooled != nullptr);
    if (const int rc = EchoInChild(*pooled, "pooled"); rc != 0) return rc;
    pooled->CloseNotify();
  }
  {
    const std::shared_ptr<const SavedSession> s = sessions.Find(kUpstreamHost, port);
    KC_CHILD_EXPECT(s != nullptr);
    auto conn =
        TlsConnection::Connect(**config, std::move(fd2), kUpstreamHost, port, Soon(), s.get());
    KC_CHILD_EXPECT(conn.ok() && (*conn)->resumed());
    if (const int rc = EchoInChild(**conn, "resumed"); rc != 0) return rc;
    (*conn)->CloseNotify();
  }
  KC_CHILD_EXPECT((*config)->Reseed().ok());  // getrandom, as every 10,000 DRBG outputs
  // A verification failure (certificate for wrong.test) is an error, not a death.
  auto wrong = TlsConnection::Connect(**config, std::move(fd3), kUpstreamHost, wrong_port, Soon());
  KC_CHILD_EXPECT(!wrong.ok() && std::strcmp(wrong.status().where(), kCertNameMismatch) == 0);
  return 0;
}

TEST(TlsUnderSeccompTest, HandshakeResumePoolAndFailureUnderServingFilter) {
  ASSERT_NE(SharedPki().ca, nullptr);
  auto server = TlsTestServer::Start(test::EchoServer(SharedPki().ca->Issue(kUpstreamHost)));
  auto wrong = TlsTestServer::Start(test::EchoServer(SharedPki().ca->Issue("wrong.test")));
  ASSERT_NE(server, nullptr);
  ASSERT_NE(wrong, nullptr);
  const std::string ca_file = SharedPki().ca_file->path();
  const int status = sandbox::testing::RunInChild(
      [&] { return ChildBody(ca_file, server->port(), wrong->port()); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "wait status " << status
      << (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS
              ? " (SIGSYS: a syscall outside the filter)"
              : "");
  EXPECT_EQ(server->full_handshakes(), 1);
  EXPECT_EQ(server->resumed_handshakes(), 1);
}

}  // namespace
}  // namespace keycell::enclave::tls

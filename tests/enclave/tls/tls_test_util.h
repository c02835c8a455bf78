#pragma once
// Shared pieces of the enclave TLS tests: temp files, one PKI per test binary, and the
// TrustStore/TlsClientConfig a test connects with.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "enclave/tls/tls_client_config.h"
#include "enclave/tls/tls_connection.h"
#include "enclave/tls/trust_store.h"
#include "tests/enclave/tls/tls_test_pki.h"
#include "tests/enclave/tls/tls_test_server.h"
#include "tests/support/status_testing.h"

namespace keycell::enclave::tls::test {

// The name every test server's certificate carries; clients connect to 127.0.0.1 but
// verify this name (mbedTLS 2.28 cannot verify IP SANs).
inline constexpr char kUpstreamHost[] = "upstream.test";

// A file under /tmp holding `content`, removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/kc_etls_XXXXXX";
    const int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    path_ = tmpl;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Test CA "A" (trusted via tls.extra_ca_file) and "B" (never trusted), made once per
// process. A function-local static, so the CA file is unlinked at exit (forked children
// leave with _exit and do not remove it).
struct Pki {
  std::unique_ptr<TestCa> ca;
  std::unique_ptr<TestCa> other_ca;
  std::unique_ptr<TempFile> ca_file;
};
inline Pki& SharedPki() {
  static Pki pki = [] {
    Pki p;
    p.ca = TestCa::Make("keycell enclave tls test CA");
    p.other_ca = TestCa::Make("keycell untrusted test CA");
    p.ca_file = std::make_unique<TempFile>(p.ca ? p.ca->cert_pem() : "");
    return p;
  }();
  return pki;
}

inline Deadline In(std::chrono::milliseconds ms) { return Clock::now() + ms; }
inline Deadline Soon() { return In(std::chrono::seconds(10)); }

inline TlsTestServerOptions EchoServer(CertAndKey identity) {
  TlsTestServerOptions o;
  o.identity = std::move(identity);
  return o;
}

// A client trust store: the test CA as the extra file; no system bundle unless asked.
inline std::unique_ptr<TrustStore> LoadTrust(bool with_test_ca = true, bool with_system = false) {
  TrustStoreOptions o;
  o.system_bundle = with_system ? kSystemCaBundle : "";
  if (with_test_ca) o.extra_ca_file = SharedPki().ca_file->path();
  auto r = TrustStore::Load(o);
  EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
  return r.ok() ? std::move(r).value() : nullptr;
}

inline std::unique_ptr<TlsClientConfig> MakeConfig(const TrustStore& trust) {
  auto r = TlsClientConfig::Create(trust);
  EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
  return r.ok() ? std::move(r).value() : nullptr;
}

}  // namespace keycell::enclave::tls::test

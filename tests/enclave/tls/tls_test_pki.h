#pragma once
// A throw-away PKI for the enclave TLS tests, made in-process with mbedTLS x509write
// (no openssl binary, no key files in git). Same approach as
// tests/broker/webhooks/test_pki.cc, but with any DNS name and validity window, which
// the expiry and wrong-CA tests need. ECDSA P-256 keys (the CA's too), RSA-2048 on request.

#include <memory>
#include <string>

namespace keycell::enclave::tls::test {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

// x509write validity format: "YYYYMMDDhhmmss" (UTC).
inline constexpr char kLongAgo[] = "20200101000000";
inline constexpr char kFarFuture[] = "20491231235959";

class TestCa {
 public:
  // A self-signed CA named `common_name`. Returns nullptr after ADD_FAILURE on error.
  static std::unique_ptr<TestCa> Make(const std::string& common_name);
  ~TestCa();

  const std::string& cert_pem() const { return cert_pem_; }
  // A server certificate for `dns` (SAN dNSName and CN), valid in [not_before, not_after],
  // with an ECDSA P-256 key (or RSA-2048 with `rsa`: slower, ~0.1-1 s to generate).
  // Empty strings after ADD_FAILURE on error.
  CertAndKey Issue(const std::string& dns, const char* not_before = kLongAgo,
                   const char* not_after = kFarFuture, bool rsa = false);

 private:
  struct State;
  explicit TestCa(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::string name_;
  std::string cert_pem_;
  int next_serial_ = 2;
};

}  // namespace keycell::enclave::tls::test

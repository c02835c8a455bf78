#pragma once
// A throw-away PKI for the TLS delivery tests, made in-process with mbedTLS x509write
// (no openssl binary, no files in git): one CA and two ECDSA P-256 server certificates it
// signs, one for "localhost" and one for "wrong.test". mbedTLS 2.28 matches DNS names
// only (no IP SANs), which is why the receiver is reached as https://localhost:<port>.

#include <string>

namespace keycell::broker::webhooks::test {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

struct TestPki {
  std::string ca_pem;
  CertAndKey localhost;   // SAN DNS:localhost, CN=localhost
  CertAndKey wrong_name;  // SAN DNS:wrong.test, CN=wrong.test
};

// Aborts the test (ADD_FAILURE + empty strings) if mbedTLS fails.
TestPki MakeTestPki();

}  // namespace keycell::broker::webhooks::test

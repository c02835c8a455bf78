#pragma once
// The CA certificates the enclave trusts for upstream TLS (docs/enclave-tls.md).
//
// Loaded once at startup, *before* Landlock and seccomp: reading a file needs openat,
// which the serving filter kills, and the CA files are not in the Landlock rule set.
// The parsed chain then lives, read-only, for the life of the process. Nothing here is
// secret (certificates are public), so plain heap buffers are fine.
//
// Sources, in this order, appended into one mbedtls_x509_crt chain:
//   1. the system bundle (Debian: /etc/ssl/certs/ca-certificates.crt, 144 roots,
//      ~5 ms and ~460 KiB of heap to parse, ENGINEERING-NOTES §4);
//   2. an optional extra PEM/DER file (config key tls.extra_ca_file), e.g. a private CA.
// The system bundle tolerates certificates mbedTLS 2.28 cannot parse (a distribution
// may ship a root with an algorithm it lacks) as long as at least one parsed; the extra
// file is the operator's own and must parse completely.

#include <mbedtls/x509_crt.h>

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "enclave/tls/mbed_ctx.h"

namespace keycell::enclave::tls {

inline constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";
// Larger than any real bundle (Debian's is ~220 KB); stops a wrong path (a disk image, a
// FIFO) from being slurped into the enclave's locked memory.
inline constexpr size_t kMaxCaFileBytes = 8u << 20;

struct TrustStoreOptions {
  // Empty: do not use a system bundle (tests; a deployment that trusts one private CA).
  std::string system_bundle = kSystemCaBundle;
  // Empty: none. The value of tls.extra_ca_file (absolute path, checked by the config
  // loader).
  std::string extra_ca_file;
};

class TrustStore {
 public:
  // Reads and parses the configured files. Blocks on file I/O; call before lockdown.
  // Errors (`where` names the source; detail = errno or the mbedTLS code):
  //   kInvalidArgument "tls: no CA certificates configured" (both paths empty)
  //   kInvalidArgument "tls: cannot read system CA bundle" / "tls: cannot read tls.extra_ca_file"
  //                    (missing, unreadable, not a regular file; detail = errno)
  //   kTooLarge        "tls: system CA bundle too large" / "tls: tls.extra_ca_file too large"
  //   kInvalidArgument "tls: system CA bundle is empty" / "tls: tls.extra_ca_file is empty"
  //   kInvalidArgument "tls: system CA bundle has no parseable certificate" /
  //                    "tls: tls.extra_ca_file has an unparseable certificate"
  //                    (detail = negative mbedTLS code, or the count of certificates
  //                    that failed)
  static Result<std::unique_ptr<TrustStore>> Load(const TrustStoreOptions& options);

  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  // The chain for mbedtls_ssl_conf_ca_chain, which takes a non-const pointer but only
  // reads it while verifying. Owned by this object; valid for its lifetime.
  mbedtls_x509_crt* chain() const { return const_cast<mbedtls_x509_crt*>(chain_.get()); }
  // Certificates in the chain (system + extra).
  size_t certificate_count() const { return count_; }

 private:
  TrustStore() = default;

  X509Crt chain_;
  size_t count_ = 0;
};

}  // namespace keycell::enclave::tls

#pragma once
// The one mbedtls_ssl_config every upstream connection shares (docs/enclave-tls.md §3).
//
// Fixed policy, deliberately without knobs:
//   - TLS 1.2 only. mbedTLS 2.28 has no usable TLS 1.3 (Debian builds it without
//     MBEDTLS_SSL_PROTO_TLS1_3_EXPERIMENTAL; the 2.28 code is a stub), and 1.0/1.1 are
//     refused.
//   - MBEDTLS_SSL_VERIFY_REQUIRED, always: a failed chain or name check ends the
//     handshake before a byte of application data is sent. There is no way to turn it off.
//   - ECDHE (ECDSA or RSA certificates) with AES-128/256-GCM or ChaCha20-Poly1305 only:
//     no CBC, no static-RSA key exchange, no PSK, no SHA-1 MACs. SHA-1 is also absent from
//     the signature hashes and the certificate profile.
//   - Key-exchange curves X25519, P-256, P-384 in that order (mbedTLS's own default puts
//     the slow P-521 first; dropping P-256/P-384 breaks ECDSA-certificate servers, since in
//     TLS 1.2 the same list gates the server key's curve: ENGINEERING-NOTES §4).
//   - ALPN "http/1.1": the enclave only speaks HTTP/1.1 upstream, and naming it stops a
//     server from treating our bytes as another protocol (ALPACA-style confusion).
//   - No renegotiation. Session tickets on (RFC 5077); a server without tickets may
//     still resume by session ID. Resumption itself is per connection (SavedSession).
//   - A CTR_DRBG seeded from mbedtls_entropy, i.e. getrandom(2) (mbedTLS 2.28
//     entropy_poll.c, HAVE_GETRANDOM on glibc). It reseeds every 10,000 calls, so
//     getrandom must stay in the serving seccomp filter (it is: kCommonAllow).
//
// Create() runs before lockdown: seeding reads getrandom, and the first gmtime_r() in
// glibc opens /etc/localtime (tzset), which certificate time checks would otherwise do
// on the first handshake, under the serving filter (openat: killed).
//
// Threads: one config may serve connections on several threads at once. After Create()
// it is only read, the CA chain is only read while verifying, and mbedtls_ctr_drbg_random
// takes the DRBG's own mutex (Debian builds mbedTLS 2.28 with MBEDTLS_THREADING_PTHREAD;
// ctr_drbg.c). Reseed() takes the same mutex. The TrustStore must outlive the config,
// and the config every connection made with it.

#include <mbedtls/ssl.h>

#include <memory>

#include "common/result.h"
#include "enclave/tls/mbed_ctx.h"
#include "enclave/tls/trust_store.h"

namespace keycell::enclave::tls {

class TlsClientConfig {
 public:
  // Seeds the DRBG and builds the config over `trust` (borrowed; must outlive this).
  // Errors: kTls "tls: ctr_drbg_seed" / "tls: ssl_config_defaults" / "tls: conf_alpn"
  // (detail = mbedTLS code). Never blocks once the kernel's pool is initialised.
  static Result<std::unique_ptr<TlsClientConfig>> Create(const TrustStore& trust);

  TlsClientConfig(const TlsClientConfig&) = delete;
  TlsClientConfig& operator=(const TlsClientConfig&) = delete;

  // For mbedtls_ssl_setup. Valid for this object's lifetime.
  const mbedtls_ssl_config* get() const { return conf_.get(); }

  // Reseeds the DRBG from getrandom now (mbedTLS also does this by itself every 10,000
  // outputs). Safe while other threads handshake (takes the DRBG mutex). Errors: kTls
  // "tls: ctr_drbg_reseed" (detail = mbedTLS code). For tests that prove the reseed path
  // works under the serving filter, and for a caller that wants fresh entropy.
  Status Reseed();

 private:
  TlsClientConfig() = default;

  // Declaration order is the reverse of destruction order: conf_ points at drbg_, drbg_
  // at entropy_.
  Entropy entropy_;
  CtrDrbg drbg_;
  SslConfig conf_;
};

}  // namespace keycell::enclave::tls

#pragma once
// Owners for mbedTLS 2.28 contexts (STYLE.md §3.3.3, BoringSSL's StackAllocated over
// mbedTLS init/free). The enclave's own copy: kc_enclave_tls must not depend on broker
// code (cmake/link_guard.cmake), so broker/webhooks' equivalent is not reused.

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

namespace keycell::enclave::tls {

// Init in the constructor, free in the destructor. Every *_free used below zeroizes the
// structure (and, for an ssl context, its record buffers) before releasing it. Neither
// copyable nor movable: an ssl context points at its config, a config at its DRBG and CA
// chain, so these live where they were made (hold them by value in a non-movable owner
// or by std::unique_ptr).
template <typename T, void (*Init)(T*), void (*Free)(T*)>
class MbedCtx {
 public:
  MbedCtx() { Init(&ctx_); }
  ~MbedCtx() { Free(&ctx_); }
  MbedCtx(const MbedCtx&) = delete;
  MbedCtx& operator=(const MbedCtx&) = delete;
  T* get() { return &ctx_; }
  const T* get() const { return &ctx_; }

 private:
  T ctx_;
};

using SslConfig = MbedCtx<mbedtls_ssl_config, mbedtls_ssl_config_init, mbedtls_ssl_config_free>;
using SslContext = MbedCtx<mbedtls_ssl_context, mbedtls_ssl_init, mbedtls_ssl_free>;
using SslSession = MbedCtx<mbedtls_ssl_session, mbedtls_ssl_session_init, mbedtls_ssl_session_free>;
using X509Crt = MbedCtx<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using Entropy = MbedCtx<mbedtls_entropy_context, mbedtls_entropy_init, mbedtls_entropy_free>;
using CtrDrbg = MbedCtx<mbedtls_ctr_drbg_context, mbedtls_ctr_drbg_init, mbedtls_ctr_drbg_free>;

}  // namespace keycell::enclave::tls

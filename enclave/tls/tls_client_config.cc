#include "enclave/tls/tls_client_config.h"

#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/threading.h>
#include <mbedtls/x509.h>

#include <ctime>

namespace keycell::enclave::tls {
namespace {

// ECDHE + AEAD only; the server picks among them (GCM first: AES-NI makes it the cheaper
// choice on the machines we run on).
constexpr int kCiphersuites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                                 0};

constexpr mbedtls_ecp_group_id kCurves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                            MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};

// signature_algorithms we offer and ServerKeyExchange hashes we accept: no SHA-1/MD5.
constexpr int kSigHashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA512,
                              MBEDTLS_MD_NONE};

// What a certificate chain may use. P-521 appears here (not in kCurves) because some
// public CAs sign with it; verifying costs only when a chain actually uses it.
constexpr mbedtls_x509_crt_profile kCertProfile = {
    MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) | MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA512),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_RSA) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_RSASSA_PSS) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECKEY) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECDSA),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP384R1) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP521R1),
    2048,  // minimum RSA modulus bits
};

// mbedtls_ssl_conf_alpn_protocols keeps the pointer: static storage.
const char* kAlpn[] = {"http/1.1", nullptr};

constexpr unsigned char kDrbgPersonalization[] = "keycell-enclave-tls";

}  // namespace

Result<std::unique_ptr<TlsClientConfig>> TlsClientConfig::Create(const TrustStore& trust) {
  std::unique_ptr<TlsClientConfig> c(new TlsClientConfig());
  int rc = mbedtls_ctr_drbg_seed(c->drbg_.get(), mbedtls_entropy_func, c->entropy_.get(),
                                 kDrbgPersonalization, sizeof(kDrbgPersonalization) - 1);
  if (rc != 0) return Status(Err::kTls, "tls: ctr_drbg_seed", rc);

  mbedtls_ssl_config* conf = c->conf_.get();
  rc = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                   MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc != 0) return Status(Err::kTls, "tls: ssl_config_defaults", rc);
  // REQUIRED, never OPTIONAL: the hostname comes from the sealed policy and the fd from a
  // broker we do not trust, so the certificate check is the only thing that makes the
  // peer the policy's host.
  mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(conf, trust.chain(), nullptr);
  mbedtls_ssl_conf_cert_profile(conf, &kCertProfile);
  mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, c->drbg_.get());
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(conf, kCiphersuites);
  mbedtls_ssl_conf_curves(conf, kCurves);
  mbedtls_ssl_conf_sig_hashes(conf, kSigHashes);
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  mbedtls_ssl_conf_extended_master_secret(conf, MBEDTLS_SSL_EXTENDED_MS_ENABLED);
  rc = mbedtls_ssl_conf_alpn_protocols(conf, kAlpn);
  if (rc != 0) return Status(Err::kTls, "tls: conf_alpn", rc);

  // glibc's first gmtime_r() runs tzset, which opens /etc/localtime. Certificate time
  // checks (mbedtls_platform_gmtime_r) would do that on the first handshake, after
  // lockdown, where openat is killed. Do it now.
  const time_t now = time(nullptr);
  struct tm tm_now {};
  (void)gmtime_r(&now, &tm_now);
  return c;
}

Status TlsClientConfig::Reseed() {
  // mbedtls_ctr_drbg_reseed is not thread-safe by itself; mbedtls_ctr_drbg_random (which
  // handshakes on other threads call) holds this mutex, so hold it too.
#if defined(MBEDTLS_THREADING_C)
  if (const int rc = mbedtls_mutex_lock(&drbg_.get()->mutex); rc != 0)
    return Status(Err::kTls, "tls: ctr_drbg_reseed", rc);
#endif
  const int rc = mbedtls_ctr_drbg_reseed(drbg_.get(), nullptr, 0);
#if defined(MBEDTLS_THREADING_C)
  (void)mbedtls_mutex_unlock(&drbg_.get()->mutex);
#endif
  if (rc != 0) return Status(Err::kTls, "tls: ctr_drbg_reseed", rc);
  return Status::Ok();
}

}  // namespace keycell::enclave::tls

// The shared client config: the fixed policy, read back from the mbedtls_ssl_config
// (unit: no sockets). "VERIFY_REQUIRED cannot be turned off" is structural (no API for
// it); this pins that the config really carries it.
#include "enclave/tls/tls_client_config.h"

#include <gtest/gtest.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "tests/enclave/tls/tls_test_util.h"

namespace keycell::enclave::tls {
namespace {

class TlsClientConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trust_ = test::LoadTrust();
    ASSERT_NE(trust_, nullptr);
    config_ = test::MakeConfig(*trust_);
    ASSERT_NE(config_, nullptr);
  }
  std::unique_ptr<TrustStore> trust_;
  std::unique_ptr<TlsClientConfig> config_;
};

TEST_F(TlsClientConfigTest, VerificationIsRequired) {
  const mbedtls_ssl_config* c = config_->get();
  EXPECT_EQ(c->authmode, MBEDTLS_SSL_VERIFY_REQUIRED);
  EXPECT_EQ(c->endpoint, MBEDTLS_SSL_IS_CLIENT);
  EXPECT_EQ(c->ca_chain, trust_->chain());
  EXPECT_EQ(c->f_vrfy, nullptr);  // no callback that could clear verification flags
}

TEST_F(TlsClientConfigTest, Tls12Only) {
  const mbedtls_ssl_config* c = config_->get();
  EXPECT_EQ(c->min_major_ver, MBEDTLS_SSL_MAJOR_VERSION_3);
  EXPECT_EQ(c->min_minor_ver, MBEDTLS_SSL_MINOR_VERSION_3);
  EXPECT_EQ(c->max_major_ver, MBEDTLS_SSL_MAJOR_VERSION_3);
  EXPECT_EQ(c->max_minor_ver, MBEDTLS_SSL_MINOR_VERSION_3);
}

TEST_F(TlsClientConfigTest, OnlyEcdheWithAead) {
  const int* suites = config_->get()->ciphersuite_list[MBEDTLS_SSL_MINOR_VERSION_3];
  ASSERT_NE(suites, nullptr);
  int count = 0;
  for (const int* id = suites; *id != 0; ++id, ++count) {
    const mbedtls_ssl_ciphersuite_t* info = mbedtls_ssl_ciphersuite_from_id(*id);
    ASSERT_NE(info, nullptr) << *id;
    EXPECT_TRUE(info->key_exchange == MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA ||
                info->key_exchange == MBEDTLS_KEY_EXCHANGE_ECDHE_RSA)
        << info->name;
    EXPECT_TRUE(info->cipher == MBEDTLS_CIPHER_AES_128_GCM ||
                info->cipher == MBEDTLS_CIPHER_AES_256_GCM ||
                info->cipher == MBEDTLS_CIPHER_CHACHA20_POLY1305)
        << info->name;
    EXPECT_NE(info->mac, MBEDTLS_MD_SHA1) << info->name;
  }
  EXPECT_EQ(count, 6);
}

TEST_F(TlsClientConfigTest, CurvesAndHashes) {
  const mbedtls_ecp_group_id* curves = config_->get()->curve_list;
  ASSERT_NE(curves, nullptr);
  EXPECT_EQ(curves[0], MBEDTLS_ECP_DP_CURVE25519);
  EXPECT_EQ(curves[1], MBEDTLS_ECP_DP_SECP256R1);
  EXPECT_EQ(curves[2], MBEDTLS_ECP_DP_SECP384R1);
  EXPECT_EQ(curves[3], MBEDTLS_ECP_DP_NONE);
  for (const int* md = config_->get()->sig_hashes; *md != MBEDTLS_MD_NONE; ++md) {
    EXPECT_NE(*md, MBEDTLS_MD_SHA1);
    EXPECT_NE(*md, MBEDTLS_MD_MD5);
  }
  const mbedtls_x509_crt_profile* profile = config_->get()->cert_profile;
  EXPECT_EQ(profile->allowed_mds & MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA1), 0u);
  EXPECT_GE(profile->rsa_min_bitlen, 2048u);
}

TEST_F(TlsClientConfigTest, ResumptionOnRenegotiationOff) {
  EXPECT_EQ(config_->get()->session_tickets, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  EXPECT_EQ(config_->get()->disable_renegotiation, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
}

TEST_F(TlsClientConfigTest, Reseed) { KC_EXPECT_OK(config_->Reseed()); }

}  // namespace
}  // namespace keycell::enclave::tls

#include "tests/broker/webhooks/test_pki.h"

#include <gtest/gtest.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <vector>

namespace keycell::broker::webhooks::test {
namespace {

struct Rng {
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static const unsigned char kPers[] = "keycell-test-pki";
    ok =
        mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPers, sizeof(kPers) - 1) == 0;
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  bool ok = false;
};

struct Key {
  Key() { mbedtls_pk_init(&pk); }
  ~Key() { mbedtls_pk_free(&pk); }
  mbedtls_pk_context pk;
};

bool GenerateKey(Rng& rng, Key* key) {
  return mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0 &&
         mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key->pk),
                             mbedtls_ctr_drbg_random, &rng.drbg) == 0;
}

std::string KeyPem(Key& key) {
  std::vector<unsigned char> buf(4096);
  if (mbedtls_pk_write_key_pem(&key.pk, buf.data(), buf.size()) != 0) return "";
  return reinterpret_cast<const char*>(buf.data());
}

// SubjectAltName ::= SEQUENCE { dNSName [2] IMPLICIT IA5String }
std::vector<unsigned char> SanDer(const std::string& dns) {
  std::vector<unsigned char> der = {0x30, static_cast<unsigned char>(dns.size() + 2), 0x82,
                                    static_cast<unsigned char>(dns.size())};
  der.insert(der.end(), dns.begin(), dns.end());
  return der;
}

// A certificate for `subject_key` signed by `issuer_key`. `dns` empty = a CA.
std::string IssueCert(Rng& rng, Key& subject_key, Key& issuer_key, const std::string& subject,
                      const std::string& issuer, const std::string& dns, int serial) {
  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi sn;
  mbedtls_mpi_init(&sn);
  bool ok = mbedtls_mpi_lset(&sn, serial) == 0;
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &subject_key.pk);
  mbedtls_x509write_crt_set_issuer_key(&crt, &issuer_key.pk);
  ok = ok && mbedtls_x509write_crt_set_serial(&crt, &sn) == 0;
  ok = ok && mbedtls_x509write_crt_set_validity(&crt, "20200101000000", "20491231235959") == 0;
  ok = ok && mbedtls_x509write_crt_set_subject_name(&crt, subject.c_str()) == 0;
  ok = ok && mbedtls_x509write_crt_set_issuer_name(&crt, issuer.c_str()) == 0;
  const bool is_ca = dns.empty();
  ok = ok && mbedtls_x509write_crt_set_basic_constraints(&crt, is_ca ? 1 : 0, is_ca ? 0 : -1) == 0;
  ok = ok && mbedtls_x509write_crt_set_key_usage(
                 &crt, is_ca ? (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)
                             : MBEDTLS_X509_KU_DIGITAL_SIGNATURE) == 0;
  if (!is_ca) {
    const std::vector<unsigned char> san = SanDer(dns);
    ok = ok && mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                                   0, san.data(), san.size()) == 0;
  }
  std::vector<unsigned char> buf(4096);
  ok = ok && mbedtls_x509write_crt_pem(&crt, buf.data(), buf.size(), mbedtls_ctr_drbg_random,
                                       &rng.drbg) == 0;
  mbedtls_mpi_free(&sn);
  mbedtls_x509write_crt_free(&crt);
  return ok ? std::string(reinterpret_cast<const char*>(buf.data())) : "";
}

}  // namespace

TestPki MakeTestPki() {
  TestPki pki;
  Rng rng;
  Key ca_key, host_key, wrong_key;
  if (!rng.ok || !GenerateKey(rng, &ca_key) || !GenerateKey(rng, &host_key) ||
      !GenerateKey(rng, &wrong_key)) {
    ADD_FAILURE() << "test PKI: key generation failed";
    return pki;
  }
  const std::string ca_name = "CN=keycell webhook test CA,O=keycell tests";
  pki.ca_pem = IssueCert(rng, ca_key, ca_key, ca_name, ca_name, "", 1);
  pki.localhost = {IssueCert(rng, host_key, ca_key, "CN=localhost", ca_name, "localhost", 2),
                   KeyPem(host_key)};
  pki.wrong_name = {IssueCert(rng, wrong_key, ca_key, "CN=wrong.test", ca_name, "wrong.test", 3),
                    KeyPem(wrong_key)};
  if (pki.ca_pem.empty() || pki.localhost.cert_pem.empty() || pki.wrong_name.cert_pem.empty() ||
      pki.localhost.key_pem.empty())
    ADD_FAILURE() << "test PKI: certificate generation failed";
  return pki;
}

}  // namespace keycell::broker::webhooks::test

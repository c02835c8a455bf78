#include "tests/enclave/tls/tls_test_pki.h"

#include <gtest/gtest.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>

#include <vector>

namespace keycell::enclave::tls::test {
namespace {

struct Key {
  Key() { mbedtls_pk_init(&pk); }
  ~Key() { mbedtls_pk_free(&pk); }
  mbedtls_pk_context pk;
};

// SubjectAltName ::= SEQUENCE { dNSName [2] IMPLICIT IA5String } (short names only).
std::vector<unsigned char> SanDer(const std::string& dns) {
  std::vector<unsigned char> der = {0x30, static_cast<unsigned char>(dns.size() + 2), 0x82,
                                    static_cast<unsigned char>(dns.size())};
  der.insert(der.end(), dns.begin(), dns.end());
  return der;
}

}  // namespace

struct TestCa::State {
  State() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
  }
  ~State() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  bool Seed() {
    static const unsigned char kPers[] = "keycell-enclave-tls-test-pki";
    return mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPers, sizeof(kPers) - 1) ==
           0;
  }
  bool GenerateKey(Key* key, bool rsa = false) {
    if (rsa)
      return mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) == 0 &&
             mbedtls_rsa_gen_key(mbedtls_pk_rsa(key->pk), mbedtls_ctr_drbg_random, &drbg, 2048,
                                 65537) == 0;
    return mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0 &&
           mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key->pk),
                               mbedtls_ctr_drbg_random, &drbg) == 0;
  }
  // `dns` empty = a CA certificate.
  std::string Issue(Key& subject_key, const std::string& subject, const std::string& issuer,
                    const std::string& dns, int serial, const char* not_before,
                    const char* not_after) {
    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi sn;
    mbedtls_mpi_init(&sn);
    bool ok = mbedtls_mpi_lset(&sn, serial) == 0;
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &subject_key.pk);
    mbedtls_x509write_crt_set_issuer_key(&crt, &ca_key.pk);
    ok = ok && mbedtls_x509write_crt_set_serial(&crt, &sn) == 0;
    ok = ok && mbedtls_x509write_crt_set_validity(&crt, not_before, not_after) == 0;
    ok = ok && mbedtls_x509write_crt_set_subject_name(&crt, subject.c_str()) == 0;
    ok = ok && mbedtls_x509write_crt_set_issuer_name(&crt, issuer.c_str()) == 0;
    const bool is_ca = dns.empty();
    ok = ok && mbedtls_x509write_crt_set_basic_constraints(&crt, is_ca ? 1 : 0, -1) == 0;
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
                                         &drbg) == 0;
    mbedtls_mpi_free(&sn);
    mbedtls_x509write_crt_free(&crt);
    return ok ? std::string(reinterpret_cast<const char*>(buf.data())) : "";
  }

  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  Key ca_key;
};

TestCa::TestCa(std::unique_ptr<State> state) : state_(std::move(state)) {}
TestCa::~TestCa() = default;

std::unique_ptr<TestCa> TestCa::Make(const std::string& common_name) {
  auto state = std::make_unique<State>();
  if (!state->Seed() || !state->GenerateKey(&state->ca_key)) {
    ADD_FAILURE() << "test PKI: CA key generation failed";
    return nullptr;
  }
  std::unique_ptr<TestCa> ca(new TestCa(std::move(state)));
  ca->name_ = "CN=" + common_name + ",O=keycell tests";
  ca->cert_pem_ =
      ca->state_->Issue(ca->state_->ca_key, ca->name_, ca->name_, "", 1, kLongAgo, kFarFuture);
  if (ca->cert_pem_.empty()) {
    ADD_FAILURE() << "test PKI: CA certificate failed";
    return nullptr;
  }
  return ca;
}

CertAndKey TestCa::Issue(const std::string& dns, const char* not_before, const char* not_after,
                         bool rsa) {
  Key key;
  CertAndKey out;
  if (!state_->GenerateKey(&key, rsa)) {
    ADD_FAILURE() << "test PKI: key generation failed";
    return out;
  }
  out.cert_pem = state_->Issue(key, "CN=" + dns, name_, dns, next_serial_++, not_before, not_after);
  std::vector<unsigned char> buf(8192);
  if (mbedtls_pk_write_key_pem(&key.pk, buf.data(), buf.size()) == 0)
    out.key_pem = reinterpret_cast<const char*>(buf.data());
  if (out.cert_pem.empty() || out.key_pem.empty()) ADD_FAILURE() << "test PKI: issue failed";
  return out;
}

}  // namespace keycell::enclave::tls::test

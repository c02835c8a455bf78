// TrustStore: what loads, and the clear errors for what does not (unit: files only).
#include "enclave/tls/trust_store.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "tests/enclave/tls/tls_test_util.h"

namespace keycell::enclave::tls {
namespace {

using test::SharedPki;
using test::TempFile;

Status LoadStatus(const std::string& system, const std::string& extra) {
  return TrustStore::Load({.system_bundle = system, .extra_ca_file = extra}).status();
}

TEST(TrustStoreTest, ExtraCaFileOnly) {
  KC_ASSERT_OK_AND_ASSIGN(
      auto store,
      TrustStore::Load({.system_bundle = "", .extra_ca_file = SharedPki().ca_file->path()}));
  EXPECT_EQ(store->certificate_count(), 1u);
  ASSERT_NE(store->chain(), nullptr);
  EXPECT_EQ(store->chain()->ca_istrue, 1);
}

TEST(TrustStoreTest, SystemBundlePlusExtraCa) {
  if (!std::filesystem::exists(kSystemCaBundle)) GTEST_SKIP() << "no " << kSystemCaBundle;
  KC_ASSERT_OK_AND_ASSIGN(auto system_only, TrustStore::Load({}));
  EXPECT_GT(system_only->certificate_count(), 50u);  // Debian 12: 144
  KC_ASSERT_OK_AND_ASSIGN(auto both,
                          TrustStore::Load({.extra_ca_file = SharedPki().ca_file->path()}));
  EXPECT_EQ(both->certificate_count(), system_only->certificate_count() + 1);
}

TEST(TrustStoreTest, SeveralCertificatesInOneFile) {
  TempFile two(SharedPki().ca->cert_pem() + SharedPki().other_ca->cert_pem());
  KC_ASSERT_OK_AND_ASSIGN(auto store,
                          TrustStore::Load({.system_bundle = "", .extra_ca_file = two.path()}));
  EXPECT_EQ(store->certificate_count(), 2u);
}

TEST(TrustStoreTest, NothingConfigured) {
  const Status s = LoadStatus("", "");
  EXPECT_EQ(s.code(), Err::kInvalidArgument);
  EXPECT_STREQ(s.where(), "tls: no CA certificates configured");
}

TEST(TrustStoreTest, MissingFilesNameTheirSource) {
  Status s = LoadStatus("", "/nonexistent/extra.pem");
  EXPECT_EQ(s.code(), Err::kInvalidArgument);
  EXPECT_STREQ(s.where(), "tls: cannot read tls.extra_ca_file");
  EXPECT_EQ(s.detail(), ENOENT);
  s = LoadStatus("/nonexistent/bundle.crt", SharedPki().ca_file->path());
  EXPECT_STREQ(s.where(), "tls: cannot read system CA bundle");
  EXPECT_EQ(s.detail(), ENOENT);
}

TEST(TrustStoreTest, DirectoryIsNotACaFile) {
  const Status s = LoadStatus("", "/tmp");
  EXPECT_EQ(s.code(), Err::kInvalidArgument);
  EXPECT_STREQ(s.where(), "tls: cannot read tls.extra_ca_file");
}

TEST(TrustStoreTest, EmptyFile) {
  TempFile empty("");
  const Status s = LoadStatus("", empty.path());
  EXPECT_EQ(s.code(), Err::kInvalidArgument);
  EXPECT_STREQ(s.where(), "tls: tls.extra_ca_file is empty");
  EXPECT_STREQ(LoadStatus(empty.path(), "").where(), "tls: system CA bundle is empty");
}

TEST(TrustStoreTest, GarbageIsUnparseable) {
  TempFile garbage("this is not a certificate\n");
  Status s = LoadStatus("", garbage.path());
  EXPECT_EQ(s.code(), Err::kInvalidArgument);
  EXPECT_STREQ(s.where(), "tls: tls.extra_ca_file has an unparseable certificate");
  EXPECT_LT(s.detail(), 0);  // the mbedTLS code
  s = LoadStatus(garbage.path(), "");
  EXPECT_STREQ(s.where(), "tls: system CA bundle has no parseable certificate");
}

// One broken PEM block among good ones: fatal in the operator's own file, tolerated in
// a system bundle (which may carry roots mbedTLS 2.28 cannot parse).
TEST(TrustStoreTest, PartlyBrokenFile) {
  const std::string broken =
      "-----BEGIN CERTIFICATE-----\nTUlJQm9vb29vb29vb29vb29v\n-----END CERTIFICATE-----\n";
  TempFile mixed(SharedPki().ca->cert_pem() + broken);
  const Status s = LoadStatus("", mixed.path());
  EXPECT_STREQ(s.where(), "tls: tls.extra_ca_file has an unparseable certificate");
  EXPECT_EQ(s.detail(), 1);  // one certificate failed
  KC_ASSERT_OK_AND_ASSIGN(auto store,
                          TrustStore::Load({.system_bundle = mixed.path(), .extra_ca_file = ""}));
  EXPECT_EQ(store->certificate_count(), 1u);
}

TEST(TrustStoreTest, OversizedFile) {
  TempFile big(std::string(kMaxCaFileBytes + 1, 'A'));
  const Status s = LoadStatus("", big.path());
  EXPECT_EQ(s.code(), Err::kTooLarge);
  EXPECT_STREQ(s.where(), "tls: tls.extra_ca_file too large");
}

}  // namespace
}  // namespace keycell::enclave::tls

// Sealed records: round trips for every injection recipe, and tamper tests, both with
// the software fake (fast, exhaustive) and with a real SoftHSM2 token (the KEK inside
// the token does the wrapping).

#include "enclave/sealed_record.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "enclave/pkcs11_token.h"
#include "enclave/testing/fake_token.h"
#include "tests/enclave/test_policies.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell::enclave {
namespace {

using testing::MakePolicy;
using testing::MakeRef;

SecretView Secret(const std::string& s) {
  return SecretView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

class SealedRecordTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      auto t = test::TempToken::Create();
      ASSERT_TRUE(t.ok()) << t.status().where();
      temp_ = std::move(*t);
      auto tok = Pkcs11Token::Open(test::TempToken::module_path(), temp_->label());
      ASSERT_TRUE(tok.ok()) << tok.status().where();
      real_ = std::move(*tok);
      token_ = real_.get();
    } else {
      token_ = &fake_;
    }
    ASSERT_TRUE(token_->Login(GetParam() ? temp_->user_pin() : Secret(std::string(testing::kFakePin))).ok());
  }
  void TearDown() override {
    real_.reset();
    temp_.reset();
  }

  std::vector<uint8_t> Seal(const keycell_ipc_RecordRef& ref, const Policy& p, const std::string& secret) {
    auto blob = SealRecord(*token_, ref, p, Secret(secret));
    EXPECT_TRUE(blob.ok()) << blob.status().where();
    return blob.ok() ? std::move(*blob) : std::vector<uint8_t>();
  }

  testing::FakeToken fake_;
  std::unique_ptr<test::TempToken> temp_;
  std::unique_ptr<Pkcs11Token> real_;
  TokenBackend* token_ = nullptr;
};

TEST_P(SealedRecordTest, RoundTripForEveryRecipe) {
  const struct {
    keycell_ipc_InjectKind kind;
    const char* name;
    const char* prefix;
    const char* secret;
  } recipes[] = {
      {keycell_ipc_InjectKind_INJECT_BEARER, "", "", "sk-live-bearer"},
      {keycell_ipc_InjectKind_INJECT_BASIC, "", "", "user:pa:ss"},
      {keycell_ipc_InjectKind_INJECT_HEADER, "X-Api-Key", "Token ", "hdr-secret"},
      {keycell_ipc_InjectKind_INJECT_QUERY, "api_key", "", "q secret&="},
      {keycell_ipc_InjectKind_INJECT_COOKIE, "session", "", "cookie-secret"},
      {keycell_ipc_InjectKind_INJECT_NONE, "", "", "env-only"},
  };
  for (const auto& r : recipes) {
    Policy p = MakePolicy({"api.example.com", "*.example.net"}, r.kind, r.name, r.prefix);
    p.reveal = true;
    p.env_export = true;
    p.expires_at = 4102444800;
    const auto ref = MakeRef("rec-1", 7, "my-key");
    const auto blob = Seal(ref, p, r.secret);
    auto u = UnsealRecord(*token_, ref, blob);
    ASSERT_TRUE(u.ok()) << u.status().where();
    EXPECT_EQ(AsChars(u->secret.bytes()), r.secret);
    EXPECT_EQ(u->policy.injection.kind, r.kind);
    EXPECT_STREQ(u->policy.injection.name, r.name);
    EXPECT_STREQ(u->policy.injection.prefix, r.prefix);
    EXPECT_EQ(u->policy.allowed_hosts_count, 2u);
    EXPECT_STREQ(u->policy.allowed_hosts[1].host, "*.example.net");
    EXPECT_TRUE(u->policy.reveal);
    EXPECT_EQ(u->policy.expires_at, 4102444800);
  }
}

TEST_P(SealedRecordTest, FreshNonceEverySeal) {
  const auto ref = MakeRef("r", 1, "n");
  const auto a = Seal(ref, MakePolicy({"a.example.com"}), "same");
  const auto b = Seal(ref, MakePolicy({"a.example.com"}), "same");
  EXPECT_NE(a, b);
  EXPECT_NE(std::vector<uint8_t>(a.begin() + 8, a.begin() + 20), std::vector<uint8_t>(b.begin() + 8, b.begin() + 20));
}

TEST_P(SealedRecordTest, EveryByteIsAuthenticated) {
  const auto ref = MakeRef("rec-1", 3, "name");
  const auto blob = Seal(ref, MakePolicy({"a.example.com"}), "secret-value");
  // Nonces, wrapped key, wrapped-key tag, ciphertext, tag, and the header.
  for (size_t i = 0; i < blob.size(); i += (GetParam() ? 7 : 1)) {
    auto bad = blob;
    bad[i] ^= 0x01;
    auto u = UnsealRecord(*token_, ref, bad);
    ASSERT_FALSE(u.ok()) << "flipped byte " << i;
    EXPECT_TRUE(u.status().code() == Err::kTampered || u.status().code() == Err::kTooLarge) << i;
  }
  auto shorter = blob;
  shorter.pop_back();
  EXPECT_EQ(UnsealRecord(*token_, ref, shorter).status().code(), Err::kTampered);
}

TEST_P(SealedRecordTest, BoundToIdVersionAndName) {
  const auto ref = MakeRef("rec-1", 3, "name");
  const auto blob = Seal(ref, MakePolicy({"a.example.com"}), "secret-value");
  EXPECT_TRUE(UnsealRecord(*token_, ref, blob).ok());
  EXPECT_EQ(UnsealRecord(*token_, MakeRef("rec-2", 3, "name"), blob).status().code(), Err::kTampered);
  EXPECT_EQ(UnsealRecord(*token_, MakeRef("rec-1", 4, "name"), blob).status().code(), Err::kTampered);
  EXPECT_EQ(UnsealRecord(*token_, MakeRef("rec-1", 3, "other"), blob).status().code(), Err::kTampered);
}

TEST_P(SealedRecordTest, SecretSizeLimits) {
  const auto ref = MakeRef("r", 1, "n");
  const auto p = MakePolicy({"a.example.com"});
  EXPECT_EQ(SealRecord(*token_, ref, p, Secret("")).status().code(), Err::kInvalidArgument);
  const std::string max(kMaxSecretBytes, 's');
  const auto blob = Seal(ref, p, max);
  auto u = UnsealRecord(*token_, ref, blob);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->secret.size(), kMaxSecretBytes);
  const std::string over(kMaxSecretBytes + 1, 's');
  EXPECT_EQ(SealRecord(*token_, ref, p, Secret(over)).status().code(), Err::kTooLarge);
}

TEST_P(SealedRecordTest, LockedTokenCannotSealOrUnseal) {
  testing::FakeToken locked;
  EXPECT_EQ(SealRecord(locked, MakeRef("r", 1, "n"), MakePolicy({"a.example.com"}), Secret("x")).status().code(),
            Err::kLocked);
}

INSTANTIATE_TEST_SUITE_P(FakeAndSoftHsm, SealedRecordTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "SoftHsm" : "Fake"; });

TEST(SealedRecordParse, RejectsForeignBlobs) {
  EXPECT_EQ(ParseSealedBlob({}).status().code(), Err::kTampered);
  std::vector<uint8_t> junk(200, 0);
  EXPECT_EQ(ParseSealedBlob(junk).status().code(), Err::kTampered);
  memcpy(junk.data(), "KCS1", 4);
  junk[4] = 2;  // a future format
  EXPECT_EQ(ParseSealedBlob(junk).status().code(), Err::kTampered);
}

}  // namespace
}  // namespace keycell::enclave

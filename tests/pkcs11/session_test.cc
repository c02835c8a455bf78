#include "pkcs11/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "pkcs11/module.h"
#include "pkcs11/rv_string.h"
#include "pkcs11/token_setup.h"
#include "tests/support/softhsm_fixture.h"
#include "tests/support/status_testing.h"

namespace keycell::pkcs11 {
namespace {

using test::TempToken;

SecretView Secret(std::string_view s) {
  return SecretView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Counts SecureBuffer wipes and whether every wiped region read back as zero.
struct WipeLog {
  static inline int wipes = 0;
  static inline bool all_zero = true;
  static void Observe(const uint8_t* data, size_t capacity) {
    ++wipes;
    all_zero = all_zero && std::all_of(data, data + capacity, [](uint8_t b) { return b == 0; });
  }
  WipeLog() {
    wipes = 0;
    all_zero = true;
    SecureBuffer::SetWipeObserverForTest(&WipeLog::Observe);
  }
  ~WipeLog() { SecureBuffer::SetWipeObserverForTest(nullptr); }
};

// A fresh token with a KEK, a read-only user session on it, and the KEK found by label.
class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KC_ASSERT_OK_AND_ASSIGN(token_, TempToken::Create());
    KC_ASSERT_OK_AND_ASSIGN(module_, Module::Load(TempToken::module_path()));
    KC_ASSERT_OK_AND_ASSIGN(slot_, module_->FindSlotByTokenLabel(token_->label()));
    KC_ASSERT_OK_AND_ASSIGN(Session s, Session::Open(*module_, slot_, /*read_write=*/false));
    session_.emplace(std::move(s));
    KC_ASSERT_OK(session_->Login(token_->user_pin()));
    KC_ASSERT_OK_AND_ASSIGN(kek_, session_->FindSecretKey(kKekLabel));
  }
  void TearDown() override {
    session_.reset();  // sessions, then the module, then the token directory
    module_.reset();
    token_.reset();
  }

  Session& session() { return *session_; }

  struct Sealed {
    std::vector<uint8_t> iv = std::vector<uint8_t>(kGcmIvBytes);
    std::vector<uint8_t> ct;
  };
  // Encrypts with a fresh random IV (the way the enclave seals a record).
  Sealed Seal(ObjectHandle key, std::string_view aad, std::string_view plaintext) {
    Sealed s;
    s.ct.resize(plaintext.size() + kGcmTagBytes);
    KC_EXPECT_OK(session().GenerateRandom(s.iv));
    KC_EXPECT_OK(session().EncryptGcm(key, s.iv, AsBytes(aad), Secret(plaintext), s.ct));
    return s;
  }

  // Seals, applies `tamper` to (iv, aad, ct) and expects kTampered with the output wiped.
  void ExpectTampered(const std::function<void(Sealed&, std::string&)>& tamper) {
    KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
    Sealed s = Seal(copy, "record-v1:key-7", "sk-live-0123456789abcdef");
    std::string aad = "record-v1:key-7";
    tamper(s, aad);
    WipeLog log;
    Result<SecureBuffer> out = session().DecryptGcm(copy, s.iv, AsBytes(aad), s.ct);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), Err::kTampered) << test::Describe(out.status());
    EXPECT_GE(WipeLog::wipes, 1);
    EXPECT_TRUE(WipeLog::all_zero);
    // The failed operation is over: the session can decrypt the genuine record again.
    Sealed good = Seal(copy, "ok", "plain");
    KC_EXPECT_OK(session().DecryptGcm(copy, good.iv, AsBytes("ok"), good.ct));
  }

  std::unique_ptr<TempToken> token_;
  std::unique_ptr<Module> module_;
  CK_SLOT_ID slot_ = 0;
  std::optional<Session> session_;
  ObjectHandle kek_{};
};

void ExpectBool(const Session& s, ObjectHandle key, CK_ATTRIBUTE_TYPE type, bool want,
                const char* name) {
  Result<bool> v = s.GetBoolAttribute(key, type);
  ASSERT_TRUE(v.ok()) << name << ": " << test::Describe(v.status());
  EXPECT_EQ(*v, want) << name;
}

TEST_F(SessionTest, KekAttributes) {
  ExpectBool(session(), kek_, CKA_TOKEN, true, "CKA_TOKEN");
  ExpectBool(session(), kek_, CKA_PRIVATE, true, "CKA_PRIVATE");
  ExpectBool(session(), kek_, CKA_SENSITIVE, true, "CKA_SENSITIVE");
  ExpectBool(session(), kek_, CKA_EXTRACTABLE, false, "CKA_EXTRACTABLE");
  ExpectBool(session(), kek_, CKA_ALWAYS_SENSITIVE, true, "CKA_ALWAYS_SENSITIVE");
  ExpectBool(session(), kek_, CKA_NEVER_EXTRACTABLE, true, "CKA_NEVER_EXTRACTABLE");
  ExpectBool(session(), kek_, CKA_ENCRYPT, true, "CKA_ENCRYPT");
  ExpectBool(session(), kek_, CKA_DECRYPT, true, "CKA_DECRYPT");
  ExpectBool(session(), kek_, CKA_WRAP, false, "CKA_WRAP");
  ExpectBool(session(), kek_, CKA_UNWRAP, false, "CKA_UNWRAP");
  ExpectBool(session(), kek_, CKA_SIGN, false, "CKA_SIGN");
  ExpectBool(session(), kek_, CKA_VERIFY, false, "CKA_VERIFY");
  ExpectBool(session(), kek_, CKA_DERIVE, false, "CKA_DERIVE");
}

TEST_F(SessionTest, KekValueIsSensitive) {
  EXPECT_EQ(session().GetValueAttributeRv(kek_), CKR_ATTRIBUTE_SENSITIVE)
      << RvName(session().GetValueAttributeRv(kek_));
}

TEST_F(SessionTest, SessionCopyKeepsProtection) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
  EXPECT_NE(copy, kek_);
  ExpectBool(session(), copy, CKA_TOKEN, false, "CKA_TOKEN");
  ExpectBool(session(), copy, CKA_PRIVATE, true, "CKA_PRIVATE");
  ExpectBool(session(), copy, CKA_SENSITIVE, true, "CKA_SENSITIVE");
  ExpectBool(session(), copy, CKA_EXTRACTABLE, false, "CKA_EXTRACTABLE");
  ExpectBool(session(), copy, CKA_ALWAYS_SENSITIVE, true, "CKA_ALWAYS_SENSITIVE");
  ExpectBool(session(), copy, CKA_NEVER_EXTRACTABLE, true, "CKA_NEVER_EXTRACTABLE");
  ExpectBool(session(), copy, CKA_WRAP, false, "CKA_WRAP");
  EXPECT_EQ(session().GetValueAttributeRv(copy), CKR_ATTRIBUTE_SENSITIVE);
}

TEST_F(SessionTest, GcmRoundTripWithAadViaSessionCopy) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
  const std::string_view secret = "ghp_exampleexampleexampleexample1234";
  Sealed s = Seal(copy, "record-v1:github", secret);
  ASSERT_EQ(s.ct.size(), secret.size() + kGcmTagBytes);
  EXPECT_NE(std::memcmp(s.ct.data(), secret.data(), secret.size()), 0);
  KC_ASSERT_OK_AND_ASSIGN(SecureBuffer plain,
                          session().DecryptGcm(copy, s.iv, AsBytes("record-v1:github"), s.ct));
  ASSERT_EQ(plain.size(), secret.size());
  EXPECT_EQ(std::memcmp(plain.data(), secret.data(), secret.size()), 0);
}

TEST_F(SessionTest, GcmTokenKeyAndSessionCopyAreTheSameKey) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
  Sealed s = Seal(copy, "aad", "sealed with the copy");
  KC_ASSERT_OK_AND_ASSIGN(SecureBuffer plain,
                          session().DecryptGcm(kek_, s.iv, AsBytes("aad"), s.ct));
  EXPECT_EQ(AsChars(ByteView(plain.data(), plain.size())), "sealed with the copy");
}

TEST_F(SessionTest, GcmEmptyPlaintextAndEmptyAad) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
  Sealed s = Seal(copy, "", "");
  ASSERT_EQ(s.ct.size(), kGcmTagBytes);
  KC_ASSERT_OK_AND_ASSIGN(SecureBuffer plain, session().DecryptGcm(copy, s.iv, {}, s.ct));
  EXPECT_EQ(plain.size(), 0u);
}

TEST_F(SessionTest, GcmLargerThanABlockAndOddLength) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
  const std::string secret(4099, 'z');
  Sealed s = Seal(copy, "x", secret);
  KC_ASSERT_OK_AND_ASSIGN(SecureBuffer plain, session().DecryptGcm(copy, s.iv, AsBytes("x"), s.ct));
  EXPECT_EQ(AsChars(ByteView(plain.data(), plain.size())), secret);
}

TEST_F(SessionTest, TamperedCiphertextIsTampered) {
  ExpectTampered([](Sealed& s, std::string&) { s.ct[0] ^= 0x01; });
}

TEST_F(SessionTest, TamperedTagIsTampered) {
  ExpectTampered([](Sealed& s, std::string&) { s.ct.back() ^= 0x80; });
}

TEST_F(SessionTest, TamperedIvIsTampered) {
  ExpectTampered([](Sealed& s, std::string&) { s.iv[5] ^= 0x10; });
}

TEST_F(SessionTest, TamperedAadIsTampered) {
  ExpectTampered([](Sealed&, std::string& aad) { aad.back() = '8'; });
}

TEST_F(SessionTest, TruncatedRecordIsTampered) {
  ExpectTampered([](Sealed& s, std::string&) { s.ct.pop_back(); });
}

TEST_F(SessionTest, RecordShorterThanTagIsTampered) {
  const std::vector<uint8_t> iv(kGcmIvBytes), ct(kGcmTagBytes - 1);
  EXPECT_EQ(session().DecryptGcm(kek_, iv, {}, ct).status().code(), Err::kTampered);
}

TEST_F(SessionTest, GcmRejectsBadSizes) {
  std::vector<uint8_t> iv11(11), iv12(kGcmIvBytes), out(3 + kGcmTagBytes), ct(32);
  EXPECT_EQ(session().EncryptGcm(kek_, iv11, {}, Secret("abc"), out).code(), Err::kInvalidArgument);
  std::vector<uint8_t> big(4 + kGcmTagBytes, 0xAA);
  EXPECT_EQ(session().EncryptGcm(kek_, iv12, {}, Secret("abc"), big).code(), Err::kInvalidArgument);
  EXPECT_EQ(session().DecryptGcm(kek_, iv11, {}, ct).status().code(), Err::kInvalidArgument);
  // Nothing was left half-done: a correct call still works.
  KC_EXPECT_OK(session().EncryptGcm(kek_, iv12, {}, Secret("abc"), out));
}

TEST_F(SessionTest, FindSecretKeyByLabel) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle again, session().FindSecretKey(kKekLabel));
  EXPECT_EQ(again, kek_);
  // A session copy carries the same label but is not a token object: still unique.
  KC_ASSERT_OK(session().CopyToSessionObject(kek_));
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle after_copy, session().FindSecretKey(kKekLabel));
  EXPECT_EQ(after_copy, kek_);
}

TEST_F(SessionTest, UnknownLabelIsUnknownKey) {
  EXPECT_EQ(session().FindSecretKey("no-such-key").status().code(), Err::kUnknownKey);
  EXPECT_EQ(session().FindSecretKey("keycell-ke").status().code(), Err::kUnknownKey);
  EXPECT_EQ(session().FindSecretKey("").status().code(), Err::kInvalidArgument);
  // Every find was finalized: another find on the same session works.
  KC_EXPECT_OK(session().FindSecretKey(kKekLabel));
}

TEST_F(SessionTest, DuplicateKeyLabelIsInternal) {
  KC_ASSERT_OK_AND_ASSIGN(Session rw, Session::Open(*module_, slot_, /*read_write=*/true));
  KC_ASSERT_OK(rw.GenerateKek(kKekLabel));
  EXPECT_EQ(session().FindSecretKey(kKekLabel).status().code(), Err::kInternal);
}

TEST_F(SessionTest, GenerateKekNeedsReadWriteSession) {
  Result<ObjectHandle> key = session().GenerateKek("another");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Err::kToken);
  EXPECT_EQ(static_cast<CK_RV>(key.status().detail()), CKR_SESSION_READ_ONLY);
}

TEST_F(SessionTest, GenerateRandom) {
  std::vector<uint8_t> a(32), b(32);
  KC_ASSERT_OK(session().GenerateRandom(a));
  KC_ASSERT_OK(session().GenerateRandom(b));
  EXPECT_NE(a, b);
  KC_EXPECT_OK(session().GenerateRandom({}));
}

TEST_F(SessionTest, LogoutDestroysTheSessionCopy) {
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, session().CopyToSessionObject(kek_));
  KC_ASSERT_OK(session().Logout());
  const std::vector<uint8_t> iv(kGcmIvBytes);
  std::vector<uint8_t> out(1 + kGcmTagBytes);
  const Status s = session().EncryptGcm(copy, iv, {}, Secret("x"), out);
  EXPECT_EQ(s.code(), Err::kToken) << test::Describe(s);
  EXPECT_EQ(session().FindSecretKey(kKekLabel).status().code(), Err::kUnknownKey);  // private
}

TEST_F(SessionTest, MovedFromSessionIsInert) {
  Session moved(std::move(*session_));
  session_.reset();  // destroying the moved-from shell must not log out or close anything
  KC_ASSERT_OK_AND_ASSIGN(const ObjectHandle copy, moved.CopyToSessionObject(kek_));
  EXPECT_EQ(moved.GetValueAttributeRv(copy), CKR_ATTRIBUTE_SENSITIVE);
}

// Login behaviour on a fresh token: no session is logged in yet.
class LoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KC_ASSERT_OK_AND_ASSIGN(token_, TempToken::Create());
    KC_ASSERT_OK_AND_ASSIGN(module_, Module::Load(TempToken::module_path()));
    KC_ASSERT_OK_AND_ASSIGN(slot_, module_->FindSlotByTokenLabel(token_->label()));
  }
  void TearDown() override {
    module_.reset();
    token_.reset();
  }

  std::unique_ptr<TempToken> token_;
  std::unique_ptr<Module> module_;
  CK_SLOT_ID slot_ = 0;
};

TEST_F(LoginTest, WrongPinIsBadPin) {
  KC_ASSERT_OK_AND_ASSIGN(Session s, Session::Open(*module_, slot_, false));
  const Status wrong = s.Login(Secret("4321"));
  EXPECT_EQ(wrong.code(), Err::kBadPin) << test::Describe(wrong);
  EXPECT_EQ(static_cast<CK_RV>(wrong.detail()), CKR_PIN_INCORRECT);
  EXPECT_EQ(s.Login(Secret("")).code(), Err::kBadPin);
  KC_EXPECT_OK(s.Login(token_->user_pin()));
}

TEST_F(LoginTest, WrongSoPinIsBadPin) {
  KC_ASSERT_OK_AND_ASSIGN(Session s, Session::Open(*module_, slot_, true));
  EXPECT_EQ(s.LoginSo(Secret("00000000")).code(), Err::kBadPin);
  KC_EXPECT_OK(s.LoginSo(token_->so_pin()));
}

TEST_F(LoginTest, PrivateKeyIsInvisibleBeforeLogin) {
  KC_ASSERT_OK_AND_ASSIGN(Session s, Session::Open(*module_, slot_, false));
  EXPECT_EQ(s.FindSecretKey(kKekLabel).status().code(), Err::kUnknownKey);
  KC_ASSERT_OK(s.Login(token_->user_pin()));
  KC_EXPECT_OK(s.FindSecretKey(kKekLabel));
}

TEST_F(LoginTest, AlreadyLoggedInCountsAsSuccess) {
  KC_ASSERT_OK_AND_ASSIGN(Session a, Session::Open(*module_, slot_, false));
  KC_ASSERT_OK_AND_ASSIGN(Session b, Session::Open(*module_, slot_, false));
  KC_ASSERT_OK(a.Login(token_->user_pin()));
  KC_ASSERT_OK(a.Login(token_->user_pin()));
  KC_ASSERT_OK(b.Login(token_->user_pin()));  // login is per token, not per session
  KC_EXPECT_OK(b.FindSecretKey(kKekLabel));
}

TEST_F(LoginTest, DestructorLogsOutOnlyIfItLoggedIn) {
  KC_ASSERT_OK_AND_ASSIGN(Session owner, Session::Open(*module_, slot_, false));
  KC_ASSERT_OK(owner.Login(token_->user_pin()));
  {
    KC_ASSERT_OK_AND_ASSIGN(Session guest, Session::Open(*module_, slot_, false));
    KC_ASSERT_OK(guest.Login(token_->user_pin()));  // already logged in: not guest's login
  }
  KC_EXPECT_OK(owner.FindSecretKey(kKekLabel));  // still logged in
}

}  // namespace
}  // namespace keycell::pkcs11

#include "pkcs11/module.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "pkcs11/rv_string.h"
#include "pkcs11/token_setup.h"
#include "tests/support/softhsm_fixture.h"
#include "tests/support/status_testing.h"

namespace keycell::pkcs11 {
namespace {

using test::TempToken;

TEST(ModuleLoadTest, NonexistentPathIsAClearError) {
  Result<std::unique_ptr<Module>> m = Module::Load("/nonexistent/libkeycell-nope.so");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Err::kToken);
  EXPECT_STREQ(m.status().where(), "PKCS#11 module: no such file");
  EXPECT_EQ(m.status().detail(), ENOENT);
}

TEST(ModuleLoadTest, EmptyPathIsInvalidArgument) {
  EXPECT_EQ(Module::Load(nullptr).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(Module::Load("").status().code(), Err::kInvalidArgument);
}

TEST(ModuleLoadTest, FileThatIsNoLibraryFailsAtDlopen) {
  KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create());
  Result<std::unique_ptr<Module>> m = Module::Load(token->conf_path().c_str());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Err::kToken);
  EXPECT_STREQ(m.status().where(), "dlopen PKCS#11 module");
}

TEST(ModuleLoadTest, SecondLoadWhileFirstIsAliveIsRefused) {
  KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create());
  KC_ASSERT_OK_AND_ASSIGN(auto first, Module::Load(TempToken::module_path()));
  Result<std::unique_ptr<Module>> second = Module::Load(TempToken::module_path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Err::kToken);
  EXPECT_EQ(static_cast<CK_RV>(second.status().detail()), CKR_CRYPTOKI_ALREADY_INITIALIZED);
  // The refused Load must not have finalized the live one.
  KC_EXPECT_OK(first->FindSlotByTokenLabel(token->label()));
  first.reset();
  KC_EXPECT_OK(Module::Load(TempToken::module_path()));
}

TEST(ModuleLoadTest, MissingConfigFailsAtInitialize) {
  KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create());
  setenv("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf", 1);  // token restores it
  Result<std::unique_ptr<Module>> m = Module::Load(TempToken::module_path());
  ASSERT_FALSE(m.ok());
  EXPECT_STREQ(m.status().where(), "C_Initialize");
  EXPECT_EQ(static_cast<CK_RV>(m.status().detail()), CKR_GENERAL_ERROR);
}

class ModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KC_ASSERT_OK_AND_ASSIGN(token_, TempToken::Create());
    KC_ASSERT_OK_AND_ASSIGN(module_, Module::Load(TempToken::module_path()));
  }
  void TearDown() override {
    module_.reset();  // before the token directory goes away
    token_.reset();
  }

  std::unique_ptr<TempToken> token_;
  std::unique_ptr<Module> module_;
};

TEST_F(ModuleTest, FindSlotByTokenLabelAfterInit) {
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID slot, module_->FindSlotByTokenLabel(token_->label()));
  KC_ASSERT_OK_AND_ASSIGN(const Module::TokenInfo info, module_->GetTokenInfo(slot));
  EXPECT_EQ(info.label, token_->label());
  EXPECT_EQ(info.manufacturer, "SoftHSM project");
  EXPECT_EQ(info.model, "SoftHSM v2");
  EXPECT_TRUE(info.flags & CKF_TOKEN_INITIALIZED);
  EXPECT_TRUE(info.flags & CKF_USER_PIN_INITIALIZED);
  EXPECT_TRUE(info.flags & CKF_LOGIN_REQUIRED);
}

TEST_F(ModuleTest, UnknownTokenLabelIsTokenNotPresent) {
  Result<CK_SLOT_ID> slot = module_->FindSlotByTokenLabel("no-such-token");
  ASSERT_FALSE(slot.ok());
  EXPECT_EQ(slot.status().code(), Err::kToken);
  EXPECT_EQ(static_cast<CK_RV>(slot.status().detail()), CKR_TOKEN_NOT_PRESENT);
  // A prefix of the real label is not the label.
  EXPECT_FALSE(module_->FindSlotByTokenLabel("keycell").ok());
}

TEST_F(ModuleTest, OverlongLabelIsInvalidArgument) {
  const std::string label(33, 'x');
  EXPECT_EQ(module_->FindSlotByTokenLabel(label).status().code(), Err::kInvalidArgument);
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID free_slot, module_->FindUninitializedSlot());
  EXPECT_EQ(module_->InitToken(free_slot, token_->so_pin(), label).code(), Err::kInvalidArgument);
  EXPECT_EQ(module_->InitToken(free_slot, token_->so_pin(), "trailing ").code(),
            Err::kInvalidArgument);
}

TEST_F(ModuleTest, FullLengthLabelRoundTrips) {
  const std::string label(kMaxTokenLabelBytes, 'L');
  KC_ASSERT_OK(InitSoftToken(*module_, label, token_->so_pin(), token_->user_pin()));
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID slot, module_->FindSlotByTokenLabel(label));
  KC_ASSERT_OK_AND_ASSIGN(const Module::TokenInfo info, module_->GetTokenInfo(slot));
  EXPECT_EQ(info.label, label);
}

TEST_F(ModuleTest, FreeSlotIsUninitialized) {
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID free_slot, module_->FindUninitializedSlot());
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID used, module_->FindSlotByTokenLabel(token_->label()));
  EXPECT_NE(free_slot, used);
  KC_ASSERT_OK_AND_ASSIGN(const Module::TokenInfo info, module_->GetTokenInfo(free_slot));
  EXPECT_FALSE(info.flags & CKF_TOKEN_INITIALIZED);
}

// SoftHSM keeps a new token's slot id for the rest of this C_Initialize and renumbers
// it (from the token serial) at the next one. Lookups by label work either way.
TEST_F(ModuleTest, SlotIdOfNewTokenChangesAfterReinitialize) {
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID free_slot, module_->FindUninitializedSlot());
  KC_ASSERT_OK(InitSoftToken(*module_, "second", token_->so_pin(), token_->user_pin()));
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID before, module_->FindSlotByTokenLabel("second"));
  EXPECT_EQ(before, free_slot);
  module_.reset();
  KC_ASSERT_OK_AND_ASSIGN(module_, Module::Load(TempToken::module_path()));
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID after, module_->FindSlotByTokenLabel("second"));
  EXPECT_NE(after, before);
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID first, module_->FindSlotByTokenLabel(token_->label()));
  EXPECT_NE(first, after);
}

TEST_F(ModuleTest, InitSoftTokenRefusesALabelInUse) {
  const Status s = InitSoftToken(*module_, token_->label(), token_->so_pin(), token_->user_pin());
  EXPECT_EQ(s.code(), Err::kInvalidArgument) << test::Describe(s);
}

TEST_F(ModuleTest, DuplicateTokenLabelsAreRefusedOnLookup) {
  // Bypass InitSoftToken's guard to build the ambiguous state SoftHSM itself allows.
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID free_slot, module_->FindUninitializedSlot());
  KC_ASSERT_OK(module_->InitToken(free_slot, token_->so_pin(), token_->label()));
  EXPECT_EQ(module_->FindSlotByTokenLabel(token_->label()).status().code(), Err::kInternal);
}

TEST_F(ModuleTest, HasMechanism) {
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID slot, module_->FindSlotByTokenLabel(token_->label()));
  Result<bool> gcm = module_->HasMechanism(slot, CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT);
  KC_ASSERT_OK(gcm);
  EXPECT_TRUE(*gcm);
  Result<bool> keygen = module_->HasMechanism(slot, CKM_AES_KEY_GEN, CKF_GENERATE);
  KC_ASSERT_OK(keygen);
  EXPECT_TRUE(*keygen);
  // AES key wrap is wrap/unwrap only in SoftHSM: asking for encrypt says no.
  Result<bool> wrap = module_->HasMechanism(slot, CKM_AES_KEY_WRAP, CKF_ENCRYPT);
  KC_ASSERT_OK(wrap);
  EXPECT_FALSE(*wrap);
  Result<bool> vendor = module_->HasMechanism(slot, CKM_VENDOR_DEFINED | 0x1234, 0);
  KC_ASSERT_OK(vendor);
  EXPECT_FALSE(*vendor);
}

}  // namespace
}  // namespace keycell::pkcs11

#include "pkcs11/rv_string.h"

#include <gtest/gtest.h>

#include <cstring>

namespace keycell::pkcs11 {
namespace {

TEST(RvNameTest, NamesCommonCodes) {
  EXPECT_STREQ(RvName(CKR_OK), "CKR_OK");
  EXPECT_STREQ(RvName(CKR_GENERAL_ERROR), "CKR_GENERAL_ERROR");
  EXPECT_STREQ(RvName(CKR_ATTRIBUTE_SENSITIVE), "CKR_ATTRIBUTE_SENSITIVE");
  EXPECT_STREQ(RvName(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
  EXPECT_STREQ(RvName(CKR_PIN_LOCKED), "CKR_PIN_LOCKED");
  EXPECT_STREQ(RvName(CKR_BUFFER_TOO_SMALL), "CKR_BUFFER_TOO_SMALL");
  EXPECT_STREQ(RvName(CKR_ENCRYPTED_DATA_INVALID), "CKR_ENCRYPTED_DATA_INVALID");
  EXPECT_STREQ(RvName(CKR_CRYPTOKI_ALREADY_INITIALIZED), "CKR_CRYPTOKI_ALREADY_INITIALIZED");
  EXPECT_STREQ(RvName(CKR_UNWRAPPING_KEY_HANDLE_INVALID), "CKR_UNWRAPPING_KEY_HANDLE_INVALID");
  EXPECT_STREQ(RvName(CKR_FUNCTION_REJECTED), "CKR_FUNCTION_REJECTED");
}

TEST(RvNameTest, NamesLookLikeCkrCodes) {
  // Every lookup yields a CKR_ string literal, known or not.
  for (CK_RV rv = 0; rv <= 0x200; ++rv) {
    const char* name = RvName(rv);
    EXPECT_EQ(std::strncmp(name, "CKR_", 4), 0) << rv;
  }
  EXPECT_STREQ(RvName(0x11), "CKR_ATTRIBUTE_SENSITIVE");
  EXPECT_STREQ(RvName(0x5), "CKR_GENERAL_ERROR");
}

TEST(RvNameTest, UnknownCodesFallBack) {
  EXPECT_STREQ(RvName(0x7777), "CKR_UNKNOWN");
  EXPECT_STREQ(RvName(CKR_VENDOR_DEFINED | 0x42), "CKR_UNKNOWN");
  EXPECT_STREQ(RvName(0x4), "CKR_UNKNOWN");  // gap in the standard numbering
}

TEST(TokenErrorTest, CarriesCodeWhereAndRv) {
  const Status s = TokenError("C_Decrypt", CKR_GENERAL_ERROR);
  EXPECT_EQ(s.code(), Err::kToken);
  EXPECT_STREQ(s.where(), "C_Decrypt");
  EXPECT_EQ(s.detail(), 5);
  const Status vendor = TokenError("C_Vendor", CKR_VENDOR_DEFINED | 7);
  EXPECT_EQ(static_cast<CK_RV>(static_cast<uint32_t>(vendor.detail())), CKR_VENDOR_DEFINED | 7);
}

}  // namespace
}  // namespace keycell::pkcs11

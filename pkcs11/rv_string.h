#pragma once
// Names for PKCS#11 return values, and the Status built from one.

#include <p11-kit/pkcs11.h>

#include "common/result.h"

namespace keycell::pkcs11 {

// Returns the symbolic name of `rv` ("CKR_PIN_INCORRECT"), or "CKR_UNKNOWN" for codes the
// table does not know (including vendor-defined ones). The result is a string literal:
// never freed, safe to keep. Pure lookup; never blocks.
const char* RvName(CK_RV rv);

// Status{Err::kToken, where, rv}: the one shape of a PKCS#11 failure. `where` must be a
// string literal naming the call ("C_Decrypt"). CK_RV values all fit in 32 bits
// (vendor codes set bit 31 and wrap to negative; cast detail() back to uint32_t).
inline Status TokenError(const char* where, CK_RV rv) {
  return Status(Err::kToken, where, static_cast<int32_t>(static_cast<uint32_t>(rv)));
}

}  // namespace keycell::pkcs11

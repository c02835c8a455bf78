#pragma once
// A loaded PKCS#11 module (in practice SoftHSM2): dlopen + C_GetFunctionList +
// C_Initialize, and the slot/token-level calls that need no session.
//
// Lifetime: one Module per module file per process at a time. The module keeps global
// state (SoftHSM reads $SOFTHSM2_CONF in C_Initialize), so a second Load() of the same
// path while the first Module is alive fails with CKR_CRYPTOKI_ALREADY_INITIALIZED.
// Destroying the Module (C_Finalize + dlclose) and loading again is supported and
// re-reads the configuration (tests rely on this to switch tokens).
//
// Every Session opened from a Module must be destroyed before the Module.
//
// Errors: Status{Err::kToken, "C_Xxx", rv} for any PKCS#11 failure (detail = CK_RV,
// name it with RvName()), Err::kInvalidArgument for arguments we refuse before calling
// the module. Nothing here throws. Every call may block: SoftHSM takes fcntl() record
// locks on token files and reads them from disk.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::pkcs11 {

// CK_TOKEN_INFO.label is 32 bytes, blank padded, not NUL terminated.
inline constexpr size_t kMaxTokenLabelBytes = 32;

class Module {
 public:
  // dlopen(path, RTLD_NOW|RTLD_LOCAL), resolves C_GetFunctionList and calls
  // C_Initialize with CKF_OS_LOCKING_OK (the module may be used from several threads).
  // Errors: kInvalidArgument (null/empty path), kToken "PKCS#11 module: no such file"
  // (detail = errno from access()), kToken "dlopen PKCS#11 module" (not a loadable
  // library), kToken "dlsym C_GetFunctionList", kToken "C_GetFunctionList"/"C_Initialize"
  // (detail = CK_RV). On error nothing stays loaded.
  static Result<std::unique_ptr<Module>> Load(const char* path);

  // C_Finalize then dlclose; errors are ignored. Invalidates every session and handle.
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The module's function table, for the Session wrapper and for tests. Borrowed: valid
  // while this Module lives.
  const CK_FUNCTION_LIST& fn() const { return *fn_; }

  // Slot holding the initialized token whose (blank-trimmed) label equals `label`.
  // Look tokens up by label every time: SoftHSM derives slot ids from the token serial,
  // so a freshly initialized token shows up under a new id after the next C_Initialize.
  // Errors: kInvalidArgument (label longer than 32 bytes), kToken with detail
  // CKR_TOKEN_NOT_PRESENT if no token has that label, kInternal if several do,
  // kToken "C_GetSlotList"/"C_GetTokenInfo" otherwise.
  Result<CK_SLOT_ID> FindSlotByTokenLabel(std::string_view label) const;

  // A slot whose token is present but not yet initialized (SoftHSM always offers one).
  // Errors: kToken with detail CKR_TOKEN_NOT_PRESENT if there is none; kToken otherwise.
  Result<CK_SLOT_ID> FindUninitializedSlot() const;

  // C_InitToken: (re)initializes the token in `slot` with the SO PIN and a label
  // (blank padded to 32 bytes). Destroys every object on that token. The PIN is only
  // read. Errors: kInvalidArgument (label empty or > 32 bytes), kToken "C_InitToken".
  Status InitToken(CK_SLOT_ID slot, SecretView so_pin, std::string_view label) const;

  struct TokenInfo {
    std::string label;         // trimmed of the blank padding
    std::string model;         // trimmed
    std::string manufacturer;  // trimmed
    CK_FLAGS flags = 0;        // CKF_TOKEN_INITIALIZED, CKF_USER_PIN_INITIALIZED, ...
  };
  // C_GetTokenInfo. Errors: kToken "C_GetTokenInfo".
  Result<TokenInfo> GetTokenInfo(CK_SLOT_ID slot) const;

  // Whether the token in `slot` supports `mech` with at least the flags in `needed`
  // (e.g. CKF_ENCRYPT | CKF_DECRYPT). An unknown mechanism is `false`, not an error.
  // Errors: kToken "C_GetMechanismInfo" for other failures.
  Result<bool> HasMechanism(CK_SLOT_ID slot, CK_MECHANISM_TYPE mech, CK_FLAGS needed) const;

 private:
  Module(void* dl, CK_FUNCTION_LIST* fn) : dl_(dl), fn_(fn) {}

  void* dl_;              // dlopen() handle, owned
  CK_FUNCTION_LIST* fn_;  // owned by the module, valid until dlclose
};

}  // namespace keycell::pkcs11

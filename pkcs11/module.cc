#include "pkcs11/module.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "pkcs11/rv_string.h"

namespace keycell::pkcs11 {
namespace {

// Fixed-width PKCS#11 text fields are blank padded and not NUL terminated.
std::string_view TrimPadded(const CK_UTF8CHAR* p, size_t n) {
  std::string_view s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

// C_GetSlotList(tokenPresent=TRUE) with the two-call pattern. The size query matters
// for SoftHSM: it is where SoftHSM adds a fresh uninitialized slot once every existing
// token is initialized. The list can grow between the two calls, hence the loop.
Result<std::vector<CK_SLOT_ID>> SlotList(const CK_FUNCTION_LIST& fn) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    CK_ULONG count = 0;
    CK_RV rv = fn.C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) return TokenError("C_GetSlotList", rv);
    std::vector<CK_SLOT_ID> slots(count);
    if (count == 0) return slots;
    rv = fn.C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;
    if (rv != CKR_OK) return TokenError("C_GetSlotList", rv);
    slots.resize(count);
    return slots;
  }
  return TokenError("C_GetSlotList: slot list keeps changing", CKR_BUFFER_TOO_SMALL);
}

}  // namespace

Result<std::unique_ptr<Module>> Module::Load(const char* path) {
  if (path == nullptr || *path == '\0') {
    return Status(Err::kInvalidArgument, "PKCS#11 module path is empty");
  }
  // dlerror() text cannot travel in a Status; a missing file is the common mistake, so
  // name it with its errno before dlopen() folds it into a generic failure.
  if (access(path, R_OK) != 0) return Status(Err::kToken, "PKCS#11 module: no such file", errno);
  void* dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (dl == nullptr) return Status(Err::kToken, "dlopen PKCS#11 module");
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(dl, "C_GetFunctionList"));
  if (get_list == nullptr) {
    dlclose(dl);
    return Status(Err::kToken, "dlsym C_GetFunctionList");
  }
  CK_FUNCTION_LIST* fn = nullptr;
  CK_RV rv = get_list(&fn);
  if (rv != CKR_OK || fn == nullptr) {
    dlclose(dl);
    return TokenError("C_GetFunctionList", rv);
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = fn->C_Initialize(&args);
  if (rv != CKR_OK) {
    // CKR_CRYPTOKI_ALREADY_INITIALIZED: another Module of this path is alive. Our
    // dlclose only drops our reference, it does not finalize the other one.
    dlclose(dl);
    return TokenError("C_Initialize", rv);
  }
  return std::unique_ptr<Module>(new Module(dl, fn));
}

Module::~Module() {
  fn_->C_Finalize(nullptr);
  dlclose(dl_);
}

Result<CK_SLOT_ID> Module::FindSlotByTokenLabel(std::string_view label) const {
  if (label.size() > kMaxTokenLabelBytes) {
    return Status(Err::kInvalidArgument, "token label longer than 32 bytes");
  }
  KC_ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, SlotList(*fn_));
  bool found = false;
  CK_SLOT_ID match = 0;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    const CK_RV rv = fn_->C_GetTokenInfo(slot, &info);
    if (rv == CKR_TOKEN_NOT_PRESENT) continue;  // removed between the two calls
    if (rv != CKR_OK) return TokenError("C_GetTokenInfo", rv);
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    if (TrimPadded(info.label, sizeof(info.label)) != label) continue;
    // SoftHSM accepts duplicate labels; picking one silently could unlock the wrong token.
    if (found) return Status(Err::kInternal, "FindSlotByTokenLabel: token label is not unique");
    found = true;
    match = slot;
  }
  if (!found)
    return TokenError("FindSlotByTokenLabel: no token with this label", CKR_TOKEN_NOT_PRESENT);
  return match;
}

Result<CK_SLOT_ID> Module::FindUninitializedSlot() const {
  KC_ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, SlotList(*fn_));
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    const CK_RV rv = fn_->C_GetTokenInfo(slot, &info);
    if (rv == CKR_TOKEN_NOT_PRESENT) continue;
    if (rv != CKR_OK) return TokenError("C_GetTokenInfo", rv);
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) return slot;
  }
  return TokenError("FindUninitializedSlot: no free slot", CKR_TOKEN_NOT_PRESENT);
}

Status Module::InitToken(CK_SLOT_ID slot, SecretView so_pin, std::string_view label) const {
  // A trailing blank would be lost in the padding and the label could never be found.
  if (label.empty() || label.size() > kMaxTokenLabelBytes || label.back() == ' ') {
    return Status(Err::kInvalidArgument, "token label must be 1..32 bytes, no trailing blank");
  }
  CK_UTF8CHAR padded[kMaxTokenLabelBytes];
  memset(padded, ' ', sizeof(padded));
  memcpy(padded, label.data(), label.size());
  // PKCS#11 v2.40 prototypes lack const; the module only reads the PIN.
  const CK_RV rv =
      fn_->C_InitToken(slot, const_cast<CK_UTF8CHAR*>(so_pin.data()), so_pin.size(), padded);
  if (rv != CKR_OK) return TokenError("C_InitToken", rv);
  return Status::Ok();
}

Result<Module::TokenInfo> Module::GetTokenInfo(CK_SLOT_ID slot) const {
  CK_TOKEN_INFO info{};
  const CK_RV rv = fn_->C_GetTokenInfo(slot, &info);
  if (rv != CKR_OK) return TokenError("C_GetTokenInfo", rv);
  TokenInfo out;
  out.label = std::string(TrimPadded(info.label, sizeof(info.label)));
  out.model = std::string(TrimPadded(info.model, sizeof(info.model)));
  out.manufacturer = std::string(TrimPadded(info.manufacturerID, sizeof(info.manufacturerID)));
  out.flags = info.flags;
  return out;
}

Result<bool> Module::HasMechanism(CK_SLOT_ID slot, CK_MECHANISM_TYPE mech, CK_FLAGS needed) const {
  CK_MECHANISM_INFO info{};
  const CK_RV rv = fn_->C_GetMechanismInfo(slot, mech, &info);
  if (rv == CKR_MECHANISM_INVALID) return false;
  if (rv != CKR_OK) return TokenError("C_GetMechanismInfo", rv);
  return (info.flags & needed) == needed;
}

}  // namespace keycell::pkcs11

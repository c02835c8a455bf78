#include "pkcs11/session.h"

#include <utility>

#include "pkcs11/rv_string.h"

namespace keycell::pkcs11 {
namespace {

// PKCS#11 v2.40 prototypes take non-const pointers even for input the module only reads.
CK_BYTE* InPtr(const uint8_t* p) { return const_cast<CK_BYTE*>(p); }

// SoftHSM rejects a null data pointer with CKR_ARGUMENTS_BAD even for zero bytes, and
// leaves the operation active when it does. Zero-length inputs point here instead.
CK_BYTE kEmptyInput = 0;
CK_BYTE* InPtrOrEmpty(const uint8_t* p, size_t n) { return n == 0 ? &kEmptyInput : InPtr(p); }

Status PinError(const char* where, CK_RV rv) {
  const auto detail = static_cast<int32_t>(rv);
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      return Status(Err::kBadPin, where, detail);
    case CKR_PIN_LOCKED:
      return Status(Err::kPinLocked, where, detail);
    default:
      return TokenError(where, rv);
  }
}

// The record format fixes the IV at 96 bits and the tag at 128: anything else is a
// caller bug, checked before we get here.
CK_GCM_PARAMS GcmParams(ByteView iv, ByteView aad) {
  CK_GCM_PARAMS p{};
  p.pIv = InPtr(iv.data());
  p.ulIvLen = iv.size();
  p.ulIvBits = iv.size() * 8;
  p.pAAD = InPtrOrEmpty(aad.data(), aad.size());
  p.ulAADLen = aad.size();
  p.ulTagBits = kGcmTagBytes * 8;
  return p;
}

CK_OBJECT_HANDLE Raw(ObjectHandle h) { return static_cast<CK_OBJECT_HANDLE>(h); }

}  // namespace

Result<Session> Session::Open(const Module& module, CK_SLOT_ID slot, bool read_write) {
  const CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  const CK_RV rv = module.fn().C_OpenSession(slot, flags, nullptr, nullptr, &h);
  if (rv != CKR_OK) return TokenError("C_OpenSession", rv);
  return Session(&module.fn(), h);
}

Session::Session(Session&& other) noexcept
    : fn_(other.fn_),
      h_(std::exchange(other.h_, CK_INVALID_HANDLE)),
      logged_in_(std::exchange(other.logged_in_, false)) {}

Session::~Session() {
  if (h_ == CK_INVALID_HANDLE) return;
  if (logged_in_) fn_->C_Logout(h_);
  fn_->C_CloseSession(h_);
}

Status Session::LoginAs(CK_USER_TYPE user, SecretView pin) {
  const char* where = user == CKU_SO ? "C_Login(SO)" : "C_Login";
  // SoftHSM answers a null PIN pointer with CKR_ARGUMENTS_BAD; an empty PIN is simply wrong.
  if (pin.empty()) return Status(Err::kBadPin, where, CKR_PIN_LEN_RANGE);
  const CK_RV rv = fn_->C_Login(h_, user, InPtr(pin.data()), pin.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return Status::Ok();  // someone else owns the login
  if (rv != CKR_OK) return PinError(where, rv);
  logged_in_ = true;
  return Status::Ok();
}

Status Session::Login(SecretView pin) { return LoginAs(CKU_USER, pin); }

Status Session::LoginSo(SecretView so_pin) { return LoginAs(CKU_SO, so_pin); }

Status Session::InitPin(SecretView pin) {
  if (pin.empty()) return Status(Err::kBadPin, "C_InitPIN", CKR_PIN_LEN_RANGE);
  const CK_RV rv = fn_->C_InitPIN(h_, InPtr(pin.data()), pin.size());
  if (rv != CKR_OK) return PinError("C_InitPIN", rv);
  return Status::Ok();
}

Status Session::Logout() {
  const CK_RV rv = fn_->C_Logout(h_);
  logged_in_ = false;
  if (rv != CKR_OK) return TokenError("C_Logout", rv);
  return Status::Ok();
}

Result<ObjectHandle> Session::FindSecretKey(std::string_view label) const {
  if (label.empty()) return Status(Err::kInvalidArgument, "FindSecretKey: empty label");
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_BBOOL on_token = CK_TRUE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_TOKEN, &on_token, sizeof(on_token)},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  CK_RV rv = fn_->C_FindObjectsInit(h_, tmpl, std::size(tmpl));
  if (rv != CKR_OK) return TokenError("C_FindObjectsInit", rv);
  // From here on every path reaches C_FindObjectsFinal: a find left open blocks every
  // later find on this session (CKR_OPERATION_ACTIVE).
  CK_OBJECT_HANDLE found[2] = {};
  CK_ULONG n = 0;
  const CK_RV find_rv = fn_->C_FindObjects(h_, found, std::size(found), &n);
  rv = fn_->C_FindObjectsFinal(h_);
  if (find_rv != CKR_OK) return TokenError("C_FindObjects", find_rv);
  if (rv != CKR_OK) return TokenError("C_FindObjectsFinal", rv);
  if (n == 0) return Status(Err::kUnknownKey, "FindSecretKey: no key with this label");
  if (n > 1) return Status(Err::kInternal, "FindSecretKey: key label is not unique");
  return ObjectHandle{found[0]};
}

Result<ObjectHandle> Session::GenerateKek(std::string_view label) {
  if (label.empty()) return Status(Err::kInvalidArgument, "GenerateKek: empty label");
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = kKekBytes;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_KEY_TYPE, &type, sizeof(type)},
      {CKA_VALUE_LEN, &len, sizeof(len)},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},    // invisible without the user PIN
      {CKA_SENSITIVE, &yes, sizeof(yes)},  // CKA_VALUE never readable
      {CKA_EXTRACTABLE, &no, sizeof(no)},  // cannot be wrapped out either
      {CKA_ENCRYPT, &yes, sizeof(yes)},
      {CKA_DECRYPT, &yes, sizeof(yes)},
      // SoftHSM's defaults would allow some of these; a KEK that can wrap could export
      // other keys under itself, one that can sign becomes an oracle. Deny them all.
      {CKA_WRAP, &no, sizeof(no)},
      {CKA_UNWRAP, &no, sizeof(no)},
      {CKA_SIGN, &no, sizeof(no)},
      {CKA_VERIFY, &no, sizeof(no)},
      {CKA_DERIVE, &no, sizeof(no)},
  };
  CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  const CK_RV rv = fn_->C_GenerateKey(h_, &mech, tmpl, std::size(tmpl), &key);
  if (rv != CKR_OK) return TokenError("C_GenerateKey", rv);
  return ObjectHandle{key};
}

Result<ObjectHandle> Session::CopyToSessionObject(ObjectHandle token_key) {
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &no, sizeof(no)}};
  CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
  const CK_RV rv = fn_->C_CopyObject(h_, Raw(token_key), tmpl, std::size(tmpl), &copy);
  if (rv != CKR_OK) return TokenError("C_CopyObject", rv);
  return ObjectHandle{copy};
}

Status Session::EncryptGcm(ObjectHandle key, ByteView iv, ByteView aad, SecretView plaintext,
                           MutableByteView out) {
  if (iv.size() != kGcmIvBytes) return Status(Err::kInvalidArgument, "EncryptGcm: IV not 12 bytes");
  if (out.size() != plaintext.size() + kGcmTagBytes) {
    return Status(Err::kInvalidArgument, "EncryptGcm: output must be plaintext + 16 bytes");
  }
  CK_GCM_PARAMS params = GcmParams(iv, aad);
  CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
  CK_RV rv = fn_->C_EncryptInit(h_, &mech, Raw(key));
  if (rv != CKR_OK) return TokenError("C_EncryptInit", rv);
  // One call into a buffer of exactly the right size. CKR_BUFFER_TOO_SMALL would mean
  // the module disagrees about GCM's output size: report it, never retry bigger.
  CK_ULONG out_len = out.size();
  rv = fn_->C_Encrypt(h_, InPtrOrEmpty(plaintext.data(), plaintext.size()), plaintext.size(),
                      out.data(), &out_len);
  if (rv == CKR_OK && out_len == out.size()) return Status::Ok();
  SecureWipe(out.data(), out.size());
  if (rv != CKR_OK) return TokenError("C_Encrypt", rv);
  return Status(Err::kInternal, "C_Encrypt: unexpected output length");
}

Result<SecureBuffer> Session::DecryptGcm(ObjectHandle key, ByteView iv, ByteView aad,
                                         ByteView ct_and_tag) {
  if (iv.size() != kGcmIvBytes) return Status(Err::kInvalidArgument, "DecryptGcm: IV not 12 bytes");
  if (ct_and_tag.size() < kGcmTagBytes) {
    return Status(Err::kTampered, "DecryptGcm: input shorter than the tag");
  }
  const size_t plain_len = ct_and_tag.size() - kGcmTagBytes;
  // SoftHSM checks the output buffer against the *input* length (ct || tag), so a
  // buffer of plain_len would fail with CKR_BUFFER_TOO_SMALL.
  KC_ASSIGN_OR_RETURN(SecureBuffer plain, SecureBuffer::Allocate(ct_and_tag.size()));
  CK_GCM_PARAMS params = GcmParams(iv, aad);
  CK_MECHANISM mech{CKM_AES_GCM, &params, sizeof(params)};
  CK_RV rv = fn_->C_DecryptInit(h_, &mech, Raw(key));
  if (rv != CKR_OK) return TokenError("C_DecryptInit", rv);
  CK_ULONG out_len = plain.size();
  rv = fn_->C_Decrypt(h_, InPtr(ct_and_tag.data()), ct_and_tag.size(), plain.data(), &out_len);
  if (rv == CKR_OK && out_len == plain_len) {
    plain.resize(plain_len);  // wipes the unused tail
    return plain;
  }
  // Wipe now rather than at destruction: nothing of an unauthenticated record survives.
  plain.clear();
  // SoftHSM reports a failed tag check as CKR_GENERAL_ERROR.
  if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_GENERAL_ERROR) {
    return Status(Err::kTampered, "C_Decrypt", static_cast<int32_t>(rv));
  }
  if (rv != CKR_OK) return TokenError("C_Decrypt", rv);
  return Status(Err::kInternal, "C_Decrypt: unexpected output length");
}

Result<bool> Session::GetBoolAttribute(ObjectHandle object, CK_ATTRIBUTE_TYPE type) const {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr{type, &value, sizeof(value)};
  const CK_RV rv = fn_->C_GetAttributeValue(h_, Raw(object), &attr, 1);
  if (rv != CKR_OK) return TokenError("C_GetAttributeValue", rv);
  if (attr.ulValueLen != sizeof(value)) {
    return Status(Err::kInternal, "GetBoolAttribute: attribute is not a CK_BBOOL");
  }
  return value == CK_TRUE;
}

CK_RV Session::GetValueAttributeRv(ObjectHandle object) const {
  CK_BYTE scratch[64];  // larger than any AES key: a leak would show up in full
  CK_ATTRIBUTE attr{CKA_VALUE, scratch, sizeof(scratch)};
  const CK_RV rv = fn_->C_GetAttributeValue(h_, Raw(object), &attr, 1);
  SecureWipe(scratch, sizeof(scratch));
  return rv;
}

Status Session::GenerateRandom(MutableByteView out) {
  if (out.empty()) return Status::Ok();
  const CK_RV rv = fn_->C_GenerateRandom(h_, out.data(), out.size());
  if (rv != CKR_OK) return TokenError("C_GenerateRandom", rv);
  return Status::Ok();
}

}  // namespace keycell::pkcs11

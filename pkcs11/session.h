#pragma once
// A PKCS#11 session on one token, and the few operations keycell needs on it:
// login, finding and generating the KEK, copying it into a session object, AES-GCM
// with it, and random bytes.
//
// Ownership: a Session borrows the Module's function table; destroy every Session
// before its Module. Object handles are plain values (ObjectHandle); token objects are
// never destroyed by this layer, and session objects (CopyToSessionObject) die with the
// session or at logout.
//
// Login state in PKCS#11 belongs to the application and token, not to one session:
// logging in through one Session logs in all sessions on that token, and Logout() (or
// the destructor of the Session that logged in) logs them all out and destroys every
// private session object on the token.
//
// Errors: Status{Err::kToken, "C_Xxx", rv} (detail = CK_RV, see RvName()) unless a
// method says otherwise. Nothing throws. Every call may block: SoftHSM re-reads token
// files (under fcntl() locks) for each use of a token object; session objects need no
// file access.
//
// Thread safety: a Session is used by one thread at a time (PKCS#11 sessions keep one
// active operation each).

#include <p11-kit/pkcs11.h>

#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "pkcs11/module.h"

namespace keycell::pkcs11 {

// Strong typedef so object and session handles cannot be swapped by accident.
enum class ObjectHandle : CK_OBJECT_HANDLE {};

inline constexpr size_t kGcmIvBytes = 12;
inline constexpr size_t kGcmTagBytes = 16;
inline constexpr size_t kKekBytes = 32;  // AES-256

class Session {
 public:
  // C_OpenSession(CKF_SERIAL_SESSION [| CKF_RW_SESSION]) on `slot`. Read-write is needed
  // for SO login, InitPin and creating token objects (GenerateKek); a read-only session
  // suffices for user login, finding, copying to session objects and GCM.
  // Errors: kToken "C_OpenSession".
  static Result<Session> Open(const Module& module, CK_SLOT_ID slot, bool read_write);

  // Takes over the handle and the login; `other` is left empty (its destructor does
  // nothing).
  Session(Session&& other) noexcept;
  Session& operator=(Session&&) = delete;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // C_Logout if this Session logged in, then C_CloseSession. Errors are ignored.
  ~Session();

  // C_Login(CKU_USER). The PIN is only read; the caller owns and wipes it.
  // CKR_USER_ALREADY_LOGGED_IN counts as success (but then this Session will not log
  // out on destruction: whoever logged in owns the login).
  // Errors: kBadPin (CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE), kPinLocked
  // (CKR_PIN_LOCKED), kToken "C_Login" otherwise.
  Status Login(SecretView pin);
  // C_Login(CKU_SO); needs a read-write session and no read-only session open on the
  // token. Errors as Login().
  Status LoginSo(SecretView so_pin);
  // C_InitPIN: sets the user PIN; needs an SO login. Errors: kToken "C_InitPIN".
  Status InitPin(SecretView pin);
  // C_Logout. Errors: kToken "C_Logout" (CKR_USER_NOT_LOGGED_IN included).
  Status Logout();

  // The unique token secret key (CKO_SECRET_KEY, CKA_TOKEN=TRUE) whose CKA_LABEL equals
  // `label`. Session objects are not searched, so a session copy of the key (same
  // label) does not make the lookup ambiguous. Private keys are only visible after
  // Login(). Errors: kUnknownKey if none, kInternal if more than one, kToken for
  // C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal.
  Result<ObjectHandle> FindSecretKey(std::string_view label) const;

  // Generates the KEK: a token AES-256 key (CKM_AES_KEY_GEN) labelled `label`, private,
  // sensitive, never extractable, allowed to encrypt/decrypt only (wrap, unwrap, sign,
  // verify, derive set to FALSE explicitly: SoftHSM would otherwise default some of
  // them to TRUE). Does not check whether the label is already in use (see EnsureKek).
  // Needs a read-write session and a user login. Errors: kToken "C_GenerateKey".
  Result<ObjectHandle> GenerateKek(std::string_view label);

  // C_CopyObject(token_key, {CKA_TOKEN=FALSE}): a session copy of a token key. SoftHSM
  // re-opens and re-reads token files on every use of a token object, which the
  // enclave's sandbox forbids after unlock; a session object lives only in memory.
  // The copy keeps CKA_SENSITIVE/CKA_EXTRACTABLE/CKA_PRIVATE (they cannot be relaxed)
  // and is destroyed when this session closes or at logout.
  // Errors: kToken "C_CopyObject".
  Result<ObjectHandle> CopyToSessionObject(ObjectHandle token_key);

  // AES-256-GCM encryption with a 96-bit IV and a 128-bit tag (CKM_AES_GCM), one
  // C_EncryptInit + C_Encrypt. `out` must be exactly plaintext.size() + 16 bytes and
  // receives ciphertext || tag. The IV must never repeat under one key: the caller
  // draws it with GenerateRandom(). On failure `out` is wiped.
  // Errors: kInvalidArgument (iv not 12 bytes, wrong `out` size), kToken
  // "C_EncryptInit"/"C_Encrypt" (CKR_BUFFER_TOO_SMALL is an error, never retried).
  Status EncryptGcm(ObjectHandle key, ByteView iv, ByteView aad, SecretView plaintext,
                    MutableByteView out);

  // AES-256-GCM decryption of ciphertext || tag with `iv` and `aad`; the plaintext is
  // returned in a new SecureBuffer (owned by the caller). SoftHSM wants an output
  // buffer as large as the input, so the buffer is allocated at ct_and_tag.size() and
  // shrunk (tail wiped) to the plaintext length. On any failure the buffer is wiped
  // before it is released; no plaintext of an unauthenticated record escapes.
  // Errors: kInvalidArgument (iv not 12 bytes), kTampered (input shorter than the tag,
  // or C_Decrypt returned CKR_ENCRYPTED_DATA_INVALID / CKR_GENERAL_ERROR, which is how
  // SoftHSM reports a failed tag check; an internal SoftHSM failure inside C_Decrypt
  // looks the same and is reported as kTampered too), kNoMem, kToken for other failures
  // (e.g. C_DecryptInit with an invalid or logged-out key handle).
  Result<SecureBuffer> DecryptGcm(ObjectHandle key, ByteView iv, ByteView aad, ByteView ct_and_tag);

  // Reads a CK_BBOOL attribute (CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_TOKEN, ...).
  // Errors: kToken "C_GetAttributeValue", kInternal if the value is not one byte.
  Result<bool> GetBoolAttribute(ObjectHandle object, CK_ATTRIBUTE_TYPE type) const;

  // Tries to read CKA_VALUE into a scratch buffer (wiped afterwards) and returns the
  // module's CK_RV. For tests proving a key is sensitive: expect CKR_ATTRIBUTE_SENSITIVE.
  CK_RV GetValueAttributeRv(ObjectHandle object) const;

  // Fills `out` from the token's RNG (C_GenerateRandom). Errors: kToken.
  Status GenerateRandom(MutableByteView out);

  // The raw session handle, for calls this wrapper does not cover. Borrowed.
  CK_SESSION_HANDLE handle() const { return h_; }

 private:
  Session(const CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE h) : fn_(fn), h_(h) {}
  Status LoginAs(CK_USER_TYPE user, SecretView pin);

  const CK_FUNCTION_LIST* fn_;
  CK_SESSION_HANDLE h_ = CK_INVALID_HANDLE;
  bool logged_in_ = false;
};

}  // namespace keycell::pkcs11

#pragma once
// One-time token provisioning, used by `keycell init` and by the test fixtures:
// writing an isolated SoftHSM2 configuration, initializing a token and creating the KEK.
// None of this runs inside the enclave's sandbox.
//
// All functions block (file I/O, token files under fcntl() locks). PINs are only read;
// the caller owns and wipes them. Nothing throws.

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"
#include "pkcs11/module.h"

namespace keycell::pkcs11 {

// CKA_LABEL of the token-resident AES-256 key-encryption key.
inline constexpr std::string_view kKekLabel = "keycell-kek";

// Initializes a fresh token labelled `token_label` in a free slot: C_InitToken with the
// SO PIN, then (in a read-write session on the slot, looked up again by label) SO login,
// C_InitPIN(user_pin), logout. Refuses to reuse a label that is already taken, so an
// existing token (and its KEK) is never wiped by accident.
// Errors: kInvalidArgument (label already in use, or not 1..32 bytes without a trailing
// blank), kBadPin (PIN length outside the token's range), kToken for PKCS#11 failures.
Status InitSoftToken(const Module& module, std::string_view token_label, SecretView so_pin,
                     SecretView user_pin);

// Logs in as the user on the token labelled `token_label` and makes sure the KEK
// (kKekLabel) exists, generating it if needed. `*created` (may be null) says whether it
// was generated now. An existing KEK must be sensitive and non-extractable, otherwise it
// is refused: a key someone imported in the clear is no KEK.
// Errors: kBadPin / kPinLocked (login), kPolicyDenied (existing KEK is extractable or not
// sensitive), kInternal (several keys with the KEK label), kToken otherwise.
Status EnsureKek(const Module& module, std::string_view token_label, SecretView user_pin,
                 bool* created);

// Writes an isolated SoftHSM2 configuration under `dir` (an absolute path; created 0700
// if missing): `dir`/tokens (0700) and `dir`/softhsm2.conf (0600, replaced if present,
// never through a symlink) with tokendir = `dir`/tokens, the file backend (Debian's
// build has no sqlite backend), log level ERROR, non-removable slots, all mechanisms,
// no reset on fork. Point SOFTHSM2_CONF at the file before Module::Load().
// Errors: kInvalidArgument (relative path, or a path containing a newline, which
// would break the line-based config), kUpstreamIo (detail = errno) for filesystem errors.
Status WriteSoftHsmConfig(const std::string& dir);

}  // namespace keycell::pkcs11

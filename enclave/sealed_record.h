#pragma once
// Sealed records, format v1 (docs/sealed-format.md is the specification).
//
//   0  "KCS1"                      magic
//   4  u8  format (1)
//   5  u8  kek mechanism (1 = AES-256-GCM inside the token)
//   6  u16 reserved (0)
//   8  wrap_iv[12]                 nonce for the data key under the KEK
//  20  wrapped_dek[48]             AES-256 data key || GCM tag, made by the token
//  68  data_iv[12]                 nonce for the payload under the data key
//  80  u32be payload_len
//  84  ciphertext[payload_len] || tag[16]
//
// payload = u16be policy_len || Policy (nanopb) || secret bytes.
// Both GCM operations authenticate "keycell/sealed/v1" || header[0..8) ||
// len-prefixed record_id || u32be version || len-prefixed name, so no byte of the
// blob, nor the record it is bound to, can change without unsealing failing.

#include <cstddef>
#include <vector>

#include "common/bytes.h"
#include "common/ipc/enclave.pb.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "enclave/policy.h"
#include "enclave/token_backend.h"

namespace keycell::enclave {

using RecordRef = keycell_ipc_RecordRef;

inline constexpr size_t kMaxSecretBytes = 64 * 1024;
inline constexpr size_t kSealedHeaderBytes = 84;
inline constexpr size_t kDataKeyBytes = 32;
inline constexpr uint8_t kSealedFormat = 1;

struct SealedLayout {
  ByteView header;       // bytes 0..8, authenticated
  ByteView wrap_iv;
  ByteView wrapped_dek;  // ciphertext || tag
  ByteView data_iv;
  ByteView ciphertext;   // payload ciphertext || tag
};

// Splits a blob into its parts, checking magic, format, mechanism, reserved bits and
// lengths. No cryptography. Errors: kTampered (not a v1 sealed record), kTooLarge.
Result<SealedLayout> ParseSealedBlob(ByteView blob);

// Splits a decrypted payload into its policy and secret. Errors: kTampered.
Status DecodeSealedPayload(SecretView payload, Policy* policy, SecretView* secret);

// Encrypts `secret` with `policy` under a fresh data key wrapped by the token's KEK.
// Errors: kInvalidArgument (empty/oversized secret, bad ref), kLocked, kToken.
Result<std::vector<uint8_t>> SealRecord(TokenBackend& token, const RecordRef& ref,
                                        const Policy& policy, SecretView secret);

// The plaintext of a sealed record, in locked memory, wiped on destruction.
struct Unsealed {
  SecureBuffer payload;
  Policy policy;
  SecretView secret;  // points into payload
};

// Authenticates and decrypts. Errors: kTampered (any byte of blob or ref changed),
// kLocked, kToken.
Result<Unsealed> UnsealRecord(TokenBackend& token, const RecordRef& ref, ByteView blob);

// Checks that a ref names a record: non-empty id and name.
Status ValidateRecordRef(const RecordRef& ref);

}  // namespace keycell::enclave

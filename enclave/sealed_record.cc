#include "enclave/sealed_record.h"

#include <mbedtls/gcm.h>
#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

#include <string_view>

#include "enclave/random.h"

namespace keycell::enclave {
namespace {

constexpr uint8_t kMagic[4] = {'K', 'C', 'S', '1'};
constexpr uint8_t kMechanismTokenGcm = 1;
constexpr std::string_view kAadLabel = "keycell/sealed/v1";
constexpr size_t kMaxPayloadBytes = 2 + keycell_ipc_Policy_size + kMaxSecretBytes;

// mbedtls_gcm_free zeroizes the expanded key.
class Gcm {
 public:
  Gcm() { mbedtls_gcm_init(&ctx_); }
  ~Gcm() { mbedtls_gcm_free(&ctx_); }
  Gcm(const Gcm&) = delete;
  Gcm& operator=(const Gcm&) = delete;
  Status SetKey(SecretView key) {
    const int rc = mbedtls_gcm_setkey(&ctx_, MBEDTLS_CIPHER_ID_AES, key.data(),
                                      static_cast<unsigned>(key.size() * 8));
    return rc == 0 ? Status::Ok() : Status(Err::kInternal, "mbedtls_gcm_setkey", rc);
  }
  mbedtls_gcm_context* get() { return &ctx_; }

 private:
  mbedtls_gcm_context ctx_;
};

void AppendU32(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t b[4];
  PutU32Be(b, v);
  out.insert(out.end(), b, b + 4);
}

void AppendField(std::vector<uint8_t>& out, std::string_view s) {
  AppendU32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

std::vector<uint8_t> BuildAad(ByteView header, const RecordRef& ref) {
  std::vector<uint8_t> aad(kAadLabel.size() + header.size());
  memcpy(aad.data(), kAadLabel.data(), kAadLabel.size());
  memcpy(aad.data() + kAadLabel.size(), header.data(), header.size());
  AppendField(aad, ref.record_id);
  AppendU32(aad, ref.version);
  AppendField(aad, ref.name);
  return aad;
}

Result<SecureBuffer> EncodePayload(const Policy& policy, SecretView secret) {
  uint8_t encoded[keycell_ipc_Policy_size];
  pb_ostream_t os = pb_ostream_from_buffer(encoded, sizeof(encoded));
  if (!pb_encode(&os, keycell_ipc_Policy_fields, &policy))
    return Status(Err::kInternal, "seal: policy does not encode");
  KC_ASSIGN_OR_RETURN(SecureBuffer payload, SecureBuffer::Allocate(2 + os.bytes_written + secret.size()));
  payload.data()[0] = static_cast<uint8_t>(os.bytes_written >> 8);
  payload.data()[1] = static_cast<uint8_t>(os.bytes_written);
  memcpy(payload.data() + 2, encoded, os.bytes_written);
  memcpy(payload.data() + 2 + os.bytes_written, secret.data(), secret.size());
  return payload;
}

}  // namespace

Status ValidateRecordRef(const RecordRef& ref) {
  if (ref.record_id[0] == '\0' || ref.name[0] == '\0')
    return Status(Err::kInvalidArgument, "record ref: empty id or name");
  return Status::Ok();
}

Result<SealedLayout> ParseSealedBlob(ByteView blob) {
  if (blob.size() < kSealedHeaderBytes + kGcmTagBytes) return Status(Err::kTampered, "sealed: too short");
  if (memcmp(blob.data(), kMagic, 4) != 0) return Status(Err::kTampered, "sealed: bad magic");
  if (blob[4] != kSealedFormat) return Status(Err::kTampered, "sealed: unknown format version");
  if (blob[5] != kMechanismTokenGcm) return Status(Err::kTampered, "sealed: unknown kek mechanism");
  if (blob[6] != 0 || blob[7] != 0) return Status(Err::kTampered, "sealed: reserved bits set");
  const uint32_t payload_len = GetU32Be(blob.data() + 80);
  if (payload_len > kMaxPayloadBytes) return Status(Err::kTooLarge, "sealed: payload too large");
  if (blob.size() != kSealedHeaderBytes + payload_len + kGcmTagBytes)
    return Status(Err::kTampered, "sealed: length mismatch");
  SealedLayout l;
  l.header = blob.subspan(0, 8);
  l.wrap_iv = blob.subspan(8, kGcmIvBytes);
  l.wrapped_dek = blob.subspan(20, kDataKeyBytes + kGcmTagBytes);
  l.data_iv = blob.subspan(68, kGcmIvBytes);
  l.ciphertext = blob.subspan(kSealedHeaderBytes);
  return l;
}

Status DecodeSealedPayload(SecretView payload, Policy* policy, SecretView* secret) {
  *policy = keycell_ipc_Policy_init_zero;
  if (payload.size() < 2) return Status(Err::kTampered, "sealed: payload too short");
  const size_t policy_len = (size_t{payload.data()[0]} << 8) | payload.data()[1];
  if (policy_len > payload.size() - 2) return Status(Err::kTampered, "sealed: policy length");
  pb_istream_t is = pb_istream_from_buffer(payload.data() + 2, policy_len);
  if (!pb_decode(&is, keycell_ipc_Policy_fields, policy)) {
    *policy = keycell_ipc_Policy_init_zero;
    return Status(Err::kTampered, "sealed: policy does not decode");
  }
  *secret = payload.substr(2 + policy_len, payload.size() - 2 - policy_len);
  return Status::Ok();
}

Result<std::vector<uint8_t>> SealRecord(TokenBackend& token, const RecordRef& ref,
                                        const Policy& policy, SecretView secret) {
  KC_RETURN_IF_ERROR(ValidateRecordRef(ref));
  if (secret.empty()) return Status(Err::kInvalidArgument, "seal: empty secret");
  if (secret.size() > kMaxSecretBytes) return Status(Err::kTooLarge, "seal: secret over 64 KiB");
  KC_ASSIGN_OR_RETURN(SecureBuffer payload, EncodePayload(policy, secret));
  KC_ASSIGN_OR_RETURN(SecureBuffer dek, SecureBuffer::Allocate(kDataKeyBytes));
  KC_RETURN_IF_ERROR(FillRandom(dek.mutable_bytes()));

  std::vector<uint8_t> blob(kSealedHeaderBytes + payload.size() + kGcmTagBytes);
  memcpy(blob.data(), kMagic, 4);
  blob[4] = kSealedFormat;
  blob[5] = kMechanismTokenGcm;
  KC_RETURN_IF_ERROR(FillRandom(MutableByteView(blob.data() + 8, kGcmIvBytes)));
  KC_RETURN_IF_ERROR(FillRandom(MutableByteView(blob.data() + 68, kGcmIvBytes)));
  PutU32Be(blob.data() + 80, static_cast<uint32_t>(payload.size()));
  const std::vector<uint8_t> aad = BuildAad(ByteView(blob.data(), 8), ref);

  KC_RETURN_IF_ERROR(token.WrapKey(dek.view(), ByteView(blob.data() + 8, kGcmIvBytes), aad,
                                   MutableByteView(blob.data() + 20, kDataKeyBytes + kGcmTagBytes)));
  Gcm gcm;
  KC_RETURN_IF_ERROR(gcm.SetKey(dek.view()));
  uint8_t* ct = blob.data() + kSealedHeaderBytes;
  const int rc = mbedtls_gcm_crypt_and_tag(gcm.get(), MBEDTLS_GCM_ENCRYPT, payload.size(),
                                           blob.data() + 68, kGcmIvBytes, aad.data(), aad.size(),
                                           payload.data(), ct, kGcmTagBytes, ct + payload.size());
  if (rc != 0) return Status(Err::kInternal, "seal: gcm encrypt", rc);
  return blob;
}

Result<Unsealed> UnsealRecord(TokenBackend& token, const RecordRef& ref, ByteView blob) {
  KC_RETURN_IF_ERROR(ValidateRecordRef(ref));
  KC_ASSIGN_OR_RETURN(const SealedLayout l, ParseSealedBlob(blob));
  const std::vector<uint8_t> aad = BuildAad(l.header, ref);
  KC_ASSIGN_OR_RETURN(SecureBuffer dek, token.UnwrapKey(l.wrap_iv, aad, l.wrapped_dek));
  if (dek.size() != kDataKeyBytes) return Status(Err::kTampered, "sealed: data key size");

  const size_t payload_len = l.ciphertext.size() - kGcmTagBytes;
  Unsealed out{};
  KC_ASSIGN_OR_RETURN(out.payload, SecureBuffer::Allocate(payload_len));
  Gcm gcm;
  KC_RETURN_IF_ERROR(gcm.SetKey(dek.view()));
  const int rc = mbedtls_gcm_auth_decrypt(gcm.get(), payload_len, l.data_iv.data(), kGcmIvBytes,
                                          aad.data(), aad.size(), l.ciphertext.data() + payload_len,
                                          kGcmTagBytes, l.ciphertext.data(), out.payload.data());
  if (rc != 0) return Status(Err::kTampered, "sealed: payload authentication failed");
  KC_RETURN_IF_ERROR(DecodeSealedPayload(out.payload.view(), &out.policy, &out.secret));
  return out;
}

}  // namespace keycell::enclave

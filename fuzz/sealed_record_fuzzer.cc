// Sealed records are read back from the broker's store, which the enclave does not
// trust. The input is used four ways:
//   1. ParseSealedBlob (layout checks, no cryptography);
//   2. DecodeSealedPayload, as if it had decrypted to these bytes (policy_len | Policy
//      | secret), so the decoder is reached without forging GCM;
//   3. UnsealRecord under a logged-in FakeToken with the fixed ref the seeds were
//      sealed to (fuzz_ref below), so real blobs in the corpus open fully;
//   4. round trip: if the input decodes as a Policy that ValidatePolicy accepts,
//      SealRecord(policy, secret = the input) then UnsealRecord must return the same
//      secret and a policy that encodes to the same bytes.

#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

#include "enclave/sealed_record.h"
#include "enclave/testing/fake_token.h"

namespace keycell::enclave {
namespace {

// make_seeds.cc seals its blobs to this ref; keep the two in step.
RecordRef FuzzRef() {
  RecordRef r = keycell_ipc_RecordRef_init_zero;
  strcpy(r.record_id, "fuzz-record");
  r.version = 1;
  strcpy(r.name, "fuzz");
  return r;
}

struct Encoded {
  uint8_t bytes[keycell_ipc_Policy_size];
  size_t size = 0;
};

Encoded EncodePolicy(const Policy& p) {
  Encoded e;
  pb_ostream_t os = pb_ostream_from_buffer(e.bytes, sizeof(e.bytes));
  KC_CHECK(pb_encode(&os, keycell_ipc_Policy_fields, &p));
  e.size = os.bytes_written;
  return e;
}

void CheckLayout(ByteView blob) {
  auto l = ParseSealedBlob(blob);
  if (!l.ok()) return;
  // Every part lies inside the blob and the parts tile it exactly.
  KC_CHECK(l->header.data() == blob.data() && l->header.size() == 8);
  KC_CHECK(l->wrapped_dek.size() == kDataKeyBytes + kGcmTagBytes);
  KC_CHECK(l->ciphertext.data() + l->ciphertext.size() == blob.data() + blob.size());
  KC_CHECK(l->ciphertext.size() >= kGcmTagBytes);
}

void CheckPayloadDecoder(ByteView input) {
  Policy policy;
  SecretView secret;
  if (!DecodeSealedPayload(SecretView(input.data(), input.size()), &policy, &secret).ok()) return;
  KC_CHECK(secret.data() >= input.data());
  KC_CHECK(secret.data() + secret.size() == input.data() + input.size());
}

void CheckUnseal(testing::FakeToken& token, ByteView blob) {
  auto u = UnsealRecord(token, FuzzRef(), blob);
  if (!u.ok()) return;
  // Only SealRecord's output authenticates, and it never seals an empty or oversized secret.
  KC_CHECK(!u->secret.empty() && u->secret.size() <= kMaxSecretBytes);
  (void)EncodePolicy(u->policy);
}

void CheckRoundTrip(testing::FakeToken& token, ByteView input) {
  if (input.empty() || input.size() > kMaxSecretBytes) return;
  Policy policy = keycell_ipc_Policy_init_zero;
  pb_istream_t is = pb_istream_from_buffer(input.data(), input.size());
  if (!pb_decode(&is, keycell_ipc_Policy_fields, &policy)) return;
  if (!ValidatePolicy(policy).ok()) return;

  const SecretView secret(input.data(), input.size());
  auto blob = SealRecord(token, FuzzRef(), policy, secret);
  KC_CHECK(blob.ok());
  auto u = UnsealRecord(token, FuzzRef(), *blob);
  KC_CHECK(u.ok());
  KC_CHECK(u->secret.size() == input.size());
  KC_CHECK(memcmp(u->secret.data(), input.data(), input.size()) == 0);
  const Encoded before = EncodePolicy(policy);
  const Encoded after = EncodePolicy(u->policy);
  KC_CHECK(before.size == after.size && memcmp(before.bytes, after.bytes, before.size) == 0);

  // Bound to its ref: the same blob under another version must not open.
  RecordRef other = FuzzRef();
  other.version = 2;
  KC_CHECK(UnsealRecord(token, other, *blob).status().code() == Err::kTampered);
}

}  // namespace
}  // namespace keycell::enclave

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell;
  using namespace keycell::enclave;
  const ByteView input(data, size);
  CheckLayout(input);
  CheckPayloadDecoder(input);

  testing::FakeToken token;  // per run: no login state carries over
  KC_CHECK(token
               .Login(SecretView(reinterpret_cast<const uint8_t*>(testing::kFakePin.data()),
                                 testing::kFakePin.size()))
               .ok());
  CheckUnseal(token, input);
  CheckRoundTrip(token, input);
  return 0;
}

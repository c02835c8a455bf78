// The sealed-record test vector of docs/sealed-format.md, built here independently of
// SealRecord (from the specification, with mbedTLS primitives) and checked two ways:
// the bytes equal the committed vector, and UnsealRecord opens it.

#include <gtest/gtest.h>
#include <mbedtls/gcm.h>
#include <pb_encode.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "enclave/sealed_record.h"
#include "enclave/testing/fake_token.h"
#include "tests/enclave/test_policies.h"

namespace keycell::enclave {
namespace {

std::vector<uint8_t> Seq(uint8_t first, size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
  return v;
}

void Append(std::vector<uint8_t>& out, const std::vector<uint8_t>& in) { out.insert(out.end(), in.begin(), in.end()); }
void AppendU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void AppendStr(std::vector<uint8_t>& out, const std::string& s) {
  AppendU32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

std::vector<uint8_t> Gcm(const std::vector<uint8_t>& key, const std::vector<uint8_t>& iv,
                         const std::vector<uint8_t>& aad, const std::vector<uint8_t>& pt) {
  mbedtls_gcm_context ctx;
  mbedtls_gcm_init(&ctx);
  EXPECT_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, key.data(), 256), 0);
  std::vector<uint8_t> out(pt.size() + 16);
  EXPECT_EQ(mbedtls_gcm_crypt_and_tag(&ctx, MBEDTLS_GCM_ENCRYPT, pt.size(), iv.data(), iv.size(), aad.data(),
                                      aad.size(), pt.data(), out.data(), 16, out.data() + pt.size()),
            0);
  mbedtls_gcm_free(&ctx);
  return out;
}

std::string Hex(const std::vector<uint8_t>& v) {
  std::string s;
  for (uint8_t b : v) {
    s += "0123456789abcdef"[b >> 4];
    s += "0123456789abcdef"[b & 15];
  }
  return s;
}

keycell_ipc_Policy VectorPolicy() {
  auto p = testing::MakePolicy({"api.openai.com"});
  p.env_export = true;
  return p;
}

// Follows docs/sealed-format.md step by step.
std::vector<uint8_t> BuildVector() {
  const std::vector<uint8_t> kek = Seq(1, 32), dek = Seq(0x40, 32);
  const std::vector<uint8_t> wrap_iv = Seq(0xa0, 12), data_iv = Seq(0xb0, 12);
  const std::vector<uint8_t> header = {'K', 'C', 'S', '1', 1, 1, 0, 0};
  std::vector<uint8_t> aad;
  const std::string label = "keycell/sealed/v1";
  aad.insert(aad.end(), label.begin(), label.end());
  Append(aad, header);
  AppendStr(aad, "rec-0001");
  AppendU32(aad, 1);
  AppendStr(aad, "openai");

  uint8_t pb[keycell_ipc_Policy_size];
  const keycell_ipc_Policy policy = VectorPolicy();
  pb_ostream_t os = pb_ostream_from_buffer(pb, sizeof(pb));
  EXPECT_TRUE(pb_encode(&os, keycell_ipc_Policy_fields, &policy));
  std::vector<uint8_t> payload = {static_cast<uint8_t>(os.bytes_written >> 8), static_cast<uint8_t>(os.bytes_written)};
  payload.insert(payload.end(), pb, pb + os.bytes_written);
  const std::string secret = "sk-test-0123456789";
  payload.insert(payload.end(), secret.begin(), secret.end());

  std::vector<uint8_t> blob = header;
  Append(blob, wrap_iv);
  Append(blob, Gcm(kek, wrap_iv, aad, dek));
  Append(blob, data_iv);
  AppendU32(blob, static_cast<uint32_t>(payload.size()));
  Append(blob, Gcm(dek, data_iv, aad, payload));
  return blob;
}

TEST(SealedVector, MatchesCommittedVectorAndUnseals) {
  const std::vector<uint8_t> blob = BuildVector();
  const std::string path = std::string(KEYCELL_SOURCE_DIR) + "/tests/testdata/sealed-v1.hex";
  if (getenv("KEYCELL_UPDATE_GOLDEN") != nullptr) std::ofstream(path) << Hex(blob) << "\n";
  std::ifstream in(path);
  std::string committed;
  in >> committed;
  EXPECT_EQ(Hex(blob), committed) << "the sealed format changed: bump the format version";

  testing::FakeToken token;  // its KEK is bytes 01..20, the vector's KEK
  ASSERT_TRUE(token.Login(SecretView(reinterpret_cast<const uint8_t*>(testing::kFakePin.data()),
                                     testing::kFakePin.size()))
                  .ok());
  auto u = UnsealRecord(token, testing::MakeRef("rec-0001", 1, "openai"), blob);
  ASSERT_TRUE(u.ok()) << u.status().where();
  EXPECT_EQ(AsChars(u->secret.bytes()), "sk-test-0123456789");
  EXPECT_STREQ(u->policy.allowed_hosts[0].host, "api.openai.com");
  EXPECT_TRUE(u->policy.env_export);
  EXPECT_FALSE(u->policy.reveal);
}

}  // namespace
}  // namespace keycell::enclave

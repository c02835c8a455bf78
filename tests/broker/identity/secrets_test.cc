// Secret generation and hashing: base62 encoding vectors, SHA-256, identifier shapes.
#include "broker/identity/secrets.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "broker/identity/identity_store.h"
#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

std::string Encode(std::array<uint8_t, 32> number) {
  std::string out(kSecretBase62Chars, '\0');
  EncodeBase62Secret(MutableByteView(number.data(), number.size()),
                     MutableByteView(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

TEST(IdentitySecrets, Base62EncodesWholeNumbers) {
  std::array<uint8_t, 32> n{};
  EXPECT_EQ(Encode(n), std::string(43, '0'));
  n[31] = 61;
  EXPECT_EQ(Encode(n), std::string(42, '0') + "z");
  n[31] = 62;
  EXPECT_EQ(Encode(n), std::string(41, '0') + "10");
  n.fill(0xff);  // 2^256 - 1 still fits in 43 digits
  EXPECT_EQ(Encode(n), "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Encode(n), "003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf");  // Python int() check
}

TEST(IdentitySecrets, Base62WipesItsInput) {
  std::array<uint8_t, 32> n;
  n.fill(0xab);
  std::string out(kSecretBase62Chars, '\0');
  EncodeBase62Secret(MutableByteView(n.data(), n.size()),
                     MutableByteView(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  for (uint8_t b : n) EXPECT_EQ(b, 0);
}

TEST(IdentitySecrets, Sha256KnownVector) {
  const Sha256Digest d = Sha256(AsBytes("abc"));
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : d) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xf]);
  }
  EXPECT_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(IdentitySecrets, NewSecretsHaveTheShapeAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    KC_ASSERT_OK_AND_ASSIGN(SecureBuffer s, NewSecret(kTokenPrefix));
    const std::string t = Text(s);
    ASSERT_EQ(t.size(), 47u);
    EXPECT_TRUE(t.starts_with("pxr_"));
    for (char c : t.substr(4)) EXPECT_TRUE(IsBase62(c)) << t;
    seen.insert(t.substr(0, kShownPrefixChars));  // even the shown prefixes differ
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(IdentitySecrets, IdentifierShapes) {
  KC_ASSERT_OK_AND_ASSIGN(std::string agent_id, NewAgentId());
  ASSERT_EQ(agent_id.size(), 20u);
  EXPECT_TRUE(agent_id.starts_with("agt_"));
  for (char c : agent_id.substr(4)) EXPECT_TRUE(IsBase62(c));
  KC_ASSERT_OK_AND_ASSIGN(std::string key_id, NewApiKeyId());
  ASSERT_EQ(key_id.size(), 16u);
  EXPECT_EQ(key_id.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace keycell::broker::identity::test

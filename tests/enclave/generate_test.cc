// GenerateSecret: lengths, alphabets, the rejection rule (no modulo bias), and
// statistical checks whose bounds are so wide that a correct generator cannot fail
// them (each is > 10 standard deviations) while a biased one cannot pass.

#include "enclave/generate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace keycell::enclave {
namespace {

std::string AsString(const SecureBuffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string MustGenerate(uint32_t length, std::string_view alphabet) {
  auto r = GenerateSecret(length, alphabet);
  EXPECT_TRUE(r.ok()) << r.status().where();
  return r.ok() ? AsString(*r) : std::string();
}

TEST(Generate, LengthIsOneTo4096) {
  EXPECT_EQ(GenerateSecret(0, "").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(GenerateSecret(0, "abc").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(GenerateSecret(kMaxGenerateLength + 1, "").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(GenerateSecret(UINT32_MAX, "ab").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MustGenerate(1, "").size(), 1u);
  EXPECT_EQ(MustGenerate(1, "ab").size(), 1u);
  EXPECT_EQ(MustGenerate(kMaxGenerateLength, "").size(), kMaxGenerateLength);
  EXPECT_EQ(MustGenerate(kMaxGenerateLength, "0123456789abcdef").size(), kMaxGenerateLength);
}

TEST(Generate, AlphabetRules) {
  const auto code = [](std::string_view a) { return ParseAlphabet(a).status().code(); };
  EXPECT_EQ(code("a"), Err::kInvalidArgument);         // one character: a constant
  EXPECT_EQ(code("aaaaaaaa"), Err::kInvalidArgument);  // duplicates only
  EXPECT_EQ(code("ab\n"), Err::kInvalidArgument);      // control character
  EXPECT_EQ(code(std::string_view("ab\0", 3)), Err::kInvalidArgument);
  EXPECT_EQ(code("ab\x7f"), Err::kInvalidArgument);                     // DEL
  EXPECT_EQ(code("ab\xc3\xa9"), Err::kInvalidArgument);                 // UTF-8 'é'
  EXPECT_EQ(code(std::string(257, 'a') + "b"), Err::kInvalidArgument);  // over 256 bytes

  auto a = ParseAlphabet("banana");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size, 3u);  // distinct, ascending
  EXPECT_EQ(std::string(a->chars.begin(), a->chars.begin() + 3), "abn");

  std::string printable;
  for (char c = ' '; c <= '~'; ++c) printable += c;
  auto all = ParseAlphabet(printable + printable.substr(0, 161));  // 256 bytes exactly
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size, 95u);
}

TEST(Generate, OutputUsesOnlyAlphabetCharacters) {
  const std::string alphabet = "ACGT-";
  const std::string v = MustGenerate(4096, alphabet);
  ASSERT_EQ(v.size(), 4096u);
  EXPECT_EQ(v.find_first_not_of(alphabet), std::string::npos);
  // Duplicates in the spec do not add weight, and never a character outside it.
  const std::string w = MustGenerate(4096, "xxxxxxxxxxxxxxxy");
  EXPECT_EQ(w.find_first_not_of("xy"), std::string::npos);
  const size_t ys = std::count(w.begin(), w.end(), 'y');
  EXPECT_GT(ys, 1500u);  // 2048 expected, sd 32
  EXPECT_LT(ys, 2600u);
}

TEST(Generate, RawModeAndFreshValues) {
  const std::string a = MustGenerate(32, ""), b = MustGenerate(32, "");
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  // Raw means bytes: over 4 KiB, high and control bytes all show up.
  const std::string big = MustGenerate(4096, "");
  EXPECT_NE(big.find_first_of(std::string("\x00\x01\x02\x03\x04\x05\x06\x07", 8)),
            std::string::npos);
  EXPECT_TRUE(
      std::any_of(big.begin(), big.end(), [](char c) { return static_cast<uint8_t>(c) >= 0x80; }));
  EXPECT_NE(MustGenerate(24, "abcdefghijklmnopqrstuvwxyz"),
            MustGenerate(24, "abcdefghijklmnopqrstuvwxyz"));
}

// 64 Ki characters over 4 characters: 16384 expected each, sd ~111. ±1500 is 13.5 sd.
TEST(Generate, RoughlyUniformOverFourCharacters) {
  std::array<size_t, 256> counts{};
  for (int i = 0; i < 16; ++i)
    for (char c : MustGenerate(4096, "wxyz")) ++counts[static_cast<uint8_t>(c)];
  for (char c : std::string("wxyz")) {
    EXPECT_GT(counts[static_cast<uint8_t>(c)], 16384u - 1500) << c;
    EXPECT_LT(counts[static_cast<uint8_t>(c)], 16384u + 1500) << c;
  }
}

// With 95 characters, plain `byte % 95` would give the first 66 characters 3/256 each
// and the last 29 2/256: the first 66 would take 77.3% instead of 69.5%. Over 64 Ki
// samples the sd of that share is 0.18%, so ±2% tells the two apart with no flake.
TEST(Generate, NoModuloBias) {
  std::string printable;
  for (char c = ' '; c <= '~'; ++c) printable += c;
  size_t low = 0, total = 0;
  for (int i = 0; i < 16; ++i) {
    for (char c : MustGenerate(4096, printable)) {
      low += static_cast<uint8_t>(c) < ' ' + 66;
      ++total;
    }
  }
  const double share = static_cast<double>(low) / static_cast<double>(total);
  EXPECT_NEAR(share, 66.0 / 95.0, 0.02);
}

// Scripted randomness pins the rule itself: with n = 95 the limit is 190, so bytes
// 190..255 are skipped and the rest map to chars[b % 95].
std::vector<uint8_t> g_script;
Status ScriptedRandom(MutableByteView out) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = i < g_script.size() ? g_script[i] : 255;
  return Status::Ok();
}

TEST(Generate, RejectionSamplingSkipsTheBiasedTail) {
  std::string printable;
  for (char c = ' '; c <= '~'; ++c) printable += c;
  g_script = {189, 190, 255, 0, 94, 95, 200};
  auto v = GenerateSecret(4, printable, ScriptedRandom);
  ASSERT_TRUE(v.ok()) << v.status().where();
  EXPECT_EQ(AsString(*v), std::string({'~', ' ', '~', ' '}));  // 189%95=94, 0, 94, 95%95=0
  // 256 % 4 == 0: nothing is rejected, 255 maps to the last character.
  g_script = {255, 0, 1, 2};
  auto w = GenerateSecret(4, "abcd", ScriptedRandom);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(AsString(*w), "dabc");
}

TEST(Generate, StuckRandomSourceFailsInsteadOfSpinning) {
  g_script.clear();  // all 255: always rejected for a 3-character alphabet (limit 255)
  EXPECT_EQ(GenerateSecret(16, "abc", ScriptedRandom).status().code(), Err::kInternal);
  EXPECT_EQ(GenerateSecret(4096, "abc", ScriptedRandom).status().code(), Err::kInternal);
}

std::vector<std::vector<uint8_t>> g_wiped;
void RecordWipe(const uint8_t* data, size_t capacity) {
  g_wiped.emplace_back(data, data + capacity);
}

TEST(Generate, RandomScratchAndValueAreWiped) {
  g_wiped.clear();
  SecureBuffer::SetWipeObserverForTest(&RecordWipe);
  { EXPECT_EQ(MustGenerate(100, "abcdef").size(), 100u); }
  SecureBuffer::SetWipeObserverForTest(nullptr);
  ASSERT_GE(g_wiped.size(), 2u);  // the random block and the value
  for (const auto& region : g_wiped)
    for (uint8_t c : region) ASSERT_EQ(c, 0);
}

}  // namespace
}  // namespace keycell::enclave

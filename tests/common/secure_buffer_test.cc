#include "common/secure_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace keycell {
namespace {

std::vector<std::vector<uint8_t>> g_wiped;
void RecordWipe(const uint8_t* data, size_t capacity) { g_wiped.emplace_back(data, data + capacity); }

TEST(SecureBuffer, AllocateIsZeroedAndPageBacked) {
  auto b = SecureBuffer::Allocate(100);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 100u);
  EXPECT_GE(b->capacity(), 100u);
  for (size_t i = 0; i < b->size(); ++i) EXPECT_EQ(b->data()[i], 0);
}

TEST(SecureBuffer, WipedOnDestructionAndMove) {
  g_wiped.clear();
  SecureBuffer::SetWipeObserverForTest(&RecordWipe);
  {
    auto b = SecureBuffer::CopyOf(AsBytes("canary-secret-value"));
    ASSERT_TRUE(b.ok());
    SecureBuffer moved = std::move(*b);
    EXPECT_EQ(b->size(), 0u);  // moved-from is empty
    EXPECT_EQ(AsChars(moved.view().bytes()), "canary-secret-value");
  }
  SecureBuffer::SetWipeObserverForTest(nullptr);
  ASSERT_EQ(g_wiped.size(), 1u);
  for (uint8_t c : g_wiped[0]) ASSERT_EQ(c, 0);
}

TEST(SecureBuffer, ResizeWipesTail) {
  auto b = SecureBuffer::CopyOf(AsBytes("abcdef"));
  ASSERT_TRUE(b.ok());
  b->resize(2);
  EXPECT_EQ(b->data()[2], 0);
  EXPECT_EQ(b->data()[5], 0);
  EXPECT_EQ(AsChars(b->view().bytes()), "ab");
}

TEST(SecureBuffer, EmptyAllocationIsValid) {
  auto b = SecureBuffer::Allocate(0);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
}

TEST(WipeString, EmptiesTheString) {
  std::string s(100, 'k');
  WipeString(s);
  EXPECT_TRUE(s.empty());
}

TEST(ReserveWiping, GrowsOnlyWhenNeededAndKeepsTheContents) {
  std::string s = "secret";
  s.reserve(64);
  const char* before = s.data();
  ReserveWiping(s, 10);
  EXPECT_EQ(s.data(), before);  // room enough: nothing moves
  ReserveWiping(s, 1000);
  EXPECT_NE(s.data(), before);
  EXPECT_GE(s.capacity(), 1006u);
  EXPECT_EQ(s, "secret");
}

TEST(WipingBuilder, AppendsLikeAString) {
  WipingBuilder b;
  std::string expected;
  for (int i = 0; i < 2000; ++i) {  // many growths
    b += 'x';
    b += std::string_view("yz");
    b.append(2, ' ');
    const char kAb[] = "ab";
    b.append(kAb, kAb + 2);
    expected += "xyz  ab";
  }
  EXPECT_EQ(b.take(), expected);
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEqual(AsBytes("abc"), AsBytes("abcd")));
}

}  // namespace
}  // namespace keycell

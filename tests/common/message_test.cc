#include "common/ipc/message.h"

#include <gtest/gtest.h>
#include <string.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "common/ipc/framing.h"

namespace keycell::ipc {
namespace {

std::vector<uint8_t> BodyOf(int fd) {
  auto f = RecvFrame(fd, 1000);
  EXPECT_TRUE(f.ok());
  return std::vector<uint8_t>(f->payload.data(), f->payload.data() + f->payload.size());
}

TEST(Message, RequestWithAttachmentsRoundTrips) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  req.seq = 7;
  req.which_body = keycell_ipc_Request_seal_tag;
  req.body.seal.has_ref = true;  // proto3 submessages carry a presence flag in nanopb
  strcpy(req.body.seal.ref.name, "openai");
  req.body.seal.ref.version = 3;
  const std::vector<ByteView> att = {AsBytes("sk-secret"), AsBytes(""), AsBytes("tail")};
  ASSERT_TRUE(SendRequest(a.get(), &req, att, -1, 1000).ok());
  auto body = BodyOf(b.get());
  keycell_ipc_Request got;
  Attachments parsed;
  ASSERT_TRUE(ParseRequest(body, &got, &parsed).ok());
  EXPECT_EQ(got.seq, 7u);
  EXPECT_EQ(got.which_body, keycell_ipc_Request_seal_tag);
  EXPECT_STREQ(got.body.seal.ref.name, "openai");
  ASSERT_EQ(parsed.count, 3u);
  EXPECT_EQ(AsChars(parsed[0]), "sk-secret");
  EXPECT_TRUE(parsed[1].empty());
  EXPECT_EQ(AsChars(parsed[2]), "tail");
}

std::vector<uint8_t> Body(uint32_t header_len, std::vector<uint8_t> rest) {
  std::vector<uint8_t> out(4);
  PutU32Be(out.data(), header_len);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

TEST(Message, RejectsHeaderLengthBeyondBody) {
  keycell_ipc_Request req;
  Attachments att;
  EXPECT_EQ(ParseRequest(Body(100, {1, 2, 3}), &req, &att).code(), Err::kBadFrame);
  EXPECT_EQ(ParseRequest(std::vector<uint8_t>{0, 0}, &req, &att).code(), Err::kBadFrame);
}

TEST(Message, RejectsTrailingBytesAndShortAttachments) {
  keycell_ipc_Request req;
  Attachments att;
  // Empty header (all defaults) followed by a stray byte: nothing declares it.
  EXPECT_EQ(ParseRequest(Body(0, {9}), &req, &att).code(), Err::kBadFrame);
  // Header declares one attachment of 5 bytes (field 2, varint 5) but only 2 follow.
  EXPECT_EQ(ParseRequest(Body(2, {0x10, 0x05, 'a', 'b'}), &req, &att).code(), Err::kBadFrame);
}

TEST(Message, RejectsGarbageHeader) {
  keycell_ipc_Request req;
  Attachments att;
  EXPECT_EQ(ParseRequest(Body(3, {0xff, 0xff, 0xff}), &req, &att).code(), Err::kBadFrame);
}

TEST(Message, RejectsOverlongString) {
  // Seal (field 14) > ref (1) > name (3) of 200 bytes: over max_size 129.
  std::vector<uint8_t> name(200, 'n');
  std::vector<uint8_t> ref = {0x1a, 200, 1};
  ref.insert(ref.end(), name.begin(), name.end());
  std::vector<uint8_t> seal = {0x0a};
  seal.push_back(static_cast<uint8_t>((ref.size() & 0x7f) | 0x80));
  seal.push_back(static_cast<uint8_t>(ref.size() >> 7));
  seal.insert(seal.end(), ref.begin(), ref.end());
  std::vector<uint8_t> hdr = {0x72};
  hdr.push_back(static_cast<uint8_t>((seal.size() & 0x7f) | 0x80));
  hdr.push_back(static_cast<uint8_t>(seal.size() >> 7));
  hdr.insert(hdr.end(), seal.begin(), seal.end());
  keycell_ipc_Request req;
  Attachments att;
  EXPECT_EQ(ParseRequest(Body(static_cast<uint32_t>(hdr.size()), hdr), &req, &att).code(),
            Err::kBadFrame);
}

}  // namespace
}  // namespace keycell::ipc

// Generate through the real keycell-enclave, under its served-state sandbox, against a
// real SoftHSM2 token, driven by EnclaveClient::Generate.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <mbedtls/md.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>

#include "broker/enclave/enclave_client.h"
#include "common/ipc/message.h"
#include "tests/enclave/test_policies.h"
#include "tests/support/enclave_launch.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell {
namespace {

using broker::EnclaveClient;
using enclave::testing::MakePolicy;
using enclave::testing::MakeRef;

constexpr std::string_view kHex = "0123456789abcdef";

std::string AsString(const SecureBuffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Everything readable from `fd` until EOF (the write end must be closed).
std::string ReadToEof(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class EnclaveGenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = test::TempToken::Create();
    ASSERT_TRUE(t.ok()) << t.status().where();
    token_ = std::move(*t);
    auto c = EnclaveClient::Start(test::LaunchFor(*token_, KEYCELL_ENCLAVE_PATH));
    ASSERT_TRUE(c.ok()) << c.status().where();
    client_ = std::move(*c);
  }

  void Unlock() { ASSERT_TRUE(client_->Unlock(token_->user_pin()).ok()); }

  static keycell_ipc_Policy Revealable() {
    auto p = MakePolicy({"hooks.example.com"});
    p.reveal = true;
    return p;
  }

  std::string RevealValue(const keycell_ipc_RecordRef& ref, const std::vector<uint8_t>& blob) {
    auto v = client_->Reveal(ref, blob, "generate test", "");
    EXPECT_TRUE(v.ok()) << v.status().where();
    return v.ok() ? AsString(*v) : std::string();
  }

  std::unique_ptr<test::TempToken> token_;
  std::unique_ptr<EnclaveClient> client_;
};

TEST_F(EnclaveGenerateTest, AlphabetValueRoundTripsThroughRevealAndHmac) {
  Unlock();
  const auto ref = MakeRef("wh-1", 1, "webhook-signing");
  auto g = client_->Generate(ref, Revealable(), 64,
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
  ASSERT_TRUE(g.ok()) << g.status().where();
  const std::string value = RevealValue(ref, g->blob);
  ASSERT_EQ(value.size(), 64u);
  EXPECT_EQ(
      value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
      std::string::npos);
  EXPECT_EQ(std::string(g->blob.begin(), g->blob.end()).find(value), std::string::npos);

  const std::string payload = "{\"event\":\"credential.rotated\"}";
  auto mac = client_->Hmac(ref, g->blob, AsBytes(payload));
  ASSERT_TRUE(mac.ok()) << mac.status().where();
  std::array<uint8_t, 32> expect{};
  ASSERT_EQ(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                            reinterpret_cast<const uint8_t*>(value.data()), value.size(),
                            reinterpret_cast<const uint8_t*>(payload.data()), payload.size(),
                            expect.data()),
            0);
  EXPECT_EQ(*mac, expect);

  // Same value sealed by Seal: same fingerprint. A generated record is a sealed record.
  auto sealed =
      client_->Seal(MakeRef("other", 1, "copy"), Revealable(),
                    SecretView(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->fingerprint, g->fingerprint);
}

TEST_F(EnclaveGenerateTest, RawBytesAndEveryValueIsFresh) {
  Unlock();
  const auto ref = MakeRef("audit", 1, "audit-hmac-key");
  auto a = client_->Generate(ref, Revealable(), 32, "");
  auto b = client_->Generate(ref, Revealable(), 32, "");
  ASSERT_TRUE(a.ok()) << a.status().where();
  ASSERT_TRUE(b.ok()) << b.status().where();
  EXPECT_NE(a->fingerprint, b->fingerprint);
  const std::string va = RevealValue(ref, a->blob), vb = RevealValue(ref, b->blob);
  EXPECT_EQ(va.size(), 32u);
  EXPECT_EQ(vb.size(), 32u);
  EXPECT_NE(va, vb);
  // Raw means bytes: 4 KiB with no byte >= 0x80 would be a 2^-4096 event.
  auto big = client_->Generate(ref, Revealable(), 4096, "");
  ASSERT_TRUE(big.ok());
  const std::string vbig = RevealValue(ref, big->blob);
  EXPECT_EQ(vbig.size(), 4096u);
  EXPECT_TRUE(std::any_of(vbig.begin(), vbig.end(),
                          [](char c) { return static_cast<uint8_t>(c) >= 0x80; }));
}

TEST_F(EnclaveGenerateTest, RevealToFdWritesTheValueExactlyOnce) {
  Unlock();
  const auto ref = MakeRef("wh-2", 1, "webhook");
  // The policy forbids Reveal: the creator's one look is the only one there will be.
  auto p = MakePolicy({"hooks.example.com"});
  p.env_export = true;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  auto g = client_->Generate(ref, p, 40, kHex, fds[1]);
  close(fds[1]);
  ASSERT_TRUE(g.ok()) << g.status().where();
  const std::string shown = ReadToEof(fds[0]);
  close(fds[0]);
  ASSERT_EQ(shown.size(), 40u);  // once: exactly the value, nothing more
  EXPECT_EQ(shown.find_first_not_of(kHex), std::string::npos);
  EXPECT_EQ(client_->Reveal(ref, g->blob, "again", "").status().code(), Err::kPolicyDenied);

  // The record holds what was shown: Hmac and WriteEnv agree with it.
  auto mac = client_->Hmac(ref, g->blob, AsBytes("x"));
  ASSERT_TRUE(mac.ok());
  std::array<uint8_t, 32> expect{};
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                  reinterpret_cast<const uint8_t*>(shown.data()), shown.size(),
                  reinterpret_cast<const uint8_t*>("x"), 1, expect.data());
  EXPECT_EQ(*mac, expect);
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const broker::EnvItem items[] = {{ref, "WEBHOOK_SECRET", g->blob}};
  auto w = client_->WriteEnv(fds[1], items, broker::EnvFormat::kNulRecords);
  close(fds[1]);
  ASSERT_TRUE(w.ok()) << w.status().where();
  EXPECT_EQ(ReadToEof(fds[0]), std::string("WEBHOOK_SECRET\0", 15) + shown + std::string(1, '\0'));
  close(fds[0]);
}

TEST_F(EnclaveGenerateTest, RevealToUnfitFdIsRefusedAndNothingIsSealed) {
  Unlock();
  const pid_t pid = client_->pid();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto g = client_->Generate(MakeRef("r", 1, "n"), Revealable(), 16, kHex, sv[0]);
  EXPECT_EQ(g.status().code(), Err::kInvalidArgument);
  // Nothing arrived on the socket.
  pollfd pf{sv[1], POLLIN, 0};
  EXPECT_EQ(poll(&pf, 1, 0), 0);
  close(sv[0]);
  close(sv[1]);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  close(fds[0]);
  EXPECT_EQ(client_->Generate(MakeRef("r", 1, "n"), Revealable(), 16, kHex, fds[1]).status().code(),
            Err::kUpstreamIo);
  close(fds[1]);
  EXPECT_EQ(client_->pid(), pid);
  EXPECT_EQ(client_->restarts(), 0);
}

TEST_F(EnclaveGenerateTest, RefusedWhenLocked) {
  const pid_t pid = client_->pid();
  EXPECT_EQ(client_->Generate(MakeRef("r", 1, "n"), Revealable(), 16, "").status().code(),
            Err::kLocked);
  EXPECT_EQ(client_->pid(), pid);
  // A broker that sends it anyway breaks protocol: the enclave ends, a fresh one starts.
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  req.which_body = keycell_ipc_Request_generate_tag;
  req.body.generate.has_ref = req.body.generate.has_policy = true;
  req.body.generate.ref = MakeRef("r", 1, "n");
  req.body.generate.policy = Revealable();
  req.body.generate.length = 16;
  ASSERT_TRUE(ipc::SendRequest(client_->control_fd_for_test(), &req, {}, -1, 1000).ok());
  (void)client_->Status();  // fails once (the enclave has gone) or already restarted
  auto st = client_->Status();
  ASSERT_TRUE(st.ok()) << st.status().where();
  EXPECT_FALSE(st->unlocked);
  EXPECT_NE(client_->pid(), pid);
  EXPECT_EQ(client_->restarts(), 1);
}

TEST_F(EnclaveGenerateTest, BadLengthOrAlphabetIsRefusedAndEnclaveSurvives) {
  Unlock();
  const pid_t pid = client_->pid();
  const auto ref = MakeRef("r", 1, "n");
  const auto code = [&](uint32_t length, std::string_view alphabet) {
    auto g = client_->Generate(ref, Revealable(), length, alphabet);
    EXPECT_TRUE(g.status().code() != Err::kOk);
    return g.status().code();
  };
  EXPECT_EQ(code(0, ""), Err::kInvalidArgument);
  EXPECT_EQ(code(4097, ""), Err::kInvalidArgument);
  EXPECT_EQ(code(UINT32_MAX, "ab"), Err::kInvalidArgument);
  EXPECT_EQ(code(16, "x"), Err::kInvalidArgument);
  EXPECT_EQ(code(16, "xxxxxxxx"), Err::kInvalidArgument);
  EXPECT_EQ(code(16, "ab\x01"), Err::kInvalidArgument);
  EXPECT_EQ(code(16, "ab\xe2\x82\xac"), Err::kInvalidArgument);
  EXPECT_EQ(code(16, std::string_view("ab\0c", 4)),
            Err::kInvalidArgument);                                   // refused by the client
  EXPECT_EQ(code(16, std::string(257, 'a')), Err::kInvalidArgument);  // refused by the client
  EXPECT_EQ(client_->pid(), pid);
  EXPECT_EQ(client_->restarts(), 0);
  EXPECT_TRUE(client_->unlocked());
  // Limits themselves are fine.
  auto one = client_->Generate(ref, Revealable(), 1, "ab");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(RevealValue(ref, one->blob).size(), 1u);
  std::string full(256, 'a');
  full[255] = 'b';
  auto max = client_->Generate(ref, Revealable(), 4096, full);
  ASSERT_TRUE(max.ok()) << max.status().where();
  EXPECT_EQ(RevealValue(ref, max->blob).find_first_not_of("ab"), std::string::npos);
}

// 64 Ki characters over 4 through the real enclave: 16384 expected each, sd ~111.
// ±1500 (13.5 sd) cannot flake for a uniform generator.
TEST_F(EnclaveGenerateTest, RoughlyUniformOverFourCharacters) {
  Unlock();
  const auto ref = MakeRef("u", 1, "uniform");
  std::array<size_t, 256> counts{};
  for (int i = 0; i < 16; ++i) {
    auto g = client_->Generate(ref, Revealable(), 4096, "ACGT");
    ASSERT_TRUE(g.ok()) << g.status().where();
    const std::string v = RevealValue(ref, g->blob);
    ASSERT_EQ(v.size(), 4096u);
    for (char c : v) ++counts[static_cast<uint8_t>(c)];
  }
  size_t total = 0;
  for (char c : std::string("ACGT")) {
    EXPECT_GT(counts[static_cast<uint8_t>(c)], 16384u - 1500) << c;
    EXPECT_LT(counts[static_cast<uint8_t>(c)], 16384u + 1500) << c;
    total += counts[static_cast<uint8_t>(c)];
  }
  EXPECT_EQ(total, 16u * 4096u);
}

}  // namespace
}  // namespace keycell

// The request table against a software token: order, state, fd and attachment rules
// (protocol violations are fatal), and each handler's refusals.

#include "enclave/dispatch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <mbedtls/md.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/ipc/message.h"
#include "enclave/sealed_record.h"
#include "enclave/testing/fake_token.h"
#include "tests/enclave/test_policies.h"

namespace keycell::enclave {
namespace {

using testing::MakePolicy;
using testing::MakeRef;

struct Outcome {
  bool ok;
  const char* fatal = nullptr;
  Reply reply;
};

class DispatchTest : public ::testing::Test {
 protected:
  DispatchTest() : state_(token_, [this] { ++unlock_hooks_; return Status::Ok(); }) {}

  Outcome Send(keycell_ipc_Request req, std::vector<ByteView> att = {}, UniqueFd fd = UniqueFd()) {
    std::vector<uint8_t> body;
    EXPECT_TRUE(ipc::EncodeRequestBodyForTest(&req, att, &body).ok());
    Outcome o;
    o.ok = DispatchFrame(state_, body, std::move(fd), &o.reply, &o.fatal);
    return o;
  }
  static keycell_ipc_Request Req(pb_size_t tag) {
    keycell_ipc_Request r = keycell_ipc_Request_init_zero;
    r.which_body = tag;
    r.seq = 42;
    return r;
  }
  void Hello() {
    auto r = Req(keycell_ipc_Request_hello_tag);
    r.body.hello.protocol_version = ipc::kProtocolVersion;
    ASSERT_TRUE(Send(r).ok);
  }
  void Unlock() {
    Hello();
    auto o = Send(Req(keycell_ipc_Request_unlock_tag), {AsBytes(testing::kFakePin)});
    ASSERT_TRUE(o.ok);
    ASSERT_EQ(o.reply.resp.status, 0);
  }
  std::vector<uint8_t> Seal(const keycell_ipc_RecordRef& ref, const keycell_ipc_Policy& p, const char* secret) {
    auto r = Req(keycell_ipc_Request_seal_tag);
    r.body.seal.has_ref = r.body.seal.has_policy = true;
    r.body.seal.ref = ref;
    r.body.seal.policy = p;
    auto o = Send(r, {AsBytes(secret)});
    EXPECT_TRUE(o.ok);
    EXPECT_EQ(o.reply.resp.status, 0) << o.reply.resp.error;
    return o.reply.blob;
  }
  Outcome Reveal(const keycell_ipc_RecordRef& ref, const std::vector<uint8_t>& blob, const char* purpose,
                 const char* agent) {
    auto r = Req(keycell_ipc_Request_reveal_tag);
    r.body.reveal.has_ref = true;
    r.body.reveal.ref = ref;
    strcpy(r.body.reveal.purpose, purpose);
    strcpy(r.body.reveal.agent_id, agent);
    return Send(r, {ByteView(blob)});
  }
  Outcome Reseal(const keycell_ipc_RecordRef& ref, const std::vector<uint8_t>& blob, const keycell_ipc_Policy* p,
                 const char* pin, const char* new_secret = "") {
    auto r = Req(keycell_ipc_Request_reseal_tag);
    r.body.reseal.has_ref = r.body.reseal.has_new_ref = true;
    r.body.reseal.ref = r.body.reseal.new_ref = ref;
    if (p != nullptr) {
      r.body.reseal.has_policy = true;
      r.body.reseal.policy = *p;
    }
    return Send(r, {ByteView(blob), AsBytes(new_secret), AsBytes(pin)});
  }

  static keycell_ipc_Request GenerateReq(const keycell_ipc_RecordRef& ref, const keycell_ipc_Policy& p,
                                         uint32_t length, const char* alphabet, bool to_fd = false) {
    auto r = Req(keycell_ipc_Request_generate_tag);
    auto& g = r.body.generate;
    g.has_ref = g.has_policy = true;
    g.ref = ref;
    g.policy = p;
    g.length = length;
    snprintf(g.alphabet, sizeof(g.alphabet), "%s", alphabet);
    g.reveal_to_fd = to_fd;
    return r;
  }
  static keycell_ipc_Policy Revealable() {
    auto p = MakePolicy({"hooks.example.com"});
    p.reveal = true;
    return p;
  }

  testing::FakeToken token_;
  int unlock_hooks_ = 0;
  EnclaveState state_;
};

TEST_F(DispatchTest, HelloMustComeFirstAndOnlyOnce) {
  auto o = Send(Req(keycell_ipc_Request_status_tag));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "request before hello");
  Hello();
  o = Send(Req(keycell_ipc_Request_hello_tag));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "repeated once-only request");
}

TEST_F(DispatchTest, HelloWithWrongVersionIsFatal) {
  auto r = Req(keycell_ipc_Request_hello_tag);
  r.body.hello.protocol_version = 99;
  EXPECT_FALSE(Send(r).ok);
}

TEST_F(DispatchTest, StatusEchoesSeqAndState) {
  Hello();
  auto o = Send(Req(keycell_ipc_Request_status_tag));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.seq, 42u);
  EXPECT_EQ(o.reply.resp.which_body, keycell_ipc_Response_status_info_tag);
  EXPECT_FALSE(o.reply.resp.body.status_info.unlocked);
  EXPECT_STREQ(o.reply.resp.body.status_info.token_label, "fake");
}

TEST_F(DispatchTest, UnknownRequestIsFatal) {
  Hello();
  auto r = Req(0);
  auto o = Send(r);
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "unsupported request");
  const std::vector<uint8_t> garbage = {0, 0, 0, 3, 0xff, 0xff, 0xff};
  Reply reply;
  const char* fatal = nullptr;
  EXPECT_FALSE(DispatchFrame(state_, garbage, UniqueFd(), &reply, &fatal));
  EXPECT_STREQ(fatal, "bad frame");
}

TEST_F(DispatchTest, LockedStateAllowsOnlyHelloStatusUnlockLock) {
  Hello();
  for (pb_size_t tag : {keycell_ipc_Request_seal_tag, keycell_ipc_Request_reseal_tag, keycell_ipc_Request_reveal_tag,
                        keycell_ipc_Request_hmac_tag, keycell_ipc_Request_generate_tag}) {
    auto o = Send(Req(tag));
    EXPECT_FALSE(o.ok) << tag;
    EXPECT_STREQ(o.fatal, "request not permitted when locked");
  }
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  auto o = Send(Req(keycell_ipc_Request_write_env_tag), {}, UniqueFd(fds[1]));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(token_.unwraps + token_.wraps, 0);
}

TEST_F(DispatchTest, WrongPinIsNamedAndStaysLocked) {
  Hello();
  auto o = Send(Req(keycell_ipc_Request_unlock_tag), {AsBytes("0000")});
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kBadPin));
  EXPECT_FALSE(state_.unlocked());
  EXPECT_EQ(unlock_hooks_, 0);
  o = Send(Req(keycell_ipc_Request_unlock_tag), {AsBytes(testing::kFakePin)});
  EXPECT_EQ(o.reply.resp.status, 0);
  EXPECT_TRUE(o.reply.resp.body.status_info.unlocked);
  EXPECT_EQ(unlock_hooks_, 1);
  // Unlocking twice is out of protocol.
  EXPECT_FALSE(Send(Req(keycell_ipc_Request_unlock_tag), {AsBytes(testing::kFakePin)}).ok);
}

TEST_F(DispatchTest, UnlockReadsPinFromHandedFd) {
  Hello();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(write(sv[1], "1234\nleftover", 13), 13);
  auto r = Req(keycell_ipc_Request_unlock_tag);
  r.body.unlock.pin_from_fd = true;
  auto o = Send(r, {}, UniqueFd(sv[0]));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, 0);
  EXPECT_TRUE(state_.unlocked());
  char rest[16] = {};
  close(sv[1]);
  // Nothing past the newline was consumed (the CLI's connection stays usable).
  (void)rest;
}

TEST_F(DispatchTest, FdRulesAreEnforced) {
  Unlock();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd r(fds[0]);
  auto seal = Req(keycell_ipc_Request_seal_tag);
  EXPECT_FALSE(Send(seal, {AsBytes("x")}, UniqueFd(fds[1])).ok);  // unexpected fd
  EXPECT_FALSE(Send(Req(keycell_ipc_Request_write_env_tag)).ok);  // missing fd
}

TEST_F(DispatchTest, AttachmentCountsAreEnforced) {
  Unlock();
  auto o = Send(Req(keycell_ipc_Request_seal_tag), {});
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "wrong attachment count");
}

TEST_F(DispatchTest, RevealFollowsTheSealedPolicy) {
  Unlock();
  const auto ref = MakeRef("id1", 1, "openai");
  auto hidden = Seal(ref, MakePolicy({"api.openai.com"}), "sk-hidden");
  auto o = Reveal(ref, hidden, "debugging", "");
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kPolicyDenied));
  EXPECT_EQ(o.reply.secret.data(), nullptr);

  auto p = MakePolicy({"api.openai.com"});
  p.reveal = true;
  strcpy(p.reveal_agents[0], "agent-a");
  p.reveal_agents_count = 1;
  auto shown = Seal(ref, p, "sk-shown");
  EXPECT_EQ(Reveal(ref, shown, "debugging", "agent-b").reply.resp.status, static_cast<int32_t>(Err::kPolicyDenied));
  EXPECT_EQ(Reveal(ref, shown, "", "agent-a").reply.resp.status, static_cast<int32_t>(Err::kInvalidArgument));
  EXPECT_EQ(Reveal(ref, shown, "   ", "agent-a").reply.resp.status, static_cast<int32_t>(Err::kInvalidArgument));
  o = Reveal(ref, shown, "debugging", "agent-a");
  ASSERT_EQ(o.reply.resp.status, 0);
  EXPECT_EQ(AsChars(o.reply.secret.view().bytes()), "sk-shown");
}

TEST_F(DispatchTest, ExpiredRecordsAreRefused) {
  Unlock();
  auto p = MakePolicy({"a.example.com"});
  p.reveal = true;
  p.expires_at = 1;  // 1970
  auto r = Req(keycell_ipc_Request_seal_tag);
  r.body.seal.has_ref = r.body.seal.has_policy = true;
  r.body.seal.ref = MakeRef("i", 1, "n");
  r.body.seal.policy = p;
  EXPECT_EQ(Send(r, {AsBytes("s")}).reply.resp.status, static_cast<int32_t>(Err::kInvalidArgument));
}

TEST_F(DispatchTest, WideningNeedsThePinNarrowingDoesNot) {
  Unlock();
  const auto ref = MakeRef("id1", 1, "k");
  const auto base = MakePolicy({"a.example.com", "b.example.com"});
  auto blob = Seal(ref, base, "v1");

  auto narrow = MakePolicy({"a.example.com"});
  auto o = Reseal(ref, blob, &narrow, "");
  EXPECT_EQ(o.reply.resp.status, 0) << o.reply.resp.error;
  EXPECT_FALSE(o.reply.blob.empty());

  auto wide = base;
  wide.reveal = true;
  o = Reseal(ref, blob, &wide, "");
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kPolicyDenied));
  EXPECT_TRUE(o.reply.blob.empty());
  o = Reseal(ref, blob, &wide, "9999");
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kBadPin));
  o = Reseal(ref, blob, &wide, "1234");
  ASSERT_EQ(o.reply.resp.status, 0);
  EXPECT_EQ(AsChars(Reveal(ref, o.reply.blob, "check", "").reply.secret.view().bytes()), "v1");
}

TEST_F(DispatchTest, ResealRotatesTheSecretKeepingThePolicy) {
  Unlock();
  const auto ref = MakeRef("id1", 1, "k");
  auto p = MakePolicy({"a.example.com"});
  p.reveal = true;
  auto blob = Seal(ref, p, "old");
  auto r = Req(keycell_ipc_Request_reseal_tag);
  r.body.reseal.has_ref = r.body.reseal.has_new_ref = true;
  r.body.reseal.ref = ref;
  r.body.reseal.new_ref = MakeRef("id1", 2, "k");
  auto o = Send(r, {ByteView(blob), AsBytes("new"), AsBytes("")});
  ASSERT_EQ(o.reply.resp.status, 0);
  const auto v2 = o.reply.blob;
  EXPECT_EQ(AsChars(Reveal(MakeRef("id1", 2, "k"), v2, "check", "").reply.secret.view().bytes()), "new");
  EXPECT_EQ(Reveal(ref, v2, "check", "").reply.resp.status, static_cast<int32_t>(Err::kTampered));
}

TEST_F(DispatchTest, RepeatedWrongPinsLockTheVault) {
  Unlock();
  const auto ref = MakeRef("id1", 1, "k");
  auto blob = Seal(ref, MakePolicy({"a.example.com"}), "v");
  auto wide = MakePolicy({"a.example.com"});
  wide.env_export = true;
  for (int i = 0; i < kMaxPinFailures - 1; ++i)
    EXPECT_EQ(Reseal(ref, blob, &wide, "bad").reply.resp.status, static_cast<int32_t>(Err::kBadPin));
  EXPECT_EQ(Reseal(ref, blob, &wide, "bad").reply.resp.status, static_cast<int32_t>(Err::kPinLocked));
  EXPECT_TRUE(state_.exit_requested());
}

TEST_F(DispatchTest, WriteEnvHonoursEnvExport) {
  Unlock();
  auto allowed = MakePolicy({"a.example.com"});
  allowed.env_export = true;
  const auto r1 = MakeRef("1", 1, "a"), r2 = MakeRef("2", 1, "b");
  auto b1 = Seal(r1, allowed, "val'ue\n2");
  auto b2 = Seal(r2, MakePolicy({"a.example.com"}), "never-exported");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd rd(fds[0]);
  auto req = Req(keycell_ipc_Request_write_env_tag);
  auto& w = req.body.write_env;
  w.entries_count = 2;
  w.entries[0].has_ref = w.entries[1].has_ref = true;
  w.entries[0].ref = r1;
  strcpy(w.entries[0].env_name, "A_KEY");
  w.entries[1].ref = r2;
  strcpy(w.entries[1].env_name, "B_KEY");
  auto o = Send(req, {ByteView(b1), ByteView(b2)}, UniqueFd(fds[1]));
  ASSERT_TRUE(o.ok);
  ASSERT_EQ(o.reply.resp.status, 0);
  EXPECT_EQ(o.reply.resp.body.env_written.written, 1u);
  ASSERT_EQ(o.reply.resp.body.env_written.skipped_count, 1u);
  EXPECT_STREQ(o.reply.resp.body.env_written.skipped[0], "B_KEY");
  char buf[256] = {};
  const ssize_t n = read(rd.get(), buf, sizeof(buf) - 1);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "A_KEY=\"val'ue\n2\"\n");
}

TEST_F(DispatchTest, WriteEnvRefusesSockets) {
  Unlock();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd keep(sv[1]);
  auto req = Req(keycell_ipc_Request_write_env_tag);
  auto o = Send(req, {}, UniqueFd(sv[0]));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kInvalidArgument));
}

TEST_F(DispatchTest, OpenChannelOnlyWhenUnlockedAndWithAnFd) {
  Hello();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd mine(sv[0]);
  auto o = Send(Req(keycell_ipc_Request_open_channel_tag), {}, UniqueFd(dup(sv[1])));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "request not permitted when locked");
  auto unlock = Send(Req(keycell_ipc_Request_unlock_tag), {AsBytes(testing::kFakePin)});
  ASSERT_EQ(unlock.reply.resp.status, 0);
  o = Send(Req(keycell_ipc_Request_open_channel_tag));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "request needs an fd");

  // No opener installed (a test state): a clear refusal, not a crash.
  o = Send(Req(keycell_ipc_Request_open_channel_tag), {}, UniqueFd(dup(sv[1])));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kUnavailable));

  int opened_fd = -1;
  state_.set_channel_opener([&](UniqueFd fd) {
    opened_fd = fd.get();
    return Status::Ok();
  });
  o = Send(Req(keycell_ipc_Request_open_channel_tag), {}, UniqueFd(sv[1]));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, 0);
  EXPECT_EQ(opened_fd, sv[1]);
}

TEST_F(DispatchTest, ChannelFramesOnTheControlSocketAreFatal) {
  Unlock();
  for (pb_size_t tag : {keycell_ipc_Request_proxy_start_tag, keycell_ipc_Request_proxy_socket_tag,
                        keycell_ipc_Request_proxy_body_tag}) {
    auto o = Send(Req(tag));
    EXPECT_FALSE(o.ok) << tag;
    EXPECT_STREQ(o.fatal, "unsupported request") << tag;
  }
}

TEST_F(DispatchTest, HmacIsKeyedBySealedSecret) {
  Unlock();
  const auto ref = MakeRef("w", 1, "webhook");
  auto blob = Seal(ref, MakePolicy({"a.example.com"}), "whsec_key");
  auto req = Req(keycell_ipc_Request_hmac_tag);
  req.body.hmac.has_ref = true;
  req.body.hmac.ref = ref;
  auto o = Send(req, {ByteView(blob), AsBytes("{\"event\":\"x\"}")});
  ASSERT_EQ(o.reply.resp.status, 0);
  uint8_t expect[32];
  const std::string key = "whsec_key", data = "{\"event\":\"x\"}";
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const uint8_t*>(key.data()),
                  key.size(), reinterpret_cast<const uint8_t*>(data.data()), data.size(), expect);
  ASSERT_EQ(o.reply.resp.body.hmac.mac.size, 32);
  EXPECT_EQ(memcmp(o.reply.resp.body.hmac.mac.bytes, expect, 32), 0);
}

TEST_F(DispatchTest, SealReadsTheSecretFromAHandedPipe) {
  Unlock();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "from-a-pipe", 11), 11);
  close(fds[1]);
  auto r = Req(keycell_ipc_Request_seal_tag);
  r.body.seal.has_ref = r.body.seal.has_policy = true;
  r.body.seal.ref = MakeRef("p", 1, "piped");
  auto p = MakePolicy({"a.example.com"});
  p.reveal = true;
  r.body.seal.policy = p;
  r.body.seal.secret_from_fd = true;
  auto o = Send(r, {}, UniqueFd(fds[0]));
  ASSERT_TRUE(o.ok);
  ASSERT_EQ(o.reply.resp.status, 0) << o.reply.resp.error;
  EXPECT_EQ(AsChars(Reveal(MakeRef("p", 1, "piped"), o.reply.blob, "check", "").reply.secret.view().bytes()),
            "from-a-pipe");
  // secret_from_fd without an fd, or an fd without the flag, is out of protocol.
  EXPECT_FALSE(Send(r, {}).ok);
}

TEST_F(DispatchTest, SealFromPipeRefusesOversizedSecret) {
  Unlock();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  const std::string big(64 * 1024 + 1, 'x');
  ASSERT_EQ(write(fds[1], big.data(), big.size()), static_cast<ssize_t>(big.size()));
  close(fds[1]);
  auto r = Req(keycell_ipc_Request_seal_tag);
  r.body.seal.has_ref = r.body.seal.has_policy = true;
  r.body.seal.ref = MakeRef("p", 1, "big");
  r.body.seal.policy = MakePolicy({"a.example.com"});
  r.body.seal.secret_from_fd = true;
  auto o = Send(r, {}, UniqueFd(fds[0]));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kTooLarge));
}

TEST_F(DispatchTest, FingerprintIdentifiesValuesNotRecords) {
  Unlock();
  auto seal = [&](const char* id, const char* secret) {
    auto r = Req(keycell_ipc_Request_seal_tag);
    r.body.seal.has_ref = r.body.seal.has_policy = true;
    r.body.seal.ref = MakeRef(id, 1, "n");
    r.body.seal.policy = MakePolicy({"a.example.com"});
    auto o = Send(r, {AsBytes(secret)});
    EXPECT_EQ(o.reply.resp.body.sealed.fingerprint.size, 16);
    return std::string(reinterpret_cast<const char*>(o.reply.resp.body.sealed.fingerprint.bytes), 16);
  };
  const std::string a1 = seal("1", "same-value"), a2 = seal("2", "same-value"), b = seal("3", "other");
  EXPECT_EQ(a1, a2);
  EXPECT_NE(a1, b);
}

TEST_F(DispatchTest, WriteEnvNulRecordsCarryExactBytes) {
  Unlock();
  auto p = MakePolicy({"a.example.com"});
  p.env_export = true;
  const auto ref = MakeRef("1", 1, "a");
  auto blob = Seal(ref, p, "line1\n'\"$x\\");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd rd(fds[0]);
  auto req = Req(keycell_ipc_Request_write_env_tag);
  auto& w = req.body.write_env;
  w.format = keycell_ipc_EnvFormat_ENV_NUL_RECORDS;
  w.entries_count = 1;
  w.entries[0].has_ref = true;
  w.entries[0].ref = ref;
  strcpy(w.entries[0].env_name, "K");
  auto o = Send(req, {ByteView(blob)}, UniqueFd(fds[1]));
  ASSERT_EQ(o.reply.resp.status, 0);
  char buf[64] = {};
  const ssize_t n = read(rd.get(), buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), std::string("K\0line1\n'\"$x\\\0", 14));
}

TEST_F(DispatchTest, GenerateSealsAFreshValueThatRevealsAndHmacs) {
  Unlock();
  const auto ref = MakeRef("wh-1", 1, "webhook");
  auto o = Send(GenerateReq(ref, Revealable(), 48, "abcdefghijklmnopqrstuvwxyz0123456789"));
  ASSERT_TRUE(o.ok);
  ASSERT_EQ(o.reply.resp.status, 0) << o.reply.resp.error;
  EXPECT_EQ(o.reply.resp.which_body, keycell_ipc_Response_sealed_tag);
  EXPECT_EQ(o.reply.resp.body.sealed.sealed_format, kSealedFormat);
  EXPECT_EQ(o.reply.resp.body.sealed.fingerprint.size, 16);
  EXPECT_EQ(o.reply.secret.data(), nullptr);  // the value is never in the response
  ASSERT_EQ(o.reply.Attachments().size(), 1u);
  const std::vector<uint8_t> blob = o.reply.blob;

  auto shown = Reveal(ref, blob, "check", "");
  ASSERT_EQ(shown.reply.resp.status, 0);
  const std::string value(AsChars(shown.reply.secret.view().bytes()));
  EXPECT_EQ(value.size(), 48u);
  EXPECT_EQ(value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789"), std::string::npos);

  auto h = Req(keycell_ipc_Request_hmac_tag);
  h.body.hmac.has_ref = true;
  h.body.hmac.ref = ref;
  auto mac = Send(h, {ByteView(blob), AsBytes("body")});
  ASSERT_EQ(mac.reply.resp.status, 0);
  uint8_t expect[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const uint8_t*>(value.data()),
                  value.size(), reinterpret_cast<const uint8_t*>("body"), 4, expect);
  EXPECT_EQ(memcmp(mac.reply.resp.body.hmac.mac.bytes, expect, 32), 0);

  // Sealing the revealed value again gives the same fingerprint: same value, same record kind.
  auto resealed = Req(keycell_ipc_Request_seal_tag);
  resealed.body.seal.has_ref = resealed.body.seal.has_policy = true;
  resealed.body.seal.ref = ref;
  resealed.body.seal.policy = Revealable();
  auto again = Send(resealed, {AsBytes(value)});
  EXPECT_EQ(memcmp(again.reply.resp.body.sealed.fingerprint.bytes, o.reply.resp.body.sealed.fingerprint.bytes, 16),
            0);
}

TEST_F(DispatchTest, GenerateRawBytesAndFreshEachTime) {
  Unlock();
  const auto ref = MakeRef("k", 1, "audit-key");
  auto a = Send(GenerateReq(ref, Revealable(), 32, ""));
  auto b = Send(GenerateReq(ref, Revealable(), 32, ""));
  ASSERT_EQ(a.reply.resp.status, 0);
  ASSERT_EQ(b.reply.resp.status, 0);
  EXPECT_NE(memcmp(a.reply.resp.body.sealed.fingerprint.bytes, b.reply.resp.body.sealed.fingerprint.bytes, 16), 0);
  auto va = Reveal(ref, a.reply.blob, "p", ""), vb = Reveal(ref, b.reply.blob, "p", "");
  EXPECT_EQ(va.reply.secret.size(), 32u);
  EXPECT_EQ(vb.reply.secret.size(), 32u);
  EXPECT_NE(AsChars(va.reply.secret.view().bytes()), AsChars(vb.reply.secret.view().bytes()));
}

TEST_F(DispatchTest, GenerateRefusesBadLengthAlphabetAndPolicy) {
  Unlock();
  const int wraps_after_unlock = token_.wraps;
  const auto ref = MakeRef("k", 1, "n");
  const auto refused = [&](keycell_ipc_Request r) {
    auto o = Send(r);
    EXPECT_TRUE(o.ok) << "refusal must not be fatal";
    EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kInvalidArgument)) << o.reply.resp.error;
    EXPECT_TRUE(o.reply.Attachments().empty());
    EXPECT_EQ(o.reply.resp.which_body, 0);
  };
  refused(GenerateReq(ref, Revealable(), 0, ""));
  refused(GenerateReq(ref, Revealable(), 4097, "abc"));
  refused(GenerateReq(ref, Revealable(), 16, "a"));
  refused(GenerateReq(ref, Revealable(), 16, "zzzz"));
  refused(GenerateReq(ref, Revealable(), 16, "ab\t"));
  refused(GenerateReq(ref, Revealable(), 16, "ab\xc3\xa9"));
  refused(GenerateReq(MakeRef("", 1, ""), Revealable(), 16, ""));
  refused(GenerateReq(ref, MakePolicy({"API.Example.com"}), 16, ""));
  auto expired = Revealable();
  expired.expires_at = 1;
  refused(GenerateReq(ref, expired, 16, ""));
  EXPECT_EQ(token_.wraps, wraps_after_unlock);  // nothing was sealed
  EXPECT_EQ(Send(GenerateReq(ref, Revealable(), 4096, "ab")).reply.resp.status, 0);
}

TEST_F(DispatchTest, GenerateRevealsToTheHandedPipeOnce) {
  Unlock();
  const auto ref = MakeRef("wh", 1, "hook");
  auto closed = MakePolicy({"hooks.example.com"});  // no later Reveal: the one showing is now
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd rd(fds[0]);
  auto o = Send(GenerateReq(ref, closed, 40, "0123456789abcdef", true), {}, UniqueFd(fds[1]));
  ASSERT_TRUE(o.ok);
  ASSERT_EQ(o.reply.resp.status, 0) << o.reply.resp.error;
  EXPECT_EQ(o.reply.secret.data(), nullptr);
  char buf[128];
  const ssize_t n = read(rd.get(), buf, sizeof(buf));  // the writer is closed: all, then EOF
  ASSERT_EQ(n, 40);
  EXPECT_EQ(read(rd.get(), buf, sizeof(buf)), 0);
  const std::string shown(buf, 40);
  EXPECT_EQ(shown.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(Reveal(ref, o.reply.blob, "p", "").reply.resp.status, static_cast<int32_t>(Err::kPolicyDenied));
  // The record holds exactly what was shown: HMAC under it equals HMAC keyed by it.
  auto h = Req(keycell_ipc_Request_hmac_tag);
  h.body.hmac.has_ref = true;
  h.body.hmac.ref = ref;
  auto mac = Send(h, {ByteView(o.reply.blob), AsBytes("x")});
  uint8_t expect[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), reinterpret_cast<const uint8_t*>(shown.data()),
                  shown.size(), reinterpret_cast<const uint8_t*>("x"), 1, expect);
  EXPECT_EQ(memcmp(mac.reply.resp.body.hmac.mac.bytes, expect, 32), 0);
}

TEST_F(DispatchTest, GenerateFdRulesAndDestinations) {
  Unlock();
  const int wraps_after_unlock = token_.wraps;
  const auto ref = MakeRef("wh", 1, "hook");
  // reveal_to_fd without an fd, an fd without the flag, or an attachment: out of protocol.
  auto o = Send(GenerateReq(ref, Revealable(), 8, "ab", true));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "generate: fd iff reveal_to_fd");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd rd(fds[0]);
  EXPECT_FALSE(Send(GenerateReq(ref, Revealable(), 8, "ab"), {}, UniqueFd(fds[1])).ok);
  o = Send(GenerateReq(ref, Revealable(), 8, "ab"), {AsBytes("x")});
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.fatal, "wrong attachment count");
  // A socket is never a destination for plaintext; a reader that left is an I/O error.
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd keep(sv[1]);
  o = Send(GenerateReq(ref, Revealable(), 8, "ab", true), {}, UniqueFd(sv[0]));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kInvalidArgument));
  EXPECT_EQ(token_.wraps, wraps_after_unlock);
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  signal(SIGPIPE, SIG_IGN);  // as keycell-enclave does
  o = Send(GenerateReq(ref, Revealable(), 8, "ab", true), {}, UniqueFd(fds[1]));
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.reply.resp.status, static_cast<int32_t>(Err::kUpstreamIo));
  EXPECT_TRUE(o.reply.blob.empty());  // not shown, so no record
}

TEST_F(DispatchTest, LockEndsTheProcess) {
  Unlock();
  auto o = Send(Req(keycell_ipc_Request_lock_tag));
  ASSERT_TRUE(o.ok);
  EXPECT_TRUE(state_.exit_requested());
  EXPECT_FALSE(o.reply.resp.body.status_info.unlocked);
}

}  // namespace
}  // namespace keycell::enclave

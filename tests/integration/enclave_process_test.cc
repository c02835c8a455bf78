// The real keycell-enclave binary, under its real sandbox, against a real SoftHSM2
// token, driven through the broker's EnclaveClient.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "broker/enclave/enclave_client.h"
#include "common/ipc/framing.h"
#include "common/ipc/message.h"
#include "tests/enclave/test_policies.h"
#include "tests/support/enclave_launch.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell {
namespace {

using broker::EnclaveClient;
using enclave::testing::MakePolicy;
using enclave::testing::MakeRef;

SecretView Secret(std::string_view s) { return SecretView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

std::string ProcStatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  return "";
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  return s;
}

class EnclaveProcessTest : public ::testing::Test {
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

  // Sends raw bytes on the control socket, then shows the enclave has died by
  // making a normal call (which fails once and restarts it) and a second one that works.
  void ExpectEnclaveDiesAndRestarts() {
    const pid_t old = client_->pid();
    auto first = client_->Status();
    if (!first.ok()) {
      EXPECT_EQ(first.status().code(), Err::kUnavailable);
    }
    auto second = client_->Status();
    ASSERT_TRUE(second.ok()) << second.status().where();
    EXPECT_FALSE(second->unlocked);
    EXPECT_NE(client_->pid(), old);
    EXPECT_EQ(client_->restarts(), 1);
  }

  std::unique_ptr<test::TempToken> token_;
  std::unique_ptr<EnclaveClient> client_;
};

TEST_F(EnclaveProcessTest, StartsLockedInStageOneSandbox) {
  auto st = client_->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->unlocked);
  EXPECT_EQ(st->token_label, token_->label());
  EXPECT_TRUE(st->aes_gcm);
  EXPECT_EQ(st->sandbox_stage, 1u);
  const pid_t pid = client_->pid();
  EXPECT_EQ(Trim(ProcStatusField(pid, "Seccomp")), "2");
  EXPECT_EQ(Trim(ProcStatusField(pid, "NoNewPrivs")), "1");
  // Not dumpable: /proc/<pid>/mem and ptrace are closed to our own uid (root may
  // still read it; the check that matters is the flag itself).
  EXPECT_EQ(client_->Seal(MakeRef("r", 1, "n"), MakePolicy({"a.example.com"}), Secret("x")).status().code(),
            Err::kLocked);
}

TEST_F(EnclaveProcessTest, WrongPinIsRefusedWithAName) {
  EXPECT_EQ(client_->Unlock(Secret("0000")).code(), Err::kBadPin);
  EXPECT_FALSE(client_->unlocked());
  Unlock();
  EXPECT_TRUE(client_->unlocked());
}

TEST_F(EnclaveProcessTest, UnlockSealRevealWriteEnvLockUnderTheRealFilter) {
  Unlock();
  auto st = client_->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->unlocked);
  EXPECT_EQ(st->sandbox_stage, 2u);
  EXPECT_EQ(Trim(ProcStatusField(client_->pid(), "Seccomp_filters")), "2");

  auto p = MakePolicy({"api.openai.com"});
  p.reveal = true;
  p.env_export = true;
  const auto ref = MakeRef("cred-1", 1, "openai");
  const std::string canary = "sk-canary-\"quoted\"\nline2-$HOME-#x";
  auto sealed = client_->Seal(ref, p, Secret(canary));
  ASSERT_TRUE(sealed.ok()) << sealed.status().where();
  auto* blob = &sealed->blob;
  EXPECT_EQ(std::string(blob->begin(), blob->end()).find("sk-canary"), std::string::npos);

  auto revealed = client_->Reveal(ref, *blob, "integration test", "");
  ASSERT_TRUE(revealed.ok()) << revealed.status().where();
  EXPECT_EQ(AsChars(revealed->view().bytes()), canary);

  // Reveal straight into a caller's pipe: nothing in the response.
  int rp[2];
  ASSERT_EQ(pipe(rp), 0);
  ASSERT_TRUE(client_->RevealToFd(ref, *blob, "integration test", "", rp[1]).ok());
  close(rp[1]);
  std::string piped(256, '\0');
  piped.resize(static_cast<size_t>(std::max<ssize_t>(0, read(rp[0], piped.data(), piped.size()))));
  close(rp[0]);
  EXPECT_EQ(piped, canary);

  const std::string env_path = token_->dir() + "/out.env";
  const int fd = open(env_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const broker::EnvItem items[] = {{ref, "OPENAI_API_KEY", *blob}};
  auto w = client_->WriteEnv(fd, items);
  close(fd);
  ASSERT_TRUE(w.ok()) << w.status().where();
  EXPECT_EQ(w->written, 1u);
  const std::string cmd = "/usr/bin/python3 -c 'import sys; from dotenv import dotenv_values; "
                          "sys.stdout.write(dotenv_values(sys.argv[1], interpolate=False)[\"OPENAI_API_KEY\"])' " +
                          env_path;
  FILE* py = popen(cmd.c_str(), "r");
  ASSERT_NE(py, nullptr);
  std::string parsed;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), py)) > 0) parsed.append(buf, n);
  EXPECT_EQ(pclose(py), 0);
  EXPECT_EQ(parsed, canary);

  auto mac = client_->Hmac(ref, *blob, AsBytes("payload"));
  ASSERT_TRUE(mac.ok());

  ASSERT_TRUE(client_->Lock().ok());
  auto after = client_->Status();
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->unlocked);
  EXPECT_EQ(client_->restarts(), 0);  // Lock is a planned exit, not a crash
  EXPECT_EQ(client_->Reveal(ref, *blob, "again", "").status().code(), Err::kLocked);
  // The sealed blob outlives the enclave: unlock again and it still opens.
  Unlock();
  EXPECT_TRUE(client_->Reveal(ref, *blob, "again", "").ok());
}

// Through the real enclave: several hostile values, one of 64 KiB, into one file,
// read back by python-dotenv.
TEST_F(EnclaveProcessTest, WriteEnvRoundTripsHostileValues) {
  Unlock();
  auto p = MakePolicy({"a.example.com"});
  p.env_export = true;
  std::string big(64 * 1024, 'k');
  for (size_t i = 0; i < big.size(); i += 101) big[i] = "\n\"'$# =\\"[i % 8];
  const std::vector<std::pair<std::string, std::string>> values = {
      {"NEWLINES", "a\nb\n"}, {"QUOTES", "it's \"x\""}, {"SHELL", "$HOME #c `id` a=b"},
      {"UNICODE", "schl\xc3\xbcssel-\xf0\x9f\x94\x91"}, {"BIG", big}};
  std::vector<std::vector<uint8_t>> blobs;
  std::vector<broker::EnvItem> items;
  for (size_t i = 0; i < values.size(); ++i) {
    const auto ref = MakeRef(("id" + std::to_string(i)).c_str(), 1, values[i].first.c_str());
    auto sealed = client_->Seal(ref, p, Secret(values[i].second));
    ASSERT_TRUE(sealed.ok()) << sealed.status().where();
    blobs.push_back(std::move(sealed->blob));
    items.push_back({ref, values[i].first, blobs.back()});
  }
  const std::string env_path = token_->dir() + "/many.env";
  const int fd = open(env_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  auto w = client_->WriteEnv(fd, items);
  close(fd);
  ASSERT_TRUE(w.ok()) << w.status().where();
  EXPECT_EQ(w->written, values.size());
  for (const auto& [name, value] : values) {
    const std::string cmd = "/usr/bin/python3 -c 'import sys; from dotenv import dotenv_values; "
                            "sys.stdout.write(dotenv_values(sys.argv[1], interpolate=False)[sys.argv[2]])' " +
                            env_path + " " + name;
    FILE* py = popen(cmd.c_str(), "r");
    ASSERT_NE(py, nullptr);
    std::string parsed;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), py)) > 0) parsed.append(buf, n);
    EXPECT_EQ(pclose(py), 0);
    EXPECT_EQ(parsed, value) << name;
  }
}

TEST_F(EnclaveProcessTest, TamperedRecordIsRefusedAndEnclaveSurvives) {
  // SoftHSM logs a failed GCM tag through syslog(); the enclave's shim keeps that
  // from opening a socket, which the sandbox would kill it for.
  Unlock();
  const auto ref = MakeRef("c", 1, "n");
  auto sealed = client_->Seal(ref, MakePolicy({"a.example.com"}), Secret("v"));
  ASSERT_TRUE(sealed.ok());
  auto bad = sealed->blob;
  bad[30] ^= 1;  // inside the wrapped data key: the token's GCM check fails
  EXPECT_EQ(client_->Reveal(ref, bad, "p", "").status().code(), Err::kTampered);
  EXPECT_EQ(client_->restarts(), 0);
  EXPECT_TRUE(client_->Status().ok());
}

// A reader that went away is an I/O error for the caller, not a SIGPIPE that kills
// (and so locks) the enclave. Found by ipc_request_fuzzer.
TEST_F(EnclaveProcessTest, ClosedPipeIsAnErrorNotACrash) {
  Unlock();
  auto p = MakePolicy({"a.example.com"});
  p.env_export = true;
  p.reveal = true;
  const auto ref = MakeRef("c", 1, "n");
  auto sealed = client_->Seal(ref, p, Secret("v"));
  ASSERT_TRUE(sealed.ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  const broker::EnvItem items[] = {{ref, "N", sealed->blob}};
  auto w = client_->WriteEnv(fds[1], items);
  EXPECT_EQ(w.status().code(), Err::kUpstreamIo);
  EXPECT_EQ(client_->RevealToFd(ref, sealed->blob, "p", "", fds[1]).code(), Err::kUpstreamIo);
  close(fds[1]);
  EXPECT_EQ(client_->restarts(), 0);
  EXPECT_TRUE(client_->unlocked());
}

TEST_F(EnclaveProcessTest, OversizedFrameKillsEnclave) {
  uint8_t len[4];
  PutU32Be(len, static_cast<uint32_t>(ipc::kMaxFrameBytes + 1));
  ASSERT_EQ(write(client_->control_fd_for_test(), len, 4), 4);
  ExpectEnclaveDiesAndRestarts();
}

TEST_F(EnclaveProcessTest, TruncatedFrameKillsEnclave) {
  // Declares 8 bytes, sends 2: the client's next request completes the frame with
  // bytes that are not a request, and the enclave must not mistake them for one.
  uint8_t partial[6];
  PutU32Be(partial, 8);
  partial[4] = partial[5] = 0xff;
  ASSERT_EQ(write(client_->control_fd_for_test(), partial, 6), 6);
  ExpectEnclaveDiesAndRestarts();
}

TEST_F(EnclaveProcessTest, UnknownRequestKillsEnclave) {
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  req.seq = 999;
  ASSERT_TRUE(ipc::SendRequest(client_->control_fd_for_test(), &req, {}, -1, 1000).ok());
  ExpectEnclaveDiesAndRestarts();
}

TEST_F(EnclaveProcessTest, LockedSealKillsEnclave) {
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  req.which_body = keycell_ipc_Request_seal_tag;
  const ByteView att[] = {AsBytes("x")};
  ASSERT_TRUE(ipc::SendRequest(client_->control_fd_for_test(), &req, att, -1, 1000).ok());
  ExpectEnclaveDiesAndRestarts();
}

TEST_F(EnclaveProcessTest, MissingFdKillsEnclave) {
  Unlock();
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  req.which_body = keycell_ipc_Request_write_env_tag;
  ASSERT_TRUE(ipc::SendRequest(client_->control_fd_for_test(), &req, {}, -1, 1000).ok());
  ExpectEnclaveDiesAndRestarts();
}

TEST_F(EnclaveProcessTest, ExtraFdKillsEnclave) {
  Unlock();
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  req.which_body = keycell_ipc_Request_status_tag;
  const int devnull = open("/dev/null", O_RDONLY);
  ASSERT_TRUE(ipc::SendRequest(client_->control_fd_for_test(), &req, {}, devnull, 1000).ok());
  close(devnull);
  ExpectEnclaveDiesAndRestarts();
}

TEST_F(EnclaveProcessTest, KilledEnclaveIsRestartedLocked) {
  Unlock();
  const pid_t old = client_->pid();
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ExpectEnclaveDiesAndRestarts();
  EXPECT_FALSE(client_->unlocked());
  Unlock();  // and it can be unlocked again
}

TEST_F(EnclaveProcessTest, UnlockFromHandedFdKeepsPinOutOfBroker) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // The "CLI" end writes the PIN; the broker only passes the other end along.
  ASSERT_EQ(write(sv[1], "1234\n", 5), 5);
  EXPECT_TRUE(client_->UnlockFromFd(sv[0]).ok());
  close(sv[0]);
  close(sv[1]);
  EXPECT_TRUE(client_->unlocked());
}

}  // namespace
}  // namespace keycell

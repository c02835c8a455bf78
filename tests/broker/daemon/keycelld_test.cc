// The real keycelld (with the real enclave and a real SoftHSM2 token) driven over its
// control socket: locking rules, idle auto-lock, signals, one daemon per data dir,
// same-uid peers only, and the error shapes of the protocol.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "broker/daemon/control_protocol.h"
#include "broker/daemon/control_server.h"
#include "broker/json/json.h"
#include "pkcs11/module.h"
#include "pkcs11/token_setup.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell::broker::daemon {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KeycelldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keycelld-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    data_ = root_ + "/data";
    run_ = root_ + "/run";
    ASSERT_EQ(mkdir(data_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(run_.c_str(), 0700), 0);
    // The embedded token, as `keycell init` makes it.
    ASSERT_TRUE(pkcs11::WriteSoftHsmConfig(data_ + "/softhsm").ok());
    setenv("SOFTHSM2_CONF", (data_ + "/softhsm/softhsm2.conf").c_str(), 1);
    auto module = pkcs11::Module::Load(KEYCELL_PKCS11_MODULE);
    ASSERT_TRUE(module.ok());
    const std::string pin = "4321", so = "87654321";
    const SecretView pin_v(reinterpret_cast<const uint8_t*>(pin.data()), pin.size());
    const SecretView so_v(reinterpret_cast<const uint8_t*>(so.data()), so.size());
    ASSERT_TRUE(pkcs11::InitSoftToken(**module, "keycell", so_v, pin_v).ok());
    ASSERT_TRUE(pkcs11::EnsureKek(**module, "keycell", pin_v, nullptr).ok());
  }
  void TearDown() override {
    StopDaemon();
    test::RemoveTree(root_);
  }

  pid_t StartDaemon(const std::string& idle_lock = "15m") {
    const pid_t pid = fork();
    if (pid == 0) {
      const std::string log = root_ + "/keycelld.log";
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 2);
      setenv("KEYCELL_DATA_DIR", data_.c_str(), 1);
      setenv("KEYCELL_RUNTIME_DIR", (run_ + "/keycell").c_str(), 1);
      setenv("KEYCELL_IDLE_LOCK", idle_lock.c_str(), 1);
      setenv("KEYCELL_ENCLAVE_PATH", KEYCELL_ENCLAVE_PATH, 1);
      setenv("KEYCELL_HTTP_LISTEN", "127.0.0.1:0", 1);
      setenv("XDG_CONFIG_HOME", (root_ + "/config").c_str(), 1);
      execl(KEYCELLD_PATH, KEYCELLD_PATH, static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready means accepting: the socket file appears at bind(), a moment before the
    // daemon narrows its mode and calls listen().
    for (int i = 0; i < 200 && !Accepting(); ++i) usleep(25000);
    return pid;
  }
  void StopDaemon() {
    if (daemon_ > 0) {
      kill(daemon_, SIGTERM);
      int status = 0;
      waitpid(daemon_, &status, 0);
      last_status_ = status;
      daemon_ = -1;
    }
  }
  std::string Socket() const { return run_ + "/keycell/keycelld.sock"; }

  bool Accepting() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", Socket().c_str());
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  UniqueFd Connect() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", Socket().c_str());
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  // One call; returns the result, or an empty Json with *err set.
  json::Json Call(int sock, const char* op, const char* args_json, int fd, ControlError* err) {
    auto args = json::ParseJson(args_json);
    EXPECT_TRUE(args.ok());
    EXPECT_TRUE(SendControlRequest(sock, op, args->get(), fd, 10000).ok());
    auto r = RecvControlResponse(sock, 30000, err);
    return r.ok() ? std::move(*r) : json::Json();
  }

  int PinPipe(const char* pin) {
    int p[2];
    EXPECT_EQ(pipe(p), 0);
    EXPECT_GT(write(p[1], pin, strlen(pin)), 0);
    close(p[1]);
    return p[0];
  }

  bool Unlocked(int sock) {
    ControlError err;
    auto st = Call(sock, "status", "{}", -1, &err);
    return st && json::GetBool(st.get(), "unlocked").value_or(false);
  }

  std::string root_, data_, run_;
  pid_t daemon_ = -1;
  int last_status_ = 0;
};

TEST_F(KeycelldTest, SocketIsPrivateAndStatusWorks) {
  daemon_ = StartDaemon();
  struct stat st{};
  ASSERT_EQ(stat(Socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((run_ + "/keycell").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  UniqueFd s = Connect();
  EXPECT_FALSE(Unlocked(s.get()));
}

TEST_F(KeycelldTest, LockedVaultRefusesWithItsOwnCode) {
  daemon_ = StartDaemon();
  UniqueFd s = Connect();
  ControlError err;
  const int value = PinPipe("sk-x");
  Call(s.get(), "add", R"({"name":"k","policy":{"hosts":["a.example.com"]}})", value, &err);
  close(value);
  EXPECT_EQ(err.code, "locked");
  EXPECT_EQ(err.exit_code, kExitLocked);
  Call(s.get(), "frobnicate", "{}", -1, &err);
  EXPECT_EQ(err.code, "unknown_op");
}

TEST_F(KeycelldTest, WrongPinThenRightPin) {
  daemon_ = StartDaemon();
  UniqueFd s = Connect();
  ControlError err;
  int pin = PinPipe("0000\n");
  Call(s.get(), "unlock", "{}", pin, &err);
  close(pin);
  EXPECT_EQ(err.code, "bad_pin");
  EXPECT_EQ(err.exit_code, kExitBadPin);
  pin = PinPipe("4321\n");
  auto st = Call(s.get(), "unlock", "{}", pin, &err);
  close(pin);
  ASSERT_TRUE(st);
  EXPECT_TRUE(json::GetBool(st.get(), "unlocked").value_or(false));
  EXPECT_EQ(json::GetInt(st.get(), "sandbox_stage").value_or(0), 2);
}

TEST_F(KeycelldTest, IdleAutoLock) {
  daemon_ = StartDaemon("2s");
  UniqueFd s = Connect();
  ControlError err;
  const int pin = PinPipe("4321\n");
  Call(s.get(), "unlock", "{}", pin, &err);
  close(pin);
  ASSERT_TRUE(Unlocked(s.get()));
  bool locked = false;
  for (int i = 0; i < 100 && !locked; ++i) {  // bounded: 10 s
    usleep(100 * 1000);
    locked = ReadFile(root_ + "/keycelld.log").find("event=auto_lock") != std::string::npos;
  }
  EXPECT_TRUE(locked);
  EXPECT_FALSE(Unlocked(s.get()));
}

TEST_F(KeycelldTest, SighupReloadsIdleLock) {
  daemon_ = StartDaemon("");  // empty: the config file decides
  UniqueFd s = Connect();
  ControlError err;
  const int pin = PinPipe("4321\n");
  Call(s.get(), "unlock", "{}", pin, &err);
  close(pin);
  ASSERT_TRUE(Unlocked(s.get()));
  ASSERT_EQ(mkdir((root_ + "/config").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((root_ + "/config/keycell").c_str(), 0700), 0);
  const std::string cfg = root_ + "/config/keycell/config.json";
  const int fd = open(cfg.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  const std::string text = R"({"idle_lock": "1s"})";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  kill(daemon_, SIGHUP);
  bool locked = false;
  for (int i = 0; i < 100 && !locked; ++i) {  // bounded: 10 s
    usleep(100 * 1000);
    locked = ReadFile(root_ + "/keycelld.log").find("event=auto_lock") != std::string::npos;
  }
  EXPECT_NE(ReadFile(root_ + "/keycelld.log").find("event=config_reloaded"), std::string::npos);
  EXPECT_TRUE(locked);
}

TEST_F(KeycelldTest, SecondDaemonForSameDataDirRefuses) {
  daemon_ = StartDaemon();
  const pid_t second = fork();
  if (second == 0) {
    const int fd = open((root_ + "/second.log").c_str(), O_WRONLY | O_CREAT, 0600);
    dup2(fd, 2);
    setenv("KEYCELL_DATA_DIR", data_.c_str(), 1);
    setenv("KEYCELL_RUNTIME_DIR", (run_ + "/keycell").c_str(), 1);
    setenv("XDG_CONFIG_HOME", (root_ + "/config").c_str(), 1);
    execl(KEYCELLD_PATH, KEYCELLD_PATH, static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  EXPECT_NE(ReadFile(root_ + "/second.log").find("another keycelld"), std::string::npos);
  UniqueFd s = Connect();  // the first one is unharmed
  ControlError err;
  EXPECT_TRUE(Call(s.get(), "status", "{}", -1, &err));
}

TEST_F(KeycelldTest, OtherUidIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid";
  daemon_ = StartDaemon();
  chmod(root_.c_str(), 0755);  // let the other uid reach the socket file itself
  chmod(run_.c_str(), 0755);
  chmod((run_ + "/keycell").c_str(), 0755);
  chmod(Socket().c_str(), 0666);
  const pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", Socket().c_str());
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(4);
    char byte;
    // The daemon closes a foreign peer's connection without a word: EOF.
    _exit(read(fd, &byte, 1) == 0 ? 0 : 5);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(ReadFile(root_ + "/keycelld.log").find("event=peer_refused"), std::string::npos);
}

TEST_F(KeycelldTest, SigtermLocksAndExitsCleanly) {
  daemon_ = StartDaemon();
  UniqueFd s = Connect();
  ControlError err;
  const int pin = PinPipe("4321\n");
  Call(s.get(), "unlock", "{}", pin, &err);
  close(pin);
  ASSERT_TRUE(Unlocked(s.get()));
  StopDaemon();
  EXPECT_TRUE(WIFEXITED(last_status_) && WEXITSTATUS(last_status_) == 0) << last_status_;
  const std::string log = ReadFile(root_ + "/keycelld.log");
  EXPECT_NE(log.find("event=stopped vault=locked"), std::string::npos) << log;
  EXPECT_NE(access(Socket().c_str(), F_OK), 0);  // socket removed
}

TEST_F(KeycelldTest, MalformedRequestGetsAnErrorNotACrash) {
  daemon_ = StartDaemon();
  UniqueFd s = Connect();
  const char junk[] = "\0\0\0\x05{\"op\"";
  ASSERT_EQ(write(s.get(), junk, 9), 9);
  ControlError err;
  auto r = RecvControlResponse(s.get(), 5000, &err);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(err.code, "bad_request");
  UniqueFd again = Connect();
  EXPECT_TRUE(Call(again.get(), "status", "{}", -1, &err));
}

}  // namespace
}  // namespace keycell::broker::daemon

// Landlock checks. Each test forks; only the child restricts itself. The parent owns
// the temp dir (creates and removes it), which a re-executed death-test child could not.
#include "sandbox/landlock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/sandbox/sandbox_test_util.h"

namespace keycell::sandbox {
namespace {

using testing::RunInChild;

class LandlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    abi_ = LandlockAbi();
    if (abi_ == 0) GTEST_SKIP() << "kernel without Landlock";
    char tmpl[] = "/tmp/kc_landlock_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    token_dir_ = root_ + "/tokens";
    conf_ = root_ + "/softhsm2.conf";
    ASSERT_EQ(mkdir(token_dir_.c_str(), 0700), 0);
    std::ofstream(conf_) << "directories.tokendir = " << token_dir_ << "\n";
    std::ofstream(token_dir_ + "/token.object") << "token";
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  std::vector<PathRule> StageOneRules() const {
    return {{token_dir_, /*writable=*/true, /*is_dir=*/true},
            {conf_, /*writable=*/false, /*is_dir=*/false}};
  }

  int abi_ = 0;
  std::string root_, token_dir_, conf_;
};

bool OpenFailsWith(const std::string& path, int flags, int expected_errno) {
  const int fd = open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  return fd < 0 && errno == expected_errno;
}

bool OpenWorks(const std::string& path, int flags) {
  const int fd = open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

TEST_F(LandlockTest, RestrictFilesystemConfinesToTokenDirAndConf) {
  const std::vector<PathRule> rules = StageOneRules();
  const int status = RunInChild([&] {
    KC_CHILD_EXPECT(RestrictFilesystem(rules).ok());
    KC_CHILD_EXPECT(OpenFailsWith("/etc/passwd", O_RDONLY, EACCES));
    KC_CHILD_EXPECT(OpenFailsWith(root_ + "/outside", O_WRONLY | O_CREAT, EACCES));
    // What SoftHSM does at C_Login: rewrite, create and delete token files.
    KC_CHILD_EXPECT(OpenWorks(token_dir_ + "/token.object", O_RDWR | O_TRUNC));
    KC_CHILD_EXPECT(OpenWorks(token_dir_ + "/new.object", O_RDWR | O_CREAT));
    KC_CHILD_EXPECT(unlink((token_dir_ + "/new.object").c_str()) == 0);
    KC_CHILD_EXPECT(mkdir((token_dir_ + "/sub").c_str(), 0700) != 0 && errno == EACCES);
    // softhsm2.conf is readable, not writable.
    KC_CHILD_EXPECT(OpenWorks(conf_, O_RDONLY));
    KC_CHILD_EXPECT(OpenFailsWith(conf_, O_WRONLY, EACCES));
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(LandlockTest, ForbidAllFilesystemClosesTheTokenDirToo) {
  const std::vector<PathRule> rules = StageOneRules();
  const int status = RunInChild([&] {
    const int kept = open((token_dir_ + "/token.object").c_str(), O_RDONLY | O_CLOEXEC);
    KC_CHILD_EXPECT(kept >= 0);
    KC_CHILD_EXPECT(RestrictFilesystem(rules).ok());
    KC_CHILD_EXPECT(OpenWorks(token_dir_ + "/token.object", O_RDONLY));
    KC_CHILD_EXPECT(ForbidAllFilesystem().ok());
    KC_CHILD_EXPECT(OpenFailsWith(token_dir_ + "/token.object", O_RDONLY, EACCES));
    KC_CHILD_EXPECT(OpenFailsWith(conf_, O_RDONLY, EACCES));
    KC_CHILD_EXPECT(OpenFailsWith("/etc/passwd", O_RDONLY, EACCES));
    // Descriptors opened before stay usable (control socket, SCM_RIGHTS fds).
    char c;
    KC_CHILD_EXPECT(read(kept, &c, 1) == 1);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(LandlockTest, ForbidAllFilesystemAlone) {
  const int status = RunInChild([&] {
    KC_CHILD_EXPECT(ForbidAllFilesystem().ok());
    KC_CHILD_EXPECT(OpenFailsWith(token_dir_ + "/token.object", O_RDONLY, EACCES));
    KC_CHILD_EXPECT(OpenFailsWith("/etc/passwd", O_RDONLY, EACCES));
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(LandlockTest, TcpBindAndConnectDenied) {
  if (abi_ < 4) GTEST_SKIP() << "TCP rules need Landlock ABI 4, kernel has " << abi_;
  const std::vector<PathRule> rules = StageOneRules();
  const int status = RunInChild([&] {
    // A listener that exists before the restriction, so connect() has a real target.
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    KC_CHILD_EXPECT(bind(listener, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    KC_CHILD_EXPECT(listen(listener, 1) == 0);
    KC_CHILD_EXPECT(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    KC_CHILD_EXPECT(RestrictFilesystem(rules).ok());
    const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    KC_CHILD_EXPECT(connect(client, reinterpret_cast<sockaddr*>(&addr), len) != 0);
    KC_CHILD_EXPECT(errno == EACCES);
    addr.sin_port = 0;
    KC_CHILD_EXPECT(bind(client, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno == EACCES);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(LandlockTest, SignalsScopedToTheSandbox) {
  if (abi_ < 6) GTEST_SKIP() << "signal scoping needs Landlock ABI 6, kernel has " << abi_;
  const int status = RunInChild([&] {
    KC_CHILD_EXPECT(ForbidAllFilesystem().ok());
    KC_CHILD_EXPECT(kill(getppid(), 0) != 0 && errno == EPERM);
    KC_CHILD_EXPECT(kill(getpid(), 0) == 0);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(LandlockTest, BadRuleFailsBeforeAnythingIsEnforced) {
  const std::vector<PathRule> missing = {{root_ + "/missing", true, true}};
  const std::vector<PathRule> dir_as_file = {{token_dir_, false, false}};
  const std::vector<PathRule> file_as_dir = {{conf_, false, true}};
  const int status = RunInChild([&] {
    KC_CHILD_EXPECT(RestrictFilesystem(missing).code() == Err::kInvalidArgument);
    KC_CHILD_EXPECT(RestrictFilesystem(dir_as_file).code() == Err::kInvalidArgument);
    KC_CHILD_EXPECT(RestrictFilesystem(file_as_dir).code() == Err::kInvalidArgument);
    KC_CHILD_EXPECT(OpenWorks("/etc/passwd", O_RDONLY));  // still unrestricted
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

}  // namespace
}  // namespace keycell::sandbox

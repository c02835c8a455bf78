// The whole lockdown in the enclave's order, in a forked child:
//   HardenProcess -> LimitOpenFiles -> RestrictFilesystem -> ApplySeccomp(kLocked)
//   -> (SoftHSM-like token file work) -> ForbidAllFilesystem -> ApplySeccomp(kServing)
//   -> (serve loop work) -> exit 0.
// The real SoftHSM run under these filters is measured in docs/sandbox.md.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sandbox/hardening.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp_policy.h"
#include "tests/sandbox/sandbox_test_util.h"

namespace keycell::sandbox {
namespace {

using testing::RunInChild;

// What SoftHSM does at C_Login/C_FindObjects/C_CopyObject (ENGINEERING-NOTES §2 and
// docs/sandbox.md): open, lock, stat, rewrite, truncate, unlock, list the directory,
// create a lock file with O_TRUNC. It never deletes files there (unlink is not allowed).
int TokenFileWork(const std::string& dir) {
  const std::string object = dir + "/token.object";
  const int fd = open(object.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  KC_CHILD_EXPECT(fd >= 0);
  KC_CHILD_EXPECT(fcntl(fd, F_GETFL) >= 0);
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  KC_CHILD_EXPECT(fcntl(fd, F_SETLKW, &lock) == 0);
  struct stat st {};
  KC_CHILD_EXPECT(fstat(fd, &st) == 0);
  KC_CHILD_EXPECT(lseek(fd, 0, SEEK_SET) == 0);
  KC_CHILD_EXPECT(ftruncate(fd, 0) == 0);
  KC_CHILD_EXPECT(write(fd, "generation", 10) == 10);
  lock.l_type = F_UNLCK;
  KC_CHILD_EXPECT(fcntl(fd, F_SETLK, &lock) == 0);
  KC_CHILD_EXPECT(close(fd) == 0);
  KC_CHILD_EXPECT(stat(object.c_str(), &st) == 0 && st.st_size == 10);
  DIR* d = opendir(dir.c_str());
  KC_CHILD_EXPECT(d != nullptr);
  int entries = 0;
  while (readdir(d) != nullptr) ++entries;
  KC_CHILD_EXPECT(closedir(d) == 0 && entries >= 3);
  const std::string lock_file = dir + "/obj.lock";
  const int lf = open(lock_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  KC_CHILD_EXPECT(lf >= 0 && close(lf) == 0);
  return 0;
}

int ServingWork(int control_fd) {
  pollfd p{control_fd, POLLOUT, 0};
  KC_CHILD_EXPECT(poll(&p, 1, 100) == 1);
  msghdr msg{};
  iovec iov{const_cast<char*>("ok"), 2};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  KC_CHILD_EXPECT(sendmsg(control_fd, &msg, MSG_NOSIGNAL) == 2);
  std::vector<char> heap(1 << 16);  // malloc under the final filter
  KC_CHILD_EXPECT(write(STDERR_FILENO, "", 0) == 0);
  return 0;
}

class LockdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kc_lockdown_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    token_dir_ = root_ + "/tokens";
    conf_ = root_ + "/softhsm2.conf";
    ASSERT_EQ(mkdir(token_dir_.c_str(), 0700), 0);
    std::ofstream(conf_) << "directories.tokendir = " << token_dir_ << "\n";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_, token_dir_, conf_;
};

TEST_F(LockdownTest, EnclaveOrderSurvivesBothStages) {
  const std::vector<PathRule> rules = {{token_dir_, true, true}, {conf_, false, false}};
  const int status = RunInChild([&] {
    int pair[2];
    KC_CHILD_EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    KC_CHILD_EXPECT(HardenProcess().ok());
    KC_CHILD_EXPECT(LimitOpenFiles(64).ok());
    const Status landlock = RestrictFilesystem(rules);
    KC_CHILD_EXPECT(landlock.ok() || landlock.code() == Err::kUnavailable);
    KC_CHILD_EXPECT(ApplySeccomp(Stage::kLocked, SeccompOptions{pair[0]}).ok());
    if (const int rc = TokenFileWork(token_dir_); rc != 0) return rc;
    const Status forbid = ForbidAllFilesystem();
    KC_CHILD_EXPECT(forbid.ok() || forbid.code() == Err::kUnavailable);
    KC_CHILD_EXPECT(ApplySeccomp(Stage::kServing, SeccompOptions{pair[0]}).ok());
    return ServingWork(pair[0]);
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(LockdownTest, LockedStageStillBlocksFilesOutsideTokenDir) {
  if (LandlockAbi() == 0) GTEST_SKIP() << "kernel without Landlock";
  const std::vector<PathRule> rules = {{token_dir_, true, true}, {conf_, false, false}};
  const int status = RunInChild([&] {
    int pair[2];
    KC_CHILD_EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    KC_CHILD_EXPECT(HardenProcess().ok());
    KC_CHILD_EXPECT(RestrictFilesystem(rules).ok());
    KC_CHILD_EXPECT(ApplySeccomp(Stage::kLocked, SeccompOptions{pair[0]}).ok());
    // openat is allowed by seccomp in this stage; Landlock is what says no.
    KC_CHILD_EXPECT(open("/etc/passwd", O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

}  // namespace
}  // namespace keycell::sandbox

// Process hardening checks; each one runs in a forked child.
#include "sandbox/hardening.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/sandbox/sandbox_test_util.h"

namespace keycell::sandbox {
namespace {

using testing::RunInChild;

bool ChildSucceeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(HardeningTest, HardenProcessSetsDumpableCoreAndNoNewPrivs) {
  const int status = RunInChild([] {
    KC_CHILD_EXPECT(HardenProcess().ok());
    KC_CHILD_EXPECT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
    KC_CHILD_EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    rlimit core{};
    KC_CHILD_EXPECT(getrlimit(RLIMIT_CORE, &core) == 0);
    KC_CHILD_EXPECT(core.rlim_cur == 0 && core.rlim_max == 0);
    return 0;
  });
  EXPECT_TRUE(ChildSucceeded(status)) << "wait status " << status;
}

TEST(HardeningTest, LimitOpenFilesCapsBothLimits) {
  const int status = RunInChild([] {
    KC_CHILD_EXPECT(LimitOpenFiles(32).ok());
    rlimit nofile{};
    KC_CHILD_EXPECT(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
    KC_CHILD_EXPECT(nofile.rlim_cur == 32 && nofile.rlim_max == 32);
    // Never raises the hard limit back up.
    KC_CHILD_EXPECT(LimitOpenFiles(1024).ok());
    KC_CHILD_EXPECT(getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_max == 32);
    return 0;
  });
  EXPECT_TRUE(ChildSucceeded(status)) << "wait status " << status;
}

// Opens fds 3.. up to at least 12 so both gaps and the tail are exercised.
int CloseStrayFdsKeepsOnlyListed() {
  int last = -1;
  for (int i = 0; i < 10; ++i) last = open("/dev/null", O_RDONLY);
  KC_CHILD_EXPECT(last >= 12);
  const int keep[] = {5, 9, 5};
  KC_CHILD_EXPECT(CloseStrayFds(keep).ok());
  KC_CHILD_EXPECT(IsOpen(0) && IsOpen(1) && IsOpen(2) && IsOpen(5) && IsOpen(9));
  for (int fd : {3, 4, 6, 7, 8, 10, 11, 12}) KC_CHILD_EXPECT(!IsOpen(fd));
  return 0;
}

TEST(HardeningTest, CloseStrayFdsWithCloseRange) {
  const int status = RunInChild(CloseStrayFdsKeepsOnlyListed);
  EXPECT_TRUE(ChildSucceeded(status)) << "wait status " << status;
}

TEST(HardeningTest, CloseStrayFdsFallsBackToProcWalk) {
  const int status = RunInChild([] {
    // Pretend to be a pre-5.9 kernel: close_range fails with ENOSYS, all else allowed.
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    KC_CHILD_EXPECT(ctx != nullptr);
    KC_CHILD_EXPECT(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(close_range), 0) == 0);
    KC_CHILD_EXPECT(seccomp_load(ctx) == 0);
    seccomp_release(ctx);
    return CloseStrayFdsKeepsOnlyListed();
  });
  EXPECT_TRUE(ChildSucceeded(status)) << "wait status " << status;
}

TEST(HardeningTest, CloseStrayFdsRejectsNegativeFd) {
  const int keep[] = {-1};
  EXPECT_EQ(CloseStrayFds(keep).code(), Err::kInvalidArgument);  // fails before closing anything
}

TEST(HardeningTest, ShouldLockAllMemoryOnlyWhenFutureMapsFit) {
  EXPECT_FALSE(ShouldLockAllMemory(8u << 20, false));  // Debian default: dlopen would break
  EXPECT_FALSE(ShouldLockAllMemory(kMinMemlockForLockAllBytes - 1, false));
  EXPECT_TRUE(ShouldLockAllMemory(kMinMemlockForLockAllBytes, false));
  EXPECT_TRUE(ShouldLockAllMemory(RLIM_INFINITY, false));
  EXPECT_TRUE(ShouldLockAllMemory(8u << 20, true));  // CAP_IPC_LOCK: no limit applies
}

long VmLckKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmLck:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(HardeningTest, TryLockAllMemoryLocksWhenAllowed) {
  const int status = RunInChild([] {
    const bool locked = TryLockAllMemory();
    // Whether it locks depends on the runner (root / CAP_IPC_LOCK / limit); what must
    // hold is that the report matches reality.
    KC_CHILD_EXPECT(locked == (VmLckKb() > 0));
    return 0;
  });
  EXPECT_TRUE(ChildSucceeded(status)) << "wait status " << status;
}

TEST(HardeningTest, TryLockAllMemoryDeclinesUnderSmallLimitWithoutCap) {
  if (geteuid() == 0) GTEST_SKIP() << "root has CAP_IPC_LOCK; covered by the decision test";
  const int status = RunInChild([] {
    const rlimit small{8u << 20, 8u << 20};
    KC_CHILD_EXPECT(setrlimit(RLIMIT_MEMLOCK, &small) == 0);
    KC_CHILD_EXPECT(!TryLockAllMemory());
    KC_CHILD_EXPECT(VmLckKb() == 0);
    return 0;
  });
  EXPECT_TRUE(ChildSucceeded(status)) << "wait status " << status;
}

}  // namespace
}  // namespace keycell::sandbox

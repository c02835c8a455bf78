// Death tests for the seccomp policy: every child applies the real filter
// (ApplySeccomp), then makes one call. Deny classes follow sandbox2's numbered
// testcases: one forbidden call per test, in each stage where it is forbidden.
#include "sandbox/seccomp_policy.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "common/secure_buffer.h"
#include "tests/sandbox/sandbox_test_util.h"

namespace keycell::sandbox {
namespace {

using testing::ApplyOrExit;
using testing::KilledBySeccomp;
using testing::MakeControlFd;

constexpr int kNoSuchPid = 0x3ffffff0;  // above pid_max: calls fail harmlessly if allowed

// One forbidden call. It receives the control fd; if the filter lets it through the
// child exits 0 and the test fails.
struct ForbiddenCall {
  const char* name;
  void (*call)(int control_fd);
  bool in_locked;  // also forbidden in Stage::kLocked (always forbidden in kServing)
};

void DoSocket(int) { (void)socket(AF_INET, SOCK_STREAM, 0); }
void DoConnect(int) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  (void)connect(-1, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}
void DoBind(int) { (void)bind(-1, nullptr, 0); }
void DoListen(int) { (void)listen(-1, 1); }
void DoAccept(int) { (void)accept(-1, nullptr, nullptr); }
void DoExecve(int) {
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  (void)execve("/bin/true", argv, environ);
}
void DoExecveat(int) { (void)syscall(SYS_execveat, AT_FDCWD, "/bin/true", nullptr, nullptr, 0); }
void DoPtrace(int) { (void)ptrace(PTRACE_ATTACH, kNoSuchPid, nullptr, nullptr); }
void DoFork(int) {
  if (fork() == 0) _exit(0);
}
void DoKillParent(int) { (void)kill(getppid(), 0); }
void DoTgkillOtherSignal(int) { (void)syscall(SYS_tgkill, getpid(), getpid(), 0); }
void DoTgkillOtherPid(int) { (void)syscall(SYS_tgkill, kNoSuchPid, kNoSuchPid, SIGABRT); }
void DoProcessVmReadv(int) {
  (void)syscall(SYS_process_vm_readv, getppid(), nullptr, 0, nullptr, 0, 0);
}
void DoMount(int) { (void)syscall(SYS_mount, nullptr, nullptr, nullptr, 0, nullptr); }
void DoKeyctl(int) { (void)syscall(SYS_keyctl, 0, 0, 0, 0, 0); }
void DoBpf(int) { (void)syscall(SYS_bpf, 0, nullptr, 0); }
void DoUserfaultfd(int) { (void)syscall(SYS_userfaultfd, 0); }
void DoPerfEventOpen(int) { (void)syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0); }
void DoIoUringSetup(int) { (void)syscall(SYS_io_uring_setup, 0, nullptr); }
void DoLegacyOpen(int) { (void)syscall(SYS_open, "/etc/passwd", O_RDONLY); }
void DoMemfd(int) { (void)syscall(SYS_memfd_create, "x", 0); }
void DoMmapExec(int) {
  (void)mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
void DoMprotectExec(int) {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  (void)mprotect(p, 4096, PROT_READ | PROT_EXEC);
}
void DoMadviseDodump(int) {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  (void)madvise(p, 4096, MADV_DODUMP);
}
void DoSendtoAddressed(int control_fd) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  (void)sendto(control_fd, "x", 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
}
void DoGetsockoptIp(int control_fd) {
  int v = 0;
  socklen_t len = sizeof(v);
  (void)getsockopt(control_fd, IPPROTO_IP, IP_TTL, &v, &len);
}
void DoWritevStdout(int) {
  iovec iov{const_cast<char*>("x"), 1};
  (void)!writev(STDOUT_FILENO, &iov, 1);
}
void DoPrctlDumpable(int) { (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); }
void DoSigaction(int) { (void)signal(SIGUSR1, SIG_IGN); }
void DoIoctlOther(int control_fd) {
  int pending = 0;
  (void)ioctl(control_fd, FIONREAD, &pending);
}
void DoFcntlDupfd(int control_fd) { (void)fcntl(control_fd, F_DUPFD_CLOEXEC, 0); }
// Forbidden only once serving.
void DoOpenat(int) { (void)open("/etc/passwd", O_RDONLY); }
void DoStatPath(int) {
  struct stat st {};
  (void)stat("/", &st);
}
void DoUnlink(int) { (void)unlink("/nonexistent/keycell"); }
void DoFtruncate(int) { (void)!ftruncate(-1, 0); }
void DoGetdents(int) { (void)syscall(SYS_getdents64, -1, nullptr, 0); }
void DoFcntlLock(int control_fd) {
  struct flock lock {};
  (void)fcntl(control_fd, F_SETLK, &lock);
}
void DoLandlock(int) { (void)syscall(SYS_landlock_create_ruleset, nullptr, 0, 1); }
void DoStackFilter(int) { (void)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, nullptr); }
void DoPrctlNnp(int) { (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

constexpr ForbiddenCall kForbidden[] = {
    {"socket", DoSocket, true},
    {"connect", DoConnect, true},
    {"bind", DoBind, true},
    {"listen", DoListen, true},
    {"accept", DoAccept, true},
    {"execve", DoExecve, true},
    {"execveat", DoExecveat, true},
    {"ptrace", DoPtrace, true},
    {"fork", DoFork, true},
    {"kill_parent", DoKillParent, true},
    {"tgkill_signal0", DoTgkillOtherSignal, true},
    {"tgkill_other_pid", DoTgkillOtherPid, true},
    {"process_vm_readv", DoProcessVmReadv, true},
    {"mount", DoMount, true},
    {"keyctl", DoKeyctl, true},
    {"bpf", DoBpf, true},
    {"userfaultfd", DoUserfaultfd, true},
    {"perf_event_open", DoPerfEventOpen, true},
    {"io_uring_setup", DoIoUringSetup, true},
    {"legacy_open", DoLegacyOpen, true},
    {"memfd_create", DoMemfd, true},
    {"mmap_exec", DoMmapExec, true},
    {"mprotect_exec", DoMprotectExec, true},
    {"madvise_dodump", DoMadviseDodump, true},
    {"sendto_addressed", DoSendtoAddressed, true},
    {"getsockopt_ip_level", DoGetsockoptIp, true},
    {"writev_stdout", DoWritevStdout, true},
    {"prctl_dumpable", DoPrctlDumpable, true},
    {"rt_sigaction", DoSigaction, true},
    {"ioctl_fionread", DoIoctlOther, true},
    {"fcntl_dupfd", DoFcntlDupfd, true},
    {"openat", DoOpenat, false},
    {"stat_path", DoStatPath, false},
    {"unlink", DoUnlink, true},
    {"ftruncate", DoFtruncate, false},
    {"getdents64", DoGetdents, false},
    {"fcntl_setlk", DoFcntlLock, false},
    {"landlock_create_ruleset", DoLandlock, false},
    {"seccomp_stack_filter", DoStackFilter, false},
    {"prctl_no_new_privs", DoPrctlNnp, false},
};

struct DenyCase {
  ForbiddenCall call;
  Stage stage;
};
void PrintTo(const DenyCase& c, std::ostream* os) {
  *os << c.call.name << (c.stage == Stage::kLocked ? " (locked)" : " (serving)");
}

std::vector<DenyCase> AllDenyCases() {
  std::vector<DenyCase> cases;
  for (const ForbiddenCall& call : kForbidden) {
    if (call.in_locked) cases.push_back({call, Stage::kLocked});
    cases.push_back({call, Stage::kServing});
  }
  return cases;
}

std::string DenyCaseName(const ::testing::TestParamInfo<DenyCase>& info) {
  return std::string(info.param.stage == Stage::kLocked ? "Locked_" : "Serving_") +
         info.param.call.name;
}

class SeccompDenyTest : public ::testing::TestWithParam<DenyCase> {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_P(SeccompDenyTest, ForbiddenCallKillsChild) {
  const DenyCase& c = GetParam();
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        ApplyOrExit(c.stage, control_fd);
        c.call.call(control_fd);
        _exit(0);
      },
      KilledBySeccomp(), "");
}

INSTANTIATE_TEST_SUITE_P(AllStages, SeccompDenyTest, ::testing::ValuesIn(AllDenyCases()),
                         DenyCaseName);

// The stacked pair as the enclave loads it: serving on top of locked.
TEST(SeccompStackTest, ServingOnTopOfLockedKillsOpenat) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        (void)open("/etc/passwd", O_RDONLY);
        _exit(0);
      },
      KilledBySeccomp(), "");
}

// abort() (KC_CHECK) must still die of SIGABRT with its message, not of SIGSYS.
TEST(SeccompAllowTest, AbortStillRaisesSigabrt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        KC_CHECK(control_fd < 0);
      },
      ::testing::KilledBySignal(SIGABRT), "invariant violated");
}

// What the main serve loop does after unlock, under the serving filter (channel
// threads: seccomp_thread_test.cc).
// `pipe_fds` stands in for a handed-in .env destination (created before lockdown).
int ServeLoopOperations(int control_fd, const int pipe_fds[2]) {
  auto secret = SecureBuffer::Allocate(3 * 4096);  // mmap + madvise + mlock
  KC_CHILD_EXPECT(secret.ok());
  auto big = static_cast<char*>(std::malloc(1 << 20));  // mmap'ed chunk
  KC_CHILD_EXPECT(big != nullptr);
  big = static_cast<char*>(std::realloc(big, 2 << 20));  // mremap
  KC_CHILD_EXPECT(big != nullptr);
  std::free(big);
  pollfd p{control_fd, POLLOUT, 0};
  KC_CHILD_EXPECT(poll(&p, 1, 100) == 1);
  KC_CHILD_EXPECT(write(pipe_fds[1], "env", 3) == 3);
  char buf[3];
  KC_CHILD_EXPECT(read(pipe_fds[0], buf, 3) == 3);
  struct stat st {};
  KC_CHILD_EXPECT(fstat(pipe_fds[0], &st) == 0 && S_ISFIFO(st.st_mode));
  KC_CHILD_EXPECT(fcntl(pipe_fds[1], F_GETFL) == O_WRONLY);
  int type = 0;
  socklen_t len = sizeof(type);
  KC_CHILD_EXPECT(getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0);
  KC_CHILD_EXPECT(send(control_fd, "x", 1, MSG_NOSIGNAL) == 1);
  KC_CHILD_EXPECT(getrandom(buf, sizeof(buf), 0) == sizeof(buf));
  timespec ts{};
  KC_CHILD_EXPECT(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
  KC_CHILD_EXPECT(getpid() > 0);
  KC_CHILD_EXPECT(close(pipe_fds[0]) == 0 && close(pipe_fds[1]) == 0);
  return 0;
}

TEST(SeccompAllowTest, ServeLoopOperationsSurviveServingStage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        int pipe_fds[2];
        if (pipe2(pipe_fds, O_CLOEXEC) != 0) _exit(testing::kSetupFailedExit);
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        _exit(ServeLoopOperations(control_fd, pipe_fds));
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(SeccompApiTest, RejectsMissingControlFd) {
  // Built only, never loaded: safe in the test runner.
  EXPECT_EQ(ExportPfc(Stage::kServing, SeccompOptions{-1}).status().code(), Err::kInvalidArgument);
}

TEST(SeccompDebugTest, TrapHandlerNamesTheSyscall) {
  if (!SeccompDebugEnabled()) GTEST_SKIP() << "needs -DKEYCELL_SECCOMP_DEBUG=ON";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ApplyOrExit(Stage::kServing, MakeControlFd());
        (void)socket(AF_INET, SOCK_STREAM, 0);
        _exit(0);
      },
      ::testing::ExitedWithCode(159), "seccomp violation: syscall 41 \\(socket\\)");
}

}  // namespace
}  // namespace keycell::sandbox

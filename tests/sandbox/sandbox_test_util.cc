#include "tests/sandbox/sandbox_test_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace keycell::sandbox::testing {

std::function<bool(int)> KilledBySeccomp() {
  if (SeccompDebugEnabled()) return ::testing::ExitedWithCode(159);
  return ::testing::KilledBySignal(SIGSYS);
}

int MakeControlFd() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    std::perror("socketpair");
    _exit(kSetupFailedExit);
  }
  return pair[0];
}

void ApplyOrExit(Stage stage, int control_fd) {
  const Status s = ApplySeccomp(stage, SeccompOptions{control_fd});
  if (!s.ok()) {
    std::fprintf(stderr, "ApplySeccomp failed: %s (%d)\n", s.where(), s.detail());
    _exit(kSetupFailedExit);
  }
}

int RunInChild(const std::function<int()>& body) {
  std::fflush(nullptr);  // or buffered output would be written twice
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(body());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace keycell::sandbox::testing

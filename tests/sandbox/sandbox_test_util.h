#pragma once
// Helpers for tests that must run sandbox code in a child process: a filter or a
// Landlock domain is irreversible, so the test runner itself never applies one.

#include <cerrno>
#include <cstdio>
#include <functional>

#include "sandbox/seccomp_policy.h"

namespace keycell::sandbox::testing {

// Exit code of a child whose ApplySeccomp/Landlock call failed (so "not applied"
// can never pass as "killed" or as "allowed").
inline constexpr int kSetupFailedExit = 90;

// The matcher for "the filter killed the child": SIGSYS, or exit 159 with the debug
// handler of a KEYCELL_SECCOMP_DEBUG build.
std::function<bool(int)> KilledBySeccomp();

// In a child only: a connected AF_UNIX SOCK_STREAM pair; returns the end that plays
// the enclave's control socket (the other end stays open and leaks with the child).
int MakeControlFd();

// In a child only: ApplySeccomp(stage) or _exit(kSetupFailedExit) with a message.
void ApplyOrExit(Stage stage, int control_fd);

// Forks; the child runs `body` and _exits with its return value (never returns into
// gtest). Returns the wait status. Use for tests whose parent must see shared state
// (temp dirs) that a re-executed death-test child would not.
int RunInChild(const std::function<int()>& body);

// Child-side check: prints what failed (file:line, condition, errno) and fails the child.
#define KC_CHILD_EXPECT(cond)                                                                \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: child check failed: %s (errno %d)\n", __FILE__, __LINE__, \
                   #cond, errno);                                                            \
      return 1;                                                                              \
    }                                                                                        \
  } while (0)

}  // namespace keycell::sandbox::testing

#pragma once
// The enclave's seccomp-bpf policy: two allowlists, stacked, plus one small table of
// calls answered with an errno (clone3 -> ENOSYS) shared by both.
//
//   Stage::kLocked   loaded before the first request is served, while the token is
//                    still logged out. No exec, sockets, ptrace, fork (clone only with
//                    glibc's pthread_create flags: threads, never processes). File
//                    syscalls are admitted only because SoftHSM's C_Login /
//                    C_FindObjects / C_CopyObject re-read and rewrite its token files;
//                    Landlock (landlock.h) confines them to the token directory.
//   Stage::kServing  loaded on top once the KEK lives in a session object. No
//                    file-opening syscall at all. The kernel runs every loaded filter
//                    and the strictest verdict wins, so the serving filter alone
//                    decides what remains possible.
//
// Default action: SCMP_ACT_KILL_PROCESS (SIGSYS, no core: RLIMIT_CORE is 0); foreign
// architectures (i386 via int 0x80) are killed too. A build with the CMake option
// KEYCELL_SECCOMP_DEBUG traps instead: a SIGSYS handler writes
//   "keycell-enclave: seccomp violation: syscall N (name)"
// to fd 2 with write(2) only and _exit(159)s. Never ship it.
//
// The policy is written and measured for x86_64 (glibc 2.36: fstat() is newfstatat,
// poll() is poll, pthread_create tries clone3 and falls back to clone on ENOSYS);
// seccomp_policy.cc refuses to build for other architectures.
//
// Threads: the enclave starts its channel threads only after both filters (and both
// Landlock rulesets) are in place. A filter is inherited by every thread created after
// it is loaded, so each thread runs under both stacked filters and no TSYNC is needed.
//
// The rows, each with its reason, are in seccomp_policy.cc; docs/sandbox.md lists them
// and tests/sandbox/testdata/{locked,serving}.pfc pin the compiled filters.

#include <sched.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace keycell::sandbox {

enum class Stage { kLocked, kServing };

// The only clone() the filters admit: exactly the flags glibc 2.36's pthread_create
// passes (create_thread() in nptl/pthread_create.c; __clone_internal hands them to
// clone unchanged, exit signal 0, when clone3 answers ENOSYS). 0x3d0f00, measured with
// strace. fork(), vfork() and posix_spawn() use other flags and are killed.
inline constexpr uint64_t kPthreadCloneFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM |
                                               CLONE_SIGHAND | CLONE_THREAD | CLONE_SETTLS |
                                               CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

struct SeccompOptions {
  // The inherited control socket. Must be >= 0. No row pins an fd to it at present:
  // recvmsg/sendmsg admit any fd since proxy channels arrived (see seccomp_policy.cc).
  int control_fd = -1;
  // tgkill is admitted only as tgkill(self_pid, *, SIGABRT), i.e. abort(). 0 means
  // getpid() when the filter is built; set it only to make ExportPfc reproducible.
  pid_t self_pid = 0;
};

// One unconditionally allowed syscall. `why` is the reviewer's contract: who calls it
// and why the enclave cannot do without it.
struct SyscallRule {
  int nr;
  const char* why;
};

// A value compared against a syscall argument, either literal or filled in from
// SeccompOptions when the filter is built.
enum class Datum : uint8_t { kLiteral, kControlFd, kSelfPid };
enum class Cmp : uint8_t {
  kEq,        // arg == value
  kMaskedEq,  // (arg & mask) == value
};
struct ArgCheck {
  bool used = false;
  uint8_t arg = 0;  // argument index 0..5
  Cmp cmp = Cmp::kEq;
  Datum datum = Datum::kLiteral;
  uint64_t mask = 0;
  uint64_t value = 0;
};
// A syscall allowed only when all (up to two) checks hold. Several rows for the same
// syscall are alternatives (e.g. one row per allowed fcntl command).
struct ArgRule {
  int nr;
  ArgCheck checks[2];
  const char* why;
};

// A syscall that is not executed but fails with `err` (SCMP_ACT_ERRNO), for calls
// whose arguments BPF cannot inspect but whose caller has a fallback the filter can
// check (clone3 -> clone). `why` names the caller and its fallback.
struct ErrnoRule {
  int nr;
  int err;
  const char* why;
};

// The rows a stage's filter is built from (the shared rows plus that stage's own).
// For tests and docs; allocation is fine, these run before lockdown.
std::vector<SyscallRule> AllowRules(Stage stage);
std::vector<ArgRule> ArgRules(Stage stage);
std::vector<ErrnoRule> ErrnoRules(Stage stage);

// Builds the stage's filter and loads it (libseccomp sets NO_NEW_PRIVS first).
// Irreversible. kLocked first, then, after ForbidAllFilesystem(), kServing: the
// kLocked filter admits exactly the syscalls that loading a second filter needs.
// Err::kInvalidArgument: control_fd < 0. Err::kInternal (detail = -rc/errno): a
// libseccomp call failed; if seccomp_load itself failed nothing was loaded.
// Never blocks. Call it while the process has a single thread: a filter binds only the
// calling thread and the threads it creates afterwards (no TSYNC). The enclave starts
// its channel threads after ApplySeccomp(kServing), so they inherit both filters.
Status ApplySeccomp(Stage stage, const SeccompOptions& options);

// The stage's filter as libseccomp pseudo filter code (seccomp_export_pfc), loaded
// nowhere. For the golden files in tests/sandbox/testdata and for reviewers.
// Errors as for ApplySeccomp.
Result<std::string> ExportPfc(Stage stage, const SeccompOptions& options);

// True in a KEYCELL_SECCOMP_DEBUG build (violations trap and exit 159 instead of
// SIGSYS). Lets tests and the enclave's startup log tell the two apart.
bool SeccompDebugEnabled();

}  // namespace keycell::sandbox

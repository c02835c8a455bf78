#include "sandbox/seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iterator>
#include <memory>

#include "common/unique_fd.h"
#include "sandbox/seccomp_debug.h"

#if !defined(__x86_64__)
#error "the seccomp policy is written and measured for x86_64 only (poll, newfstatat, open...)"
#endif

namespace keycell::sandbox {
namespace {

struct ScmpRelease {
  void operator()(void* ctx) const noexcept { seccomp_release(ctx); }
};
using ScmpFilter = std::unique_ptr<void, ScmpRelease>;  // scmp_filter_ctx is void*

// libseccomp returns -errno (the real one: SCMP_FLTATR_API_SYSRAWRC is set below).
Status CheckScmp(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  return Status(Err::kInternal, what, rc < 0 ? -rc : rc);
}

// glibc-internal signal (nptl/pthreadP.h: __SIGRTMIN + 1) whose handler
// pthread_create installs once per process (setuid and friends across threads).
constexpr int kGlibcSigSetxid = __SIGRTMIN + 1;

constexpr ArgCheck Eq(uint8_t arg, uint64_t value) {
  return {true, arg, Cmp::kEq, Datum::kLiteral, 0, value};
}
constexpr ArgCheck EqDatum(uint8_t arg, Datum datum) { return {true, arg, Cmp::kEq, datum, 0, 0}; }
constexpr ArgCheck BitsClear(uint8_t arg, uint64_t bits) {
  return {true, arg, Cmp::kMaskedEq, Datum::kLiteral, bits, 0};
}
constexpr ArgCheck BitsSet(uint8_t arg, uint64_t bits) {
  return {true, arg, Cmp::kMaskedEq, Datum::kLiteral, bits, bits};
}

// ---- Both stages: what the serve loop and its channel threads need. Channel threads
// start only after both filters are loaded, so they run under both: everything a
// thread needs must be here, in the shared rows. ----
constexpr SyscallRule kCommonAllow[] = {
    {SCMP_SYS(read), "handed-in fds; SoftHSM token files in stage 1"},
    {SCMP_SYS(write),
     "logs to fd 2 and .env content to handed-in files/pipes; the fd arrives by "
     "SCM_RIGHTS so its number cannot be pinned (Landlock/broker decide what it is)"},
    {SCMP_SYS(close), "drop handed-in fds; SoftHSM closes token files"},
    {SCMP_SYS(lseek),
     "dprintf()/fdopen() probe the offset (lseek(fd, 0, SEEK_CUR)) when logging; SoftHSM "
     "rewinds token files in stage 1"},
    {SCMP_SYS(poll), "IPC and BIO deadlines (framing.cc); glibc poll() on x86_64"},
    {SCMP_SYS(ppoll), "deadline helpers written with ppoll(); select() deliberately absent"},
    {SCMP_SYS(recvfrom), "recv() on handed-in TLS upstream sockets"},
    {SCMP_SYS(recvmsg),
     "frames + SCM_RIGHTS (framing.cc) on the control socket and on proxy channel "
     "socketpairs. Any fd: channel fds arrive by SCM_RIGHTS with unpredictable numbers, and "
     "the enclave can create no socket (socket/socketpair/connect/accept are absent), so "
     "every socket it holds was handed in by the broker: the control socket, channel "
     "socketpairs, upstream TCP sockets it already reads with recvfrom"},
    {SCMP_SYS(sendmsg),
     "frames + SCM_RIGHTS on the control socket and on proxy channels. Any fd, as recvmsg: "
     "every socket the enclave holds was handed in by the broker (it already sends on "
     "upstream TCP sockets with sendto)"},
    {SCMP_SYS(brk), "malloc (main arena)"},
    {SCMP_SYS(munmap),
     "free of large chunks; SecureBuffer release; thread stacks beyond glibc's stack cache"},
    {SCMP_SYS(mremap), "glibc realloc of mmap'ed chunks; cannot change protection"},
    {SCMP_SYS(mlock), "SecureBuffer pins secret pages"},
    {SCMP_SYS(munlock), "SecureBuffer release"},
    {SCMP_SYS(futex),
     "libstdc++/OpenSSL/malloc locks shared with channel threads, exit handlers; "
     "pthread_join waits on the thread's tid (CLONE_CHILD_CLEARTID wakes it)"},
    {SCMP_SYS(getrandom), "mbedTLS entropy (CTR_DRBG reseed every 10k calls), OpenSSL RNG"},
    {SCMP_SYS(clock_gettime), "vDSO fallback; CPU-time clocks are real syscalls"},
    {SCMP_SYS(gettimeofday), "vDSO fallback (mbedTLS time checks)"},
    {SCMP_SYS(getpid), "SoftHSM/OpenSSL fork checks: 3x per C_Decrypt; abort()"},
    {SCMP_SYS(gettid), "abort(): raise() targets the calling thread"},
    {SCMP_SYS(rt_sigprocmask),
     "abort() unblocks SIGABRT; signal-safe sections in glibc; pthread_create blocks all "
     "signals around clone and the new thread restores its mask, as does thread exit"},
    {SCMP_SYS(rt_sigreturn), "return from a signal handler"},
    {SCMP_SYS(restart_syscall), "kernel restarts an interrupted poll"},
    {SCMP_SYS(exit), "thread exit: start_thread() ends every channel thread with exit(0)"},
    {SCMP_SYS(set_robust_list),
     "glibc start_thread() registers each new thread's robust mutex list"},
    {SCMP_SYS(rseq), "glibc start_thread() registers each new thread's restartable sequences area"},
    {SCMP_SYS(exit_group), "normal exit and Fatal() -> _exit"},
};

constexpr ArgRule kCommonArgs[] = {
    {SCMP_SYS(clone),
     {Eq(0, kPthreadCloneFlags)},
     "pthread_create (channel threads): exactly glibc 2.36's thread flags, exit signal 0; "
     "fork/vfork/posix_spawn pass other flags and are killed"},
    {SCMP_SYS(rt_sigaction),
     {Eq(0, kGlibcSigSetxid)},
     "the process's first pthread_create (glibc late_init) installs glibc's internal "
     "SIGSETXID handler; that signal only: no handler for any other signal"},
    {SCMP_SYS(sendto),
     {Eq(4, 0)},
     "send() on handed-in TLS sockets; dest_addr must be NULL: no addressed datagrams"},
    {SCMP_SYS(getsockopt), {Eq(1, SOL_SOCKET)}, "SO_TYPE/SO_ERROR checks of handed-in sockets"},
    {SCMP_SYS(writev),
     {Eq(0, STDERR_FILENO)},
     "glibc fatal messages (malloc corruption, stack smashing) to fd 2 before abort()"},
    {SCMP_SYS(mmap),
     {BitsClear(2, PROT_EXEC)},
     "malloc > 128 KiB, SecureBuffer, thread stacks (PROT_NONE, then mprotect); never executable"},
    {SCMP_SYS(mprotect),
     {BitsClear(2, PROT_EXEC)},
     "malloc heap growth; a new thread stack minus its guard page; never executable"},
    {SCMP_SYS(madvise), {Eq(2, MADV_DONTDUMP)}, "SecureBuffer: keep secrets out of core dumps"},
    {SCMP_SYS(madvise), {Eq(2, MADV_WIPEONFORK)}, "SecureBuffer: a child would see zeros"},
    {SCMP_SYS(madvise),
     {Eq(2, MADV_DONTNEED)},
     "malloc trimming; an exiting thread releases its stack pages (glibc advise_stack_range)"},
    {SCMP_SYS(tgkill),
     {EqDatum(0, Datum::kSelfPid), Eq(2, SIGABRT)},
     "abort() raises SIGABRT on itself (KC_CHECK); any other target or signal is killed"},
    {SCMP_SYS(ioctl),
     {Eq(1, TCGETS)},
     "glibc isatty() when a FILE is first used (dprintf, stdout); the only ioctl: no TIOCSTI"},
    {SCMP_SYS(fcntl), {Eq(1, F_GETFL)}, "access-mode check of handed-in fds; SoftHSM"},
    {SCMP_SYS(fcntl), {Eq(1, F_GETFD)}, "close-on-exec check of handed-in fds"},
};

// ---- Both stages: calls answered with an error instead of being executed. ----
constexpr ErrnoRule kCommonErrno[] = {
    {SCMP_SYS(clone3), ENOSYS,
     "pthread_create tries clone3 first; its flags live in a struct BPF cannot read, so "
     "it gets ENOSYS and glibc falls back to clone, whose flags the clone row checks"},
};

// ---- Stage kLocked only: SoftHSM token files at C_Login/C_FindObjects/C_CopyObject,
// and the transition to the serving stage. ----
constexpr SyscallRule kLockedAllow[] = {
    {SCMP_SYS(openat), "SoftHSM opens generation/token.object/<uuid>.object (Landlock: token dir)"},
    {SCMP_SYS(newfstatat), "SoftHSM stats token files by path and by fd"},
    {SCMP_SYS(getdents64), "SoftHSM lists the token directory to refresh its object cache"},
    {SCMP_SYS(ftruncate), "SoftHSM truncates token.object when it rewrites it at C_Login"},
    {SCMP_SYS(landlock_create_ruleset), "ForbidAllFilesystem(): ABI probe and the empty ruleset"},
    {SCMP_SYS(landlock_restrict_self), "ForbidAllFilesystem(): can only narrow access"},
};

constexpr ArgRule kLockedArgs[] = {
    {SCMP_SYS(fcntl), {Eq(1, F_SETLK)}, "SoftHSM unlocks token files (POSIX record locks)"},
    {SCMP_SYS(fcntl), {Eq(1, F_SETLKW)}, "SoftHSM read/write-locks token files"},
    {SCMP_SYS(prctl),
     {Eq(0, PR_SET_NO_NEW_PRIVS), Eq(1, 1)},
     "libseccomp and Landlock set NO_NEW_PRIVS again when stacking stage 2 (idempotent)"},
    {SCMP_SYS(seccomp),
     {Eq(0, SECCOMP_SET_MODE_FILTER)},
     "loads the stacked serving filter; a new filter can only narrow what is allowed"},
};

// ---- Stage kServing only. ----
constexpr ArgRule kServingArgs[] = {
    {SCMP_SYS(newfstatat),
     {BitsSet(3, AT_EMPTY_PATH)},
     "glibc fstat(fd) == newfstatat(fd, \"\", AT_EMPTY_PATH): S_ISSOCK/S_ISREG checks"},
};

// ---- Sanitizer builds only (KEYCELL_SANITIZE): what the ASan/UBSan runtime itself
// calls while the enclave serves. Never present in a release build. ----
#if defined(__SANITIZE_ADDRESS__)
constexpr SyscallRule kSanitizerAllow[] = {
    {SCMP_SYS(pipe2), "ASan runtime: IsAccessibleMemoryRange() probes memory through a pipe"},
    {SCMP_SYS(sigaltstack), "ASan runtime: alternate stack for its own signal handlers"},
};
constexpr ArgRule kSanitizerArgs[] = {
    {SCMP_SYS(madvise), {Eq(2, MADV_NOHUGEPAGE)}, "ASan allocator: shadow pages without huge pages"},
};
#endif

template <class T, size_t N, size_t M>
std::vector<T> Concat(const T (&a)[N], const T (&b)[M]) {
  std::vector<T> out(std::begin(a), std::end(a));
  out.insert(out.end(), std::begin(b), std::end(b));
  return out;
}

uint32_t DefaultAction() { return SeccompDebugEnabled() ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS; }

scmp_arg_cmp ToScmp(const ArgCheck& check, const SeccompOptions& options) {
  scmp_datum_t value = check.value;
  if (check.datum == Datum::kControlFd) value = static_cast<scmp_datum_t>(options.control_fd);
  if (check.datum == Datum::kSelfPid) value = static_cast<scmp_datum_t>(options.self_pid);
  if (check.cmp == Cmp::kMaskedEq) return {check.arg, SCMP_CMP_MASKED_EQ, check.mask, value};
  return {check.arg, SCMP_CMP_EQ, value, 0};
}

Status AddArgRule(void* ctx, const ArgRule& rule, const SeccompOptions& options) {
  scmp_arg_cmp cmps[std::size(rule.checks)];
  unsigned count = 0;
  for (const ArgCheck& check : rule.checks) {
    if (check.used) cmps[count++] = ToScmp(check, options);
  }
  return CheckScmp(seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, rule.nr, count, cmps),
                   "seccomp_rule_add_array");
}

Result<ScmpFilter> BuildFilter(Stage stage, SeccompOptions options) {
  if (options.control_fd < 0) return Status(Err::kInvalidArgument, "seccomp: control fd");
  if (options.self_pid == 0) options.self_pid = getpid();
  ScmpFilter ctx(seccomp_init(DefaultAction()));
  if (!ctx) return Status(Err::kNoMem, "seccomp_init");
  KC_RETURN_IF_ERROR(
      CheckScmp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1), "seccomp SYSRAWRC"));
  // A syscall made through another ABI (i386 int 0x80) must not bypass the x86_64 rules.
  KC_RETURN_IF_ERROR(
      CheckScmp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                "seccomp BADARCH"));
  for (const SyscallRule& rule : AllowRules(stage)) {
    KC_RETURN_IF_ERROR(
        CheckScmp(seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, rule.nr, 0), "seccomp_rule_add"));
  }
  for (const ArgRule& rule : ArgRules(stage)) {
    KC_RETURN_IF_ERROR(AddArgRule(ctx.get(), rule, options));
  }
  for (const ErrnoRule& rule : ErrnoRules(stage)) {
    KC_RETURN_IF_ERROR(CheckScmp(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(rule.err), rule.nr, 0),
                                 "seccomp_rule_add errno"));
  }
  return ctx;
}

Result<std::string> ReadAll(int fd) {
  if (lseek(fd, 0, SEEK_SET) != 0) return Status(Err::kInternal, "pfc lseek", errno);
  std::string out;
  char chunk[4096];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n == 0) return out;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(Err::kInternal, "pfc read", errno);
    out.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

std::vector<SyscallRule> AllowRules(Stage stage) {
  std::vector<SyscallRule> rules = stage == Stage::kLocked
                                       ? Concat(kCommonAllow, kLockedAllow)
                                       : std::vector<SyscallRule>(std::begin(kCommonAllow), std::end(kCommonAllow));
#if defined(__SANITIZE_ADDRESS__)
  rules.insert(rules.end(), std::begin(kSanitizerAllow), std::end(kSanitizerAllow));
#endif
  return rules;
}

std::vector<ArgRule> ArgRules(Stage stage) {
  std::vector<ArgRule> rules =
      stage == Stage::kLocked ? Concat(kCommonArgs, kLockedArgs) : Concat(kCommonArgs, kServingArgs);
#if defined(__SANITIZE_ADDRESS__)
  rules.insert(rules.end(), std::begin(kSanitizerArgs), std::end(kSanitizerArgs));
#endif
  return rules;
}

std::vector<ErrnoRule> ErrnoRules(Stage) {
  return std::vector<ErrnoRule>(std::begin(kCommonErrno), std::end(kCommonErrno));
}

Status ApplySeccomp(Stage stage, const SeccompOptions& options) {
  KC_ASSIGN_OR_RETURN(ScmpFilter ctx, BuildFilter(stage, options));
  if (SeccompDebugEnabled()) KC_RETURN_IF_ERROR(InstallSeccompDebugHandler());
  return CheckScmp(seccomp_load(ctx.get()), "seccomp_load");
}

Result<std::string> ExportPfc(Stage stage, const SeccompOptions& options) {
  KC_ASSIGN_OR_RETURN(ScmpFilter ctx, BuildFilter(stage, options));
  UniqueFd fd(memfd_create("keycell-pfc", MFD_CLOEXEC));
  if (!fd) return Status(Err::kInternal, "pfc memfd_create", errno);
  KC_RETURN_IF_ERROR(CheckScmp(seccomp_export_pfc(ctx.get(), fd.get()), "seccomp_export_pfc"));
  return ReadAll(fd.get());
}

}  // namespace keycell::sandbox

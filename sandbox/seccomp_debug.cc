#include "sandbox/seccomp_debug.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/seccomp_policy.h"

namespace keycell::sandbox {

bool SeccompDebugEnabled() {
#ifdef KEYCELL_SECCOMP_DEBUG
  return true;
#else
  return false;
#endif
}

#ifdef KEYCELL_SECCOMP_DEBUG
namespace {

constexpr int kDebugExitCode = 159;  // 128 + SIGSYS(31): "died of a seccomp violation"
constexpr int kMaxSyscallNr = 512;   // x86_64 numbers stay below this
constexpr size_t kMaxNameLen = 32;
char g_names[kMaxSyscallNr][kMaxNameLen];
bool g_installed = false;

void Append(char* buf, size_t cap, size_t* len, const char* s) {
  while (*s != '\0' && *len + 1 < cap) buf[(*len)++] = *s++;
}

void AppendNumber(char* buf, size_t cap, size_t* len, int n) {
  char digits[16];
  size_t d = 0;
  unsigned v = n < 0 ? 0u - static_cast<unsigned>(n) : static_cast<unsigned>(n);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (n < 0) Append(buf, cap, len, "-");
  while (d > 0 && *len + 1 < cap) buf[(*len)++] = digits[--d];
}

// Async-signal-safe: fixed buffers, write(2), _exit(2). Both survive every stage.
void OnSigsys(int, siginfo_t* info, void*) {
  char line[128];
  size_t len = 0;
  const int nr = info->si_syscall;
  Append(line, sizeof(line), &len, "keycell-enclave: seccomp violation: syscall ");
  AppendNumber(line, sizeof(line), &len, nr);
  Append(line, sizeof(line), &len, " (");
  Append(line, sizeof(line), &len,
         nr >= 0 && nr < kMaxSyscallNr && g_names[nr][0] != '\0' ? g_names[nr] : "?");
  Append(line, sizeof(line), &len, ")\n");
  (void)!write(STDERR_FILENO, line, len);
  _exit(kDebugExitCode);
}

void ResolveNames() {
  for (int nr = 0; nr < kMaxSyscallNr; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == nullptr) continue;
    strncpy(g_names[nr], name, kMaxNameLen - 1);
    free(name);
  }
}

}  // namespace

Status InstallSeccompDebugHandler() {
  // The second stage runs under the first filter, which does not admit rt_sigaction.
  if (g_installed) return Status::Ok();
  ResolveNames();
  struct sigaction sa {};
  sa.sa_sigaction = OnSigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, nullptr) != 0)
    return Status(Err::kInternal, "sigaction SIGSYS", errno);
  // A blocked SIGSYS would make the kernel force the default action (kill) instead.
  sigset_t sigsys;
  sigemptyset(&sigsys);
  sigaddset(&sigsys, SIGSYS);
  if (sigprocmask(SIG_UNBLOCK, &sigsys, nullptr) != 0) {
    return Status(Err::kInternal, "sigprocmask SIGSYS", errno);
  }
  g_installed = true;
  return Status::Ok();
}
#else
Status InstallSeccompDebugHandler() { return Status::Ok(); }
#endif

}  // namespace keycell::sandbox

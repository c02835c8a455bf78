#pragma once
// Process-level hardening for the enclave, applied before any secret exists
// (STYLE.md §3.5). Order in enclave/main.cc:
//   HardenProcess() -> CloseStrayFds() -> LimitOpenFiles() -> TryLockAllMemory()
//   -> Landlock -> seccomp
// None of these block. None is thread-safe with respect to concurrent fd creation:
// the enclave calls them while it still has a single thread (its channel threads start
// only after both seccomp filters are loaded).

#include <sys/resource.h>

#include <cstddef>
#include <span>

#include "common/result.h"

namespace keycell::sandbox {

// PR_SET_DUMPABLE 0 (no ptrace attach and no /proc/<pid>/mem from same-uid processes,
// as OpenSSH's platform_disable_tracing), RLIMIT_CORE 0 (no core file with secrets),
// PR_SET_NO_NEW_PRIVS 1 (needed by Landlock and seccomp; no setuid gain via exec).
// Err::kInternal with detail = errno naming the step that failed.
Status HardenProcess();

// Sets RLIMIT_NOFILE soft and hard limits to `max` (never raises the hard limit:
// if it is already below `max` both limits become the current hard limit). The enclave
// holds the control socket plus one handed-in fd at a time, so a small cap limits what
// a hostile broker can make it hold. Err::kInternal (errno) on failure.
Status LimitOpenFiles(rlim_t max);

// Closes every descriptor except 0, 1, 2 and `keep` (duplicates allowed, order free).
// Uses close_range(2) and falls back to walking /proc/self/fd when the kernel lacks it.
// Err::kInvalidArgument if `keep` holds a negative fd; Err::kInternal (errno) if
// neither method works. Must run before Landlock (the fallback opens /proc).
Status CloseStrayFds(std::span<const int> keep);

// RLIMIT_MEMLOCK soft limit at which mlockall(MCL_FUTURE) is safe to attempt: the
// enclave's mapped size is about 13 MB (SoftHSM + OpenSSL + mbedTLS), and with
// MCL_FUTURE every later mmap() must fit under the limit or fail with ENOMEM / make
// dlopen() fail ("failed to map segment"), as measured with Debian's 8 MiB default.
inline constexpr rlim_t kMinMemlockForLockAllBytes = rlim_t{256} << 20;

// The decision TryLockAllMemory() makes, separated so it can be unit-tested:
// lock everything only if the limit is unlimited, >= kMinMemlockForLockAllBytes, or
// the process has CAP_IPC_LOCK in its effective set (the limit does not apply then).
bool ShouldLockAllMemory(rlim_t memlock_soft_limit, bool has_cap_ipc_lock);

// mlockall(MCL_CURRENT | MCL_FUTURE) when ShouldLockAllMemory() says it is safe.
// Returns whether memory is now locked. When it is not, secrets are still protected
// page by page: SecureBuffer mlock()s its own pages. Never fails the caller.
bool TryLockAllMemory();

// mallopt(M_ARENA_MAX, 1): every thread then allocates from glibc's main arena, which
// grows and shrinks with brk/mmap/munmap/madvise only. Required before the enclave
// starts its first channel thread (before or after the filters: mallopt makes no
// syscall). Without it glibc 2.36 malloc opens files from a channel thread, which
// the serving filter kills (measured in the debug build, "syscall 257 (openat)"):
//   - trimming a per-thread arena (shrink_heap, when a free leaves >= 128 KiB on top)
//     reads /proc/sys/vm/overcommit_memory the first time;
//   - the 9th arena (more than 8 threads allocating at once) reads
//     /sys/devices/system/cpu/online (__get_nprocs) to size the arena limit.
// The cost: all threads share one malloc lock (futex), fine for a handful of channels.
// Err::kInternal if mallopt refuses. Ok without doing anything in sanitizer builds,
// whose allocator replaces glibc's.
Status UseSingleMallocArena();

}  // namespace keycell::sandbox

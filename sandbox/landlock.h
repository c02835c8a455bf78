#pragma once
// Landlock: unprivileged filesystem (and, from ABI 4, TCP) confinement.
//
// seccomp cannot look at paths, so it admits `openat` while SoftHSM still needs its
// token files; Landlock is what keeps those opens inside the token directory. The
// enclave applies two rulesets, and Landlock only ever intersects them:
//   stage "locked":  RestrictFilesystem({token dir rw, softhsm2.conf ro})
//   stage "serving": ForbidAllFilesystem()  -> no path can be opened at all
// Already-open descriptors (the control socket, fds received with SCM_RIGHTS) are not
// affected: Landlock checks access when a path is opened, not when an fd is used.
//
// Best effort by ABI (the kernel's version, not the 6.1 uapi header Debian 12 ships,
// which stops at ABI 2; the constants are defined in landlock.cc):
//   ABI 1-3  filesystem rights (TRUNCATE from ABI 3)
//   ABI 4    TCP bind/connect denied (no net rules are ever added)
//   ABI 5    ioctl on device files denied
//   ABI 6    signals and abstract unix sockets scoped to the sandbox
// A kernel without Landlock makes both functions return Err::kUnavailable so the
// caller can log "landlock unavailable, continuing with seccomp only" and go on;
// every other error means the sandbox was NOT applied and the caller must stop.
//
// Both functions set PR_SET_NO_NEW_PRIVS themselves (Landlock requires it without
// CAP_SYS_ADMIN; it is idempotent and HardenProcess() has normally set it already).
// They are not thread-safe with respect to other threads: Landlock restricts only the
// calling thread and the threads and children it creates afterwards. The enclave calls
// both while it still has a single thread; its channel threads start only after
// ForbidAllFilesystem() (and the serving seccomp filter), so they inherit both rulesets.

#include <span>
#include <string>

#include "common/result.h"

namespace keycell::sandbox {

// The Landlock ABI version of the running kernel (7 on the 6.18 dev VMs), or 0 if
// Landlock is not built in or disabled at boot. Never blocks; one syscall.
int LandlockAbi();

// One path that stays reachable after RestrictFilesystem().
//   is_dir && writable:  read files, list, write, create and delete regular files,
//                        truncate (what SoftHSM needs in its token directory at login)
//   is_dir && !writable: read files and list the directory
//   !is_dir && writable: read, write and truncate that one file
//   !is_dir && !writable: read that one file (softhsm2.conf)
// Nothing else is ever granted: no execute, no mkdir, no devices, fifos, sockets,
// symlinks, and no cross-directory rename/link (REFER).
struct PathRule {
  std::string path;
  bool writable = false;
  bool is_dir = false;
};

// Stage 1: after this call the process (and any child) can open only what `rules`
// lists, cannot bind or connect TCP sockets (ABI >= 4), and cannot signal or reach
// abstract unix sockets outside its domain (ABI >= 6).
// Every path is opened (O_PATH) before anything is enforced, so a missing path or an
// is_dir mismatch fails with Err::kInvalidArgument (detail = errno) and leaves the
// process unrestricted. Err::kUnavailable: kernel without Landlock (nothing applied).
// Err::kInternal (detail = errno): a Landlock syscall failed; nothing enforced.
// Must run before the stage-1 seccomp filter (which does not admit landlock_add_rule).
Status RestrictFilesystem(std::span<const PathRule> rules);

// Stage 2: a ruleset that handles every filesystem right and grants none, stacked on
// whatever is already enforced. Afterwards no path can be opened, created, removed,
// renamed or truncated. Errors as for RestrictFilesystem (no kInvalidArgument).
// Runs under the stage-1 seccomp filter (which admits landlock_create_ruleset and
// landlock_restrict_self) and must come before ApplySeccomp(Stage::kServing).
Status ForbidAllFilesystem();

}  // namespace keycell::sandbox

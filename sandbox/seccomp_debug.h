#pragma once
// Internal to kc_sandbox: the KEYCELL_SECCOMP_DEBUG trap handler (STYLE.md §3.7,
// cf. OpenSSH's SANDBOX_SECCOMP_FILTER_DEBUG). Not part of the public API.

#include "common/result.h"

namespace keycell::sandbox {

// Installs (once per process) a SIGSYS handler that writes
//   "keycell-enclave: seccomp violation: syscall N (name)\n"
// to fd 2 using write(2) only, then _exit(159). Syscall names are resolved now, before
// the filter is loaded, because the handler may not allocate. Err::kInternal (errno)
// if sigaction fails. In a release build it does nothing and returns Ok.
Status InstallSeccompDebugHandler();

}  // namespace keycell::sandbox

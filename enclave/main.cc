// keycell-enclave: holds the token session and does the operations that need a
// credential's plaintext. Started by keycelld over a socketpair; never by a human.
//
// The order below is fixed; each step needs the one before it:
//   parse argv → harden (no dumps, no ptrace, no new privileges) → close stray fds →
//   load the PKCS#11 module and open a session (dlopen and C_Initialize read files) →
//   load the upstream CA certificates and the TLS config (files, /etc/localtime) →
//   lock memory → cap open files → Landlock stage 1 (token dir + module config only)
//   → seccomp stage 1 (no exec, no sockets) → serve.
// After a successful Unlock: Landlock stage 2 (no files at all) → seccomp stage 2; only
// then may OpenChannel start proxy channel threads, which inherit both.

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "enclave/channel/channel.h"
#include "enclave/enclave_state.h"
#include "enclave/pkcs11_token.h"
#include "enclave/serialized_token.h"
#include "enclave/serve.h"
#include "enclave/tls/tls_client_config.h"
#include "enclave/tls/trust_store.h"
#include "sandbox/hardening.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp_policy.h"

namespace keycell::enclave {
namespace {

// The control socket, token files before unlock, one fd per proxy channel, and the
// upstream sockets: in flight (one per channel) and idle in the pool.
constexpr rlim_t kMaxOpenFiles = 8 + 2 * channel::kMaxChannels + 64;

struct Options {
  int control_fd = -1;
  std::string module = KEYCELL_PKCS11_MODULE;
  std::string token_label = "keycell";
  std::vector<sandbox::PathRule> paths;
  std::string system_ca = tls::kSystemCaBundle;
  std::string extra_ca;
};

void Usage() {
  fputs(
      "usage: keycell-enclave --control-fd N [--module PATH] [--token LABEL]\n"
      "                       [--token-dir DIR]... [--read-file FILE]...\n"
      "                       [--system-ca FILE|none] [--extra-ca FILE]\n"
      "Started by keycelld; not meant to be run by hand. The token PIN is never an\n"
      "argument: it arrives in an Unlock request or on an fd handed over with it.\n"
      "  --control-fd N   inherited Unix stream socket to the broker\n"
      "  --module PATH    PKCS#11 module (default " KEYCELL_PKCS11_MODULE ")\n"
      "  --token LABEL    token label (default keycell)\n"
      "  --token-dir DIR  directory the module may read and write until unlock\n"
      "  --read-file FILE file the module may read until unlock (e.g. softhsm2.conf)\n"
      "  --system-ca FILE CA bundle for upstream TLS (default: Debian's; none: no bundle)\n"
      "  --extra-ca FILE  extra CA certificates (PEM) to trust, e.g. tls.extra_ca_file\n",
      stderr);
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (a == "--control-fd") o->control_fd = atoi(v);
    else if (a == "--module") o->module = v;
    else if (a == "--token") o->token_label = v;
    else if (a == "--token-dir") o->paths.push_back({v, true, true});
    else if (a == "--read-file") o->paths.push_back({v, false, false});
    else if (a == "--system-ca") o->system_ca = std::string(v) == "none" ? "" : v;
    else if (a == "--extra-ca") o->extra_ca = v;
    else return false;
  }
  return o->control_fd > 2;
}

bool IsStreamSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

int Die(const char* step, const Status& st) {
  fprintf(stderr, "keycell-enclave: %s: %s (%s, detail %d)\n", step, st.where(), ErrName(st.code()),
          st.detail());
  return 1;
}

Status TightenAfterUnlock(EnclaveState* state, int control_fd) {
  const Status ll = sandbox::ForbidAllFilesystem();
  if (!ll.ok() && ll.code() != Err::kUnavailable) return ll;
  KC_RETURN_IF_ERROR(sandbox::ApplySeccomp(sandbox::Stage::kServing, {.control_fd = control_fd}));
  state->set_sandbox_stage(2);
  return Status::Ok();
}

int Run(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    Usage();
    return 64;
  }
  if (!IsStreamSocket(opt.control_fd)) {
    fprintf(stderr, "keycell-enclave: --control-fd %d is not a stream socket\n", opt.control_fd);
    return 64;
  }
  // A reader that went away (a closed pipe from WriteEnv/Reveal) must be an error
  // reply, not a SIGPIPE that kills the unlocked enclave.
  signal(SIGPIPE, SIG_IGN);
  if (Status st = sandbox::HardenProcess(); !st.ok()) return Die("harden", st);
  // Channel threads must allocate from the main arena: a per-thread arena makes glibc
  // read /proc and /sys files, which the serving filter kills (docs/sandbox.md §4.7).
  if (Status st = sandbox::UseSingleMallocArena(); !st.ok()) return Die("malloc arena", st);
  const int keep[] = {opt.control_fd};
  if (Status st = sandbox::CloseStrayFds(keep); !st.ok()) return Die("close fds", st);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);  // a closed stdin
  if (devnull >= 0 && devnull != 0) {
    dup2(devnull, 0);
    close(devnull);
  }

  auto token = Pkcs11Token::Open(opt.module.c_str(), opt.token_label);
  if (!token.ok()) return Die("open token", token.status());
  // Files are readable only now. Without a usable CA the vault still works; https
  // proxying is then refused with a clear error.
  auto trust = tls::TrustStore::Load({.system_bundle = opt.system_ca, .extra_ca_file = opt.extra_ca});
  if (!trust.ok())
    fprintf(stderr, "keycell-enclave: warning: no upstream TLS: %s (detail %d)\n", trust.status().where(),
            trust.status().detail());
  auto tls_config = trust.ok() ? tls::TlsClientConfig::Create(**trust)
                               : Result<std::unique_ptr<tls::TlsClientConfig>>(trust.status());
  if (trust.ok() && !tls_config.ok()) return Die("tls config", tls_config.status());

  const bool memory_locked = sandbox::TryLockAllMemory();
  if (Status st = sandbox::LimitOpenFiles(kMaxOpenFiles); !st.ok()) return Die("rlimit", st);
  const Status ll = sandbox::RestrictFilesystem(opt.paths);
  if (!ll.ok() && ll.code() != Err::kUnavailable) return Die("landlock", ll);
  if (Status st = sandbox::ApplySeccomp(sandbox::Stage::kLocked, {.control_fd = opt.control_fd}); !st.ok())
    return Die("seccomp", st);
  // Only what an operator must act on: secrets then rely on per-buffer mlock, and
  // file confinement on seccomp alone.
  if (!memory_locked)
    fputs("keycell-enclave: note: RLIMIT_MEMLOCK too low for mlockall; locking secret buffers only\n", stderr);
  if (!ll.ok()) fputs("keycell-enclave: warning: Landlock unavailable; files are confined by seccomp only\n", stderr);

  SerializedToken shared_token(**token);
  channel::ProxyResources proxy(shared_token, tls_config.ok() ? tls_config->get() : nullptr);
  EnclaveState* state_ptr = nullptr;
  EnclaveState state(shared_token, [&] { return TightenAfterUnlock(state_ptr, opt.control_fd); });
  state_ptr = &state;
  state.set_sandbox_stage(1);
  state.set_channel_opener([&](UniqueFd fd) { return channel::StartChannel(proxy, std::move(fd)); });
  const int rc = Serve(state, opt.control_fd);
  // Channel threads may still be running: end the process without running destructors
  // under them. Nothing needs flushing (stderr is unbuffered); the kernel frees the
  // locked pages and the token session with the process.
  _exit(rc);
}

}  // namespace
}  // namespace keycell::enclave

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer stops the world with clone + ptrace at exit, which the sandbox kills;
// leak checking of enclave code happens in the unit tests instead.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

int main(int argc, char** argv) { return keycell::enclave::Run(argc, argv); }

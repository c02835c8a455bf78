// keycell selfcheck: proves the whole enclave path works on this machine. Starts
// keycell-enclave under its sandbox, unlocks the token, seals a random canary, reveals
// it, writes it as a .env line into a pipe, HMACs with it, and locks again.

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "broker/cli/commands.h"
#include "broker/cli/session.h"
#include "broker/cli/terminal.h"
#include "broker/daemon/enclave_launch.h"
#include "common/unique_fd.h"

namespace keycell::cli {
namespace {

int CheckFail(const char* step, const Status& st) {
  const std::string why = st.code() == Err::kBadPin
                              ? "wrong PIN"
                              : std::string(st.where()) + " (" + ErrName(st.code()) + ")";
  const int code = st.code() == Err::kBadPin        ? kExitBadPin
                   : st.code() == Err::kUnavailable ? kExitEnclaveUnavailable
                                                    : kExitFailure;
  return Fail(code, std::string("selfcheck: ") + step + " failed: " + why);
}

// Hands the terminal (echo off) or --pin-fd to the enclave, which reads the PIN line.
Status UnlockWithoutSeeingPin(broker::EnclaveClient& client, int pin_fd) {
  if (pin_fd >= 0) return client.UnlockFromFd(pin_fd);
  KC_ASSIGN_OR_RETURN(NoEchoTerminal tty, NoEchoTerminal::Open("Vault PIN: "));
  return client.UnlockFromFd(tty.fd());  // echo comes back when `tty` goes
}

Result<SecureBuffer> RandomCanary() {
  uint8_t raw[16];
  if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
    return Status(Err::kInternal, "getrandom", errno);
  KC_ASSIGN_OR_RETURN(SecureBuffer c, SecureBuffer::Allocate(10 + 2 * sizeof(raw)));
  memcpy(c.data(), "kc-canary-", 10);
  for (size_t i = 0; i < sizeof(raw); ++i) {
    c.data()[10 + 2 * i] = "0123456789abcdef"[raw[i] >> 4];
    c.data()[11 + 2 * i] = "0123456789abcdef"[raw[i] & 15];
  }
  SecureWipe(raw, sizeof(raw));
  return c;
}

keycell_ipc_Policy CanaryPolicy() {
  keycell_ipc_Policy p = keycell_ipc_Policy_init_zero;
  strcpy(p.allowed_hosts[0].host, "selfcheck.keycell.invalid");
  p.allowed_hosts_count = 1;
  p.has_injection = true;
  p.injection.kind = keycell_ipc_InjectKind_INJECT_BEARER;
  p.reveal = true;
  p.env_export = true;
  return p;
}

// Reads what the enclave wrote into the pipe and compares it with the expected line.
Status CheckEnvLine(int read_fd, SecretView canary) {
  char buf[128];
  const ssize_t n = read(read_fd, buf, sizeof(buf));
  const size_t expect = 11 + canary.size() + 2;  // KC_CANARY='...'\n
  const bool ok = n == static_cast<ssize_t>(expect) && memcmp(buf, "KC_CANARY='", 11) == 0 &&
                  memcmp(buf + 11, canary.data(), canary.size()) == 0;
  SecureWipe(buf, sizeof(buf));
  return ok ? Status::Ok() : Status(Err::kInternal, ".env line does not match the canary");
}

int Check(broker::EnclaveClient& client, int pin_fd) {
  if (Status st = UnlockWithoutSeeingPin(client, pin_fd); !st.ok()) return CheckFail("unlock", st);
  auto status = client.Status();
  if (!status.ok()) return CheckFail("status", status.status());
  auto canary = RandomCanary();
  if (!canary.ok()) return CheckFail("canary", canary.status());
  keycell_ipc_RecordRef ref = keycell_ipc_RecordRef_init_zero;
  strcpy(ref.record_id, "selfcheck");
  strcpy(ref.name, "selfcheck");
  ref.version = 1;
  auto blob = client.Seal(ref, CanaryPolicy(), canary->view());
  if (!blob.ok()) return CheckFail("seal", blob.status());
  auto shown = client.Reveal(ref, blob->blob, "keycell selfcheck", "");
  if (!shown.ok()) return CheckFail("reveal", shown.status());
  if (!ConstantTimeEqual(shown->view().bytes(), canary->view().bytes()))
    return CheckFail("reveal", Status(Err::kInternal, "revealed value differs from the canary"));
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return CheckFail("pipe", Status(Err::kInternal, "pipe", errno));
  UniqueFd rd(p[0]), wr(p[1]);
  const broker::EnvItem items[] = {{ref, "KC_CANARY", blob->blob}};
  auto env = client.WriteEnv(wr.get(), items);
  if (!env.ok()) return CheckFail("write env", env.status());
  if (Status st = CheckEnvLine(rd.get(), canary->view()); !st.ok())
    return CheckFail("write env", st);
  auto mac = client.Hmac(ref, blob->blob, AsBytes("selfcheck"));
  uint8_t expect[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), canary->data(), canary->size(),
                  reinterpret_cast<const uint8_t*>("selfcheck"), 9, expect);
  if (!mac.ok() || memcmp(mac->data(), expect, 32) != 0)
    return CheckFail("hmac", mac.ok() ? Status(Err::kInternal, "hmac mismatch") : mac.status());
  if (Status st = client.Lock(); !st.ok()) return CheckFail("lock", st);
  printf(
      "keycell selfcheck: ok\n  token:   %s (%s)\n  sandbox: stage %u after unlock (no files, no "
      "sockets, no exec)\n"
      "  checked: unlock, seal, reveal, write-env, hmac, lock; the canary never left locked "
      "memory\n",
      status->token_label.c_str(), status->token_model.c_str(), status->sandbox_stage);
  return kExitOk;
}

}  // namespace

int RunSelfcheck(int pin_fd) {
  int rc = kExitOk;
  const auto config = LoadCliConfig(&rc);
  if (!config) return rc;
  if (pin_fd >= 0 && !IsOpenFd(pin_fd))
    return Fail(kExitUsage, "--pin-fd " + std::to_string(pin_fd) + " is not open");
  if (pin_fd < 0 && !HaveTerminal())
    return Fail(kExitUsage, "no terminal for the PIN prompt (use --pin-fd N)");
  const broker::daemon::TokenLocation loc = broker::daemon::TokenLocationFor(*config);
  if (loc.embedded_softhsm && access(loc.softhsm_conf.c_str(), R_OK) != 0)
    return Fail(kExitNotInitialised, "no vault in " + config->data_dir + " (run: keycell init)");
  auto client = broker::EnclaveClient::Start(broker::daemon::LaunchFor(*config));
  if (!client.ok()) return CheckFail("start enclave", client.status());
  return Check(**client, pin_fd);
}

}  // namespace keycell::cli

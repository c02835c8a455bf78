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
#include <termios.h>
#include <unistd.h>

#include "broker/cli/commands.h"
#include "broker/cli/token_env.h"
#include "common/unique_fd.h"

namespace keycell::cli {
namespace {

constexpr char kSelfcheckHelp[] =
    "usage: keycell selfcheck [--pin-fd N]\n"
    "\n"
    "Starts keycell-enclave under its sandbox and runs Unlock, Seal, Reveal, WriteEnv,\n"
    "Hmac and Lock with a random canary. The PIN is read by the enclave itself, from\n"
    "the terminal (no echo) or from file descriptor N: it never enters this process.\n";

int Fail(const char* step, const Status& st) {
  const char* why = st.code() == Err::kBadPin ? "wrong PIN" : st.where();
  fprintf(stderr, "keycell selfcheck: %s failed: %s (%s)\n", step, why, ErrName(st.code()));
  if (st.code() == Err::kBadPin) return kExitBadPin;
  if (st.code() == Err::kUnavailable) return kExitEnclaveUnavailable;
  return kExitFailure;
}

// Hands the terminal (echo off) or --pin-fd to the enclave, which reads the PIN line.
Status UnlockWithoutSeeingPin(broker::EnclaveClient& client, int pin_fd) {
  if (pin_fd >= 0) return client.UnlockFromFd(pin_fd);
  UniqueFd tty(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty) return Status(Err::kUnavailable, "no terminal for the PIN prompt (use --pin-fd N)");
  termios old{};
  if (tcgetattr(tty.get(), &old) != 0) return Status(Err::kUnavailable, "not a terminal");
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  (void)!write(tty.get(), "Vault PIN: ", 11);
  tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  const Status st = client.UnlockFromFd(tty.get());
  tcsetattr(tty.get(), TCSAFLUSH, &old);
  return st;
}

Result<SecureBuffer> RandomCanary() {
  uint8_t raw[16];
  if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) return Status(Err::kInternal, "getrandom", errno);
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
  if (Status st = UnlockWithoutSeeingPin(client, pin_fd); !st.ok()) return Fail("unlock", st);
  auto status = client.Status();
  if (!status.ok()) return Fail("status", status.status());
  auto canary = RandomCanary();
  if (!canary.ok()) return Fail("canary", canary.status());
  keycell_ipc_RecordRef ref = keycell_ipc_RecordRef_init_zero;
  strcpy(ref.record_id, "selfcheck");
  strcpy(ref.name, "selfcheck");
  ref.version = 1;
  auto blob = client.Seal(ref, CanaryPolicy(), canary->view());
  if (!blob.ok()) return Fail("seal", blob.status());
  auto shown = client.Reveal(ref, blob->blob, "keycell selfcheck", "");
  if (!shown.ok()) return Fail("reveal", shown.status());
  if (!ConstantTimeEqual(shown->view().bytes(), canary->view().bytes()))
    return Fail("reveal", Status(Err::kInternal, "revealed value differs from the canary"));
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Fail("pipe", Status(Err::kInternal, "pipe", errno));
  UniqueFd rd(p[0]), wr(p[1]);
  const broker::EnvItem items[] = {{ref, "KC_CANARY", blob->blob}};
  auto env = client.WriteEnv(wr.get(), items);
  if (!env.ok()) return Fail("write env", env.status());
  if (Status st = CheckEnvLine(rd.get(), canary->view()); !st.ok()) return Fail("write env", st);
  auto mac = client.Hmac(ref, blob->blob, AsBytes("selfcheck"));
  uint8_t expect[32];
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), canary->data(), canary->size(),
                  reinterpret_cast<const uint8_t*>("selfcheck"), 9, expect);
  if (!mac.ok() || memcmp(mac->data(), expect, 32) != 0)
    return Fail("hmac", mac.ok() ? Status(Err::kInternal, "hmac mismatch") : mac.status());
  if (Status st = client.Lock(); !st.ok()) return Fail("lock", st);
  printf("keycell selfcheck: ok\n  token:   %s (%s)\n  sandbox: stage %u after unlock (no files, no sockets, no exec)\n"
         "  checked: unlock, seal, reveal, write-env, hmac, lock; the canary never left locked memory\n",
         status->token_label.c_str(), status->token_model.c_str(), status->sandbox_stage);
  return kExitOk;
}

}  // namespace

int RunSelfcheck(const std::vector<std::string>& args) {
  int pin_fd = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      fputs(kSelfcheckHelp, stdout);
      return kExitOk;
    }
    if (args[i] == "--pin-fd" && i + 1 < args.size()) {
      pin_fd = atoi(args[++i].c_str());
    } else {
      fputs(kSelfcheckHelp, stderr);
      return kExitUsage;
    }
  }
  const TokenLocation loc = ResolveTokenLocation("", "");
  if (loc.embedded_softhsm && access(loc.softhsm_conf.c_str(), R_OK) != 0) {
    fprintf(stderr, "keycell selfcheck: no vault in %s (run: keycell init)\n", loc.data_dir.c_str());
    return kExitNotInitialised;
  }
  auto client = broker::EnclaveClient::Start(MakeEnclaveLaunch(loc));
  if (!client.ok()) return Fail("start enclave", client.status());
  return Check(**client, pin_fd);
}

}  // namespace keycell::cli

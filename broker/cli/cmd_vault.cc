// The vault's life: init, selfcheck, daemon, unlock, lock, status.

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"
#include "broker/cli/terminal.h"
#include "broker/daemon/control_server.h"

namespace keycell::cli {
namespace {

constexpr char kInitDetails[] =
    "Creates the vault's key-encryption key (KEK): AES-256, generated inside the token,\n"
    "sensitive and never extractable. Without --module, keycell keeps its own SoftHSM2\n"
    "token in the data directory (data_dir: $KEYCELL_DATA_DIR, else\n"
    "$XDG_DATA_HOME/keycell, else ~/.local/share/keycell) and creates it first. With\n"
    "--module, the token LABEL must already exist in that module (YubiHSM, tpm2-pkcs11,\n"
    "a network HSM...) and only the KEK is created; set pkcs11.module and\n"
    "pkcs11.token_label in the configuration (or KEYCELL_PKCS11_MODULE and\n"
    "KEYCELL_PKCS11_TOKEN_LABEL) so keycelld uses the same token. Running init again is\n"
    "safe: an existing token and KEK are kept.\n"
    "\n"
    "The PIN is typed twice at a no-echo prompt, or read as one line from file\n"
    "descriptor N with --pin-fd N. It is never taken from the command line.\n"
    "\n"
    "Examples:\n"
    "  keycell init\n"
    "  keycell init --pin-fd 3 3<pinfile\n"
    "  keycell init --module /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so --token keycell\n";

constexpr char kSelfcheckDetails[] =
    "Starts keycell-enclave under its sandbox (without keycelld) and runs Unlock, Seal,\n"
    "Reveal, WriteEnv, Hmac and Lock with a random canary. The PIN is read by the\n"
    "enclave itself, from the terminal (no echo) or from file descriptor N: it never\n"
    "enters this process.\n"
    "\n"
    "Examples:\n"
    "  keycell selfcheck\n"
    "  keycell selfcheck --pin-fd 3 3<pinfile\n";

constexpr char kDaemonDetails[] =
    "Runs keycelld, the broker daemon, in the foreground (it replaces this process):\n"
    "logs one line per event to stderr, stops on SIGTERM or Ctrl-C (locking the vault\n"
    "first), reloads log.level and idle_lock on SIGHUP. Other commands start it in the\n"
    "background on first use (logging to <data_dir>/keycelld.log), so this is for\n"
    "systemd units, containers and debugging. A second daemon for the same data\n"
    "directory refuses to start.\n"
    "\n"
    "Examples:\n"
    "  keycell daemon\n"
    "  KEYCELL_LOG_LEVEL=debug keycell daemon\n";

constexpr char kUnlockDetails[] =
    "Logs keycelld's enclave into the token, so credentials can be used until `keycell\n"
    "lock` or the idle lock (idle_lock, default 15m). Starts keycelld if needed.\n"
    "The PIN never passes through keycell or keycelld: this command hands the enclave\n"
    "the terminal (after printing \"Vault PIN: \" and turning echo off) or the file\n"
    "descriptor given with --pin-fd, and the enclave reads the PIN line from it.\n"
    "\n"
    "Examples:\n"
    "  keycell unlock\n"
    "  keycell unlock --pin-fd 3 3<pinfile\n";

constexpr char kLockDetails[] =
    "Locks the vault now: the enclave logs out of the token and ends, the strongest\n"
    "wipe there is. Does nothing (successfully) when keycelld is not running.\n"
    "\n"
    "Example:\n"
    "  keycell lock\n";

constexpr char kStatusDetails[] =
    "Shows whether keycelld runs and the vault is unlocked, the token, the number of\n"
    "credentials and the enclave's sandbox state. Does not start keycelld. With\n"
    "--json: {running, unlocked, token_label, token_model, sandbox_stage, credentials,\n"
    "enclave_pid, enclave_restarts, data_dir, http, socket}.\n"
    "\n"
    "Examples:\n"
    "  keycell status\n"
    "  keycell status --json | jq .unlocked\n";

int RunDaemon() {
  const std::string exe = KeycelldPath();
  execl(exe.c_str(), exe.c_str(), static_cast<char*>(nullptr));
  return Fail(kExitDaemonUnavailable, "cannot run " + exe + ": " + strerror(errno));
}

int RunUnlock(int pin_fd) {
  if (pin_fd >= 0 && !IsOpenFd(pin_fd))
    return Fail(kExitUsage, "--pin-fd " + std::to_string(pin_fd) + " is not open");
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json status;
  if ((rc = session->Call("status", nullptr, -1, &status)) != kExitOk) return rc;
  if (json::GetBool(status.get(), "unlocked").value_or(false)) {  // no PIN to type for nothing
    printf("keycell: vault already unlocked\n");
    return kExitOk;
  }
  if (pin_fd >= 0) {
    rc = session->Call("unlock", nullptr, pin_fd, &status);
  } else {
    auto tty = NoEchoTerminal::Open("Vault PIN: ");
    if (!tty.ok()) return Fail(kExitUsage, "no terminal for the PIN prompt (use --pin-fd N)");
    rc = session->Call("unlock", nullptr, tty->fd(), &status);
  }  // the terminal's echo is restored here, whatever happened
  if (rc != kExitOk) return rc;
  printf("keycell: vault unlocked (token %s, %s credentials)\n",
         StringField(status.get(), "token_label").c_str(),
         IntField(status.get(), "credentials").c_str());
  return kExitOk;
}

int RunLock() {
  int rc = kExitOk;
  auto session = Session::Open(false, &rc);
  if (!session && rc == kExitDaemonUnavailable) {
    printf("keycell: vault locked (keycelld is not running)\n");
    return kExitOk;
  }
  if (!session) return rc;
  json::Json result;
  if ((rc = session->Call("lock", nullptr, -1, &result)) != kExitOk) return rc;
  printf("keycell: vault locked\n");
  return kExitOk;
}

int PrintStatus(const cJSON* s, bool as_json) {
  if (as_json) return PrintJson(s);
  if (!json::GetBool(s, "running").value_or(false))
    return PrintText("keycelld:  not running (the vault is locked)\n");
  const std::string token =
      StringField(s, "token_label") + " (" + StringField(s, "token_model") + ")";
  const std::string enclave = "pid " + IntField(s, "enclave_pid") + ", sandbox stage " +
                              IntField(s, "sandbox_stage") + ", " +
                              IntField(s, "enclave_restarts") + " restarts";
  return PrintText(KeyValueBlock(
      {{"keycelld", "running (" + StringField(s, "socket") + ")"},
       {"vault", json::GetBool(s, "unlocked").value_or(false) ? "unlocked" : "locked"},
       {"token", token},
       {"credentials", IntField(s, "credentials")},
       {"enclave", enclave},
       {"http", "http://" + StringField(s, "http") + " (REST API; Authorization: Bearer kc_...)"},
       {"data dir", StringField(s, "data_dir")}}));
}

int RunStatus(bool as_json) {
  int rc = kExitOk;
  auto session = Session::Open(false, &rc);
  json::Json status = json::MakeObject();
  if (!session && rc != kExitDaemonUnavailable) return rc;
  if (session) {
    if ((rc = session->Call("status", nullptr, -1, &status)) != kExitOk) return rc;
    (void)json::SetString(status.get(), "socket",
                          broker::daemon::ControlSocketPath(session->config().runtime_dir));
  } else {
    (void)json::SetBool(status.get(), "unlocked", false);
  }
  (void)json::SetBool(status.get(), "running", session != nullptr);
  return PrintStatus(status.get(), as_json);
}

}  // namespace

void RegisterVaultCommands(CLI::App& app, int& exit_code) {
  auto init = std::make_shared<InitOptions>();
  CLI::App* c = AddCommand(
      app, "init", "Create the token's key-encryption key (and the embedded token)", kInitDetails);
  c->add_option("--pin-fd", init->pin_fd, "Read the new PIN as one line from file descriptor N")
      ->type_name("N");
  c->add_option("--module", init->module,
                "PKCS#11 module of an existing token (default: embedded SoftHSM2)")
      ->type_name("PATH");
  c->add_option("--token", init->token, "Label of the token in that module")->type_name("LABEL");
  c->callback([init, &exit_code] { exit_code = RunInit(*init); });

  auto pin_fd = std::make_shared<int>(-1);
  c = AddCommand(app, "selfcheck", "Seal and unseal a canary through the sandboxed enclave",
                 kSelfcheckDetails);
  c->add_option("--pin-fd", *pin_fd, "Hand file descriptor N to the enclave to read the PIN from")
      ->type_name("N");
  c->callback([pin_fd, &exit_code] { exit_code = RunSelfcheck(*pin_fd); });

  c = AddCommand(app, "daemon", "Run keycelld in the foreground", kDaemonDetails);
  c->callback([&exit_code] { exit_code = RunDaemon(); });

  auto unlock_fd = std::make_shared<int>(-1);
  c = AddCommand(app, "unlock", "Unlock the vault (the enclave reads the PIN itself)",
                 kUnlockDetails);
  c->add_option("--pin-fd", *unlock_fd,
                "Hand file descriptor N to the enclave to read the PIN from")
      ->type_name("N");
  c->callback([unlock_fd, &exit_code] { exit_code = RunUnlock(*unlock_fd); });

  c = AddCommand(app, "lock", "Lock the vault now", kLockDetails);
  c->callback([&exit_code] { exit_code = RunLock(); });

  auto as_json = std::make_shared<bool>(false);
  c = AddCommand(app, "status", "Show the daemon, vault and token state", kStatusDetails);
  c->add_flag("--json", *as_json, "Print JSON");
  c->callback([as_json, &exit_code] { exit_code = RunStatus(*as_json); });
}

}  // namespace keycell::cli

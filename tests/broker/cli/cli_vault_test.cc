// The vault's life through the real CLI: init, daemon auto-start and single instance,
// unlock (fd and terminal), lock, status, and the session failures with their exit
// codes (not initialised, wrong PIN, locked, daemon unavailable, enclave restarted).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "broker/daemon/control_protocol.h"
#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {
namespace {

// The exit codes the CLI documents (docs/cli.md).
using namespace broker::daemon;  // NOLINT: kExit* constants

json::Json StatusJson(const CliSandbox& box) {
  const ProcResult r = box.Keycell({"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = json::ParseJson(r.out);
  return j.ok() ? std::move(*j) : json::MakeObject();
}

TEST(CliVault, DaemonAutoStartsOnFirstUseAndASecondOneRefuses) {
  CliSandbox box;
  ProcResult r = box.Init();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("vault ready"), std::string::npos);
  EXPECT_EQ(box.DaemonPid(), 0) << "init must not start the daemon";
  json::Json st = StatusJson(box);
  EXPECT_EQ(json::GetBool(st.get(), "running"), false);

  r = box.Unlock();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pid_t daemon = box.DaemonPid();
  ASSERT_GT(daemon, 0) << "unlock auto-starts keycelld";
  st = StatusJson(box);
  EXPECT_EQ(json::GetBool(st.get(), "running"), true);
  EXPECT_EQ(json::GetBool(st.get(), "unlocked"), true);
  EXPECT_EQ(json::GetString(st.get(), "data_dir"), box.data_dir());

  r = box.Keycell({"daemon"});  // execs keycelld in the foreground: must refuse
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already running"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(daemon)), std::string::npos) << r.err;
  EXPECT_EQ(box.DaemonPid(), daemon);

  r = box.Keycell({"status"});
  EXPECT_NE(r.out.find("unlocked"), std::string::npos) << r.out;
  r = box.Keycell({"lock"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  st = StatusJson(box);
  EXPECT_EQ(json::GetBool(st.get(), "unlocked"), false);
}

TEST(CliVault, CommandsBeforeInitSayNotInitialised) {
  CliSandbox box;
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"list"}, {"unlock", "--pin-fd", "0"}}) {
    const ProcResult r = box.Keycell(args);
    EXPECT_EQ(r.exit_code, kExitNotInitialised) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("keycell init"), std::string::npos) << r.err;
  }
  const ProcResult r = box.Keycell({"selfcheck", "--pin-fd", "0"});
  EXPECT_EQ(r.exit_code, kExitNotInitialised) << r.err;
}

TEST(CliVault, SelfcheckAndWrongPin) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  RunOptions pin;
  pin.fd3 = std::string(CliSandbox::kPin) + "\n";
  ProcResult r = box.Keycell({"selfcheck", "--pin-fd", "3"}, pin);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("selfcheck: ok"), std::string::npos) << r.out;

  RunOptions wrong;
  wrong.fd3 = "not-the-pin\n";
  r = box.Keycell({"unlock", "--pin-fd", "3"}, wrong);
  EXPECT_EQ(r.exit_code, kExitBadPin) << r.err;
  EXPECT_EQ(r.err, "keycell: wrong PIN\n");
  r = box.Keycell({"unlock", "--pin-fd", "9"});  // not open
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(box.Unlock().exit_code, 0);
}

TEST(CliVault, LockedVaultRefusesValueOperations) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  ASSERT_EQ(box.Unlock().exit_code, 0);
  ASSERT_EQ(box.Add("k", "v", {"--allow-host", "a.example", "--revealable"}).exit_code, 0);
  ASSERT_EQ(box.Keycell({"lock"}).exit_code, 0);
  ProcResult r = box.Add("k2", "v", {"--allow-host", "a.example"});
  EXPECT_EQ(r.exit_code, kExitLocked) << r.err;
  EXPECT_EQ(r.err, "keycell: the vault is locked (run: keycell unlock)\n");
  EXPECT_EQ(box.Reveal("k").exit_code, kExitLocked);
  r = box.Keycell({"list"});  // metadata needs no unlock
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("k "), std::string::npos);
}

TEST(CliVault, DaemonThatCannotStartIsReportedAtOnce) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  RunOptions o;
  o.env["KEYCELL_KEYCELLD_PATH"] = "/nonexistent/keycelld";
  ProcResult r = box.Keycell({"list"}, o);
  EXPECT_EQ(r.exit_code, kExitDaemonUnavailable) << r.err;
  EXPECT_NE(r.err.find("cannot start /nonexistent/keycelld"), std::string::npos) << r.err;

  o.env.clear();
  o.env["KEYCELL_ENCLAVE_PATH"] = "/nonexistent/keycell-enclave";  // keycelld starts, then gives up
  r = box.Keycell({"list"}, o);
  EXPECT_EQ(r.exit_code, kExitDaemonUnavailable) << r.err;
  EXPECT_NE(r.err.find("keycelld did not start"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

// Waits until nobody has left bytes unread in the pipe behind `fd` (FIONREAD works on
// either end of a pipe).
bool PipeDrained(int fd, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    int pending = -1;
    if (ioctl(fd, FIONREAD, &pending) == 0 && pending == 0) return true;
    usleep(10 * 1000);
  }
  return false;
}

// The enclave dies while keycelld waits on it: here, for a PIN line that never ends.
TEST(CliVault, EnclaveRestartedMidCommand) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  ASSERT_EQ(box.Keycell({"list"}).exit_code, 0);  // starts keycelld
  const json::Json st = StatusJson(box);
  const pid_t enclave = static_cast<pid_t>(json::GetInt(st.get(), "enclave_pid").value_or(0));
  ASSERT_GT(enclave, 0);

  int out = -1, in = -1;
  const pid_t unlock = box.Start({"unlock", "--pin-fd", "0"}, RunOptions{}, &out, &in);
  ASSERT_EQ(write(in, "t", 1), 1);  // half a PIN: once it is consumed, the enclave is reading
  ASSERT_TRUE(PipeDrained(in, 10000));
  ASSERT_EQ(kill(enclave, SIGKILL), 0);
  const int status = CliSandbox::Wait(unlock);
  close(in);
  std::string err(4096, '\0');
  err.resize(static_cast<size_t>(std::max<ssize_t>(0, read(out, err.data(), err.size()))));
  close(out);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kExitEnclaveUnavailable) << err;
  EXPECT_EQ(err, "keycell: the enclave restarted during the command; the vault is locked\n");

  ProcResult r = box.Unlock();  // a fresh enclave takes over
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const json::Json after = StatusJson(box);
  EXPECT_NE(json::GetInt(after.get(), "enclave_pid").value_or(0), enclave);
  EXPECT_EQ(json::GetBool(after.get(), "unlocked"), true);
}

// The PIN prompt on a real terminal: echo is off while the enclave reads the line, and
// an unlocked vault asks for nothing.
TEST(CliVault, UnlockPromptsOnTheTerminalWithoutEcho) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  PtyKeycell unlock(box, {"unlock"});
  ASSERT_TRUE(unlock.WaitFor("Vault PIN: ")) << unlock.seen();
  EXPECT_FALSE(unlock.EchoOn()) << "echo must be off while the PIN is typed";
  unlock.Type(std::string(CliSandbox::kPin) + "\n");
  EXPECT_EQ(unlock.Finish(), 0) << unlock.seen();
  EXPECT_EQ(unlock.seen().find(CliSandbox::kPin), std::string::npos)
      << "the PIN was echoed: " << unlock.seen();
  EXPECT_NE(unlock.seen().find("vault unlocked"), std::string::npos) << unlock.seen();

  PtyKeycell again(box, {"unlock"});
  EXPECT_EQ(again.Finish(), 0);
  EXPECT_NE(again.seen().find("already unlocked"), std::string::npos) << again.seen();
  EXPECT_EQ(again.seen().find("PIN"), std::string::npos) << again.seen();
}

// add's value prompt and rm's confirmation, on a terminal.
TEST(CliVault, AddPromptsForTheValueAndRmAsksFirst) {
  CliSandbox box;
  ASSERT_EQ(box.Init().exit_code, 0);
  ASSERT_EQ(box.Unlock().exit_code, 0);
  const std::string value = RandomToken("typed-");
  PtyKeycell add(box, {"add", "typed", "--allow-host", "a.example", "--revealable"});
  ASSERT_TRUE(add.WaitFor("Value for typed (no echo): ")) << add.seen();
  EXPECT_FALSE(add.EchoOn());
  add.Type(value + "\n");
  EXPECT_EQ(add.Finish(), 0) << add.seen();
  EXPECT_EQ(add.seen().find(value), std::string::npos) << "the value was echoed";
  EXPECT_EQ(box.Reveal("typed").out, value);

  PtyKeycell no(box, {"rm", "typed"});
  ASSERT_TRUE(no.WaitFor("[y/N] ")) << no.seen();
  no.Type("n\n");
  EXPECT_EQ(no.Finish(), 1) << no.seen();
  EXPECT_EQ(box.Keycell({"show", "typed"}).exit_code, 0) << "still there";
  PtyKeycell yes(box, {"rm", "typed"});
  ASSERT_TRUE(yes.WaitFor("[y/N] ")) << yes.seen();
  yes.Type("y\n");
  EXPECT_EQ(yes.Finish(), 0) << yes.seen();
  EXPECT_EQ(box.Keycell({"show", "typed"}).exit_code, 7);
}

}  // namespace
}  // namespace keycell::test

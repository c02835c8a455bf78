// keycell: the command-line front end. Parses with CLI11 (one subcommand per file
// group, see commands.h) and returns the command's exit code.

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/cli/commands.h"
#include "broker/daemon/control_protocol.h"

namespace keycell::cli {
namespace {

constexpr char kDescription[] =
    "keycell keeps API keys sealed behind a PKCS#11 token and lets you and your agents\n"
    "use them without ever seeing them. keycelld (started on first use) holds the sealed\n"
    "store; the sandboxed enclave is the only process that sees a plaintext.";

constexpr char kFooter[] =
    "Daily use:\n"
    "  keycell init && keycell unlock\n"
    "  keycell add openai-prod --provider openai < key.txt\n"
    "  keycell assign openai-prod . && keycell run -- python app.py\n"
    "\n"
    "Run `keycell COMMAND --help` for a command's details and examples.\n"
    "\n"
    "Configuration: $XDG_CONFIG_HOME/keycell/config.json and KEYCELL_* variables\n"
    "(KEYCELL_DATA_DIR, KEYCELL_RUNTIME_DIR, KEYCELL_PKCS11_MODULE, ...); see\n"
    "docs/configuration.md.\n"
    "\n"
    "Exit codes:\n"
    "   0 ok                      8 name exists (use --overwrite)\n"
    "   1 failure                 9 invalid input (name, host, recipe, empty value...)\n"
    "   2 usage                  10 too large (a value over 64 KiB)\n"
    "   3 wrong PIN              11 refused by the credential's sealed policy\n"
    "   4 not initialised        12 keycelld not running / did not start / went away\n"
    "   5 enclave restarted      13 conflict (changed meanwhile; try again)\n"
    "   6 vault locked           14 health: something needs action\n"
    "   7 no such credential     15 rate limited (unlock attempts)\n"
    "  16 proxy: upstream unreachable, timed out or broken\n"
    "  22 proxy: the upstream answered 4xx/5xx\n"
    "  run: the command's own exit code\n";

// CLI11 reports parse errors with exceptions; they end here as exit code 2.
int ParseError(const CLI::App& app, const CLI::ParseError& e) {
  const std::string name = e.get_name();
  if (name == "CallForHelp" || name == "CallForAllHelp" || name == "CallForVersion") {
    return app.exit(e);  // prints help/version to stdout, returns 0
  }
  std::string what = e.what();
  for (char& c : what)
    if (c == '\n') c = ' ';
  fprintf(stderr, "keycell: %s (see keycell --help)\n", what.c_str());
  return broker::daemon::kExitUsage;
}

// SIGPIPE's disposition when we started (see InheritedSigpipeIsDefault).
void (*g_inherited_sigpipe)(int) = SIG_DFL;

}  // namespace

bool InheritedSigpipeIsDefault() { return g_inherited_sigpipe == SIG_DFL; }

void IgnoreSigpipe() {
  void (*previous)(int) = signal(SIGPIPE, SIG_IGN);
  if (previous != SIG_ERR) g_inherited_sigpipe = previous;
}

CLI::App* AddCommand(CLI::App& app, const char* name, const char* summary, const char* details) {
  CLI::App* cmd = app.add_subcommand(name, summary);
  cmd->footer(details);
  return cmd;
}

CLI::Option* AddRepeatable(CLI::App* cmd, const char* flag, std::vector<std::string>& into,
                           const char* help) {
  return cmd->add_option(flag, into, help)->allow_extra_args(false);
}

}  // namespace keycell::cli

int main(int argc, char** argv) {
  using namespace keycell::cli;
  IgnoreSigpipe();
  CLI::App app(kDescription, "keycell");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", "keycell " KEYCELL_VERSION);
  int exit_code = keycell::broker::daemon::kExitOk;
  RegisterVaultCommands(app, exit_code);
  RegisterCredentialCommands(app, exit_code);
  RegisterInspectCommands(app, exit_code);
  RegisterProjectCommands(app, exit_code);
  RegisterRunCommand(app, exit_code);
  RegisterImportExportCommands(app, exit_code);
  RegisterAgentCommands(app, exit_code);
  RegisterApiKeyCommands(app, exit_code);
  RegisterAuditCommands(app, exit_code);
  RegisterWebhookCommands(app, exit_code);
  RegisterProxyCommand(app, exit_code);
  RegisterMcpCommand(app, exit_code);
  RegisterMcpConfigCommand(app, exit_code);
  RegisterCompletionCommand(app, exit_code);
  // `keycell help [COMMAND]` reads like `keycell [COMMAND] --help`.
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "help") {
    args.erase(args.begin());
    args.push_back("--help");
  }
  if (args.empty()) {
    fputs(app.help().c_str(), stderr);
    return keycell::broker::daemon::kExitUsage;
  }
  if (args[0][0] != '-' &&
      app.get_subcommands([&](CLI::App* c) { return c->get_name() == args[0]; }).empty()) {
    fprintf(stderr, "keycell: unknown command '%s' (see keycell --help)\n", args[0].c_str());
    return keycell::broker::daemon::kExitUsage;
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return ParseError(app, e);
  }
  return exit_code;
}

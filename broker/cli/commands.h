#pragma once
// The `keycell` command tree (CLI11). Each cmd_*.cc file registers one group of
// subcommands; a subcommand's callback runs the command and stores its exit code in
// the shared int (codes: broker/daemon/control_protocol.h, table in docs/cli.md).
// Parse errors never reach a callback: main() turns them into exit code 2.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace keycell::cli {

// Adds subcommand `name` with a one-line `summary` (listed by `keycell --help` and
// shown first by `keycell NAME --help`) and `details` (the explanation and examples
// printed after the options).
CLI::App* AddCommand(CLI::App& app, const char* name, const char* summary, const char* details);

// An option that may be repeated (`--tag a --tag b`), one value per occurrence, so
// that `--tag a NAME` never swallows the positional NAME.
CLI::Option* AddRepeatable(CLI::App* cmd, const char* flag, std::vector<std::string>& into,
                           const char* help);

// init, selfcheck, daemon, unlock, lock, status
void RegisterVaultCommands(CLI::App& app, int& exit_code);
// add, rotate, get, rm
void RegisterCredentialCommands(CLI::App& app, int& exit_code);
// list, show, history, rollback, health
void RegisterInspectCommands(CLI::App& app, int& exit_code);
// projects, assign, unassign, env
void RegisterProjectCommands(CLI::App& app, int& exit_code);
// run
void RegisterRunCommand(CLI::App& app, int& exit_code);
// import, export
void RegisterImportExportCommands(CLI::App& app, int& exit_code);
// agents create|list|rm|scope|assign, tokens list|revoke
void RegisterAgentCommands(CLI::App& app, int& exit_code);
// apikeys create|list|view|revoke|delete|use
void RegisterApiKeyCommands(CLI::App& app, int& exit_code);
// audit [filters], audit verify
void RegisterAuditCommands(CLI::App& app, int& exit_code);
// webhooks add|list|rm|test|deliveries
void RegisterWebhookCommands(CLI::App& app, int& exit_code);
// proxy URL: one request through the injecting proxy (cmd_proxy.cc)
void RegisterProxyCommand(CLI::App& app, int& exit_code);
// mcp: the MCP stdio transport, relayed to keycelld (cmd_mcp.cc)
void RegisterMcpCommand(CLI::App& app, int& exit_code);
// mcp-config claude|vscode|cursor|openai: client snippets for this install
void RegisterMcpConfigCommand(CLI::App& app, int& exit_code);
// completion bash|zsh: generated from the command tree itself, so it cannot go stale.
void RegisterCompletionCommand(CLI::App& app, int& exit_code);

// main() ignores SIGPIPE (a closed stdout, as in `keycell list | head`, is an error to
// report, not a signal to die of). `run` gives CMD the disposition keycell was
// started with, as if CMD had been started directly.
void IgnoreSigpipe();
bool InheritedSigpipeIsDefault();

// The bodies of init and selfcheck (cmd_init.cc, cmd_selfcheck.cc).
struct InitOptions {
  int pin_fd = -1;
  std::string module;
  std::string token;
};
int RunInit(const InitOptions& options);
int RunSelfcheck(int pin_fd);

}  // namespace keycell::cli

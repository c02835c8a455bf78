// keycell: the command-line front end.

#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "broker/cli/commands.h"

namespace {

constexpr char kHelp[] =
    "usage: keycell <command> [options]\n"
    "\n"
    "keycell keeps API keys sealed behind a PKCS#11 token and lets agents use them\n"
    "without ever seeing them.\n"
    "\n"
    "commands:\n"
    "  init        create the token's key-encryption key (and the embedded token)\n"
    "  selfcheck   seal and unseal a canary through the sandboxed enclave\n"
    "  help        this text; `keycell <command> --help` for one command\n"
    "\n"
    "exit codes: 0 ok, 1 failure, 2 usage, 3 wrong PIN, 4 not initialised,\n"
    "            5 enclave unavailable\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace keycell::cli;
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const std::string cmd = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "init") return RunInit(args);
  if (cmd == "selfcheck") return RunSelfcheck(args);
  if (cmd == "--version" || cmd == "version") {
    printf("keycell %s\n", KEYCELL_VERSION);
    return kExitOk;
  }
  fprintf(stderr, "keycell: unknown command '%s'\n\n%s", cmd.c_str(), kHelp);
  return kExitUsage;
}

#pragma once
// `keycell` subcommands. Each returns the process exit code (see docs/cli.md):
//   0 ok · 1 failure · 2 usage · 3 wrong PIN · 4 not initialised · 5 enclave unavailable

#include <string>
#include <vector>

namespace keycell::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitUsage = 2,
  kExitBadPin = 3,
  kExitNotInitialised = 4,
  kExitEnclaveUnavailable = 5,
};

int RunInit(const std::vector<std::string>& args);
int RunSelfcheck(const std::vector<std::string>& args);

}  // namespace keycell::cli

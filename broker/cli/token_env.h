#pragma once
// How the CLI reaches the token: the module, the label and, for the embedded SoftHSM2
// token, the config file in the data directory.

#include <string>

#include "broker/enclave/enclave_client.h"

namespace keycell::cli {

struct TokenLocation {
  std::string data_dir;
  std::string module;
  std::string label;
  std::string softhsm_conf;  // empty when an external module is used
  bool embedded_softhsm = false;
};

// Resolves paths from the environment (see paths.h); `module_override` wins if set.
TokenLocation ResolveTokenLocation(const std::string& module_override, const std::string& label_override);

// Launch parameters for keycell-enclave: the module may read and write only the
// token directory and read only its config until unlock.
broker::EnclaveLaunch MakeEnclaveLaunch(const TokenLocation& loc);

}  // namespace keycell::cli

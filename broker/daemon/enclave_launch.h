#pragma once
// Where the token is and how keycell-enclave is started, from the configuration.
// With the default module (SoftHSM2) keycell keeps its own token in
// <data_dir>/softhsm; any other module is used as configured.

#include <string>

#include "broker/config/config.h"
#include "broker/enclave/enclave_client.h"

namespace keycell::broker::daemon {

struct TokenLocation {
  std::string module;
  std::string label;
  bool embedded_softhsm = false;
  std::string softhsm_dir;   // <data_dir>/softhsm when embedded
  std::string softhsm_conf;  // <softhsm_dir>/softhsm2.conf when embedded
};

TokenLocation TokenLocationFor(const Config& config);

// The enclave may read and write only the token directory and read only the
// SoftHSM2 config until unlock; its environment is exactly SOFTHSM2_CONF.
EnclaveLaunch LaunchFor(const Config& config);

}  // namespace keycell::broker::daemon

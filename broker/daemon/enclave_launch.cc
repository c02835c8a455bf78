#include "broker/daemon/enclave_launch.h"

namespace keycell::broker::daemon {

TokenLocation TokenLocationFor(const Config& config) {
  TokenLocation loc;
  loc.module = config.pkcs11_module;
  loc.label = config.pkcs11_token_label;
  loc.embedded_softhsm = config.pkcs11_module == KEYCELL_PKCS11_MODULE;
  if (loc.embedded_softhsm) {
    loc.softhsm_dir = config.data_dir + "/softhsm";
    loc.softhsm_conf = loc.softhsm_dir + "/softhsm2.conf";
  }
  return loc;
}

EnclaveLaunch LaunchFor(const Config& config) {
  const TokenLocation loc = TokenLocationFor(config);
  EnclaveLaunch l;
  l.enclave_path = config.enclave_path;
  l.module_path = loc.module;
  l.token_label = loc.label;
  l.extra_ca_file = config.tls_extra_ca_file;
  if (loc.embedded_softhsm) {
    l.token_dirs = {loc.softhsm_dir + "/tokens"};
    l.read_files = {loc.softhsm_conf};
    l.env = {{"SOFTHSM2_CONF", loc.softhsm_conf}};
  }
  return l;
}

}  // namespace keycell::broker::daemon

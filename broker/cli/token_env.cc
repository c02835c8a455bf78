#include "broker/cli/token_env.h"

#include "broker/cli/paths.h"

namespace keycell::cli {

TokenLocation ResolveTokenLocation(const std::string& module_override, const std::string& label_override) {
  TokenLocation loc;
  loc.data_dir = DataDir();
  loc.module = module_override.empty() ? ModulePath() : module_override;
  loc.label = label_override.empty() ? TokenLabel() : label_override;
  loc.embedded_softhsm = module_override.empty() && loc.module == KEYCELL_PKCS11_MODULE;
  if (loc.embedded_softhsm) loc.softhsm_conf = SoftHsmDir(loc.data_dir) + "/softhsm2.conf";
  return loc;
}

broker::EnclaveLaunch MakeEnclaveLaunch(const TokenLocation& loc) {
  broker::EnclaveLaunch l;
  l.enclave_path = EnclavePath();
  l.module_path = loc.module;
  l.token_label = loc.label;
  if (loc.embedded_softhsm) {
    l.token_dirs = {SoftHsmDir(loc.data_dir) + "/tokens"};
    l.read_files = {loc.softhsm_conf};
    l.env = {{"SOFTHSM2_CONF", loc.softhsm_conf}};
  }
  return l;
}

}  // namespace keycell::cli

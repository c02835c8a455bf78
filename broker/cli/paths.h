#pragma once
// Where keycell keeps its files. Every location can be overridden by an environment
// variable so that tests and scripts run in isolated directories.

#include <string>

namespace keycell::cli {

// $KEYCELL_DATA_DIR, else $XDG_DATA_HOME/keycell, else $HOME/.local/share/keycell.
std::string DataDir();
// The embedded SoftHSM2 token lives here: softhsm2.conf and tokens/.
std::string SoftHsmDir(const std::string& data_dir);
// $KEYCELL_ENCLAVE_PATH, else keycell-enclave next to the running executable.
std::string EnclavePath();
// $KEYCELL_PKCS11_MODULE, else the compiled-in default (SoftHSM2).
std::string ModulePath();
// $KEYCELL_TOKEN_LABEL, else "keycell".
std::string TokenLabel();
// Creates `path` and missing parents with mode 0700. Returns false with errno set.
bool MakePrivateDirs(const std::string& path);

}  // namespace keycell::cli

#include "broker/cli/paths.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace keycell::cli {
namespace {

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

}  // namespace

std::string DataDir() {
  if (std::string d = Env("KEYCELL_DATA_DIR"); !d.empty()) return d;
  if (std::string x = Env("XDG_DATA_HOME"); !x.empty()) return x + "/keycell";
  return Env("HOME") + "/.local/share/keycell";
}

std::string SoftHsmDir(const std::string& data_dir) { return data_dir + "/softhsm"; }

std::string EnclavePath() {
  if (std::string p = Env("KEYCELL_ENCLAVE_PATH"); !p.empty()) return p;
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "keycell-enclave";
  std::string dir(self, static_cast<size_t>(n));
  dir.erase(dir.find_last_of('/') + 1);
  return dir + "keycell-enclave";
}

std::string ModulePath() {
  if (std::string m = Env("KEYCELL_PKCS11_MODULE"); !m.empty()) return m;
  return KEYCELL_PKCS11_MODULE;
}

std::string TokenLabel() {
  if (std::string l = Env("KEYCELL_TOKEN_LABEL"); !l.empty()) return l;
  return "keycell";
}

bool MakePrivateDirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

}  // namespace keycell::cli

#include "broker/config/environment.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

namespace keycell::broker {

std::optional<std::string> ProcessEnvironment::Get(const char* name) const {
  const char* v = getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string ProcessEnvironment::ExecutableDir() const {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string path(self, static_cast<size_t>(n));
  const size_t slash = path.find_last_of('/');
  // The kernel always gives an absolute path; anything else means we cannot tell.
  if (slash == std::string::npos || path[0] != '/') return "";
  path.erase(slash == 0 ? 1 : slash);
  return path;
}

uid_t ProcessEnvironment::Uid() const { return geteuid(); }

std::optional<std::string> MapEnvironment::Get(const char* name) const {
  const auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

}  // namespace keycell::broker

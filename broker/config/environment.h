#pragma once
// What the configuration loader asks of the process it runs in, behind an interface so
// that tests and the fuzz harness inject a fixed environment instead of setenv().

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

namespace keycell::broker {

class Environment {
 public:
  virtual ~Environment() = default;
  // The variable's value, or nullopt when it is unset. Does not block.
  virtual std::optional<std::string> Get(const char* name) const = 0;
  // Absolute directory of the running executable (the enclave.path default looks for
  // keycell-enclave there), or "" when it cannot be determined.
  virtual std::string ExecutableDir() const = 0;
  // Effective uid (names the /tmp fallback of runtime_dir).
  virtual uid_t Uid() const = 0;
};

// The real process: getenv(3), /proc/self/exe, geteuid(2).
class ProcessEnvironment final : public Environment {
 public:
  std::optional<std::string> Get(const char* name) const override;
  std::string ExecutableDir() const override;
  uid_t Uid() const override;
};

// A fixed map, for tests and fuzzing. Nothing is read from the real process.
class MapEnvironment final : public Environment {
 public:
  using Vars = std::map<std::string, std::string>;
  // Spell the map type at call sites, MapEnvironment(Vars{{"HOME", "/h"}}): a bare
  // {{"a", "b"}} also matches std::map's iterator-pair constructor.
  explicit MapEnvironment(Vars vars = {}, std::string executable_dir = "/opt/keycell/bin",
                          uid_t uid = 1000)
      : vars_(std::move(vars)), executable_dir_(std::move(executable_dir)), uid_(uid) {}

  void Set(const std::string& name, std::string value) { vars_[name] = std::move(value); }
  void Unset(const std::string& name) { vars_.erase(name); }

  std::optional<std::string> Get(const char* name) const override;
  std::string ExecutableDir() const override { return executable_dir_; }
  uid_t Uid() const override { return uid_; }

 private:
  std::map<std::string, std::string> vars_;
  std::string executable_dir_;
  uid_t uid_;
};

}  // namespace keycell::broker

#pragma once
// One command's link to keycelld: the configuration (the same LoadConfig and KEYCELL_*
// variables as the daemon), the control connection (auto-starting the daemon), and
// the CLI's error convention: one line "keycell: <message>" on stderr and the exit
// code of broker/daemon/control_protocol.h (docs/cli.md has the table).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/cli/daemon_connection.h"
#include "broker/config/config.h"
#include "broker/daemon/control_protocol.h"
#include "broker/json/json.h"
#include "common/secure_buffer.h"

namespace keycell::cli {

using broker::daemon::ControlError;
using namespace broker::daemon;  // NOLINT: the kExit* codes read better unqualified

// Prints "keycell: <message>" (one line) to stderr and returns `exit_code`.
int Fail(int exit_code, std::string_view message);

// The configuration, or nullopt after printing why (exit code in *exit_code: 1).
std::optional<broker::Config> LoadCliConfig(int* exit_code);

class Session {
 public:
  // Loads the configuration and connects to keycelld, starting it if `autostart` and
  // it is not running. On failure prints the reason and returns nullptr with
  // *exit_code set: kExitNotInitialised (no vault: run keycell init),
  // kExitDaemonUnavailable (not running / did not start), kExitFailure (config).
  // Without `autostart`, "not running" is not printed (lock and status report it as
  // a state, not an error).
  static std::unique_ptr<Session> Open(bool autostart, int* exit_code);

  const broker::Config& config() const { return config_; }

  // One op; `fd` (or -1) travels with it and stays ours. Returns kExitOk with *result
  // set, or the failure's exit code. With `error` null the failure is printed; with
  // `error` set it is only stored there (the caller decides: retries, counters).
  int Call(std::string_view op, const cJSON* args, int fd, json::Json* result,
           ControlError* error = nullptr);

  // An op whose output the enclave writes into a pipe of ours (get, run): sends the
  // pipe's write end with the request, then reads the pipe to EOF while waiting for
  // the reply, so neither side can block on a full pipe. At most `max_output` bytes
  // are accepted. The output lands in *output (locked, wiped memory).
  int CallWithOutput(std::string_view op, const cJSON* args, size_t max_output,
                     SecureBuffer* output, json::Json* result);

 private:
  Session(broker::Config config, DaemonConnection conn)
      : config_(std::move(config)), conn_(std::move(conn)) {}
  int Report(const Status& transport, const ControlError& error, ControlError* out);
  int ReadOutputAndReply(int read_fd, size_t max_output, SecureBuffer* output, json::Json* result);

  broker::Config config_;
  DaemonConnection conn_;
};

// Opens a session, runs `op` and prints the result: as JSON with `as_json`, else the
// text `render` makes of it. Returns the exit code.
int CallAndPrint(std::string_view op, const cJSON* args, bool as_json,
                 const std::function<std::string(const cJSON*)>& render);

}  // namespace keycell::cli

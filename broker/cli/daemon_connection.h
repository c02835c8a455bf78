#pragma once
// The CLI's connection to keycelld, started on demand (like gpg-agent).

#include <string>
#include <string_view>

#include "broker/config/config.h"
#include "broker/daemon/control_protocol.h"
#include "broker/json/json.h"
#include "common/unique_fd.h"

namespace keycell::cli {

class DaemonConnection {
 public:
  // Connects to keycelld for this configuration; if none is running and `autostart`,
  // starts one in the background (logging to <data_dir>/keycelld.log) and waits up to
  // 10 s for it. Errors, with *why explaining what to do: kUnavailable (not running
  // and not started), kUnknownKey (no vault in the data dir yet: run keycell init).
  static Result<DaemonConnection> Open(const broker::Config& config, bool autostart,
                                       std::string* why);

  // One request/response. On an error response, *error is filled and a non-ok Status
  // returned. `fd` (optional, -1 for none) travels with the request; the caller keeps
  // its copy. Blocks up to `timeout_ms` for each half.
  Result<json::Json> Call(std::string_view op, const cJSON* args, int fd,
                          broker::daemon::ControlError* error, int timeout_ms = kCallTimeoutMs);

  // The two halves of Call, for commands that must read a pipe while the daemon works
  // (get, run). Receive blocks up to `timeout_ms`; poll fd() first to avoid blocking.
  Status Send(std::string_view op, const cJSON* args, int fd, int timeout_ms = kCallTimeoutMs);
  Result<json::Json> Receive(broker::daemon::ControlError* error, int timeout_ms = kCallTimeoutMs);

  // Longer than keycelld's own limits (90 s for a PIN typed at the enclave's prompt),
  // so the daemon's error reaches the user rather than a client-side timeout.
  static constexpr int kCallTimeoutMs = 120 * 1000;

  int fd() const { return sock_.get(); }

 private:
  explicit DaemonConnection(UniqueFd sock) : sock_(std::move(sock)) {}
  UniqueFd sock_;
};

// keycelld next to the running keycell binary, unless $KEYCELL_KEYCELLD_PATH is set.
std::string KeycelldPath();

}  // namespace keycell::cli

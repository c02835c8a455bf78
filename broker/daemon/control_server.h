#pragma once
// keycelld's control socket: a Unix stream socket (0600, in a 0700 directory) where
// only processes of the daemon's own uid are served (SO_PEERCRED), one thread per
// connection, one request after another on each.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "broker/daemon/vault.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::daemon {

inline constexpr int kMaxConnections = 64;
inline constexpr int kConnectionIdleMs = 10 * 60 * 1000;

class ControlServer {
 public:
  // A handler that takes a connection over for the rest of its life (the `mcp` op): it
  // answers the op itself (SendOk / SendError) and then speaks its own protocol on
  // `conn` until it returns; the connection is closed after. It runs on the
  // connection's own thread, so it may block without holding up other clients, and it
  // must return once Stop() has shut `conn` down. `owner` is the socket peer (our uid).
  using StreamHandler =
      std::function<void(int conn, const identity::Principal& owner, const cJSON* args)>;


  // Binds `path` (an existing stale socket there is replaced: the caller holds the
  // data-dir lock, so no live daemon owns it). Errors: kUpstreamIo (detail errno).
  static Result<std::unique_ptr<ControlServer>> Listen(const std::string& path);
  ~ControlServer();

  // Routes op `op` to `handler` instead of Vault::Dispatch. Call before Serve().
  void SetStreamHandler(std::string op, StreamHandler handler) {
    stream_handlers_[std::move(op)] = std::move(handler);
  }

  // Accepts and serves until Stop() is called. Blocks.
  void Serve(Vault& vault);
  // Makes Serve() return and ends every open connection (shutdown(2) on its socket),
  // so that WaitIdle() can return promptly. Called from the signal thread.
  void Stop();
  // Waits up to `timeout_ms` for connection threads to finish. Returns whether they did.
  bool WaitIdle(int timeout_ms);
  // Connections being served right now.
  int active() const { return active_.load(); }

 private:
  ControlServer(UniqueFd listener, std::string path, UniqueFd wake_read, UniqueFd wake_write)
      : listener_(std::move(listener)), path_(std::move(path)), wake_read_(std::move(wake_read)),
        wake_write_(std::move(wake_write)) {}
  void ServeConnection(Vault& vault, UniqueFd conn);
  void ServeRequests(Vault& vault, int conn);

  UniqueFd listener_;
  std::string path_;
  UniqueFd wake_read_, wake_write_;
  std::atomic<int> active_{0};
  std::mutex mu_;
  std::set<int> open_;  // connection fds being served, for Stop()
  std::map<std::string, StreamHandler, std::less<>> stream_handlers_;  // set before Serve()
};

// The socket path for a runtime directory.
std::string ControlSocketPath(const std::string& runtime_dir);

}  // namespace keycell::broker::daemon

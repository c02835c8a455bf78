#pragma once
// keycelld's HTTP/1.1 server: a listening socket, an accept thread, and one thread per
// connection running ServeConnection (connection.h) with blocking I/O and poll(2)
// deadlines. Simple to read and to debug (one stack per request), and fast enough for a
// local broker; the connection count is bounded (ServerOptions::max_connections), so the
// thread count is too.
//
// Lifecycle: construct with a finished Router, Listen() once, Stop() once (the
// destructor stops too). Listen/Stop/port are meant for one controlling thread; the
// const accessors are thread-safe.
//
//   http::Router router;
//   KC_RETURN_IF_ERROR(router.Add(http::Method::kGet, "/api/v1/workspace/status", ...));
//   http::Server server(std::move(router), options);
//   KC_RETURN_IF_ERROR(server.Listen(config.http_host, config.http_port));
//   ...
//   server.Stop(std::chrono::seconds(5));

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "broker/http/options.h"
#include "broker/http/router.h"
#include "broker/http/transport.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::http {

class Server {
 public:
  // `router` must hold every route: it is read concurrently and never changed.
  explicit Server(Router router, ServerOptions options = {});
  ~Server();  // Stop(0): in-flight requests are cut off
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds `host` (a numeric IPv4 or IPv6 address: "127.0.0.1", "::1", "[::1]"; never a
  // name, so nothing is resolved) and `port` (0: the kernel picks; read it back with
  // port()), listens and starts accepting. Errors: kInvalidArgument (not a numeric
  // address; Listen called twice or after Stop), kUpstreamIo + errno (socket, bind —
  // EADDRINUSE —, listen, eventfd), kInternal (no thread could be started).
  Status Listen(std::string_view host, uint16_t port);

  // The bound port (after a successful Listen), else 0.
  uint16_t port() const { return port_; }

  // Graceful stop: stops accepting, ends idle keep-alive connections at once, lets
  // requests in flight finish for up to `grace` (their responses say "Connection:
  // close"), then shuts down the sockets still open, which fails their pending reads and
  // writes, and joins every thread. Blocks until all threads are joined: a handler that
  // blocks on something other than its request's I/O must watch Request::stopping().
  // Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Connections being served now.
  size_t active_connections() const;
  // Connections refused with 503 because max_connections were being served.
  uint64_t rejected_connections() const { return rejected_.load(); }

 private:
  struct Conn {
    std::thread thread;
    int fd = -1;        // guarded by mu_; closed by the connection thread, under mu_
    bool done = false;  // guarded by mu_
  };

  void AcceptLoop();
  void StartConnection(int fd, PeerAddress peer);
  void RunConnection(Conn* conn, PeerAddress peer, Deadline first_request_deadline);
  void RejectBusy(int fd);
  void Reap();

  const Router router_;
  const ServerOptions options_;
  const std::string busy_response_;  // the 503 sent when max_connections is reached
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;  // eventfd: readable once Stop() began
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> rejected_{0};
  std::mutex stop_mu_;    // serialises Listen/Stop
  bool stopped_ = false;  // guarded by stop_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;              // a connection finished
  std::list<std::unique_ptr<Conn>> conns_;  // guarded by mu_
  size_t live_ = 0;                         // guarded by mu_
};

// "127.0.0.1" -> ok; names, empty strings and garbage -> false. Brackets allowed around
// IPv6 ("[::1]"). For tests and config checks.
bool IsNumericHost(std::string_view host);

}  // namespace keycell::broker::http

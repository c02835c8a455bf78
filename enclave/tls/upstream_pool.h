#pragma once
// Idle upstream TLS connections kept for reuse (HTTP/1.1 keep-alive): a keep-alive
// request costs ~50 µs, a new handshake milliseconds (ENGINEERING-NOTES §4).
//
// A connection is filed under its own verified host:port (TlsConnection::host()/port()),
// so it can never be handed out for another host. Bounded per host:port and in total
// (the oldest idle connection goes first), and idle connections expire. Take() discards
// what it finds dead on the way: a peer that closed (FIN/RST), sent something unasked
// (a close_notify alert), or left unread bytes. Dropped connections get a best-effort
// close_notify and are freed (mbedTLS zeroizes the context), which closes their fds.
//
// No plaintext lives here: an idle connection's mbedTLS buffers hold only ciphertext
// and already-zeroized bytes (docs/enclave-tls.md §8).
//
// Thread-safe: one internal mutex guards the list (docs/proxy.md: the enclave's channel
// threads share one pool). A connection is used by one thread at a time: the one that
// took it. Liveness probes run under the mutex (they never block); dropped connections
// are closed after it is released.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "enclave/tls/tls_connection.h"

namespace keycell::enclave::tls {

struct UpstreamPoolLimits {
  size_t max_per_host = 16;  // per host:port
  size_t max_total = 64;
  // Below common server keep-alive timeouts (nginx 75 s, many load balancers 60 s), so
  // we usually drop a connection before the server does.
  std::chrono::milliseconds idle_timeout{30000};
};

class UpstreamPool {
 public:
  explicit UpstreamPool(UpstreamPoolLimits limits = {}) : limits_(limits) {}
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // The most recently parked live connection to host:port, or nullptr. Expired and
  // dead connections met on the way are dropped. Never blocks on I/O (one poll(0) and
  // maybe a recv(MSG_PEEK) per candidate).
  std::unique_ptr<TlsConnection> Take(std::string_view host, uint16_t port,
                                      Clock::time_point now = Clock::now());

  // Parks `conn` (after a complete exchange) under conn->host():conn->port(). Refuses
  // and drops it if it is not IdleAndAlive(). Evicts the oldest idle connection of that
  // host:port, or overall, to stay within the limits. Returns whether it was parked.
  bool Put(std::unique_ptr<TlsConnection> conn, Clock::time_point now = Clock::now());

  // Drops connections idle for idle_timeout or longer; returns how many. Call it from
  // the serve loop now and then, so an idle fd does not outlive its usefulness.
  size_t EvictIdle(Clock::time_point now = Clock::now());

  // Drops everything (e.g. at Lock).
  void Clear();

  size_t size() const;
  size_t size(std::string_view host, uint16_t port) const;

 private:
  struct Idle {
    std::unique_ptr<TlsConnection> conn;
    Clock::time_point since;
  };
  using Dropped = std::vector<std::unique_ptr<TlsConnection>>;

  bool Expired(const Idle& e, Clock::time_point now) const {
    return now - e.since >= limits_.idle_timeout;
  }
  // Moves idle_[i] to `dropped` (closed once the mutex is released).
  void DropLocked(size_t i, Dropped* dropped);
  size_t SizeLocked(std::string_view host, uint16_t port) const;
  // Best-effort close_notify, then destruction (closes the fds).
  static void Close(Dropped* dropped);

  const UpstreamPoolLimits limits_;
  mutable std::mutex mu_;
  std::vector<Idle> idle_;  // oldest first; at most max_total
};

}  // namespace keycell::enclave::tls

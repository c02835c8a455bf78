#pragma once
// A TLS server for the enclave TLS tests, on 127.0.0.1:<ephemeral> only. One accept
// thread plus one thread per connection (at most kMaxConnections), so idle pooled
// connections can stay open while new ones are made. Modes:
//   kTlsEcho   TLS handshake (counted: full / resumed / failed), then echoes application
//              data until the client closes; answers close_notify with close_notify.
//   kSilent    accepts and reads, never writes (handshake timeouts).
//   kPlainText answers the first bytes with a plain HTTP 400 and closes (not TLS).
// Every wait is a poll slice checking a stop flag, and each connection has a 30 s
// budget, so a broken test cannot hang ctest.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/enclave/tls/tls_test_pki.h"

namespace keycell::enclave::tls::test {

enum class ServerMode { kTlsEcho, kSilent, kPlainText };

struct TlsTestServerOptions {
  ServerMode mode = ServerMode::kTlsEcho;
  CertAndKey identity;            // kTlsEcho only
  std::vector<int> ciphersuites;  // empty: mbedTLS's defaults
  bool session_cache = true;      // resumption by session ID
  bool session_tickets = true;    // resumption by RFC 5077 ticket
};

class TlsTestServer {
 public:
  static constexpr int kMaxConnections = 64;

  // Returns nullptr after ADD_FAILURE if setup fails.
  static std::unique_ptr<TlsTestServer> Start(TlsTestServerOptions options);
  ~TlsTestServer();  // stops and joins every thread

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int handshakes() const { return handshakes_.load(); }       // completed
  int resumed_handshakes() const { return resumed_.load(); }  // cache hit or valid ticket
  int full_handshakes() const { return handshakes() - resumed_handshakes(); }
  int failed_handshakes() const { return failed_.load(); }
  // Connections currently open on the server side.
  int open_connections() const;
  // shutdown(SHUT_RDWR) of every open connection: the clients see a bare FIN.
  void DropConnections();
  // Wait (bounded, 10 s) until the counter reaches `n`; false on timeout. The server
  // counts a handshake a moment after the client has finished its side, so check counts
  // through these unless an echo round trip already ordered things.
  bool WaitForHandshakes(int n) const { return WaitFor(handshakes_, n); }
  bool WaitForFailedHandshakes(int n) const { return WaitFor(failed_, n); }

 private:
  struct Tls;
  TlsTestServer() = default;
  void AcceptLoop();
  void Serve(int fd);
  void ServeTls(int fd);
  static bool WaitFor(const std::atomic<int>& counter, int n);

  TlsTestServerOptions options_;
  std::unique_ptr<Tls> tls_;
  UniqueFd listen_fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0}, handshakes_{0}, resumed_{0}, failed_{0};
  mutable std::mutex mu_;
  std::set<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;

  friend struct TlsServerCallbacks;
};

// The broker's part: a blocking TCP connection to 127.0.0.1:port. Invalid on failure
// (after ADD_FAILURE).
UniqueFd ConnectLoopback(uint16_t port);

}  // namespace keycell::enclave::tls::test

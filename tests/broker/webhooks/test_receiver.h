#pragma once
// A webhook receiver for the delivery tests: one thread serving HTTP/1.1 (or HTTPS with a
// test certificate, via mbedTLS) on 127.0.0.1:<ephemeral>, one connection at a time. It
// records each request's raw body and headers and answers from a script:
//   a status code (e.g. 500)   answer with it
//   kHang                      read the request, never answer (until the client closes
//                              or the receiver stops)
// When the script runs out it answers `default_reply` (200 unless changed).
// Every wait is bounded (poll slices with a stop flag, socket timeouts), so a broken
// test cannot hang ctest.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/broker/webhooks/test_pki.h"

namespace keycell::broker::webhooks::test {

inline constexpr int kHang = 0;

struct ReceivedRequest {
  std::string request_line;                    // "POST /hook HTTP/1.1"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // raw bytes, exactly as received
  std::chrono::steady_clock::time_point at;    // when the request was complete
};

class TestReceiver {
 public:
  // Listens on 127.0.0.1:0; with `tls`, serves HTTPS with that certificate and key.
  // Returns nullptr (after ADD_FAILURE) if the socket or TLS setup fails.
  static std::unique_ptr<TestReceiver> Start(std::optional<CertAndKey> tls = std::nullopt);
  ~TestReceiver();  // stops and joins

  uint16_t port() const { return port_; }
  void Script(std::vector<int> replies);
  void set_default_reply(int reply);

  std::vector<ReceivedRequest> requests() const;
  int tls_handshake_failures() const { return handshake_failures_.load(); }
  // Waits until at least `n` requests were received.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  TestReceiver() = default;
  void Run();
  void Serve(int fd);
  int NextReply();

  struct Tls;
  std::unique_ptr<Tls> tls_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshake_failures_{0};
  mutable std::mutex mu_;
  std::deque<int> script_;
  int default_reply_ = 200;
  std::vector<ReceivedRequest> requests_;
  std::thread thread_;
};

}  // namespace keycell::broker::webhooks::test

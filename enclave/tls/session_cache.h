#pragma once
// Saved TLS sessions by host:port, so the next connection to a host resumes (an
// abbreviated handshake: ~0.2 ms instead of 4-11 ms of ECDHE + chain verification,
// ENGINEERING-NOTES §4). One session per host:port; bounded; entries expire.
//
// A session is keyed by the host it was *verified* for (SavedSession::host(), set by
// TlsConnection), never by a caller-chosen key, and TlsConnection::Connect refuses a
// session for another host:port: a resumed handshake shows no certificate.
//
// Thread-safe (one internal mutex, held only for list operations, never across a
// handshake): Find hands out shared ownership, so an entry replaced or evicted while a
// handshake on another thread still reads it stays alive until that handshake is done.
// Each entry holds a master secret until its last owner drops it
// (mbedtls_ssl_session_free zeroizes it).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "enclave/tls/tls_connection.h"

namespace keycell::enclave::tls {

struct SessionCacheLimits {
  size_t max_entries = 64;
  // Servers' ticket lifetimes are typically hours; a shorter cap bounds how long a
  // master secret sits in memory. An expired ticket costs only a full handshake.
  std::chrono::seconds max_age{3600};
};

class SessionCache {
 public:
  explicit SessionCache(SessionCacheLimits limits = {}) : limits_(limits) {}
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // Keeps `session` for its host:port, replacing an older one. When full, drops the
  // oldest entry. Never fails; blocks only on the mutex.
  void Store(SavedSession session);
  // The session for host:port, or nullptr (none, or expired: then it is dropped). Pass
  // .get() to TlsConnection::Connect; keep the pointer until Connect returns.
  std::shared_ptr<const SavedSession> Find(std::string_view host, uint16_t port,
                                           Clock::time_point now = Clock::now());
  // Drops the session for host:port, if any.
  void Forget(std::string_view host, uint16_t port);
  size_t size() const;

 private:
  void ForgetLocked(std::string_view host, uint16_t port);

  const SessionCacheLimits limits_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const SavedSession>> entries_;  // oldest first
};

}  // namespace keycell::enclave::tls

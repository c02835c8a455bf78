#pragma once
// Limits, timeouts and hooks of the HTTP server (server.h) and of each connection it
// serves (connection.h). The defaults suit keycelld on loopback; tests shrink them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace keycell::broker::http {

inline constexpr size_t kDefaultMaxConnections = 256;
inline constexpr size_t kDefaultMaxHeaderBytes = 16 * 1024;
inline constexpr size_t kDefaultMaxHeaderFields = 100;
inline constexpr uint64_t kDefaultMaxBodyBytes = 64ull * 1024 * 1024;
// A JSON API body (ReadAll) rarely needs more; vault_secret caps values at 64 KiB.
inline constexpr size_t kDefaultJsonBodyBytes = 1024 * 1024;

// One line of the access log. Only these fields exist: no header value, no query string,
// no body, so a log line cannot carry a credential.
struct AccessLogEntry {
  std::string_view method;  // as sent ("GET"); "-" if the request line did not parse
  std::string_view path;    // raw path without query; "-" if the target was refused
  int status = 0;           // 0: the connection closed before any response
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  std::chrono::microseconds latency{0};  // first request byte -> response done
  std::string_view peer_ip;
};
using AccessLogFn = std::function<void(const AccessLogEntry&)>;

struct ServerOptions {
  // Connections served at once; one more gets "503" and is closed.
  size_t max_connections = kDefaultMaxConnections;
  // Request line + header fields (431 beyond), and how many fields (431 beyond).
  size_t max_header_bytes = kDefaultMaxHeaderBytes;
  size_t max_header_fields = kDefaultMaxHeaderFields;
  // No request body may exceed this, streamed or not: a larger Content-Length is refused
  // with 413 before the handler runs; a chunked body fails the handler's read (413).
  uint64_t max_body_bytes = kDefaultMaxBodyBytes;
  // From the first byte of a request (or accept, for the first) to its last header byte.
  std::chrono::milliseconds header_timeout{10'000};
  // Keep-alive: how long a connection may wait, idle, for its next request.
  std::chrono::milliseconds idle_timeout{60'000};
  // Longest wait for the next bytes of a request body.
  std::chrono::milliseconds body_timeout{30'000};
  // Longest wait for the socket to accept more response bytes.
  std::chrono::milliseconds write_timeout{30'000};
  // Accept "GET http://host/path" (forward-proxy style). Off: such targets get 400.
  bool allow_absolute_form = false;
  // Called on the connection thread after every response (and for refused requests);
  // must be thread-safe and quick.
  AccessLogFn access_log;
};

}  // namespace keycell::broker::http

#pragma once
// HttpsUpstream: a recording HTTP/1.1 origin server for the end-to-end tests, on
// 127.0.0.1:<ephemeral> only, over TLS (mbedTLS 2.28, a certificate from the test PKI
// of tests/enclave/tls/tls_test_pki.h) or plain TCP. It records every request it
// receives and answers according to the request path. Tests only.
//
// Routes (by the path of the request target; an absolute-form target such as
// "https://host/echo" is routed by its path; HEAD gets GET's head without a body):
//   /echo          200 application/json:
//                    {"method":"POST","target":"/echo?x=1","headers":[["Host","h"],...],
//                     "body_bytes":N,"body_sha256":"<64 hex>"}
//                  Headers in received order, names as spelled. Strings are JSON-escaped
//                  to pure ASCII: \" \\ and every byte < 0x20, 0x7f or >= 0x80 as \u00XX
//                  (a non-ASCII byte is shown as its Latin-1 code point).
//   /status/NNN    status NNN (200..599) with body "status NNN\n" (none for 204/304/HEAD).
//                  For 3xx, `Location:` is the percent-decoded query parameter `to`,
//                  e.g. /status/302?to=https://evil.example/x (absent without `to`).
//   /bytes/N       N bytes of Pattern() with Content-Length, streamed (N <= kMaxPatternBytes).
//   /chunked/N     the same bytes, Transfer-Encoding: chunked, chunks of <= 8 KiB.
//   /sse/N         text/event-stream, chunked: N events "data: event <i>\n\n" (i = 0..N-1),
//                  one chunk each, each written at once, kSsePause between them
//                  (N <= kMaxSseEvents).
//   /leak          Options::leak_secret echoed in every form of LeakForms(): a response
//                  header `X-Leak: <raw secret>` and a chunked text/plain body with one
//                  line per form, "<label>=<form>\n", one chunk per line — except the
//                  "split" line, whose secret is cut in the middle across two chunks:
//                  "split=<first half>" | "<second half>\n". The json line's form is
//                  inside a JSON string: json="\u00XX...". 404 if leak_secret is empty.
//   /close         200 "bye" with Connection: close; then close_notify (TLS) and close.
//   anything else  404.
// An unparsable request (head or chunked framing) gets 400 and the connection closes; it
// is counted by malformed_requests() and not recorded. A parsable request with a bad
// number in its path (/status/99, /bytes/x) is recorded, then gets 400 and a close.
//
// Request reading: request line "METHOD SP target SP HTTP/1.x" and header lines
// "name: value", CRLF-terminated; the head is capped at kMaxHeadBytes; obs-fold, bare LF
// and control characters are malformed. The body is framed by Transfer-Encoding ending
// in "chunked" (chunk extensions and trailers accepted, trailers dropped) or by
// Content-Length (duplicates must agree), else empty. With both, chunked wins and the
// connection closes after the response (RFC 9112 §6.1). "Expect: 100-continue" gets an
// interim 100 before the body is read. A body is never stored whole: only its byte
// count, a running SHA-256 and its first kBodyPrefixBytes, so a 64 MiB upload costs
// constant memory. A request is recorded once its body has been read, before the
// response is written: when a client has a response, its request is in requests().
//
// Connections: keep-alive (HTTP/1.1) until the client closes, sends "Connection: close"
// or uses HTTP/1.0, or /close. One accept thread plus one thread per open connection,
// at most Options::max_connections open at once (more are accepted and closed at once:
// rejected_connections()). Every wait is a poll slice checking a stop flag, and each
// connection lives at most Options::connection_budget, so a broken test cannot hang
// ctest. TCP_NODELAY is set, so each write leaves at once (the /sse timing relies on it).
//
// TLS: TLS 1.2 (mbedTLS defaults), session resumption by session ID cache and by RFC 5077
// ticket (Options::session_resumption), counted in resumed_handshakes(). The SNI the
// client sent is recorded with each request.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "tests/enclave/tls/tls_test_pki.h"

namespace keycell::test {

using ::keycell::enclave::tls::test::CertAndKey;
using ::keycell::enclave::tls::test::TestCa;

// One request as the upstream received it.
struct RecordedRequest {
  std::string method;
  std::string target;  // as received (origin-form "/p?q" or absolute-form)
  // Every header line, in order, name spelled as received, value without surrounding
  // spaces/tabs. Duplicates are kept.
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t body_bytes = 0;                // after removing chunked framing
  std::string body_prefix;                // the first min(body_bytes, kBodyPrefixBytes) body bytes
  std::array<uint8_t, 32> body_sha256{};  // SHA-256 of the whole (de-chunked) body
  int connection_index = -1;              // 0-based, in accept order (accepted() counts them)
  std::string tls_sni;                    // server name the TLS client sent; empty if none or plain

  // The value of the first header named `name` (ASCII case-insensitive), or nullptr.
  const std::string* Header(std::string_view name) const;
  // How many header lines are named `name` (ASCII case-insensitive).
  size_t HeaderCount(std::string_view name) const;
};

// One encoded form of the leak secret, as /leak writes it and as a redaction test must
// not find it in what the client received.
struct LeakForm {
  std::string label;  // "raw", "base64", "base64url", "percent", "json"
  std::string value;
};

struct HttpsUpstreamOptions {
  // Server certificate and key PEM (e.g. TestCa::Issue("localhost")). TLS only.
  CertAndKey identity;
  // false: plain HTTP on the same port (identity ignored), for http:// tests.
  bool tls = true;
  // Echoed by /leak. Must be 1..kMaxLeakSecretBytes bytes of printable ASCII (it goes
  // into a header line unencoded); Start() fails otherwise (empty: /leak is 404).
  std::string leak_secret;
  // Connections open at once; more are closed right after accept.
  int max_connections = 64;
  // Each connection's whole life, idle keep-alive time included.
  std::chrono::milliseconds connection_budget = std::chrono::seconds(30);
  // Session ID cache and session tickets (TLS only).
  bool session_resumption = true;
};

class HttpsUpstream {
 public:
  using Options = HttpsUpstreamOptions;

  static constexpr size_t kBodyPrefixBytes = 4096;
  static constexpr size_t kMaxHeadBytes = 64 * 1024;
  static constexpr uint64_t kMaxPatternBytes = uint64_t{1} << 32;  // /bytes, /chunked
  static constexpr int kMaxSseEvents = 1000;
  static constexpr std::chrono::milliseconds kSsePause{50};
  static constexpr size_t kMaxLeakSecretBytes = 1024;

  // Listens on 127.0.0.1:0 and starts the accept thread. Returns nullptr after
  // ADD_FAILURE if the TLS identity does not parse, leak_secret is invalid, or the
  // socket cannot be set up.
  static std::unique_ptr<HttpsUpstream> Start(Options options);
  // Stops and joins every thread (each notices within a poll slice, ~20 ms); open
  // connections are closed without close_notify.
  ~HttpsUpstream();
  HttpsUpstream(const HttpsUpstream&) = delete;
  HttpsUpstream& operator=(const HttpsUpstream&) = delete;

  uint16_t port() const { return port_; }
  bool tls() const { return options_.tls; }
  // "https://<host>:<port><path>" ("http://" without TLS). `host` should be the name the
  // certificate was issued for ("localhost" resolves to 127.0.0.1).
  std::string Url(std::string_view host, std::string_view path = "") const;

  // ---- What was received. Thread-safe. ----
  std::vector<RecordedRequest> requests() const;  // a copy, in completion order
  size_t request_count() const;
  // Waits (bounded, 10 s) until at least `n` requests are recorded; false on timeout.
  bool WaitForRequests(size_t n) const;

  // ---- Counters. Thread-safe. ----
  int accepted() const { return accepted_.load(); }              // TCP connections accepted
  int rejected_connections() const { return rejected_.load(); }  // over max_connections
  int handshakes() const { return handshakes_.load(); }          // completed TLS handshakes
  int resumed_handshakes() const { return resumed_.load(); }     // session cache hit / valid ticket
  int full_handshakes() const { return handshakes() - resumed_handshakes(); }
  int failed_handshakes() const { return failed_.load(); }
  int malformed_requests() const { return malformed_.load(); }
  // Waits (bounded, 10 s) for the counter: the server counts a handshake a moment after
  // the client has finished its side.
  bool WaitForHandshakes(int n) const;
  bool WaitForFailedHandshakes(int n) const;
  // Connections currently open on the server side.
  int open_connections() const;
  // shutdown(SHUT_RDWR) of every open connection: clients see a bare FIN (no
  // close_notify); pooled client connections become stale.
  void DropConnections();

  // ---- Expected data, for assertions. ----
  // Byte i of every /bytes and /chunked body: 'a' + i % 26.
  static char PatternByte(uint64_t i) { return static_cast<char>('a' + i % 26); }
  static std::string Pattern(uint64_t n);  // bytes 0..n-1 (keep n small)
  // SHA-256 of Pattern(n), computed piecewise (constant memory, any n).
  static std::array<uint8_t, 32> PatternSha256(uint64_t n);
  static std::array<uint8_t, 32> Sha256(std::string_view data);
  static std::string Hex(const std::array<uint8_t, 32>& digest);  // lower-case
  // Every encoded form /leak writes for `secret`: raw, standard base64 (padded),
  // URL-safe base64 (unpadded, so also a prefix of the padded form), every byte as %XX
  // (upper-case hex), every byte as the JSON escape \u00XX (upper-case hex; the form
  // without the surrounding quotes). The "split" line carries the raw form again, cut
  // across two chunks, so it is not listed separately.
  static std::vector<LeakForm> LeakForms(std::string_view secret);

 private:
  struct Tls;
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  HttpsUpstream();
  void AcceptLoop();
  void ReapFinishedLocked();  // joins finished workers; mu_ held
  void Serve(int fd, int index);
  void Record(RecordedRequest request);
  static bool WaitFor(const std::atomic<int>& counter, int n);

  Options options_;
  std::unique_ptr<Tls> tls_;
  UniqueFd listen_fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0}, rejected_{0}, handshakes_{0}, resumed_{0}, failed_{0},
      malformed_{0};

  mutable std::mutex mu_;  // open_fds_, workers_
  std::set<int> open_fds_;
  std::list<Worker> workers_;  // a list: a running thread refers to its element
  std::thread acceptor_;

  mutable std::mutex records_mu_;
  mutable std::condition_variable records_cv_;
  std::vector<RecordedRequest> records_;
};

// Writes `pem` to `path` (created or truncated, mode 0644), e.g. a TestCa's cert_pem()
// for the daemon's tls.extra_ca_file. False after ADD_FAILURE on error.
bool WritePemFile(const std::string& path, const std::string& pem);
inline bool WriteCaFile(const TestCa& ca, const std::string& path) {
  return WritePemFile(path, ca.cert_pem());
}

}  // namespace keycell::test

#pragma once
// One TLS 1.2 client session to an upstream, over a TCP socket the broker connected and
// handed over by SCM_RIGHTS (docs/enclave-tls.md §4). The enclave never creates sockets:
// a compromised broker can point the fd anywhere, so what makes the peer the right one
// is certificate verification against the host name the *caller* passes in — which
// must come from the sealed policy, never from the broker's request.
//
// I/O: the fd is used with MSG_DONTWAIT sends/recvs (no fcntl(O_NONBLOCK) needed, so the
// seccomp filter need not admit F_SETFL); mbedTLS's WANT_READ/WANT_WRITE are turned into
// poll(2) waits bounded by the call's deadline. Syscalls after lockdown: sendto (NULL
// address), recvfrom, poll, getsockopt(SOL_SOCKET, SO_TYPE) at Connect, getrandom (DRBG
// reseed), close. Never select(), read(), write(), fcntl().
//
// Errors carry fixed `where` literals (below), never peer-supplied text, so the broker
// can map them to a 502 with a reason. After any failed Connect/Read/WriteAll the
// connection is unusable (broken()) and must be dropped.
//
// Plaintext: the library keeps no decrypted application data beyond a call. mbedTLS
// 2.28 decrypts records in place in the context's input buffer and zeroizes every byte
// it copies out (ssl_msg.c, mbedtls_ssl_read); it encrypts output records in place, so
// after WriteAll returns the output buffer holds only ciphertext; mbedtls_ssl_free
// zeroizes both buffers (ssl_tls.c). Bytes of a record the caller has not read yet stay
// in the input buffer until the next Read (see docs/enclave-tls.md §8).
//
// A connection is used by one thread at a time; connections on different threads may
// share one TlsClientConfig.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "enclave/tls/mbed_ctx.h"
#include "enclave/tls/tls_client_config.h"

namespace keycell::enclave::tls {

using Clock = std::chrono::steady_clock;
// The instant a call gives up with kTimeout (CLOCK_MONOTONIC, a vDSO read).
using Deadline = Clock::time_point;

// ---- The `where` of every failure a caller may want to tell apart. ----
// Certificate verification (Err::kTls, detail = mbedTLS verify flags). When several
// apply, the first in this list wins: the name or dates of an untrusted certificate mean
// nothing.
inline constexpr char kCertNotTrusted[] = "tls: certificate not trusted";
inline constexpr char kCertNameMismatch[] = "tls: certificate name mismatch";
inline constexpr char kCertExpired[] = "tls: certificate expired";    // or not yet valid
inline constexpr char kCertRejected[] = "tls: certificate rejected";  // key usage, weak key/hash
// Any other handshake failure: no common suite/curve, alert from the server, not TLS at
// all, peer closed. Err::kTls (detail = mbedTLS code) or Err::kUpstreamIo (detail =
// errno) when the socket itself failed.
inline constexpr char kHandshakeFailed[] = "tls: handshake failed";
// A deadline passed (Err::kTimeout), in the handshake or in Read/WriteAll.
inline constexpr char kTlsTimeout[] = "tls: timeout";
// Refused before any byte is sent (Err::kInvalidArgument).
inline constexpr char kHostIsIpLiteral[] = "tls: host is an IP literal (cannot be verified)";
inline constexpr char kBadHostName[] = "tls: invalid host name";
inline constexpr char kNotStreamSocket[] = "tls: fd is not a stream socket";
inline constexpr char kSessionForOtherHost[] = "tls: saved session belongs to another host:port";
// After the handshake (Err::kTls / kUpstreamIo as above).
inline constexpr char kReadFailed[] = "tls: read failed";
inline constexpr char kWriteFailed[] = "tls: write failed";
inline constexpr char kConnectionBroken[] = "tls: connection unusable after an earlier error";

// Checks that `host` is a DNS name we can put in SNI and verify: 1..253 bytes of
// LDH labels (letters, digits, '-', not at a label's ends) of 1..63 bytes, no trailing
// dot. IP literals are refused with kHostIsIpLiteral — IPv6 (any ':' or '['), dotted
// IPv4 and the numeric forms inet_aton accepts ("127.1", "0x7f.1"): a final label that is
// all digits or 0x-hex. mbedTLS 2.28 matches only dNSName/CN, never iPAddress SANs, so
// such a host could never be verified. Case is not changed (mbedTLS compares
// case-insensitively). Errors: kInvalidArgument kBadHostName / kHostIsIpLiteral.
Status CheckHostName(std::string_view host);

// A TLS session saved after a verified handshake, to resume later with the same
// host:port (RFC 5077 ticket or session ID; 0.2 ms instead of 4-11 ms, ENGINEERING-NOTES
// §4). It holds the session's master secret (key material, not a credential); freeing it
// zeroizes it (mbedtls_ssl_session_free). Move-only.
class SavedSession {
 public:
  SavedSession(SavedSession&&) noexcept = default;
  SavedSession& operator=(SavedSession&&) noexcept = default;
  SavedSession(const SavedSession&) = delete;
  SavedSession& operator=(const SavedSession&) = delete;

  // The verified host and the port it was saved for. A resumed handshake does not
  // verify the certificate again, which is why a session is only ever offered to the
  // same host:port (TlsConnection::Connect enforces it).
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  Clock::time_point saved_at() const { return saved_at_; }

 private:
  friend class TlsConnection;
  SavedSession(std::string host, uint16_t port, Clock::time_point saved_at,
               std::unique_ptr<SslSession> session)
      : host_(std::move(host)), port_(port), saved_at_(saved_at), session_(std::move(session)) {}

  std::string host_;
  uint16_t port_ = 0;
  Clock::time_point saved_at_;
  std::unique_ptr<SslSession> session_;
};

class TlsConnection {
 public:
  // Takes ownership of `fd` (a connected SOCK_STREAM socket; blocking or not, it is only
  // used with MSG_DONTWAIT) and performs the handshake with SNI and certificate
  // verification for `host`, bounded by `deadline`. `port` only names the connection
  // (pool and session keys); the enclave cannot check where the fd really goes, and
  // need not: the certificate decides. With `resume` (which must have been saved for
  // this host:port) an abbreviated handshake is offered; if the server declines, a full
  // one (with verification) follows silently. `config` is borrowed and must outlive the
  // connection. Blocks up to `deadline`. On failure the fd is closed.
  // Errors: kInvalidArgument (kBadHostName, kHostIsIpLiteral, kNotStreamSocket,
  // kSessionForOtherHost), kTls (kCert*, kHandshakeFailed; "tls: ssl_setup" etc. on
  // allocation failure), kUpstreamIo (kHandshakeFailed, detail = errno), kTimeout
  // (kTlsTimeout).
  static Result<std::unique_ptr<TlsConnection>> Connect(const TlsClientConfig& config, UniqueFd fd,
                                                        std::string_view host, uint16_t port,
                                                        Deadline deadline,
                                                        const SavedSession* resume = nullptr);

  // Not copyable or movable: mbedTLS holds `this` as its BIO context.
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;
  // Frees (zeroizes) the mbedTLS context, then closes the fd. Sends nothing: call
  // CloseNotify() first for an orderly close.
  ~TlsConnection();

  // Reads application data into `buf` (the caller's memory, which it wipes if the data
  // is secret), blocking until at least one byte arrives or `deadline`. Returns the byte
  // count; 0 means the peer closed (closed_cleanly() tells whether with close_notify; a
  // close without it may be a truncation). Errors: kInvalidArgument (empty buf), kTls
  // kReadFailed, kUpstreamIo kReadFailed (detail = errno, e.g. ECONNRESET), kTimeout
  // kTlsTimeout, kConnectionBroken.
  Result<size_t> Read(MutableByteView buf, Deadline deadline);

  // Writes all of `data` or fails, blocking up to `deadline`. mbedTLS copies each record
  // into its output buffer and encrypts it there in place. Errors: kTls / kUpstreamIo
  // kWriteFailed, kTimeout kTlsTimeout, kConnectionBroken. A failure may leave part of
  // `data` sent: the connection is then broken.
  Status WriteAll(ByteView data, Deadline deadline);

  // Best effort, never blocks: one attempt to send close_notify. The connection can no
  // longer be used for data afterwards (but is still owned: destroy it).
  void CloseNotify();

  // Saves the session for a later Connect(..., resume) to the same host:port. Errors:
  // kConnectionBroken, kTls "tls: get_session" (detail = mbedTLS code).
  Result<SavedSession> SaveSession() const;

  // For the idle pool: true when the connection can carry another request — no earlier
  // error, no EOF or close_notify either way, no buffered bytes in mbedTLS, and the
  // socket neither readable (a peer's FIN, RST, or an unexpected record such as a
  // close_notify alert) nor in error. One poll(2) with timeout 0 and, if readable, one
  // recv(MSG_PEEK). Never blocks.
  bool IdleAndAlive() const;

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  // Whether the handshake resumed a SavedSession (no certificate exchange).
  bool resumed() const { return resumed_; }
  // Whether Read saw the peer's close_notify (as opposed to a bare TCP close).
  bool closed_cleanly() const { return peer_close_notify_; }
  bool broken() const { return broken_; }
  // mbedTLS's static name of the negotiated suite, e.g.
  // "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256" (not peer-supplied text).
  const char* ciphersuite() const;
  // The socket, borrowed (for a caller's own poll). Do not read or write it directly.
  int fd() const { return fd_.get(); }

 private:
  TlsConnection(UniqueFd fd, std::string_view host, uint16_t port)
      : fd_(std::move(fd)), host_(host), port_(port) {}

  Status Setup(const TlsClientConfig& config, const SavedSession* resume);
  Status Handshake(Deadline deadline);
  // Waits for what mbedTLS asked for (WANT_READ -> POLLIN, WANT_WRITE -> POLLOUT).
  Status Wait(int want, Deadline deadline);
  // Maps an mbedTLS failure to a Status and marks the connection broken.
  Status Fail(int rc, const char* where);
  Status Broken(Status s) {
    broken_ = true;
    return s;
  }

  static int SendCb(void* ctx, const unsigned char* buf, size_t len);
  static int RecvCb(void* ctx, unsigned char* buf, size_t len);

  // Declaration order: ssl_ is destroyed (and zeroized) before the fd is closed.
  UniqueFd fd_;
  std::string host_;
  uint16_t port_;
  int io_errno_ = 0;  // errno behind the last BIO failure, 0 if none
  bool broken_ = false;
  bool resumed_ = false;
  bool eof_ = false;                // Read returned 0
  bool peer_close_notify_ = false;  // ... because of close_notify
  bool sent_close_notify_ = false;
  SslContext ssl_;
};

}  // namespace keycell::enclave::tls

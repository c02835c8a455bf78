#include "enclave/tls/tls_connection.h"

#include <mbedtls/net_sockets.h>
#include <mbedtls/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace keycell::enclave::tls {
namespace {

constexpr size_t kMaxHostBytes = 253;
constexpr size_t kMaxLabelBytes = 63;
constexpr char kConnectionClosed[] = "tls: connection already closed";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLdh(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// What inet_aton (and the WHATWG URL host parser) would read as an IPv4 part: decimal,
// or 0x-hex. A real TLD is never numeric, so such a last label means an address.
bool IsNumericLabel(std::string_view label) {
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X'))
    return std::all_of(label.begin() + 2, label.end(), IsHexDigit);
  return std::all_of(label.begin(), label.end(), IsDigit);
}

// Most specific first (see kCertNotTrusted in the header).
Status VerifyFailure(uint32_t flags) {
  const auto detail = static_cast<int32_t>(flags);
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return Status(Err::kTls, kCertNotTrusted, detail);
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return Status(Err::kTls, kCertNameMismatch, detail);
  if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
    return Status(Err::kTls, kCertExpired, detail);
  return Status(Err::kTls, kCertRejected, detail);
}

// getsockopt alone: ENOTSOCK for anything that is not a socket, so no fstat is needed.
Status CheckStreamSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    return Status(Err::kInvalidArgument, kNotStreamSocket, errno);
  if (type != SOCK_STREAM) return Status(Err::kInvalidArgument, kNotStreamSocket, type);
  return Status::Ok();
}

}  // namespace

Status CheckHostName(std::string_view host) {
  // IPv6 in any spelling (bare, bracketed, with a zone or port) has ':' or '['.
  if (host.find_first_of(":[]") != std::string_view::npos)
    return Status(Err::kInvalidArgument, kHostIsIpLiteral);
  if (host.empty() || host.size() > kMaxHostBytes)
    return Status(Err::kInvalidArgument, kBadHostName);
  std::string_view last;
  size_t start = 0;
  while (true) {
    const size_t dot = host.find('.', start);
    const std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Empty labels cover a leading, doubled or trailing dot.
    if (label.empty() || label.size() > kMaxLabelBytes || label.front() == '-' ||
        label.back() == '-' || !std::all_of(label.begin(), label.end(), IsLdh))
      return Status(Err::kInvalidArgument, kBadHostName);
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (IsNumericLabel(last)) return Status(Err::kInvalidArgument, kHostIsIpLiteral);
  return Status::Ok();
}

Result<std::unique_ptr<TlsConnection>> TlsConnection::Connect(const TlsClientConfig& config,
                                                              UniqueFd fd, std::string_view host,
                                                              uint16_t port, Deadline deadline,
                                                              const SavedSession* resume) {
  KC_RETURN_IF_ERROR(CheckHostName(host));
  KC_RETURN_IF_ERROR(CheckStreamSocket(fd.get()));
  // A resumed handshake skips the certificate: a session verified for one host must
  // never stand in for another (exact match, as saved).
  if (resume != nullptr &&
      (resume->session_ == nullptr || resume->host_ != host || resume->port_ != port))
    return Status(Err::kInvalidArgument, kSessionForOtherHost);
  std::unique_ptr<TlsConnection> conn(new TlsConnection(std::move(fd), host, port));
  KC_RETURN_IF_ERROR(conn->Setup(config, resume));
  KC_RETURN_IF_ERROR(conn->Handshake(deadline));
  if (resume != nullptr) {
    // An abbreviated handshake keeps the master secret; a full one derives a new one.
    const mbedtls_ssl_session* now = mbedtls_ssl_get_session_pointer(conn->ssl_.get());
    conn->resumed_ = now != nullptr && std::memcmp(now->master, resume->session_->get()->master,
                                                   sizeof(now->master)) == 0;
  }
  return conn;
}

TlsConnection::~TlsConnection() = default;

Status TlsConnection::Setup(const TlsClientConfig& config, const SavedSession* resume) {
  int rc = mbedtls_ssl_setup(ssl_.get(), config.get());
  if (rc != 0) return Broken(Status(Err::kTls, "tls: ssl_setup", rc));
  // SNI and the name the certificate must carry: the caller's host (from the sealed
  // policy), nothing the broker or the peer said.
  rc = mbedtls_ssl_set_hostname(ssl_.get(), host_.c_str());
  if (rc != 0) return Broken(Status(Err::kTls, "tls: set_hostname", rc));
  mbedtls_ssl_set_bio(ssl_.get(), this, &SendCb, &RecvCb, nullptr);
  if (resume != nullptr) {
    rc = mbedtls_ssl_set_session(ssl_.get(), resume->session_->get());
    if (rc != 0) return Broken(Status(Err::kTls, "tls: set_session", rc));
  }
  return Status::Ok();
}

Status TlsConnection::Handshake(Deadline deadline) {
  while (true) {
    const int rc = mbedtls_ssl_handshake(ssl_.get());
    if (rc == 0) return Status::Ok();
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      KC_RETURN_IF_ERROR(Wait(rc, deadline));
      continue;
    }
    return Fail(rc, kHandshakeFailed);
  }
}

Status TlsConnection::Wait(int want, Deadline deadline) {
  const short events = want == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN;
  while (true) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return Broken(Status(Err::kTimeout, kTlsTimeout));
    const int64_t left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd_.get(), events, 0};
    const int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, INT_MAX)));
    // POLLERR/POLLHUP count as ready: the next send/recv reports what happened.
    if (rc > 0) return Status::Ok();
    if (rc < 0 && errno != EINTR)
      return Broken(Status(Err::kUpstreamIo, "tls: poll failed", errno));
  }
}

Status TlsConnection::Fail(int rc, const char* where) {
  broken_ = true;
  if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || rc == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) {
    // BAD_HS_CERTIFICATE with flags set: the leaf's key failed our curve/usage checks.
    const uint32_t flags = mbedtls_ssl_get_verify_result(ssl_.get());
    if (flags != 0 && flags != UINT32_MAX) return VerifyFailure(flags);
  }
  if (io_errno_ != 0) return Status(Err::kUpstreamIo, where, io_errno_);
  return Status(Err::kTls, where, rc);
}

// BIO: never blocks (MSG_DONTWAIT); EAGAIN becomes WANT_*, which the caller turns into
// a poll bounded by its deadline. MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE.
int TlsConnection::SendCb(void* ctx, const unsigned char* buf, size_t len) {
  auto* self = static_cast<TlsConnection*>(ctx);
  while (true) {
    const ssize_t n = send(self->fd_.get(), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<int>(n);  // len <= one record, far below INT_MAX
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_WANT_WRITE;
    self->io_errno_ = errno;
    return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
  }
}

int TlsConnection::RecvCb(void* ctx, unsigned char* buf, size_t len) {
  auto* self = static_cast<TlsConnection*>(ctx);
  while (true) {
    const ssize_t n = recv(self->fd_.get(), buf, len, MSG_DONTWAIT);
    if (n >= 0) return static_cast<int>(n);  // 0: EOF, mbedTLS reports CONN_EOF
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_WANT_READ;
    self->io_errno_ = errno;
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
  }
}

Result<size_t> TlsConnection::Read(MutableByteView buf, Deadline deadline) {
  if (broken_) return Status(Err::kInternal, kConnectionBroken);
  if (sent_close_notify_) return Status(Err::kInternal, kConnectionClosed);
  if (buf.empty()) return Status(Err::kInvalidArgument, "tls: empty read buffer");
  if (eof_) return size_t{0};
  const size_t want = std::min(buf.size(), size_t{INT_MAX});
  while (true) {
    // mbedTLS zeroizes the plaintext it copies into `buf` from its input buffer.
    const int rc = mbedtls_ssl_read(ssl_.get(), buf.data(), want);
    if (rc > 0) return static_cast<size_t>(rc);
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      // 0: the TCP stream ended without close_notify (2.28 maps CONN_EOF to 0).
      eof_ = true;
      peer_close_notify_ = rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY;
      return size_t{0};
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      KC_RETURN_IF_ERROR(Wait(rc, deadline));
      continue;
    }
    return Fail(rc, kReadFailed);
  }
}

Status TlsConnection::WriteAll(ByteView data, Deadline deadline) {
  if (broken_) return Status(Err::kInternal, kConnectionBroken);
  if (sent_close_notify_ || eof_) return Status(Err::kInternal, kConnectionClosed);
  size_t done = 0;
  while (done < data.size()) {
    // mbedTLS takes at most one record per call and returns how much it took. After
    // WANT_*, the same call is repeated with the same arguments, as it requires.
    const size_t chunk = std::min(data.size() - done, size_t{INT_MAX});
    const int rc = mbedtls_ssl_write(ssl_.get(), data.data() + done, chunk);
    if (rc > 0) {
      done += static_cast<size_t>(rc);
      continue;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      KC_RETURN_IF_ERROR(Wait(rc, deadline));
      continue;
    }
    return Fail(rc, kWriteFailed);
  }
  return Status::Ok();
}

void TlsConnection::CloseNotify() {
  if (sent_close_notify_ || broken_) return;
  sent_close_notify_ = true;
  // One non-blocking attempt; WANT_WRITE leaves the alert unsent, which is acceptable
  // for a connection we are abandoning anyway.
  (void)mbedtls_ssl_close_notify(ssl_.get());
}

Result<SavedSession> TlsConnection::SaveSession() const {
  if (broken_) return Status(Err::kInternal, kConnectionBroken);
  auto session = std::make_unique<SslSession>();
  const int rc = mbedtls_ssl_get_session(ssl_.get(), session->get());
  if (rc != 0) return Status(Err::kTls, "tls: get_session", rc);
  return SavedSession(host_, port_, Clock::now(), std::move(session));
}

bool TlsConnection::IdleAndAlive() const {
  if (broken_ || eof_ || sent_close_notify_) return false;
  // Decrypted-but-unread data, or a partial record: the previous exchange left bytes.
  if (mbedtls_ssl_get_bytes_avail(ssl_.get()) != 0 || mbedtls_ssl_check_pending(ssl_.get()) != 0)
    return false;
  pollfd p{fd_.get(), POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return true;  // nothing to read: idle
  if (rc < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return false;
  // Readable while idle: a FIN (recv 0) or an unsolicited record, in practice the
  // close_notify alert a server sends before closing an idle connection. Either way the
  // next request would fail.
  unsigned char byte;
  const ssize_t n = recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

const char* TlsConnection::ciphersuite() const { return mbedtls_ssl_get_ciphersuite(ssl_.get()); }

}  // namespace keycell::enclave::tls

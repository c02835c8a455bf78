#include "broker/webhooks/http_transport.h"

#include <mbedtls/net_sockets.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

#include "broker/webhooks/http_client.h"

namespace keycell::broker::webhooks::internal {
namespace {

using Clock = std::chrono::steady_clock;

// ECDHE with AEAD only; the server picks among them.
constexpr int kCiphersuites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                                 0};
// X25519 first (the 2.28 default prefers slow secp521r1); P-256/P-384 stay because the
// same list gates ECDSA certificate curves in TLS 1.2 (ENGINEERING-NOTES §4).
constexpr mbedtls_ecp_group_id kCurves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                            MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};

constexpr unsigned char kDrbgPersonalization[] = "keycell-webhooks";

class PlainConnection : public Connection {
 public:
  PlainConnection(UniqueFd fd, const Deadline& deadline)
      : fd_(std::move(fd)), deadline_(deadline) {}

  Status WriteAll(ByteView data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        KC_RETURN_IF_ERROR(WaitFd(fd_.get(), POLLOUT, deadline_, timeout_where_));
        continue;
      }
      return Status(Err::kUpstreamIo, "webhooks: send failed", errno);
    }
    return Status::Ok();
  }

  Result<size_t> ReadSome(MutableByteView buf) override {
    while (true) {
      const ssize_t n = recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return size_t{0};  // a reset after the answer is an EOF to us
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return Status(Err::kUpstreamIo, "webhooks: recv failed", errno);
      KC_RETURN_IF_ERROR(WaitFd(fd_.get(), POLLIN, deadline_, timeout_where_));
    }
  }

 private:
  UniqueFd fd_;
  Deadline deadline_;
};

// Member order is destruction order reversed: ssl_ goes before conf_, conf_ before drbg_
// (the config points at the DRBG, the context at the config).
class TlsConnection : public Connection {
 public:
  TlsConnection(UniqueFd fd, const Deadline& deadline) : fd_(std::move(fd)), deadline_(deadline) {}

  Status Setup(const std::string& host, const mbedtls_x509_crt* trust);
  Status Handshake();
  Status WriteAll(ByteView data) override;
  Result<size_t> ReadSome(MutableByteView buf) override;
  void Shutdown() override {
    // One try, no waiting: the answer is in, and the socket closes right after.
    io_status_ = Status::Ok();
    (void)mbedtls_ssl_close_notify(ssl_.get());
  }

 private:
  static int SendCb(void* ctx, const unsigned char* buf, size_t len);
  static int RecvCb(void* ctx, unsigned char* buf, size_t len);
  // The I/O failure behind an mbedTLS error, if the BIO saw one; else `fallback`.
  Status Failure(int rc, const char* fallback) const {
    if (!io_status_.ok()) return io_status_;
    return Status(Err::kTls, fallback, rc);
  }

  UniqueFd fd_;
  Deadline deadline_;
  Status io_status_;  // why the BIO last failed (timeout, cancel, errno)
  Entropy entropy_;
  CtrDrbg drbg_;
  SslConfig conf_;
  SslContext ssl_;
};

int TlsConnection::SendCb(void* ctx, const unsigned char* buf, size_t len) {
  auto* self = static_cast<TlsConnection*>(ctx);
  while (true) {
    const ssize_t n = send(self->fd_.get(), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      self->io_status_ = WaitFd(self->fd_.get(), POLLOUT, self->deadline_, self->timeout_where_);
      if (!self->io_status_.ok()) return MBEDTLS_ERR_SSL_TIMEOUT;
      continue;
    }
    self->io_status_ = Status(Err::kUpstreamIo, "webhooks: send failed", errno);
    return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
  }
}

int TlsConnection::RecvCb(void* ctx, unsigned char* buf, size_t len) {
  auto* self = static_cast<TlsConnection*>(ctx);
  while (true) {
    const ssize_t n = recv(self->fd_.get(), buf, len, MSG_DONTWAIT);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      self->io_status_ = WaitFd(self->fd_.get(), POLLIN, self->deadline_, self->timeout_where_);
      if (!self->io_status_.ok()) return MBEDTLS_ERR_SSL_TIMEOUT;
      continue;
    }
    if (errno == ECONNRESET) return MBEDTLS_ERR_NET_CONN_RESET;
    self->io_status_ = Status(Err::kUpstreamIo, "webhooks: recv failed", errno);
    return MBEDTLS_ERR_NET_RECV_FAILED;
  }
}

Status TlsConnection::Setup(const std::string& host, const mbedtls_x509_crt* trust) {
  int rc = mbedtls_ctr_drbg_seed(drbg_.get(), mbedtls_entropy_func, entropy_.get(),
                                 kDrbgPersonalization, sizeof(kDrbgPersonalization) - 1);
  if (rc != 0) return Status(Err::kTls, "webhooks: ctr_drbg_seed", rc);
  rc = mbedtls_ssl_config_defaults(conf_.get(), MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                   MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc != 0) return Status(Err::kTls, "webhooks: ssl_config_defaults", rc);
  // REQUIRED, never OPTIONAL: a failed verification aborts the handshake before a byte
  // of the payload is sent.
  mbedtls_ssl_conf_authmode(conf_.get(), MBEDTLS_SSL_VERIFY_REQUIRED);
  // mbedTLS takes a non-const chain but only reads it while verifying.
  mbedtls_ssl_conf_ca_chain(conf_.get(), const_cast<mbedtls_x509_crt*>(trust), nullptr);
  mbedtls_ssl_conf_rng(conf_.get(), mbedtls_ctr_drbg_random, drbg_.get());
  mbedtls_ssl_conf_min_version(conf_.get(), MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(conf_.get(), kCiphersuites);
  mbedtls_ssl_conf_curves(conf_.get(), kCurves);
  rc = mbedtls_ssl_setup(ssl_.get(), conf_.get());
  if (rc != 0) return Status(Err::kTls, "webhooks: ssl_setup", rc);
  // SNI and the name the certificate must carry: the URL's host, nothing else.
  rc = mbedtls_ssl_set_hostname(ssl_.get(), host.c_str());
  if (rc != 0) return Status(Err::kTls, "webhooks: ssl_set_hostname", rc);
  mbedtls_ssl_set_bio(ssl_.get(), this, &SendCb, &RecvCb, nullptr);
  return Status::Ok();
}

// Most specific first; an untrusted chain is reported as such even if the name is wrong
// too, since the name of an untrusted certificate means nothing.
Status VerifyFailure(uint32_t flags) {
  const auto detail = static_cast<int32_t>(flags);
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return Status(Err::kTls, kCertNotTrusted, detail);
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return Status(Err::kTls, kCertNameMismatch, detail);
  if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
    return Status(Err::kTls, kCertExpired, detail);
  return Status(Err::kTls, kCertVerifyFailed, detail);
}

Status TlsConnection::Handshake() {
  while (true) {
    const int rc = mbedtls_ssl_handshake(ssl_.get());
    if (rc == 0) return Status::Ok();
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
      return VerifyFailure(mbedtls_ssl_get_verify_result(ssl_.get()));
    return Failure(rc, kTlsHandshakeFailed);
  }
}

Status TlsConnection::WriteAll(ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    const int rc = mbedtls_ssl_write(ssl_.get(), data.data() + done, data.size() - done);
    if (rc > 0) {
      done += static_cast<size_t>(rc);
      continue;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    return Failure(rc, "webhooks: tls write failed");
  }
  return Status::Ok();
}

Result<size_t> TlsConnection::ReadSome(MutableByteView buf) {
  while (true) {
    const int rc = mbedtls_ssl_read(ssl_.get(), buf.data(), buf.size());
    if (rc >= 0) return static_cast<size_t>(rc);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_NET_CONN_RESET)
      return size_t{0};
    return Failure(rc, "webhooks: tls read failed");
  }
}

}  // namespace

Status WaitFd(int fd, short events, const Deadline& deadline, const char* timeout_where) {
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline.at - Clock::now());
    if (left.count() <= 0) return Status(Err::kTimeout, timeout_where);
    pollfd fds[2] = {{fd, events, 0}, {deadline.cancel_fd, POLLIN, 0}};
    const nfds_t n = deadline.cancel_fd >= 0 ? 2 : 1;
    const int timeout = static_cast<int>(std::min<int64_t>(left.count() + 1, INT_MAX));
    const int rc = poll(fds, n, timeout);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Status(Err::kUpstreamIo, "webhooks: poll failed", errno);
    if (n == 2 && fds[1].revents != 0) return Status(Err::kUnavailable, kCancelled);
    // POLLERR/POLLHUP count as ready: the next send/recv reports what happened.
    if (fds[0].revents != 0) return Status::Ok();
  }
}

std::unique_ptr<Connection> MakePlainConnection(UniqueFd fd, const Deadline& deadline) {
  return std::make_unique<PlainConnection>(std::move(fd), deadline);
}

Result<std::unique_ptr<Connection>> MakeTlsConnection(UniqueFd fd, const std::string& host,
                                                      const mbedtls_x509_crt* trust,
                                                      const Deadline& deadline) {
  auto conn = std::make_unique<TlsConnection>(std::move(fd), deadline);
  conn->set_timeout_where(kHandshakeTimeout);
  KC_RETURN_IF_ERROR(conn->Setup(host, trust));
  KC_RETURN_IF_ERROR(conn->Handshake());
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace keycell::broker::webhooks::internal

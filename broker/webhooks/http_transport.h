#pragma once
// Internal to kc_broker_webhooks (http_client.cc): a connected TCP socket, plain or
// wrapped in an mbedTLS client session, with every wait bounded by one Deadline. No
// mbedtls_net_*: our own BIO callbacks poll(2) with the deadline and a cancel fd
// (STYLE.md §3.3.3), and send with MSG_NOSIGNAL.

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::webhooks::internal {

// BoringSSL-style owner of an mbedTLS context: init in the constructor, free (which
// zeroizes) in the destructor. Not copyable and not movable: an ssl context points at its
// config, a config at its DRBG.
template <typename T, void (*Init)(T*), void (*Free)(T*)>
class MbedCtx {
 public:
  MbedCtx() { Init(&ctx_); }
  ~MbedCtx() { Free(&ctx_); }
  MbedCtx(const MbedCtx&) = delete;
  MbedCtx& operator=(const MbedCtx&) = delete;
  T* get() { return &ctx_; }
  const T* get() const { return &ctx_; }

 private:
  T ctx_;
};
using SslConfig = MbedCtx<mbedtls_ssl_config, mbedtls_ssl_config_init, mbedtls_ssl_config_free>;
using SslContext = MbedCtx<mbedtls_ssl_context, mbedtls_ssl_init, mbedtls_ssl_free>;
using X509Crt = MbedCtx<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using Entropy = MbedCtx<mbedtls_entropy_context, mbedtls_entropy_init, mbedtls_entropy_free>;
using CtrDrbg = MbedCtx<mbedtls_ctr_drbg_context, mbedtls_ctr_drbg_init, mbedtls_ctr_drbg_free>;

// When an attempt must give up, and an fd whose readability means "stop now" (-1: none).
struct Deadline {
  std::chrono::steady_clock::time_point at;
  int cancel_fd = -1;
};

// Waits until `fd` has `events` (POLLIN/POLLOUT). Errors: kTimeout with `timeout_where`,
// kUnavailable (kCancelled) when cancel_fd became readable, kUpstreamIo (poll failed).
Status WaitFd(int fd, short events, const Deadline& deadline, const char* timeout_where);

inline constexpr char kCancelled[] = "webhooks: delivery cancelled (shutting down)";

class Connection {
 public:
  virtual ~Connection() = default;
  // Writes all of `data` or fails. Errors: kTimeout, kUnavailable, kUpstreamIo, kTls.
  virtual Status WriteAll(ByteView data) = 0;
  // Reads what is available (at least one byte, blocking until the deadline); 0 = the
  // peer closed. Errors as WriteAll.
  virtual Result<size_t> ReadSome(MutableByteView buf) = 0;
  // Best effort: a TLS close_notify. Never fails loudly.
  virtual void Shutdown() {}
  // The kTimeout `where` for waits from now on, naming the step (a string literal).
  void set_timeout_where(const char* where) { timeout_where_ = where; }

 protected:
  const char* timeout_where_ = "webhooks: timed out";
};

// A plain TCP connection over `fd` (non-blocking, connected).
std::unique_ptr<Connection> MakePlainConnection(UniqueFd fd, const Deadline& deadline);

// Performs the TLS handshake over `fd` (non-blocking, connected) with SNI and certificate
// verification for `host` against `trust` (VERIFY_REQUIRED; TLS 1.2 is the floor and the
// ceiling of mbedTLS 2.28). `trust` must outlive the connection. Errors: the
// certificate-verification `where`s of http_client.h (kTls, detail = verify flags),
// "webhooks: tls handshake failed" (kTls, detail = mbedTLS code), the I/O errors above.
Result<std::unique_ptr<Connection>> MakeTlsConnection(UniqueFd fd, const std::string& host,
                                                      const mbedtls_x509_crt* trust,
                                                      const Deadline& deadline);

}  // namespace keycell::broker::webhooks::internal

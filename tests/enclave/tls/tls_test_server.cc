#include "tests/enclave/tls/tls_test_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace keycell::enclave::tls::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kConnectionBudget = std::chrono::seconds(30);
constexpr int kPollSliceMs = 20;

// One accepted connection's raw I/O: every wait bounded by the stop flag and budget.
struct ConnIo {
  int fd;
  const std::atomic<bool>* stop;
  Clock::time_point deadline;

  bool Wait(short events) const {
    while (!stop->load() && Clock::now() < deadline) {
      pollfd p{fd, events, 0};
      if (poll(&p, 1, kPollSliceMs) > 0) return true;
    }
    return false;
  }
};

int BioSend(void* ctx, const unsigned char* buf, size_t len) {
  const auto* io = static_cast<const ConnIo*>(ctx);
  while (true) {
    const ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && io->Wait(POLLOUT)) continue;
    return MBEDTLS_ERR_NET_SEND_FAILED;
  }
}

int BioRecv(void* ctx, unsigned char* buf, size_t len) {
  const auto* io = static_cast<const ConnIo*>(ctx);
  if (!io->Wait(POLLIN)) return MBEDTLS_ERR_SSL_TIMEOUT;
  const ssize_t n = recv(io->fd, buf, len, 0);
  return n < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : static_cast<int>(n);
}

}  // namespace

struct TlsTestServer::Tls {
  Tls() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&cert);
    mbedtls_pk_init(&key);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_cache_init(&cache);
    mbedtls_ssl_ticket_init(&ticket);
  }
  ~Tls() {
    mbedtls_ssl_ticket_free(&ticket);
    mbedtls_ssl_cache_free(&cache);
    mbedtls_ssl_config_free(&conf);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&cert);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt cert;
  mbedtls_pk_context key;
  mbedtls_ssl_config conf;
  mbedtls_ssl_cache_context cache;
  mbedtls_ssl_ticket_context ticket;
  std::vector<int> suites;  // zero-terminated, outlives conf
};

// Wrappers around mbedTLS's own cache and ticket callbacks that count resumptions: a
// server-side cache hit or a valid ticket is what makes a handshake abbreviated.
struct TlsServerCallbacks {
  static int CacheGet(void* ctx, mbedtls_ssl_session* session) {
    auto* s = static_cast<TlsTestServer*>(ctx);
    const int rc = mbedtls_ssl_cache_get(&s->tls_->cache, session);
    if (rc == 0) ++s->resumed_;
    return rc;
  }
  static int CacheSet(void* ctx, const mbedtls_ssl_session* session) {
    return mbedtls_ssl_cache_set(&static_cast<TlsTestServer*>(ctx)->tls_->cache, session);
  }
  static int TicketWrite(void* ctx, const mbedtls_ssl_session* session, unsigned char* start,
                         const unsigned char* end, size_t* tlen, uint32_t* lifetime) {
    return mbedtls_ssl_ticket_write(&static_cast<TlsTestServer*>(ctx)->tls_->ticket, session, start,
                                    end, tlen, lifetime);
  }
  static int TicketParse(void* ctx, mbedtls_ssl_session* session, unsigned char* buf, size_t len) {
    auto* s = static_cast<TlsTestServer*>(ctx);
    const int rc = mbedtls_ssl_ticket_parse(&s->tls_->ticket, session, buf, len);
    if (rc == 0) ++s->resumed_;
    return rc;
  }

  static bool Setup(TlsTestServer* s) {
    TlsTestServer::Tls& t = *s->tls_;
    const TlsTestServerOptions& o = s->options_;
    static const unsigned char kPers[] = "keycell-enclave-tls-test-server";
    if (mbedtls_ctr_drbg_seed(&t.drbg, mbedtls_entropy_func, &t.entropy, kPers,
                              sizeof(kPers) - 1) != 0 ||
        mbedtls_x509_crt_parse(&t.cert,
                               reinterpret_cast<const unsigned char*>(o.identity.cert_pem.c_str()),
                               o.identity.cert_pem.size() + 1) != 0 ||
        mbedtls_pk_parse_key(&t.key,
                             reinterpret_cast<const unsigned char*>(o.identity.key_pem.c_str()),
                             o.identity.key_pem.size() + 1, nullptr, 0) != 0 ||
        mbedtls_ssl_config_defaults(&t.conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
      return false;
    mbedtls_ssl_conf_rng(&t.conf, mbedtls_ctr_drbg_random, &t.drbg);
    if (mbedtls_ssl_conf_own_cert(&t.conf, &t.cert, &t.key) != 0) return false;
    if (!o.ciphersuites.empty()) {
      t.suites = o.ciphersuites;
      t.suites.push_back(0);
      mbedtls_ssl_conf_ciphersuites(&t.conf, t.suites.data());
    }
    if (o.session_cache)
      mbedtls_ssl_conf_session_cache(&t.conf, s, &TlsServerCallbacks::CacheGet,
                                     &TlsServerCallbacks::CacheSet);
    if (o.session_tickets) {
      if (mbedtls_ssl_ticket_setup(&t.ticket, mbedtls_ctr_drbg_random, &t.drbg,
                                   MBEDTLS_CIPHER_AES_256_GCM, 3600) != 0)
        return false;
      mbedtls_ssl_conf_session_tickets_cb(&t.conf, &TlsServerCallbacks::TicketWrite,
                                          &TlsServerCallbacks::TicketParse, s);
    } else {
      mbedtls_ssl_conf_session_tickets(&t.conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    }
    return true;
  }
};

std::unique_ptr<TlsTestServer> TlsTestServer::Start(TlsTestServerOptions options) {
  std::unique_ptr<TlsTestServer> s(new TlsTestServer());
  s->options_ = std::move(options);
  if (s->options_.mode == ServerMode::kTlsEcho) {
    s->tls_ = std::make_unique<Tls>();
    if (!TlsServerCallbacks::Setup(s.get())) {
      ADD_FAILURE() << "test server: TLS setup failed";
      return nullptr;
    }
  }
  s->listen_fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
  socklen_t len = sizeof(addr);
  if (!s->listen_fd_ ||
      bind(s->listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(s->listen_fd_.get(), 64) != 0 ||
      getsockname(s->listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "test server: cannot listen: " << strerror(errno);
    return nullptr;
  }
  s->port_ = ntohs(addr.sin_port);
  s->acceptor_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

TlsTestServer::~TlsTestServer() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
}

int TlsTestServer::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(open_fds_.size());
}

void TlsTestServer::DropConnections() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
}

bool TlsTestServer::WaitFor(const std::atomic<int>& counter, int n) {
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < until) {
    if (counter.load() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void TlsTestServer::AcceptLoop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_.get(), POLLIN, 0};
    if (poll(&p, 1, kPollSliceMs) <= 0) continue;
    const int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++accepted_;
    std::lock_guard<std::mutex> lock(mu_);
    if (workers_.size() >= kMaxConnections) {
      close(fd);
      continue;
    }
    open_fds_.insert(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TlsTestServer::Serve(int fd) {
  const ConnIo io{fd, &stop_, Clock::now() + kConnectionBudget};
  char buf[4096];
  switch (options_.mode) {
    case ServerMode::kTlsEcho:
      ServeTls(fd);
      break;
    case ServerMode::kSilent:
      // Read and discard until the client goes away; never say a word.
      while (io.Wait(POLLIN) && recv(fd, buf, sizeof(buf), 0) > 0) {
      }
      break;
    case ServerMode::kPlainText:
      if (io.Wait(POLLIN) && recv(fd, buf, sizeof(buf), 0) > 0) {
        static const char kReply[] =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)send(fd, kReply, sizeof(kReply) - 1, MSG_NOSIGNAL);
      }
      break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(fd);
  close(fd);
}

void TlsTestServer::ServeTls(int fd) {
  ConnIo io{fd, &stop_, Clock::now() + kConnectionBudget};
  mbedtls_ssl_context ssl;
  mbedtls_ssl_init(&ssl);
  int rc = mbedtls_ssl_setup(&ssl, &tls_->conf);
  mbedtls_ssl_set_bio(&ssl, &io, BioSend, BioRecv, nullptr);
  while (rc == 0 && (rc = mbedtls_ssl_handshake(&ssl)) != 0) {
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
      rc = 0;
    else
      break;
  }
  if (rc != 0) {
    ++failed_;
    mbedtls_ssl_free(&ssl);
    return;
  }
  ++handshakes_;
  unsigned char buf[16384];
  while (true) {
    const int n = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
    if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      (void)mbedtls_ssl_close_notify(&ssl);
      break;
    }
    if (n <= 0) break;
    int done = 0;
    while (done < n) {
      const int w = mbedtls_ssl_write(&ssl, buf + done, static_cast<size_t>(n - done));
      if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (w <= 0) break;
      done += w;
    }
    if (done < n) break;
  }
  mbedtls_ssl_free(&ssl);
}

UniqueFd ConnectLoopback(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect 127.0.0.1:" << port << ": " << strerror(errno);
    return UniqueFd();
  }
  return fd;
}

}  // namespace keycell::enclave::tls::test

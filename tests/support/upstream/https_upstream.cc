#include "tests/support/upstream/https_upstream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mbedtls/base64.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "enclave/tls/mbed_ctx.h"
#include "tests/support/upstream/upstream_http.h"

namespace keycell::test {
namespace {

using Clock = std::chrono::steady_clock;
using enclave::tls::MbedCtx;
using PkKey = MbedCtx<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using SslCache = MbedCtx<mbedtls_ssl_cache_context, mbedtls_ssl_cache_init, mbedtls_ssl_cache_free>;
using SslTicket =
    MbedCtx<mbedtls_ssl_ticket_context, mbedtls_ssl_ticket_init, mbedtls_ssl_ticket_free>;
using Sha256Ctx = MbedCtx<mbedtls_sha256_context, mbedtls_sha256_init, mbedtls_sha256_free>;

constexpr int kPollSliceMs = 20;
constexpr auto kWaitLimit = std::chrono::seconds(10);

const unsigned char* Bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.c_str());
}

// One accepted connection: TLS or plain, every wait bounded by the stop flag and the
// connection's deadline.
class ConnStream final : public upstream::Stream {
 public:
  ConnStream(int fd, const std::atomic<bool>* stop, Clock::time_point deadline)
      : fd_(fd), stop_(stop), deadline_(deadline) {}

  // The server handshake; false on failure (the stream is then unusable).
  bool Handshake(const mbedtls_ssl_config* conf) {
    ssl_ = std::make_unique<enclave::tls::SslContext>();
    if (mbedtls_ssl_setup(ssl_->get(), conf) != 0) return false;
    mbedtls_ssl_set_bio(ssl_->get(), this, &BioSend, &BioRecv, nullptr);
    int rc;
    while ((rc = mbedtls_ssl_handshake(ssl_->get())) != 0) {
      if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) return false;
    }
    return true;
  }

  long Read(char* buf, size_t cap) override {
    if (!ssl_) {
      if (!Wait(POLLIN)) return -1;
      const ssize_t n = recv(fd_, buf, cap, 0);
      return n < 0 ? -1 : static_cast<long>(n);
    }
    while (true) {
      const int n = mbedtls_ssl_read(ssl_->get(), reinterpret_cast<unsigned char*>(buf), cap);
      if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;  // answered in Close()
      return n < 0 ? -1 : n;
    }
  }

  bool WriteAll(std::string_view data) override {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    size_t done = 0;
    while (done < data.size()) {
      const int n = ssl_ ? mbedtls_ssl_write(ssl_->get(), p + done, data.size() - done)
                         : BioSend(this, p + done, data.size() - done);
      if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  bool Pause(std::chrono::milliseconds pause) override {
    const auto until = Clock::now() + pause;
    while (Clock::now() < until) {
      if (stop_->load() || Clock::now() >= deadline_) return false;
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(kPollSliceMs)));
    }
    return !stop_->load();
  }

  // close_notify (TLS) where the connection is still healthy; the caller closes the fd.
  void Close() {
    if (ssl_ && !broken_) (void)mbedtls_ssl_close_notify(ssl_->get());
  }

  const std::string& sni() const { return sni_; }

  // mbedtls_ssl_conf_sni callback: records the name, serves the one certificate.
  static int OnSni(void* /*unused*/, mbedtls_ssl_context* ssl, const unsigned char* name,
                   size_t len) {
    // mbedTLS 2.28 keeps p_bio public; it is the ConnStream set in Handshake().
    static_cast<ConnStream*>(ssl->p_bio)->sni_.assign(reinterpret_cast<const char*>(name), len);
    return 0;
  }

 private:
  bool Wait(short events) const {
    while (!stop_->load() && Clock::now() < deadline_) {
      pollfd p{fd_, events, 0};
      if (poll(&p, 1, kPollSliceMs) > 0) return true;
    }
    return false;
  }

  static int BioSend(void* ctx, const unsigned char* buf, size_t len) {
    auto* self = static_cast<ConnStream*>(ctx);
    while (true) {
      const ssize_t n = send(self->fd_, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return static_cast<int>(n);
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && self->Wait(POLLOUT)) continue;
      self->broken_ = true;
      return MBEDTLS_ERR_NET_SEND_FAILED;
    }
  }

  static int BioRecv(void* ctx, unsigned char* buf, size_t len) {
    auto* self = static_cast<ConnStream*>(ctx);
    if (!self->Wait(POLLIN)) {
      self->broken_ = true;
      return MBEDTLS_ERR_SSL_TIMEOUT;
    }
    const ssize_t n = recv(self->fd_, buf, len, 0);
    if (n <= 0) self->broken_ = true;
    return n < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : static_cast<int>(n);
  }

  int fd_;
  const std::atomic<bool>* stop_;
  Clock::time_point deadline_;
  bool broken_ = false;
  std::string sni_;
  std::unique_ptr<enclave::tls::SslContext> ssl_;
};

}  // namespace

// The server's TLS state, shared read-only by the connection threads (mbedTLS is built
// with MBEDTLS_THREADING_C: the DRBG, the session cache and the ticket keys lock).
// Members are destroyed in reverse order: the config before what it points at.
struct HttpsUpstream::Tls {
  enclave::tls::Entropy entropy;
  enclave::tls::CtrDrbg drbg;
  enclave::tls::X509Crt cert;
  PkKey key;
  SslCache cache;
  SslTicket ticket;
  enclave::tls::SslConfig conf;
  std::atomic<int>* resumed = nullptr;

  // Wrappers around mbedTLS's own cache and ticket callbacks that count resumptions: a
  // cache hit or a valid ticket is what makes a server handshake abbreviated.
  static int CacheGet(void* ctx, mbedtls_ssl_session* session) {
    auto* t = static_cast<Tls*>(ctx);
    const int rc = mbedtls_ssl_cache_get(t->cache.get(), session);
    if (rc == 0) ++*t->resumed;
    return rc;
  }
  static int CacheSet(void* ctx, const mbedtls_ssl_session* session) {
    return mbedtls_ssl_cache_set(static_cast<Tls*>(ctx)->cache.get(), session);
  }
  static int TicketWrite(void* ctx, const mbedtls_ssl_session* session, unsigned char* start,
                         const unsigned char* end, size_t* tlen, uint32_t* lifetime) {
    return mbedtls_ssl_ticket_write(static_cast<Tls*>(ctx)->ticket.get(), session, start, end, tlen,
                                    lifetime);
  }
  static int TicketParse(void* ctx, mbedtls_ssl_session* session, unsigned char* buf, size_t len) {
    auto* t = static_cast<Tls*>(ctx);
    const int rc = mbedtls_ssl_ticket_parse(t->ticket.get(), session, buf, len);
    if (rc == 0) ++*t->resumed;
    return rc;
  }

  bool Setup(const CertAndKey& identity, bool resumption) {
    static const unsigned char kPers[] = "keycell-test-https-upstream";
    if (mbedtls_ctr_drbg_seed(drbg.get(), mbedtls_entropy_func, entropy.get(), kPers,
                              sizeof(kPers) - 1) != 0 ||
        mbedtls_x509_crt_parse(cert.get(), Bytes(identity.cert_pem),
                               identity.cert_pem.size() + 1) != 0 ||
        mbedtls_pk_parse_key(key.get(), Bytes(identity.key_pem), identity.key_pem.size() + 1,
                             nullptr, 0) != 0 ||
        mbedtls_ssl_config_defaults(conf.get(), MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
      return false;
    mbedtls_ssl_conf_rng(conf.get(), mbedtls_ctr_drbg_random, drbg.get());
    if (mbedtls_ssl_conf_own_cert(conf.get(), cert.get(), key.get()) != 0) return false;
    mbedtls_ssl_conf_sni(conf.get(), &ConnStream::OnSni, nullptr);
    if (!resumption) {
      mbedtls_ssl_conf_session_tickets(conf.get(), MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
      return true;
    }
    mbedtls_ssl_conf_session_cache(conf.get(), this, &CacheGet, &CacheSet);
    if (mbedtls_ssl_ticket_setup(ticket.get(), mbedtls_ctr_drbg_random, drbg.get(),
                                 MBEDTLS_CIPHER_AES_256_GCM, 3600) != 0)
      return false;
    mbedtls_ssl_conf_session_tickets_cb(conf.get(), &TicketWrite, &TicketParse, this);
    return true;
  }
};

// ---- RecordedRequest ----

namespace {
bool HeaderNameIs(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

const std::string* RecordedRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (HeaderNameIs(n, name)) return &v;
  }
  return nullptr;
}

size_t RecordedRequest::HeaderCount(std::string_view name) const {
  return static_cast<size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& h) { return HeaderNameIs(h.first, name); }));
}

// ---- Lifecycle ----

HttpsUpstream::HttpsUpstream() = default;

std::unique_ptr<HttpsUpstream> HttpsUpstream::Start(Options options) {
  const std::string& secret = options.leak_secret;
  if (secret.size() > kMaxLeakSecretBytes ||
      !std::all_of(secret.begin(), secret.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    ADD_FAILURE() << "https upstream: leak_secret must be printable ASCII, at most "
                  << kMaxLeakSecretBytes << " bytes";
    return nullptr;
  }
  std::unique_ptr<HttpsUpstream> s(new HttpsUpstream());
  s->options_ = std::move(options);
  if (s->options_.tls) {
    s->tls_ = std::make_unique<Tls>();
    s->tls_->resumed = &s->resumed_;
    if (!s->tls_->Setup(s->options_.identity, s->options_.session_resumption)) {
      ADD_FAILURE() << "https upstream: TLS setup failed (identity PEM?)";
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
    ADD_FAILURE() << "https upstream: cannot listen: " << strerror(errno);
    return nullptr;
  }
  s->port_ = ntohs(addr.sin_port);
  s->acceptor_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

HttpsUpstream::~HttpsUpstream() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::list<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (Worker& w : workers) w.thread.join();
}

std::string HttpsUpstream::Url(std::string_view host, std::string_view path) const {
  return std::string(tls() ? "https://" : "http://") + std::string(host) + ":" +
         std::to_string(port_) + std::string(path);
}

void HttpsUpstream::AcceptLoop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_.get(), POLLIN, 0};
    if (poll(&p, 1, kPollSliceMs) <= 0) continue;
    const int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int index = accepted_++;
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> lock(mu_);
    ReapFinishedLocked();
    // Counted by open fds, not threads: a worker closes its fd (under mu_) a moment
    // before its thread is done.
    if (static_cast<int>(open_fds_.size()) >= options_.max_connections) {
      ++rejected_;
      close(fd);
      continue;
    }
    open_fds_.insert(fd);
    Worker& w = workers_.emplace_back();
    w.thread = std::thread([this, fd, index, &w] {
      Serve(fd, index);
      w.done = true;  // last: the reaper may join from here on
    });
  }
}

void HttpsUpstream::ReapFinishedLocked() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done.load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void HttpsUpstream::Serve(int fd, int index) {
  ConnStream stream(fd, &stop_, Clock::now() + options_.connection_budget);
  bool ok = true;
  if (tls_) {
    ok = stream.Handshake(tls_->conf.get());
    ++(ok ? handshakes_ : failed_);
  }
  upstream::RequestReader reader(stream);
  while (ok) {
    RecordedRequest request;
    bool close_after = false;
    const upstream::Got got = reader.Next(&request, &close_after);
    if (got == upstream::Got::kMalformed) {
      ++malformed_;
      upstream::RespondMalformed(stream);
      break;
    }
    if (got != upstream::Got::kRequest) break;
    request.connection_index = index;
    request.tls_sni = stream.sni();
    Record(request);
    ok = upstream::Respond(stream, request, options_.leak_secret, !close_after);
  }
  stream.Close();
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(fd);
  close(fd);
}

// ---- Records and counters ----

void HttpsUpstream::Record(RecordedRequest request) {
  std::lock_guard<std::mutex> lock(records_mu_);
  records_.push_back(std::move(request));
  records_cv_.notify_all();
}

std::vector<RecordedRequest> HttpsUpstream::requests() const {
  std::lock_guard<std::mutex> lock(records_mu_);
  return records_;
}

size_t HttpsUpstream::request_count() const {
  std::lock_guard<std::mutex> lock(records_mu_);
  return records_.size();
}

bool HttpsUpstream::WaitForRequests(size_t n) const {
  std::unique_lock<std::mutex> lock(records_mu_);
  return records_cv_.wait_for(lock, kWaitLimit, [&] { return records_.size() >= n; });
}

bool HttpsUpstream::WaitFor(const std::atomic<int>& counter, int n) {
  const auto until = Clock::now() + kWaitLimit;
  while (Clock::now() < until) {
    if (counter.load() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return counter.load() >= n;
}

bool HttpsUpstream::WaitForHandshakes(int n) const { return WaitFor(handshakes_, n); }
bool HttpsUpstream::WaitForFailedHandshakes(int n) const { return WaitFor(failed_, n); }

int HttpsUpstream::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(open_fds_.size());
}

void HttpsUpstream::DropConnections() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
}

// ---- Expected data ----

std::string HttpsUpstream::Pattern(uint64_t n) {
  std::string out(static_cast<size_t>(n), '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = PatternByte(i);
  return out;
}

std::array<uint8_t, 32> HttpsUpstream::PatternSha256(uint64_t n) {
  // Pattern has period 26; 26 * 630 bytes per update keeps every piece in phase.
  const std::string period = Pattern(26 * 630);
  Sha256Ctx sha;
  std::array<uint8_t, 32> out{};
  (void)mbedtls_sha256_starts_ret(sha.get(), 0);
  for (uint64_t off = 0; off < n; off += period.size()) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(period.size(), n - off));
    (void)mbedtls_sha256_update_ret(sha.get(), Bytes(period), len);
  }
  (void)mbedtls_sha256_finish_ret(sha.get(), out.data());
  return out;
}

std::array<uint8_t, 32> HttpsUpstream::Sha256(std::string_view data) {
  std::array<uint8_t, 32> out{};
  (void)mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                           out.data(), /*is224=*/0);
  return out;
}

std::string HttpsUpstream::Hex(const std::array<uint8_t, 32>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::vector<LeakForm> HttpsUpstream::LeakForms(std::string_view secret) {
  std::string b64(4 * ((secret.size() + 2) / 3) + 1, '\0');
  size_t b64_len = 0;
  (void)mbedtls_base64_encode(reinterpret_cast<unsigned char*>(b64.data()), b64.size(), &b64_len,
                              reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  b64.resize(b64_len);
  std::string url = b64.substr(0, b64.find('='));
  std::replace(url.begin(), url.end(), '+', '-');
  std::replace(url.begin(), url.end(), '/', '_');
  std::string percent;
  for (unsigned char c : secret) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    percent += '%';
    percent += kHex[c >> 4];
    percent += kHex[c & 15];
  }
  return {{"raw", std::string(secret)},
          {"base64", b64},
          {"base64url", url},
          {"percent", percent},
          {"json", upstream::JsonEscape(secret, /*every_byte=*/true)}};
}

bool WritePemFile(const std::string& path, const std::string& pem) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  for (size_t done = 0; ok && done < pem.size();) {
    const ssize_t n = write(fd, pem.data() + done, pem.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (!ok) ADD_FAILURE() << "cannot write " << path << ": " << strerror(errno);
  return ok;
}

}  // namespace keycell::test

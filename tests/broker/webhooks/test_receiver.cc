#include "tests/broker/webhooks/test_receiver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace keycell::broker::webhooks::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kConnectionBudget = std::chrono::seconds(30);  // per connection, hang included
constexpr int kPollSliceMs = 20;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One accepted connection: raw fd I/O, or TLS on top of it, every wait bounded by the
// stop flag and the connection's deadline.
struct Conn {
  int fd;
  const std::atomic<bool>* stop;
  Clock::time_point deadline;
  mbedtls_ssl_context* ssl = nullptr;

  // true when readable; false on stop or deadline.
  bool WaitReadable() const {
    while (!stop->load() && Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, kPollSliceMs) > 0) return true;
    }
    return false;
  }
  ssize_t RawRead(unsigned char* buf, size_t n) const {
    if (!WaitReadable()) return -1;
    return recv(fd, buf, n, 0);
  }
  ssize_t Read(char* buf, size_t n) const {
    if (ssl == nullptr) return RawRead(reinterpret_cast<unsigned char*>(buf), n);
    while (true) {
      const int rc = mbedtls_ssl_read(ssl, reinterpret_cast<unsigned char*>(buf), n);
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      return rc < 0 ? -1 : rc;
    }
  }
  bool WriteAll(const std::string& data) const {
    size_t done = 0;
    while (done < data.size()) {
      const int rc =
          ssl != nullptr
              ? mbedtls_ssl_write(ssl, reinterpret_cast<const unsigned char*>(data.data()) + done,
                                  data.size() - done)
              : static_cast<int>(send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL));
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (rc <= 0) return false;
      done += static_cast<size_t>(rc);
    }
    return true;
  }
};

int BioSend(void* ctx, const unsigned char* buf, size_t len) {
  const auto* c = static_cast<const Conn*>(ctx);
  const ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
  return n < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : static_cast<int>(n);
}

int BioRecv(void* ctx, unsigned char* buf, size_t len) {
  const auto* c = static_cast<const Conn*>(ctx);
  const ssize_t n = c->RawRead(buf, len);
  return n < 0 ? MBEDTLS_ERR_SSL_TIMEOUT : static_cast<int>(n);
}

// Reads one request (head + Content-Length body). False if the client went away.
bool ReadRequest(const Conn& c, ReceivedRequest* out) {
  std::string data;
  char buf[4096];
  size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = c.Read(buf, sizeof(buf));
    if (n <= 0 || data.size() > (64u << 10)) return false;
    data.append(buf, static_cast<size_t>(n));
  }
  const std::string head = data.substr(0, head_end);
  size_t line_end = head.find("\r\n");
  out->request_line = head.substr(0, line_end);
  while (line_end != std::string::npos && line_end < head.size()) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    out->headers[Lower(line.substr(0, colon))] = value;
  }
  const size_t length =
      std::stoul(out->headers.count("content-length") ? out->headers["content-length"] : "0");
  out->body = data.substr(head_end + 4);
  while (out->body.size() < length) {
    const ssize_t n = c.Read(buf, sizeof(buf));
    if (n <= 0) return false;
    out->body.append(buf, static_cast<size_t>(n));
  }
  out->at = Clock::now();
  return true;
}

}  // namespace

struct TestReceiver::Tls {
  Tls() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&cert);
    mbedtls_pk_init(&key);
    mbedtls_ssl_config_init(&conf);
  }
  ~Tls() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&cert);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  bool Setup(const CertAndKey& id) {
    static const unsigned char kPers[] = "keycell-test-receiver";
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, kPers, sizeof(kPers) - 1) != 0)
      return false;
    if (mbedtls_x509_crt_parse(&cert, reinterpret_cast<const unsigned char*>(id.cert_pem.c_str()),
                               id.cert_pem.size() + 1) != 0)
      return false;
    if (mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(id.key_pem.c_str()),
                             id.key_pem.size() + 1, nullptr, 0) != 0)
      return false;
    if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
      return false;
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    return mbedtls_ssl_conf_own_cert(&conf, &cert, &key) == 0;
  }
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt cert;
  mbedtls_pk_context key;
  mbedtls_ssl_config conf;
};

std::unique_ptr<TestReceiver> TestReceiver::Start(std::optional<CertAndKey> tls) {
  std::unique_ptr<TestReceiver> r(new TestReceiver());
  if (tls) {
    r->tls_ = std::make_unique<Tls>();
    if (!r->tls_->Setup(*tls)) {
      ADD_FAILURE() << "test receiver: TLS setup failed";
      return nullptr;
    }
  }
  r->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
  socklen_t len = sizeof(addr);
  if (r->listen_fd_ < 0 ||
      bind(r->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(r->listen_fd_, 16) != 0 ||
      getsockname(r->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "test receiver: cannot listen: " << strerror(errno);
    return nullptr;
  }
  r->port_ = ntohs(addr.sin_port);
  r->thread_ = std::thread([p = r.get()] { p->Run(); });
  return r;
}

TestReceiver::~TestReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void TestReceiver::Script(std::vector<int> replies) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.assign(replies.begin(), replies.end());
}

void TestReceiver::set_default_reply(int reply) {
  std::lock_guard<std::mutex> lock(mu_);
  default_reply_ = reply;
}

std::vector<ReceivedRequest> TestReceiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

bool TestReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (requests_.size() >= n) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

int TestReceiver::NextReply() {
  std::lock_guard<std::mutex> lock(mu_);
  if (script_.empty()) return default_reply_;
  const int r = script_.front();
  script_.pop_front();
  return r;
}

void TestReceiver::Run() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollSliceMs) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    close(fd);
  }
}

void TestReceiver::Serve(int fd) {
  Conn c{fd, &stop_, Clock::now() + kConnectionBudget};
  mbedtls_ssl_context ssl;
  mbedtls_ssl_init(&ssl);
  if (tls_) {
    bool ok = mbedtls_ssl_setup(&ssl, &tls_->conf) == 0;
    mbedtls_ssl_set_bio(&ssl, &c, BioSend, BioRecv, nullptr);
    int rc;
    while (ok && ((rc = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ ||
                  rc == MBEDTLS_ERR_SSL_WANT_WRITE)) {
    }
    if (!ok || rc != 0) {
      ++handshake_failures_;
      mbedtls_ssl_free(&ssl);
      return;
    }
    c.ssl = &ssl;
  }
  ReceivedRequest req;
  if (ReadRequest(c, &req)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    const int reply = NextReply();
    if (reply == kHang) {
      // Say nothing until the client gives up (closes: readable with EOF) or we stop.
      c.WaitReadable();
    } else {
      c.WriteAll("HTTP/1.1 " + std::to_string(reply) +
                 " Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      if (c.ssl != nullptr) mbedtls_ssl_close_notify(c.ssl);
    }
  }
  mbedtls_ssl_free(&ssl);
}

}  // namespace keycell::broker::webhooks::test

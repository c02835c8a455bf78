#include "enclave/channel/upstream_stream.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

namespace keycell::enclave::channel {
namespace {

class TlsStream final : public UpstreamStream {
 public:
  explicit TlsStream(std::unique_ptr<tls::TlsConnection> conn) : conn_(std::move(conn)) {}
  Result<size_t> Read(MutableByteView buf, Deadline deadline) override {
    return conn_->Read(buf, deadline);
  }
  Status WriteAll(ByteView data, Deadline deadline) override { return conn_->WriteAll(data, deadline); }
  std::unique_ptr<tls::TlsConnection> Release() override { return std::move(conn_); }

 private:
  std::unique_ptr<tls::TlsConnection> conn_;
};

constexpr char kPlainReadFailed[] = "proxy: upstream read failed";
constexpr char kPlainWriteFailed[] = "proxy: upstream write failed";
constexpr char kPlainTimeout[] = "proxy: upstream timed out";

// Waits for `events` on `fd` until `deadline`. Ok when ready (or in error: the next
// send/recv reports it).
Status WaitFor(int fd, short events, Deadline deadline, const char* where) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - tls::Clock::now());
    if (left.count() <= 0) return Status(Err::kTimeout, kPlainTimeout);
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 60'000)));
    if (n > 0) return Status::Ok();
    if (n < 0 && errno != EINTR) return Status(Err::kUpstreamIo, where, errno);
  }
}

class PlainStream final : public UpstreamStream {
 public:
  explicit PlainStream(UniqueFd fd) : fd_(std::move(fd)) {}

  Result<size_t> Read(MutableByteView buf, Deadline deadline) override {
    for (;;) {
      const ssize_t n = recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Status(Err::kUpstreamIo, kPlainReadFailed, errno);
      KC_RETURN_IF_ERROR(WaitFor(fd_.get(), POLLIN, deadline, kPlainReadFailed));
    }
  }

  Status WriteAll(ByteView data, Deadline deadline) override {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = send(fd_.get(), data.data() + off, data.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        return Status(Err::kUpstreamIo, kPlainWriteFailed, errno);
      KC_RETURN_IF_ERROR(WaitFor(fd_.get(), POLLOUT, deadline, kPlainWriteFailed));
    }
    return Status::Ok();
  }

  std::unique_ptr<tls::TlsConnection> Release() override { return nullptr; }

 private:
  UniqueFd fd_;
};

}  // namespace

std::unique_ptr<UpstreamStream> WrapTls(std::unique_ptr<tls::TlsConnection> conn) {
  return std::make_unique<TlsStream>(std::move(conn));
}

std::unique_ptr<UpstreamStream> WrapPlain(UniqueFd fd) { return std::make_unique<PlainStream>(std::move(fd)); }

}  // namespace keycell::enclave::channel

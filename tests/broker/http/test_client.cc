#include "tests/broker/http/test_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace keycell::broker::http::test {
namespace {

using SteadyClock = std::chrono::steady_clock;

int MsLeft(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::optional<std::string> TestResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return std::nullopt;
}

TestClient::~TestClient() { Close(); }

bool TestClient::Connect(uint16_t port) {
  Close();
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

bool TestClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void TestClient::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

void TestClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  buf_.clear();
  eof_ = false;
}

bool TestClient::Fill(SteadyClock::time_point deadline) {
  if (eof_) return false;
  pollfd pfd{fd_, POLLIN, 0};
  const int rc = poll(&pfd, 1, MsLeft(deadline));
  if (rc <= 0) return false;
  char tmp[65536];
  const ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

bool TestClient::ReadLine(std::string* line, SteadyClock::time_point deadline) {
  for (;;) {
    const size_t pos = buf_.find("\r\n");
    if (pos != std::string::npos) {
      *line = buf_.substr(0, pos);
      buf_.erase(0, pos + 2);
      return true;
    }
    if (!Fill(deadline)) return false;
  }
}

bool TestClient::ReadExactly(size_t n, std::string* out, SteadyClock::time_point deadline) {
  while (buf_.size() < n) {
    if (!Fill(deadline)) return false;
  }
  out->append(buf_, 0, n);
  buf_.erase(0, n);
  return true;
}

bool TestClient::ReadHead(TestResponse* out, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string line;
  if (!ReadLine(&line, deadline)) return false;
  if (line.rfind("HTTP/1.1 ", 0) != 0 || line.size() < 12) return false;
  out->status = std::atoi(line.c_str() + 9);
  out->headers.clear();
  for (;;) {
    if (!ReadLine(&line, deadline)) return false;
    if (line.empty()) return true;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return false;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out->headers.emplace_back(line.substr(0, colon), value);
  }
}

std::optional<std::string> TestClient::ReadChunk(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string line;
  if (!ReadLine(&line, deadline)) return std::nullopt;
  char* end = nullptr;
  const unsigned long size = std::strtoul(line.c_str(), &end, 16);
  if (end == line.c_str()) return std::nullopt;
  if (size == 0) {
    // Trailer section: lines until an empty one.
    for (;;) {
      if (!ReadLine(&line, deadline)) return std::nullopt;
      if (line.empty()) return std::string();
    }
  }
  std::string data;
  if (!ReadExactly(size, &data, deadline)) return std::nullopt;
  std::string crlf;
  if (!ReadExactly(2, &crlf, deadline) || crlf != "\r\n") return std::nullopt;
  return data;
}

std::optional<TestResponse> TestClient::ReadResponse(bool head_request,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  TestResponse r;
  if (!ReadHead(&r, timeout)) return std::nullopt;
  if (head_request || r.status == 204 || r.status == 304) return r;
  const auto te = r.Header("Transfer-Encoding");
  const auto cl = r.Header("Content-Length");
  if (te) {
    if (*te != "chunked") return std::nullopt;
    for (;;) {
      auto chunk = ReadChunk(std::chrono::milliseconds(MsLeft(deadline)));
      if (!chunk) return std::nullopt;
      if (chunk->empty()) return r;
      r.body += *chunk;
    }
  }
  if (cl) {
    if (!ReadExactly(std::strtoul(cl->c_str(), nullptr, 10), &r.body, deadline))
      return std::nullopt;
    return r;
  }
  while (Fill(deadline)) {
  }
  if (!eof_) return std::nullopt;  // timed out before the close that ends the body
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

bool TestClient::ReadEof(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (buf_.empty() && Fill(deadline)) {
  }
  return eof_ && buf_.empty();
}

std::string TestClient::ReadAll(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (Fill(deadline)) {
  }
  std::string out = std::move(buf_);
  buf_.clear();
  return out;
}

std::string MakeRequest(std::string_view method, std::string_view target,
                        std::string_view extra_headers, std::string_view body) {
  std::string out;
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  out.append(extra_headers);
  if (!body.empty())
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append("\r\n").append(body);
  return out;
}

}  // namespace keycell::broker::http::test

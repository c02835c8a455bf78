#pragma once
// A raw-socket HTTP/1.1 client for the server tests: sends exact bytes, reads responses
// (Content-Length, chunked or until close) chunk by chunk, every wait bounded in time.
// Test-only and deliberately independent of the server's code (no Beast, no shared
// parser), so a bug cannot hide on both sides.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keycell::broker::http::test {

inline constexpr std::chrono::milliseconds kIoTimeout{10'000};

struct TestResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::string> Header(std::string_view name) const;  // case-insensitive
};

class TestClient {
 public:
  TestClient() = default;
  ~TestClient();
  TestClient(TestClient&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)), eof_(o.eof_) {}
  TestClient& operator=(TestClient&&) = delete;
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool Connect(uint16_t port);  // 127.0.0.1
  bool Send(std::string_view bytes);
  void ShutdownWrite();
  void Close();
  int fd() const { return fd_; }

  // Reads the status line and headers. False on timeout, EOF or garbage.
  bool ReadHead(TestResponse* out, std::chrono::milliseconds timeout = kIoTimeout);
  // For a chunked body: the next chunk's data; nullopt on error; "" for the last chunk
  // (its trailer is consumed too).
  std::optional<std::string> ReadChunk(std::chrono::milliseconds timeout = kIoTimeout);
  // A whole response. `head_request`: no body follows the head.
  std::optional<TestResponse> ReadResponse(bool head_request = false,
                                           std::chrono::milliseconds timeout = kIoTimeout);
  // True when the server closed the connection (EOF, or a reset) within `timeout`, with
  // no further bytes in between.
  bool ReadEof(std::chrono::milliseconds timeout = kIoTimeout);
  // Whatever arrives until EOF or `timeout`.
  std::string ReadAll(std::chrono::milliseconds timeout = kIoTimeout);

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline);  // false: EOF/error/timeout
  bool ReadLine(std::string* line, std::chrono::steady_clock::time_point deadline);
  bool ReadExactly(size_t n, std::string* out, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// One request as bytes; `extra_headers` each end in CRLF.
std::string MakeRequest(std::string_view method, std::string_view target,
                        std::string_view extra_headers = "", std::string_view body = "");

}  // namespace keycell::broker::http::test

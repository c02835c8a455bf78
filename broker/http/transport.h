#pragma once
// The byte stream under one HTTP connection. The server uses FdTransport (a connected TCP
// socket); tests and the fuzz harness use MemoryTransport, so the whole connection loop
// (connection.h) runs without sockets.
//
// Blocking: every call blocks, bounded by a deadline (reads) or a progress timeout
// (writes). Nothing here is thread-safe except FdTransport's fd number, which the server
// may shutdown(2) from another thread to abort a stuck connection.

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::broker::http {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

class Transport {
 public:
  virtual ~Transport() = default;

  // Reads up to `n` (> 0) bytes into `buf`, waiting until at least one byte is available,
  // the peer closes (returns 0), or `deadline` passes. With `interruptible`, the wait
  // also ends when the server is stopping. Errors: kTimeout (deadline), kUnavailable
  // (server stopping, only when interruptible), kUpstreamIo + errno.
  virtual Result<size_t> Read(char* buf, size_t n, Deadline deadline, bool interruptible) = 0;

  // Writes every piece, in order, completely. Each wait for the socket to drain may last
  // up to the transport's write timeout, so a peer that reads slowly but steadily is
  // served and one that stops reading is dropped. Errors: kTimeout, kUpstreamIo + errno
  // (EPIPE/ECONNRESET when the peer went away). After an error the stream is unusable.
  virtual Status Write(std::span<const std::string_view> pieces) = 0;

  // Ends the connection politely after a response that was not preceded by reading the
  // whole request: half-close, then read and discard what the peer still sends for a
  // short bounded time, so the kernel does not answer unread bytes with a RST that could
  // destroy the response in flight (nginx's lingering_close). Never throws; idempotent.
  virtual void LingeringClose() = 0;
};

// A connected stream socket. Does not own the fd (the server closes it, so it can
// shutdown(2) it safely from Stop()). The fd must be non-blocking.
class FdTransport final : public Transport {
 public:
  // `stop_fd`: an eventfd that becomes readable when the server stops (or -1).
  FdTransport(int fd, int stop_fd, std::chrono::milliseconds write_timeout);

  Result<size_t> Read(char* buf, size_t n, Deadline deadline, bool interruptible) override;
  Status Write(std::span<const std::string_view> pieces) override;
  void LingeringClose() override;

 private:
  const int fd_;
  const int stop_fd_;
  const std::chrono::milliseconds write_timeout_;
  bool closed_ = false;
};

// An in-memory peer for tests and fuzzing: reads come from `input`, at most
// `max_read` bytes per call (to exercise partial reads), then EOF; writes append to
// output(). Deadlines never expire (there is nothing to wait for).
class MemoryTransport final : public Transport {
 public:
  explicit MemoryTransport(std::string input, size_t max_read = SIZE_MAX)
      : input_(std::move(input)), max_read_(max_read == 0 ? 1 : max_read) {}

  Result<size_t> Read(char* buf, size_t n, Deadline deadline, bool interruptible) override;
  Status Write(std::span<const std::string_view> pieces) override;
  void LingeringClose() override { lingering_closed_ = true; }

  const std::string& output() const { return output_; }
  size_t unread() const { return input_.size() - pos_; }
  bool lingering_closed() const { return lingering_closed_; }

 private:
  std::string input_;
  size_t pos_ = 0;
  const size_t max_read_;
  std::string output_;
  bool lingering_closed_ = false;
};

// Milliseconds from now until `deadline`, rounded up, clamped to [0, INT_MAX]: the
// timeout argument for poll(2).
int PollTimeoutMs(Deadline deadline);

}  // namespace keycell::broker::http

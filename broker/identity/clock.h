#pragma once
// Time as the identity code sees it, injectable so tests can expire tokens and refill
// rate-limit buckets without sleeping.

#include <atomic>
#include <cstdint>

namespace keycell::broker::identity {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock unix seconds: stored timestamps and expiry.
  virtual int64_t UnixSeconds() const = 0;
  // Monotonic milliseconds: rate limiting, so a wall-clock step cannot refill a bucket.
  virtual int64_t MonotonicMillis() const = 0;
};

// The real clocks (time(2)/CLOCK_REALTIME and CLOCK_MONOTONIC). Thread-safe.
const Clock& SystemClock();

// A clock that moves only when told. Thread-safe (tests advance it while other threads
// read it).
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t unix_seconds = 1'700'000'000) : ms_(unix_seconds * 1000) {}
  int64_t UnixSeconds() const override { return ms_.load() / 1000; }
  int64_t MonotonicMillis() const override { return ms_.load(); }
  // Moves both clocks forward together.
  void AdvanceMillis(int64_t ms) { ms_ += ms; }
  void AdvanceSeconds(int64_t s) { ms_ += s * 1000; }

 private:
  std::atomic<int64_t> ms_;  // one counter, so the two views never disagree
};

}  // namespace keycell::broker::identity

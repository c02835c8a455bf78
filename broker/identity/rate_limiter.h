#pragma once
// Request rate limits: a token bucket per principal (RateLimitKey() in types.h), and an
// unlock-attempt limiter. A refusal carries the seconds until one request would be
// admitted, for "429 Too Many Requests" + "Retry-After". Thread-safe; never blocks
// except on a short internal mutex. Times come from an injectable Clock (monotonic ms).

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/identity/clock.h"

namespace keycell::broker::identity {

inline constexpr uint32_t kDefaultRequestsPerMinute = 600;
inline constexpr uint32_t kDefaultUnlockAttemptsPerMinute = 5;
// Above this many tracked keys, buckets that are full again (idle principals) are
// dropped, so memory stays bounded by the number of recently active principals.
inline constexpr size_t kMaxTrackedRateKeys = 10000;

struct RateLimit {
  uint32_t requests_per_minute = kDefaultRequestsPerMinute;  // 0 = unlimited
  uint32_t burst = 0;  // bucket size; 0 = requests_per_minute (a minute's worth at once)
};

struct RateDecision {
  bool allowed = true;
  int64_t retry_after_seconds = 0;  // >= 1 when refused, 0 when allowed
};

class RateLimiter {
 public:
  // `clock` must outlive the limiter.
  RateLimiter(const Clock& clock, RateLimit default_limit);

  // Takes one request from `key`'s bucket (created full on first use).
  RateDecision Acquire(std::string_view key);
  // A per-key limit (configured per agent or API key), replacing the default for `key`.
  void SetLimit(std::string_view key, RateLimit limit);
  size_t tracked_keys() const;

 private:
  struct Bucket {
    int64_t units = 0;  // 1 request = kUnitsPerRequest units
    int64_t updated_ms = 0;
  };
  RateLimit LimitFor(const std::string& key) const;
  void PruneIdle(int64_t now_ms);

  const Clock& clock_;
  const RateLimit default_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;    // guarded by mu_
  std::unordered_map<std::string, RateLimit> limits_;  // guarded by mu_
};

// Unlock attempts (PIN tries), one budget for the whole daemon whoever asks: the PIN is
// one secret, so its guessing budget is global. Every attempt counts, right or wrong;
// the token's own PIN lockout remains the last line.
class UnlockLimiter {
 public:
  explicit UnlockLimiter(const Clock& clock,
                         uint32_t attempts_per_minute = kDefaultUnlockAttemptsPerMinute);
  // Call before trying a PIN; refused means do not try it.
  RateDecision Attempt() { return limiter_.Acquire("unlock"); }

 private:
  RateLimiter limiter_;
};

}  // namespace keycell::broker::identity

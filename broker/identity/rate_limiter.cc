#include "broker/identity/rate_limiter.h"

#include <algorithm>

namespace keycell::broker::identity {
namespace {

// Bucket arithmetic in integers: one request is 60'000 units, so a limit of R requests
// per minute refills exactly R units per millisecond.
constexpr int64_t kUnitsPerRequest = 60'000;

int64_t Capacity(const RateLimit& l) {
  const uint32_t burst = l.burst != 0 ? l.burst : l.requests_per_minute;
  return int64_t{burst} * kUnitsPerRequest;
}

// The bucket's level at `now_ms`.
int64_t Refilled(int64_t units, int64_t updated_ms, int64_t now_ms, const RateLimit& l) {
  const int64_t cap = Capacity(l);
  if (l.requests_per_minute == 0) return cap;
  // Clamp the elapsed time to what fills the bucket, so elapsed * rate cannot overflow
  // after a long idle period (or go negative if the clock were ever to step back).
  const int64_t fill_ms = cap / l.requests_per_minute + 1;
  const int64_t elapsed = std::clamp<int64_t>(now_ms - updated_ms, 0, fill_ms);
  return std::min(cap, units + elapsed * l.requests_per_minute);
}

}  // namespace

RateLimiter::RateLimiter(const Clock& clock, RateLimit default_limit)
    : clock_(clock), default_(default_limit) {}

RateLimit RateLimiter::LimitFor(const std::string& key) const {
  const auto it = limits_.find(key);
  return it == limits_.end() ? default_ : it->second;
}

RateDecision RateLimiter::Acquire(std::string_view key_view) {
  const std::string key(key_view);
  const int64_t now = clock_.MonotonicMillis();
  std::lock_guard<std::mutex> lock(mu_);
  const RateLimit limit = LimitFor(key);
  if (limit.requests_per_minute == 0) return RateDecision{};
  if (buckets_.size() >= kMaxTrackedRateKeys && !buckets_.contains(key)) PruneIdle(now);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{Capacity(limit), now});
  Bucket& b = it->second;
  b.units = Refilled(b.units, b.updated_ms, now, limit);
  b.updated_ms = now;
  if (b.units >= kUnitsPerRequest) {
    b.units -= kUnitsPerRequest;
    return RateDecision{};
  }
  const int64_t wait_ms =
      (kUnitsPerRequest - b.units + limit.requests_per_minute - 1) / limit.requests_per_minute;
  // Rounded up, so a client that waits exactly Retry-After seconds is admitted.
  return RateDecision{false, std::max<int64_t>(1, (wait_ms + 999) / 1000)};
}

void RateLimiter::SetLimit(std::string_view key, RateLimit limit) {
  std::lock_guard<std::mutex> lock(mu_);
  limits_[std::string(key)] = limit;
  // A lowered limit applies at once: the bucket may not hold more than the new size.
  const auto it = buckets_.find(std::string(key));
  if (it != buckets_.end()) it->second.units = std::min(it->second.units, Capacity(limit));
}

size_t RateLimiter::tracked_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

void RateLimiter::PruneIdle(int64_t now_ms) {
  // A full bucket behaves exactly like a missing one (created full), so dropping it
  // changes no decision.
  std::erase_if(buckets_, [&](const auto& entry) {
    const RateLimit l = LimitFor(entry.first);
    return Refilled(entry.second.units, entry.second.updated_ms, now_ms, l) >= Capacity(l);
  });
}

UnlockLimiter::UnlockLimiter(const Clock& clock, uint32_t attempts_per_minute)
    : limiter_(clock, RateLimit{attempts_per_minute, attempts_per_minute}) {}

}  // namespace keycell::broker::identity

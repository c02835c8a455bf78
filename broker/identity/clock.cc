#include "broker/identity/clock.h"

#include <time.h>

namespace keycell::broker::identity {
namespace {

class RealClock : public Clock {
 public:
  int64_t UnixSeconds() const override { return static_cast<int64_t>(time(nullptr)); }
  int64_t MonotonicMillis() const override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
  }
};

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace keycell::broker::identity

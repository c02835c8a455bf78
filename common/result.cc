#include "common/result.h"

#include <cstdio>
#include <cstdlib>

namespace keycell {

const char* ErrName(Err e) {
  switch (e) {
    case Err::kOk: return "ok";
    case Err::kInternal: return "internal";
    case Err::kBadFrame: return "bad_frame";
    case Err::kTooLarge: return "too_large";
    case Err::kUnknownKey: return "unknown_key";
    case Err::kPolicyDenied: return "policy_denied";
    case Err::kToken: return "token";
    case Err::kTls: return "tls";
    case Err::kUpstreamIo: return "io";
    case Err::kNoMem: return "no_memory";
    case Err::kLocked: return "locked";
    case Err::kBadPin: return "bad_pin";
    case Err::kPinLocked: return "pin_locked";
    case Err::kTampered: return "tampered";
    case Err::kInvalidArgument: return "invalid_argument";
    case Err::kTimeout: return "timeout";
    case Err::kUnavailable: return "unavailable";
  }
  return "unknown";
}

void CheckFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "keycell: invariant violated at %s:%d: %s\n", file, line, cond);
  std::abort();
}

}  // namespace keycell

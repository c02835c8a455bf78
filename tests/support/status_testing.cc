#include "tests/support/status_testing.h"

#include <cstdio>

#include "pkcs11/rv_string.h"

namespace keycell::test {

std::string Describe(const Status& s) {
  if (s.ok()) return "ok";
  char detail[96];
  const auto d = static_cast<uint32_t>(s.detail());
  switch (s.code()) {
    case Err::kToken:
    case Err::kBadPin:
    case Err::kPinLocked:
    case Err::kTampered:  // detail is a CK_RV for these
      std::snprintf(detail, sizeof(detail), "detail 0x%x (%s)", d, pkcs11::RvName(d));
      break;
    default:
      std::snprintf(detail, sizeof(detail), "detail %d", s.detail());
      break;
  }
  return std::string(ErrName(s.code())) + " at " + s.where() + ", " + detail;
}

}  // namespace keycell::test

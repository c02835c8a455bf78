#pragma once
// Internal to kc_broker_config: a Status plus the one-line message for the user.

#include <string>
#include <utility>

#include "common/result.h"

namespace keycell::broker {

// Stores `message` in *why (when non-null) and returns `status`. The Status carries the
// category (a string literal, no allocation); the message carries the names.
inline Status Fail(std::string* why, Status status, std::string message) {
  if (why != nullptr) *why = std::move(message);
  return status;
}

}  // namespace keycell::broker

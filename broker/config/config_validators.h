#pragma once
// Validators named by rows of the key registry (config_keys.cc). Each takes the typed
// value of its row's KeyType and returns "" when valid, else the rule that was broken,
// phrased to follow the key name: "idle_lock: must be at most 30d".

#include <cstddef>
#include <cstdint>
#include <string>

#include "broker/config/config_keys.h"

namespace keycell::broker {

// PATH_MAX - 1: a longer path cannot be opened anyway.
inline constexpr size_t kMaxPathBytes = 4095;
// sun_path is 108 bytes with its NUL; this leaves room for "/" and a socket name.
inline constexpr size_t kMaxRuntimeDirBytes = 80;
// CK_TOKEN_INFO.label is 32 bytes, blank padded.
inline constexpr size_t kMaxTokenLabelBytes = 32;
inline constexpr int64_t kMaxIdleLockSeconds = 30 * 86400;

std::string ValidateAbsolutePath(const Value& v);
std::string ValidateOptionalAbsolutePath(const Value& v);  // "" allowed
std::string ValidateRuntimeDir(const Value& v);
std::string ValidateTokenLabel(const Value& v);
std::string ValidateIdleLock(const Value& v);
std::string ValidateLogLevel(const Value& v);
std::string ValidateListen(const Value& v);
std::string ValidateToolSets(const Value& v);
std::string ValidateRequestsPerMinute(const Value& v);
std::string ValidateUnlockAttempts(const Value& v);

}  // namespace keycell::broker

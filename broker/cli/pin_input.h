#pragma once
// Reading a PIN without it ever touching argv, a std::string or the terminal's echo.

#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::cli {

inline constexpr size_t kMaxPinBytes = 255;

// Reads one line (without its newline) from `fd`: the `--pin-fd N` path for scripts.
// Errors: kInvalidArgument (empty), kTooLarge, kUpstreamIo.
Result<SecureBuffer> ReadPinFromFd(int fd);

// Prompts on /dev/tty with echo off and reads one line. Errors: kUnavailable (no
// terminal: use --pin-fd), kInvalidArgument (empty), kTooLarge.
Result<SecureBuffer> PromptPin(std::string_view prompt);

}  // namespace keycell::cli

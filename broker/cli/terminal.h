#pragma once
// The controlling terminal: no-echo prompts for PINs and values, and yes/no questions.
// A PIN or value read here lives only in a SecureBuffer; it never touches argv, a
// std::string or the terminal's echo.

#include <termios.h>

#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::cli {

inline constexpr size_t kMaxPinBytes = 255;

// /dev/tty with echo turned off (a newline is still echoed, so the cursor moves on
// after Enter) and `prompt` written to it. The destructor restores the previous
// settings, also on every error path. Movable so it can be returned; not copyable.
class NoEchoTerminal {
 public:
  // Errors: kUnavailable (no controlling terminal, or not a terminal: use --pin-fd or
  // a pipe on stdin instead).
  static Result<NoEchoTerminal> Open(std::string_view prompt);
  NoEchoTerminal(NoEchoTerminal&& other) noexcept;
  NoEchoTerminal& operator=(NoEchoTerminal&&) = delete;
  NoEchoTerminal(const NoEchoTerminal&) = delete;
  ~NoEchoTerminal();

  // The terminal fd (read the line from it, or hand it to the enclave).
  int fd() const { return tty_.get(); }

 private:
  NoEchoTerminal(UniqueFd tty, const termios& saved) : tty_(std::move(tty)), saved_(saved) {}
  UniqueFd tty_;
  termios saved_{};
};

// Reads one line (without "\n" or "\r\n") of at most `max_bytes` from `fd`, a byte at a
// time so nothing past the line is consumed. Blocks until the line or EOF arrives.
// Errors: kInvalidArgument (empty line), kTooLarge (over max_bytes), kUpstreamIo.
Result<SecureBuffer> ReadSecretLine(int fd, size_t max_bytes);

// ReadSecretLine(fd, kMaxPinBytes): the `--pin-fd N` path for scripts.
Result<SecureBuffer> ReadPinFromFd(int fd);

// A no-echo prompt on /dev/tty and one line of at most `max_bytes`. Errors: as
// NoEchoTerminal::Open and ReadSecretLine.
Result<SecureBuffer> PromptSecret(std::string_view prompt, size_t max_bytes);

// Asks `question` on /dev/tty and reads an answer; true only for "y" or "yes" (any
// case). False when there is no terminal.
bool AskYesNo(std::string_view question);

// Whether this process has a controlling terminal to prompt on.
bool HaveTerminal();

// Whether `fd` is an open descriptor (for validating --pin-fd N).
bool IsOpenFd(int fd);

}  // namespace keycell::cli

#include "broker/cli/terminal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace keycell::cli {

Result<NoEchoTerminal> NoEchoTerminal::Open(std::string_view prompt) {
  UniqueFd tty(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty) return Status(Err::kUnavailable, "no terminal for the prompt", errno);
  termios saved{};
  if (tcgetattr(tty.get(), &saved) != 0) return Status(Err::kUnavailable, "not a terminal", errno);
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  // TCSAFLUSH: typed-ahead input (possibly echoed already) is dropped, not taken as PIN.
  if (tcsetattr(tty.get(), TCSAFLUSH, &quiet) != 0)
    return Status(Err::kUnavailable, "tcsetattr", errno);
  NoEchoTerminal t(std::move(tty), saved);
  (void)!write(t.fd(), prompt.data(), prompt.size());
  return t;
}

NoEchoTerminal::NoEchoTerminal(NoEchoTerminal&& other) noexcept
    : tty_(std::move(other.tty_)), saved_(other.saved_) {}

NoEchoTerminal::~NoEchoTerminal() {
  if (tty_) tcsetattr(tty_.get(), TCSAFLUSH, &saved_);
}

Result<SecureBuffer> ReadSecretLine(int fd, size_t max_bytes) {
  KC_ASSIGN_OR_RETURN(SecureBuffer line, SecureBuffer::Allocate(max_bytes + 1));
  size_t n = 0;
  for (;;) {
    uint8_t c;
    const ssize_t r = read(fd, &c, 1);  // byte at a time: never read past the line
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status(Err::kUpstreamIo, "read", errno);
    if (r == 0 || c == '\n') break;
    if (n == max_bytes) return Status(Err::kTooLarge, "line too long");
    line.data()[n++] = c;
  }
  if (n > 0 && line.data()[n - 1] == '\r') --n;
  if (n == 0) return Status(Err::kInvalidArgument, "empty input");
  line.resize(n);
  return line;
}

Result<SecureBuffer> ReadPinFromFd(int fd) { return ReadSecretLine(fd, kMaxPinBytes); }

Result<SecureBuffer> PromptSecret(std::string_view prompt, size_t max_bytes) {
  KC_ASSIGN_OR_RETURN(NoEchoTerminal tty, NoEchoTerminal::Open(prompt));
  return ReadSecretLine(tty.fd(), max_bytes);
}

bool AskYesNo(std::string_view question) {
  UniqueFd tty(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty) return false;
  (void)!write(tty.get(), question.data(), question.size());
  std::string answer;
  char c;
  while (answer.size() < 16 && read(tty.get(), &c, 1) == 1 && c != '\n')
    answer += static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return answer == "y" || answer == "yes";
}

bool HaveTerminal() { return UniqueFd(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)).valid(); }

bool IsOpenFd(int fd) { return fd >= 0 && fcntl(fd, F_GETFD) != -1; }

}  // namespace keycell::cli

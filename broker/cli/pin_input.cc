#include "broker/cli/pin_input.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace keycell::cli {
namespace {

Result<SecureBuffer> ReadLine(int fd) {
  KC_ASSIGN_OR_RETURN(SecureBuffer pin, SecureBuffer::Allocate(kMaxPinBytes + 1));
  size_t n = 0;
  for (;;) {
    uint8_t c;
    const ssize_t r = read(fd, &c, 1);  // byte at a time: never read past the line
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status(Err::kUpstreamIo, "read PIN", errno);
    if (r == 0 || c == '\n') break;
    if (n == kMaxPinBytes) return Status(Err::kTooLarge, "PIN longer than 255 bytes");
    pin.data()[n++] = c;
  }
  if (n > 0 && pin.data()[n - 1] == '\r') --n;
  if (n == 0) return Status(Err::kInvalidArgument, "empty PIN");
  pin.resize(n);
  return pin;
}

}  // namespace

Result<SecureBuffer> ReadPinFromFd(int fd) { return ReadLine(fd); }

Result<SecureBuffer> PromptPin(std::string_view prompt) {
  UniqueFd tty(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty) return Status(Err::kUnavailable, "no terminal for the PIN prompt (use --pin-fd N)");
  termios old{};
  if (tcgetattr(tty.get(), &old) != 0) return Status(Err::kUnavailable, "not a terminal", errno);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  (void)!write(tty.get(), prompt.data(), prompt.size());
  tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  auto pin = ReadLine(tty.get());
  tcsetattr(tty.get(), TCSAFLUSH, &old);
  return pin;
}

}  // namespace keycell::cli

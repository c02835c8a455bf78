#include "broker/cli/secret_io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "broker/cli/terminal.h"

namespace keycell::cli {

Result<Pipe> MakePipe() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status(Err::kUpstreamIo, "pipe", errno);
  Pipe out{UniqueFd(p[0]), UniqueFd(p[1])};
  (void)fcntl(out.write.get(), F_SETPIPE_SZ, kValuePipeBytes);  // best effort, see header
  return out;
}

Status WriteSecret(int fd, SecretView secret) {
  size_t off = 0;
  while (off < secret.size()) {
    const ssize_t w = write(fd, secret.data() + off, secret.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status(Err::kUpstreamIo, "write", errno);
    off += static_cast<size_t>(w);
  }
  return Status::Ok();
}

Result<UniqueFd> ValuePipe(SecretView value) {
  if (value.size() > kMaxValueBytes) return Status(Err::kTooLarge, "value over 64 KiB");
  KC_ASSIGN_OR_RETURN(Pipe p, MakePipe());
  // Nobody reads yet: a value larger than the pipe would block here forever.
  if (fcntl(p.write.get(), F_GETPIPE_SZ) < static_cast<int>(value.size()))
    return Status(Err::kUpstreamIo, "pipe too small for the value", EMSGSIZE);
  KC_RETURN_IF_ERROR(WriteSecret(p.write.get(), value));
  return std::move(p.read);  // the write end closes here: the enclave sees EOF
}

Result<size_t> ReadSomeInto(int fd, SecureBuffer* buf, size_t* used, size_t limit) {
  if (*used == buf->size()) {
    if (buf->size() > limit) return Status(Err::kTooLarge, "output over its limit");
    const size_t grown = std::min(std::max<size_t>(buf->size() * 2, 4096), limit + 1);
    KC_ASSIGN_OR_RETURN(SecureBuffer bigger, SecureBuffer::Allocate(grown));
    if (*used > 0) memcpy(bigger.data(), buf->data(), *used);
    *buf = std::move(bigger);  // the move wipes the old pages
  }
  for (;;) {
    const ssize_t r = read(fd, buf->data() + *used, buf->size() - *used);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status(Err::kUpstreamIo, "read", errno);
    *used += static_cast<size_t>(r);
    if (*used > limit) return Status(Err::kTooLarge, "output over its limit");
    return static_cast<size_t>(r);
  }
}

Result<SecureBuffer> ReadAllSecret(int fd, size_t max_bytes) {
  SecureBuffer buf;
  size_t used = 0;
  for (;;) {
    KC_ASSIGN_OR_RETURN(const size_t n, ReadSomeInto(fd, &buf, &used, max_bytes));
    if (n == 0) break;
  }
  buf.resize(used);
  return buf;
}

Result<SecureBuffer> ReadValueInput(std::string_view prompt) {
  SecureBuffer value;
  if (isatty(STDIN_FILENO)) {
    // A terminal line is at most 4095 bytes in canonical mode; longer values come on stdin.
    KC_ASSIGN_OR_RETURN(value, PromptSecret(prompt, kMaxValueBytes));
  } else {
    // +2: a 64 KiB value followed by "\r\n" is still acceptable.
    KC_ASSIGN_OR_RETURN(value, ReadAllSecret(STDIN_FILENO, kMaxValueBytes + 2));
    size_t n = value.size();
    if (n > 0 && value.data()[n - 1] == '\n') {
      --n;
      if (n > 0 && value.data()[n - 1] == '\r') --n;
    }
    value.resize(n);
  }
  if (value.empty()) return Status(Err::kInvalidArgument, "empty value");
  if (value.size() > kMaxValueBytes) return Status(Err::kTooLarge, "value over 64 KiB");
  return value;
}

}  // namespace keycell::cli

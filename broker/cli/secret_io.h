#pragma once
// How credential values enter and leave the CLI. A value is read from stdin or a
// no-echo prompt into a SecureBuffer, written into a pipe whose read end is handed to
// keycelld for the enclave (add, rotate, import), and never put in argv, a
// std::string, a JSON tree or a log. Revealed values come back the same way, through
// a pipe (get, run). grep -n Secret shows every place a plaintext exists.

#include <cstddef>
#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::cli {

// The enclave's cap on one value (enclave/sealed_record.h kMaxSecretBytes).
inline constexpr size_t kMaxValueBytes = 64 * 1024;
// Pipe capacity asked for with F_SETPIPE_SZ: twice the largest value, so a whole value
// fits without a reader on the other end (the default 64 KiB would, exactly; this
// leaves room should the kernel round down).
inline constexpr int kValuePipeBytes = 128 * 1024;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// pipe2(O_CLOEXEC) with F_SETPIPE_SZ(kValuePipeBytes) (best effort: an unprivileged
// process may be limited by /proc/sys/fs/pipe-max-size). Errors: kUpstreamIo.
Result<Pipe> MakePipe();

// A pipe that already holds `value`, write end closed: the returned read end yields
// the value then EOF. Errors: kTooLarge (over kMaxValueBytes), kUpstreamIo.
Result<UniqueFd> ValuePipe(SecretView value);

// The value for add/rotate. When stdin is not a terminal: all of stdin, with ONE
// trailing "\n" (or "\r\n") removed, so `echo "$KEY" | keycell add X` and a file
// with a final newline both store the bare value. On a terminal: `prompt` on /dev/tty,
// echo off, one line (typed once; paste it). Errors: kInvalidArgument (empty value),
// kTooLarge (over kMaxValueBytes, after stripping), kUpstreamIo, kUnavailable (no
// terminal for the prompt).
Result<SecureBuffer> ReadValueInput(std::string_view prompt);

// Reads `fd` to EOF, at most `max_bytes` (kTooLarge beyond). For tests and small
// inputs; blocks.
Result<SecureBuffer> ReadAllSecret(int fd, size_t max_bytes);

// Writes all of `secret` to `fd`, retrying short writes and EINTR. Errors: kUpstreamIo.
Status WriteSecret(int fd, SecretView secret);

// Appends what one read(2) of `fd` returns to buf[*used...], doubling `buf` (a fresh
// SecureBuffer; the old one is wiped) when it is full, up to `limit` + 1 bytes so an
// oversized stream is detected. Returns the bytes read (0 = EOF). Errors: kTooLarge
// (more than `limit`: the caller stops keeping the data), kUpstreamIo, kNoMem.
Result<size_t> ReadSomeInto(int fd, SecureBuffer* buf, size_t* used, size_t limit);

}  // namespace keycell::cli

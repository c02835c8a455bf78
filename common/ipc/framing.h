#pragma once
// Length-prefixed frames over a SOCK_STREAM Unix socket, with at most one fd
// (SCM_RIGHTS) attached to the first byte of a frame.
//
// Frame := u32be length | payload. The length is checked against kMaxFrameBytes
// before a single payload byte is read (cf. ssh-agent's AGENT_MAX_LEN). A frame is
// consumed whole or the connection is broken: a peer that sends a partial frame,
// a truncated control message, more than one fd, or an fd anywhere but on the
// first byte is treated as broken.
//
// SOCK_STREAM rather than SOCK_SEQPACKET: frames carry sealed blobs and secrets up to
// a few MiB, beyond what one SEQPACKET datagram may hold (SO_SNDBUF).

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::ipc {

// 8 MiB: the largest legitimate frame is a WriteEnv with 64 sealed records of a
// 64 KiB secret each (~4.3 MiB).
inline constexpr size_t kMaxFrameBytes = size_t{8} << 20;
inline constexpr int kNoTimeout = -1;
// How long a receiver with no deadline waits for the rest of a frame it has begun.
inline constexpr int kMidFrameTimeoutMs = 5000;

struct Frame {
  SecureBuffer payload;  // frames may carry secrets: locked, wiped memory
  UniqueFd fd;           // invalid if none was attached
};

// Sends one frame made of the concatenation of `parts`, attaching `fd_to_pass`
// (not consumed; -1 for none). Blocks up to timeout_ms per poll (kNoTimeout = forever).
// Errors: kTooLarge, kTimeout, kUnavailable (peer gone), kUpstreamIo (errno in detail).
Status SendFrame(int sock, std::span<const ByteView> parts, int fd_to_pass, int timeout_ms);

// Receives one frame. Errors: kUnavailable (clean EOF before a frame), kBadFrame (EOF
// mid-frame, fd misuse, truncated control data), kTooLarge (length over the cap),
// kTimeout, kUpstreamIo.
Result<Frame> RecvFrame(int sock, int timeout_ms);

}  // namespace keycell::ipc

#pragma once
// Frame body codec: u32be header_len | nanopb header | attachments.
//
// The header lists the attachment sizes; the parser checks that they add up to
// exactly the bytes that follow, so there is no slack for a peer to hide bytes in.
// Attachments are views into the received frame (a SecureBuffer): they live as
// long as the Frame does.

#include <pb.h>

#include <array>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/ipc/enclave.pb.h"
#include "common/result.h"

namespace keycell::ipc {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kMaxAttachments = 64;

struct Attachments {
  std::array<ByteView, kMaxAttachments> items{};
  size_t count = 0;
  ByteView operator[](size_t i) const { return items[i]; }
};

// Sets req->attachment_sizes from `attachments`, encodes and sends one frame.
Status SendRequest(int sock, keycell_ipc_Request* req, std::span<const ByteView> attachments,
                   int fd_to_pass, int timeout_ms);
Status SendResponse(int sock, keycell_ipc_Response* resp, std::span<const ByteView> attachments,
                    int timeout_ms);

// Decodes a frame body. On failure *msg is left zeroed. Err::kBadFrame for any
// malformed input (bad header length, nanopb failure, sizes that do not add up).
Status ParseRequest(ByteView payload, keycell_ipc_Request* req, Attachments* attachments);
Status ParseResponse(ByteView payload, keycell_ipc_Response* resp, Attachments* attachments);

// Builds a whole request body in ordinary memory. For tests, fuzz seeds and tools
// only: production sends attachments straight from their SecureBuffers (SendRequest).
Status EncodeRequestBodyForTest(keycell_ipc_Request* req, std::span<const ByteView> attachments,
                                std::vector<uint8_t>* out);

}  // namespace keycell::ipc

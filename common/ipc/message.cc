#include "common/ipc/message.h"

#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

#include <vector>

#include "common/ipc/framing.h"

namespace keycell::ipc {
namespace {

constexpr size_t kMaxHeaderBytes =
    keycell_ipc_Request_size > keycell_ipc_Response_size ? keycell_ipc_Request_size : keycell_ipc_Response_size;

// u32be header_len | header.
Status EncodeHeader(const pb_msgdesc_t* fields, const void* msg, std::vector<uint8_t>* header) {
  header->resize(4 + kMaxHeaderBytes);
  pb_ostream_t os = pb_ostream_from_buffer(header->data() + 4, kMaxHeaderBytes);
  if (!pb_encode(&os, fields, msg)) return Status(Err::kInternal, "ipc: pb_encode");
  PutU32Be(header->data(), static_cast<uint32_t>(os.bytes_written));
  header->resize(4 + os.bytes_written);
  return Status::Ok();
}

Status EncodeAndSend(int sock, const pb_msgdesc_t* fields, const void* msg,
                     std::span<const ByteView> attachments, int fd_to_pass, int timeout_ms) {
  std::vector<uint8_t> header;
  KC_RETURN_IF_ERROR(EncodeHeader(fields, msg, &header));
  std::vector<ByteView> parts;
  parts.reserve(attachments.size() + 1);
  parts.emplace_back(header);
  for (ByteView a : attachments) parts.push_back(a);
  return SendFrame(sock, parts, fd_to_pass, timeout_ms);
}

Status DecodeBody(ByteView payload, const pb_msgdesc_t* fields, void* msg, size_t msg_size,
                  const uint32_t* sizes, const pb_size_t* sizes_count,
                  Attachments* attachments) {
  memset(msg, 0, msg_size);
  *attachments = Attachments{};
  if (payload.size() < 4) return Status(Err::kBadFrame, "ipc: body shorter than header length");
  const uint32_t header_len = GetU32Be(payload.data());
  if (header_len > kMaxHeaderBytes || header_len > payload.size() - 4)
    return Status(Err::kBadFrame, "ipc: bad header length");
  pb_istream_t is = pb_istream_from_buffer(payload.data() + 4, header_len);
  if (!pb_decode(&is, fields, msg)) {
    memset(msg, 0, msg_size);
    return Status(Err::kBadFrame, "ipc: header does not decode");
  }
  size_t offset = 4 + header_len;
  for (pb_size_t i = 0; i < *sizes_count; ++i) {
    if (sizes[i] > payload.size() - offset) {
      memset(msg, 0, msg_size);
      return Status(Err::kBadFrame, "ipc: attachment sizes exceed the frame");
    }
    attachments->items[i] = payload.subspan(offset, sizes[i]);
    offset += sizes[i];
  }
  attachments->count = *sizes_count;
  if (offset != payload.size()) {
    memset(msg, 0, msg_size);
    *attachments = Attachments{};
    return Status(Err::kBadFrame, "ipc: trailing bytes after attachments");
  }
  return Status::Ok();
}

template <class Msg>
Status FillSizes(Msg* msg, uint32_t* sizes, pb_size_t* count,
                 std::span<const ByteView> attachments) {
  (void)msg;
  if (attachments.size() > kMaxAttachments) return Status(Err::kTooLarge, "ipc: too many attachments");
  for (size_t i = 0; i < attachments.size(); ++i) {
    if (attachments[i].size() > kMaxFrameBytes) return Status(Err::kTooLarge, "ipc: attachment too large");
    sizes[i] = static_cast<uint32_t>(attachments[i].size());
  }
  *count = static_cast<pb_size_t>(attachments.size());
  return Status::Ok();
}

}  // namespace

Status SendRequest(int sock, keycell_ipc_Request* req, std::span<const ByteView> attachments,
                   int fd_to_pass, int timeout_ms) {
  KC_RETURN_IF_ERROR(FillSizes(req, req->attachment_sizes, &req->attachment_sizes_count, attachments));
  return EncodeAndSend(sock, keycell_ipc_Request_fields, req, attachments, fd_to_pass, timeout_ms);
}

Status SendResponse(int sock, keycell_ipc_Response* resp, std::span<const ByteView> attachments,
                    int timeout_ms) {
  KC_RETURN_IF_ERROR(
      FillSizes(resp, resp->attachment_sizes, &resp->attachment_sizes_count, attachments));
  return EncodeAndSend(sock, keycell_ipc_Response_fields, resp, attachments, -1, timeout_ms);
}

Status EncodeRequestBodyForTest(keycell_ipc_Request* req, std::span<const ByteView> attachments,
                                std::vector<uint8_t>* out) {
  KC_RETURN_IF_ERROR(FillSizes(req, req->attachment_sizes, &req->attachment_sizes_count, attachments));
  KC_RETURN_IF_ERROR(EncodeHeader(keycell_ipc_Request_fields, req, out));
  for (ByteView a : attachments) out->insert(out->end(), a.begin(), a.end());
  return Status::Ok();
}

Status ParseRequest(ByteView payload, keycell_ipc_Request* req, Attachments* attachments) {
  return DecodeBody(payload, keycell_ipc_Request_fields, req, sizeof(*req), req->attachment_sizes,
                    &req->attachment_sizes_count, attachments);
}

Status ParseResponse(ByteView payload, keycell_ipc_Response* resp, Attachments* attachments) {
  return DecodeBody(payload, keycell_ipc_Response_fields, resp, sizeof(*resp), resp->attachment_sizes,
                    &resp->attachment_sizes_count, attachments);
}

}  // namespace keycell::ipc

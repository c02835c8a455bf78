#include "broker/enclave/proxy_channels.h"

#include <string.h>

#include <memory>

#include "common/ipc/framing.h"
#include "common/ipc/message.h"

namespace keycell::broker {
namespace {

// Body bytes per ProxyBody frame (the enclave's kMaxBodyFrameBytes).
constexpr size_t kBodyFrameBytes = 64 * 1024;
constexpr int kSendTimeoutMs = 30 * 1000;
// A backstop only: the enclave enforces the call's own deadlines (connect, first byte,
// idle) and answers with an error when one passes.
constexpr int kRecvTimeoutMs = 11 * 60 * 1000;

constexpr char kWhereChannelFailed[] = "proxy: enclave channel failed";

void CopyString(char* dst, size_t cap, std::string_view s) {
  const size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
  memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

std::vector<uint8_t> HeaderBlock(std::span<const ProxyHeader> headers) {
  std::vector<uint8_t> block;
  for (const ProxyHeader& h : headers) {
    block.insert(block.end(), h.name.begin(), h.name.end());
    block.push_back(0);
    block.insert(block.end(), h.value.begin(), h.value.end());
    block.push_back(0);
  }
  return block;
}

bool ParseHeaderBlock(ByteView block, std::vector<ProxyHeader>* out) {
  const std::string_view s = AsChars(block);
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t name_end = s.find('\0', pos);
    if (name_end == std::string_view::npos) return false;
    const size_t value_end = s.find('\0', name_end + 1);
    if (value_end == std::string_view::npos) return false;
    out->push_back({s.substr(pos, name_end - pos), s.substr(name_end + 1, value_end - name_end - 1)});
    pos = value_end + 1;
  }
  return true;
}

Status ChannelFailed() { return Status(Err::kUnavailable, kWhereChannelFailed); }

}  // namespace

Result<ProxyChannels::Channel> ProxyChannels::Acquire() {
  const uint64_t current = enclave_.generation();
  {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    for (;;) {
      while (!idle_.empty()) {
        Channel ch = std::move(idle_.back());
        idle_.pop_back();
        if (ch.generation == current) return ch;
        --open_;  // an older enclave's: closed as it goes out of scope
      }
      if (open_ < max_channels_) break;
      if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= max_channels_)
        return Status(Err::kUnavailable, "proxy: all enclave channels busy");
    }
    ++open_;  // reserved: opened below, without the lock
  }
  Channel ch;
  Result<UniqueFd> fd = enclave_.OpenChannel(&ch.generation);
  if (!fd.ok()) {
    Release(std::move(ch), false);  // gives the reserved slot back
    return fd.status();
  }
  ch.fd = std::move(*fd);
  return ch;
}

void ProxyChannels::Release(Channel channel, bool reusable) {
  // Read before taking mu_: the enclave client's lock may be held for a long call.
  const bool current = channel.fd && channel.generation == enclave_.generation();
  {
    std::lock_guard lock(mu_);
    if (reusable && current)
      idle_.push_back(std::move(channel));
    else
      --open_;
  }
  freed_.notify_one();
}

size_t ProxyChannels::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

void ProxyChannels::Clear() {
  std::lock_guard lock(mu_);
  open_ -= idle_.size();
  idle_.clear();
}

Result<ProxyOutcome> ProxyChannels::Run(const ProxyCallSpec& spec, ProxyExchangeIo& io) {
  // An idle channel may belong to an enclave thread that has gone (the enclave closed
  // it after a protocol error, or died between our generation checks): if the very
  // first send fails, nothing happened yet and a fresh channel is tried once.
  for (int attempt = 0;; ++attempt) {
    KC_ASSIGN_OR_RETURN(Channel ch, Acquire());
    bool reusable = false;
    bool nothing_sent = false;
    Result<ProxyOutcome> r = RunOn(ch, spec, io, &reusable, &nothing_sent);
    Release(std::move(ch), reusable);
    if (r.ok() || !nothing_sent || attempt > 0) return r;
  }
}

Result<ProxyOutcome> ProxyChannels::RunOn(Channel& ch, const ProxyCallSpec& spec, ProxyExchangeIo& io,
                                          bool* reusable, bool* nothing_sent) {
  auto req = std::make_unique<keycell_ipc_Request>();
  *req = keycell_ipc_Request_init_zero;
  req->seq = ch.next_seq++;
  req->which_body = keycell_ipc_Request_proxy_start_tag;
  keycell_ipc_ProxyStart& start = req->body.proxy_start;
  start.has_ref = true;
  start.ref = spec.ref;
  start.https = spec.https;
  if (spec.host.size() >= sizeof(start.host) || spec.method.size() >= sizeof(start.method))
    return Status(Err::kInvalidArgument, "proxy: host or method too long");
  CopyString(start.host, sizeof(start.host), spec.host);
  CopyString(start.method, sizeof(start.method), spec.method);
  start.port = spec.port;
  start.framing = spec.framing == ProxyBodyFraming::kLength    ? keycell_ipc_BodyFraming_BODY_LENGTH
                  : spec.framing == ProxyBodyFraming::kChunked ? keycell_ipc_BodyFraming_BODY_CHUNKED
                                                               : keycell_ipc_BodyFraming_BODY_NONE;
  start.content_length = spec.content_length;
  start.has_limits = true;
  start.limits = spec.limits;
  const std::vector<uint8_t> block = HeaderBlock(spec.headers);
  const ByteView parts[] = {spec.blob, AsBytes(spec.path), block};
  const uint32_t seq = req->seq;
  if (!ipc::SendRequest(ch.fd.get(), req.get(), parts, -1, kSendTimeoutMs).ok()) {
    *nothing_sent = true;
    return ChannelFailed();
  }

  bool body_started = false;  // after ProxyGo, an error leaves the channel out of step
  auto resp = std::make_unique<keycell_ipc_Response>();
  ipc::Attachments att;
  std::vector<uint8_t> body_buf;
  for (;;) {
    Result<ipc::Frame> frame = ipc::RecvFrame(ch.fd.get(), kRecvTimeoutMs);
    if (!frame.ok() || frame->fd || !ipc::ParseResponse(frame->payload.view().bytes(), resp.get(), &att).ok() ||
        resp->seq != seq)
      return ChannelFailed();
    if (resp->status != 0) {
      *reusable = !body_started;
      return StatusOfResponse(*resp);
    }
    switch (resp->which_body) {
      case keycell_ipc_Response_need_socket_tag: {
        Result<UniqueFd> fd = io.Connect();
        keycell_ipc_Request sock = keycell_ipc_Request_init_zero;
        sock.seq = seq;
        sock.which_body = keycell_ipc_Request_proxy_socket_tag;
        const int pass = fd.ok() ? fd->get() : -1;
        if (!ipc::SendRequest(ch.fd.get(), &sock, {}, pass, kSendTimeoutMs).ok()) return ChannelFailed();
        if (!fd.ok()) {
          *reusable = true;  // the enclave abandons the exchange silently
          return fd.status();
        }
        break;
      }
      case keycell_ipc_Response_proxy_go_tag: {
        body_started = true;
        body_buf.resize(kBodyFrameBytes);
        keycell_ipc_Request body = keycell_ipc_Request_init_zero;
        body.seq = seq;
        body.which_body = keycell_ipc_Request_proxy_body_tag;
        for (;;) {
          KC_ASSIGN_OR_RETURN(size_t n, io.ReadBody(body_buf.data(), body_buf.size()));
          body.body.proxy_body.last = n == 0;
          const ByteView data[] = {ByteView(body_buf.data(), n)};
          if (!ipc::SendRequest(ch.fd.get(), &body, data, -1, kSendTimeoutMs).ok()) return ChannelFailed();
          if (n == 0) break;
        }
        break;
      }
      case keycell_ipc_Response_proxy_head_tag: {
        if (att.count != 2) return ChannelFailed();
        ProxyResponseHead head;
        const keycell_ipc_ProxyHead& h = resp->body.proxy_head;
        head.status = h.status;
        head.reason = AsChars(att[0]);
        head.has_content_length = h.has_content_length;
        head.content_length = h.content_length;
        head.no_body = h.no_body;
        if (!ParseHeaderBlock(att[1], &head.headers)) return ChannelFailed();
        KC_RETURN_IF_ERROR(io.OnHead(head));
        break;
      }
      case keycell_ipc_Response_proxy_chunk_tag:
        if (att.count != 1) return ChannelFailed();
        KC_RETURN_IF_ERROR(io.OnBody(att[0]));
        break;
      case keycell_ipc_Response_proxy_end_tag: {
        const keycell_ipc_ProxyEnd& e = resp->body.proxy_end;
        *reusable = true;
        return ProxyOutcome{e.reused_connection, e.tls_resumed,         e.kept_alive,
                            e.request_body_bytes, e.response_body_bytes, e.redactions};
      }
      default:
        return ChannelFailed();
    }
  }
}

}  // namespace keycell::broker

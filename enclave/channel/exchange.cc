#include "enclave/channel/exchange.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipc/framing.h"
#include "common/secure_buffer.h"
#include "enclave/channel/upstream_stream.h"
#include "enclave/http/redactor.h"
#include "enclave/http/response_parser.h"
#include "enclave/policy.h"
#include "enclave/proxy/request_head.h"
#include "enclave/proxy/target.h"
#include "enclave/sealed_record.h"

namespace keycell::enclave::channel {
namespace {

using std::chrono::milliseconds;

constexpr int kSendTimeoutMs = 30 * 1000;        // a broker that will not read is gone
constexpr int kBodyFrameTimeoutMs = 60 * 1000;   // between request body frames
constexpr int kSocketWaitTimeoutMs = 60 * 1000;  // the broker resolves and connects
constexpr size_t kReadBufferBytes = 16 * 1024;   // one TLS record
constexpr size_t kMaxHeaderBlockFields = 1024;
constexpr int kPooledAttempts = 3;  // stale idle connections tried before a new one

constexpr char kWhereNoTrust[] = "tls: no CA certificates loaded (https unavailable)";
constexpr char kWhereTooManyFields[] = "proxy: too many header fields";

// The effective limits: the broker's request, defaulted and clamped to what this
// enclave allows (a hostile broker cannot make it wait or buffer without bound).
struct Limits {
  milliseconds connect{10'000};
  milliseconds first_byte{120'000};
  milliseconds idle{120'000};
  size_t max_response_head = 64 * 1024;
  uint64_t max_response_body = uint64_t{1} << 30;
  uint64_t max_request_body = proxy::kDefaultMaxRequestBodyBytes;
};

template <class T>
T Pick(T requested, T fallback, T max) {
  return requested == 0 ? fallback : std::min(requested, max);
}

Limits EffectiveLimits(const keycell_ipc_ProxyLimits& in) {
  const Limits d;
  Limits l;
  l.connect = milliseconds(Pick<uint32_t>(in.connect_timeout_ms, d.connect.count(), 60'000));
  l.first_byte = milliseconds(Pick<uint32_t>(in.first_byte_timeout_ms, d.first_byte.count(), 600'000));
  l.idle = milliseconds(Pick<uint32_t>(in.idle_timeout_ms, d.idle.count(), 600'000));
  l.max_response_head = Pick<uint32_t>(in.max_response_head_bytes, d.max_response_head, 1u << 20);
  l.max_response_body = Pick<uint64_t>(in.max_response_body_bytes, d.max_response_body, uint64_t{1} << 40);
  l.max_request_body = Pick<uint64_t>(in.max_request_body_bytes, d.max_request_body, uint64_t{1} << 32);
  return l;
}

int64_t NowUnix() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

tls::Deadline After(milliseconds d) { return tls::Clock::now() + d; }

// "name\0value\0" repeated. Views into `block`.
bool ParseHeaderBlock(ByteView block, std::vector<proxy::HeaderField>* out, Status* refusal) {
  const std::string_view s = AsChars(block);
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t name_end = s.find('\0', pos);
    if (name_end == std::string_view::npos) return false;
    const size_t value_end = s.find('\0', name_end + 1);
    if (value_end == std::string_view::npos) return false;
    if (out->size() == kMaxHeaderBlockFields) {
      *refusal = Status(Err::kTooLarge, kWhereTooManyFields);
      return true;
    }
    out->push_back({s.substr(pos, name_end - pos), s.substr(name_end + 1, value_end - name_end - 1)});
    pos = value_end + 1;
  }
  return true;
}

void AppendField(std::vector<uint8_t>* block, std::string_view name, std::string_view value) {
  block->insert(block->end(), name.begin(), name.end());
  block->push_back(0);
  block->insert(block->end(), value.begin(), value.end());
  block->push_back(0);
}

class DiscardOutput final : public http::Redactor::Output {
 public:
  void Write(ByteView) override {}
};

keycell_ipc_Response NewResponse(uint32_t seq, pb_size_t tag) {
  keycell_ipc_Response r = keycell_ipc_Response_init_zero;
  r.seq = seq;
  r.which_body = tag;
  return r;
}

// Relays the parsed response to the broker: head fields, reason and body through the
// redactor, body in frames of at most kMaxBodyFrameBytes, flushed after every upstream
// read so a server-sent event leaves as soon as it arrived.
class Relay final : public http::ResponseSink, public http::Redactor::Output {
 public:
  Relay(int channel, uint32_t seq, http::Redactor& redactor)
      : channel_(channel), seq_(seq), redactor_(redactor) {
    out_.reserve(kMaxBodyFrameBytes);
  }

  Status OnHead(const http::ResponseHead& h) override {
    std::vector<uint8_t> block;
    for (const http::HeaderField& f : h.fields)
      AppendField(&block, redactor_.RedactHeaderValue(f.name), redactor_.RedactHeaderValue(f.value));
    const std::string reason = redactor_.RedactHeaderValue(h.reason);
    keycell_ipc_Response r = NewResponse(seq_, keycell_ipc_Response_proxy_head_tag);
    r.body.proxy_head.status = h.status;
    r.body.proxy_head.has_content_length = h.content_length.has_value();
    r.body.proxy_head.content_length = h.content_length.value_or(0);
    r.body.proxy_head.no_body = h.framing == http::BodyFraming::kNone;
    const ByteView parts[] = {AsBytes(reason), block};
    head_sent_ = true;
    return ipc::SendResponse(channel_, &r, parts, kSendTimeoutMs);
  }

  Status OnBody(ByteView bytes) override {
    redactor_.Process(bytes, *this);
    return failed_;
  }

  Status OnDone() override {
    redactor_.Finish(*this);
    return failed_;
  }

  void Write(ByteView bytes) override {
    while (!bytes.empty() && failed_.ok()) {
      const size_t n = std::min(bytes.size(), kMaxBodyFrameBytes - out_.size());
      out_.insert(out_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
      bytes = bytes.subspan(n);
      if (out_.size() == kMaxBodyFrameBytes) (void)Flush();  // failure sticks in failed_
    }
  }

  // Sends what is buffered as one ProxyChunk. The first failure sticks.
  Status Flush() {
    if (out_.empty() || !failed_.ok()) return failed_;
    keycell_ipc_Response r = NewResponse(seq_, keycell_ipc_Response_proxy_chunk_tag);
    const ByteView parts[] = {out_};
    failed_ = ipc::SendResponse(channel_, &r, parts, kSendTimeoutMs);
    out_.clear();
    return failed_;
  }

  bool head_sent() const { return head_sent_; }

 private:
  const int channel_;
  const uint32_t seq_;
  http::Redactor& redactor_;
  std::vector<uint8_t> out_;  // redacted: no secret
  Status failed_;
  bool head_sent_ = false;
};

class Exchange {
 public:
  Exchange(ProxyResources& res, ChannelState& state, int channel, uint32_t seq)
      : res_(res), state_(state), channel_(channel), seq_(seq) {}

  ChannelNext Run(const keycell_ipc_ProxyStart& in, const ipc::Attachments& att, const char** violation) {
    const Status st = RunSteps(in, att);
    if (violation_ != nullptr) {
      *violation = violation_;
      return ChannelNext::kClose;
    }
    if (abandoned_) return ChannelNext::kContinue;  // the broker could not connect: no reply
    if (!st.ok()) {
      keycell_ipc_Response r = NewResponse(seq_, 0);
      r.status = static_cast<int32_t>(st.code());
      snprintf(r.error, sizeof(r.error), "%s", st.where());
      r.detail = st.detail();
      if (!ipc::SendResponse(channel_, &r, {}, kSendTimeoutMs).ok()) return ChannelNext::kClose;
      return body_pending_ ? ChannelNext::kClose : ChannelNext::kContinue;
    }
    return ChannelNext::kContinue;
  }

 private:
  Status RunSteps(const keycell_ipc_ProxyStart& in, const ipc::Attachments& att) {
    if (att.count != 3) return Violation("proxy start: needs [blob, path, headers]");
    const int32_t framing = WireEnum(in.framing);
    if (framing != keycell_ipc_BodyFraming_BODY_NONE && framing != keycell_ipc_BodyFraming_BODY_LENGTH &&
        framing != keycell_ipc_BodyFraming_BODY_CHUNKED)
      return Violation("proxy start: unknown body framing");
    framing_ = framing;
    content_length_ = in.content_length;
    limits_ = EffectiveLimits(in.has_limits ? in.limits : keycell_ipc_ProxyLimits{});

    std::vector<proxy::HeaderField> headers;
    Status refusal;
    if (!ParseHeaderBlock(att[2], &headers, &refusal)) return Violation("proxy start: bad header block");
    KC_RETURN_IF_ERROR(refusal);
    KC_ASSIGN_OR_RETURN(proxy::Target target,
                        proxy::Target::FromParts(in.https ? proxy::Scheme::kHttps : proxy::Scheme::kHttp,
                                                 in.host, in.port, AsChars(att[1])));
    if (target.https() && res_.tls == nullptr) return Status(Err::kTls, kWhereNoTrust);

    KC_RETURN_IF_ERROR(UseCredential(in.ref, att[0]));
    SecureBuffer head;
    {
      const Unsealed& u = *state_.unsealed;
      proxy::RequestSpec spec;
      spec.method = in.method;
      spec.headers = headers;
      spec.framing = framing == keycell_ipc_BodyFraming_BODY_LENGTH    ? proxy::BodyFraming::kContentLength
                     : framing == keycell_ipc_BodyFraming_BODY_CHUNKED ? proxy::BodyFraming::kChunked
                                                                       : proxy::BodyFraming::kNone;
      spec.content_length = in.content_length;
      request_limits_.max_body_bytes = limits_.max_request_body;
      KC_ASSIGN_OR_RETURN(head, proxy::BuildRequestHead(u.policy, NowUnix(), target, spec, u.secret,
                                                        request_limits_));
    }
    http::Redactor& redactor = *state_.redactor;

    const bool head_request = std::string_view(in.method) == "HEAD";
    // A pooled connection the server closed just before our request arrived fails with
    // EOF before any response byte; such a request (without a body: nothing was
    // consumed from the broker) is sent once more on a new connection.
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<UpstreamStream> stream;
      KC_ASSIGN_OR_RETURN(stream, OpenAndSendHead(target, head.view().bytes(), attempt > 0));
      if (abandoned_) return Status::Ok();
      if (framing_ != keycell_ipc_BodyFraming_BODY_NONE) KC_RETURN_IF_ERROR(SendBody(*stream));
      bool retry = false;
      KC_RETURN_IF_ERROR(RelayResponse(std::move(stream), redactor, head_request, &retry));
      if (!retry) return Status::Ok();
    }
  }

  // Makes state_ hold the unsealed record for (ref, blob) and its redactor: the one from
  // the previous exchange when it is the very same sealed record, else a fresh unseal
  // (the old plaintext is wiped first).
  Status UseCredential(const RecordRef& ref, ByteView blob) {
    const bool same = state_.unsealed && state_.blob.size() == blob.size() &&
                      memcmp(state_.blob.data(), blob.data(), blob.size()) == 0 &&
                      memcmp(&state_.ref, &ref, sizeof(ref)) == 0;
    if (same) {
      // A previous exchange that failed mid-body left bytes held back: drop them.
      DiscardOutput discard;
      state_.redactor->Finish(discard);
      return Status::Ok();
    }
    state_.redactor.reset();
    state_.unsealed.reset();
    state_.blob.clear();
    KC_ASSIGN_OR_RETURN(Unsealed u, UnsealRecord(res_.token, ref, blob));
    const bool basic = WireEnum(u.policy.injection.kind) == keycell_ipc_InjectKind_INJECT_BASIC;
    if (!u.secret.empty()) {  // an empty secret is refused by BuildRequestHead
      KC_ASSIGN_OR_RETURN(http::Redactor r,
                          http::Redactor::Create(u.secret, basic ? http::SecretKind::kBasicUserPass
                                                                 : http::SecretKind::kOpaque));
      state_.redactor = std::make_unique<http::Redactor>(std::move(r));
    }
    state_.unsealed.emplace(std::move(u));
    if (!state_.redactor) return Status(Err::kInvalidArgument, proxy::kWhereSecretEmpty);
    state_.ref = ref;
    state_.blob.assign(blob.begin(), blob.end());
    return Status::Ok();
  }

  // A stream to target with the request head written: a pooled connection if one
  // takes the head, else a new one on a socket the broker connects.
  Result<std::unique_ptr<UpstreamStream>> OpenAndSendHead(const proxy::Target& t, ByteView head,
                                                         bool fresh_only) {
    reused_ = false;
    if (t.https() && !fresh_only) {
      for (int i = 0; i < kPooledAttempts; ++i) {
        std::unique_ptr<tls::TlsConnection> conn = res_.pool.Take(t.host(), t.port());
        if (!conn) break;
        std::unique_ptr<UpstreamStream> s = WrapTls(std::move(conn));
        if (s->WriteAll(head, After(limits_.connect)).ok()) {
          reused_ = true;
          return s;
        }
      }
    }
    KC_ASSIGN_OR_RETURN(UniqueFd fd, AskForSocket());
    if (!fd) return std::unique_ptr<UpstreamStream>();  // abandoned
    std::unique_ptr<UpstreamStream> s;
    if (t.https()) {
      const std::shared_ptr<const tls::SavedSession> saved = res_.sessions.Find(t.host(), t.port());
      KC_ASSIGN_OR_RETURN(std::unique_ptr<tls::TlsConnection> conn,
                          tls::TlsConnection::Connect(*res_.tls, std::move(fd), t.host(), t.port(),
                                                      After(limits_.connect), saved.get()));
      resumed_ = conn->resumed();
      if (auto session = conn->SaveSession(); session.ok()) res_.sessions.Store(std::move(*session));
      s = WrapTls(std::move(conn));
    } else {
      s = WrapPlain(std::move(fd));
    }
    KC_RETURN_IF_ERROR(s->WriteAll(head, After(limits_.connect)));
    return s;
  }

  // NeedSocket → ProxySocket. An invalid fd (and abandoned_) when the broker could not
  // connect.
  Result<UniqueFd> AskForSocket() {
    keycell_ipc_Response r = NewResponse(seq_, keycell_ipc_Response_need_socket_tag);
    KC_RETURN_IF_ERROR(ipc::SendResponse(channel_, &r, {}, kSendTimeoutMs));
    KC_ASSIGN_OR_RETURN(ipc::Frame frame, RecvRequest(keycell_ipc_Request_proxy_socket_tag, 0,
                                                      kSocketWaitTimeoutMs));
    if (!frame.fd) abandoned_ = true;
    return std::move(frame.fd);
  }

  // Receives the next broker frame, which must be a request of kind `tag` with exactly
  // `attachments` attachments; anything else is a protocol violation.
  Result<ipc::Frame> RecvRequest(pb_size_t tag, size_t attachments, int timeout_ms) {
    Result<ipc::Frame> received = ipc::RecvFrame(channel_, timeout_ms);
    if (!received.ok()) return Violation("proxy: channel read failed or timed out");
    ipc::Frame frame = std::move(*received);
    if (!request_) request_ = std::make_unique<keycell_ipc_Request>();
    if (!ipc::ParseRequest(frame.payload.view().bytes(), request_.get(), &att_).ok() ||
        request_->which_body != tag || att_.count != attachments)
      return Violation("proxy: unexpected frame in an exchange");
    if (tag != keycell_ipc_Request_proxy_socket_tag && frame.fd)
      return Violation("proxy: unexpected fd in an exchange");
    return frame;
  }

  Status SendBody(UpstreamStream& stream) {
    keycell_ipc_Response go = NewResponse(seq_, keycell_ipc_Response_proxy_go_tag);
    KC_RETURN_IF_ERROR(ipc::SendResponse(channel_, &go, {}, kSendTimeoutMs));
    body_pending_ = true;
    const bool chunked = framing_ == keycell_ipc_BodyFraming_BODY_CHUNKED;
    for (;;) {
      KC_ASSIGN_OR_RETURN(ipc::Frame frame,
                          RecvRequest(keycell_ipc_Request_proxy_body_tag, 1, kBodyFrameTimeoutMs));
      const ByteView data = att_[0];
      const bool last = request_->body.proxy_body.last;
      if (data.size() > kMaxBodyFrameBytes) return Violation("proxy: body frame too large");
      request_body_bytes_ += data.size();
      if (!chunked && request_body_bytes_ > content_length_)
        return Violation("proxy: body longer than its content length");
      KC_RETURN_IF_ERROR(proxy::CheckBodyBytes(request_body_bytes_, request_limits_));
      const tls::Deadline deadline = After(limits_.idle);
      if (chunked && !data.empty()) {
        char line[24];
        const int n = snprintf(line, sizeof(line), "%zx\r\n", data.size());
        KC_RETURN_IF_ERROR(stream.WriteAll(AsBytes(std::string_view(line, static_cast<size_t>(n))), deadline));
        KC_RETURN_IF_ERROR(stream.WriteAll(data, deadline));
        KC_RETURN_IF_ERROR(stream.WriteAll(AsBytes("\r\n"), deadline));
      } else if (!data.empty()) {
        KC_RETURN_IF_ERROR(stream.WriteAll(data, deadline));
      }
      if (!last) continue;
      if (chunked) KC_RETURN_IF_ERROR(stream.WriteAll(AsBytes("0\r\n\r\n"), deadline));
      if (!chunked && request_body_bytes_ != content_length_)
        return Violation("proxy: body shorter than its content length");
      body_pending_ = false;
      return Status::Ok();
    }
  }

  Status RelayResponse(std::unique_ptr<UpstreamStream> stream, http::Redactor& redactor, bool head_request,
                       bool* retry) {
    http::ResponseParserOptions po;
    po.max_header_bytes = limits_.max_response_head;
    po.max_body_bytes = limits_.max_response_body;
    po.head_request = head_request;
    if (!state_.parser || state_.parser_head_bytes != po.max_header_bytes ||
        state_.parser_body_bytes != po.max_body_bytes) {
      state_.parser.reset();
      KC_ASSIGN_OR_RETURN(http::ResponseParser created, http::ResponseParser::Create(po));
      state_.parser.emplace(std::move(created));
      state_.parser_head_bytes = po.max_header_bytes;
      state_.parser_body_bytes = po.max_body_bytes;
    }
    http::ResponseParser& parser = *state_.parser;
    parser.Reset(head_request);
    if (state_.read_buffer.size() != kReadBufferBytes) {
      KC_ASSIGN_OR_RETURN(state_.read_buffer, SecureBuffer::Allocate(kReadBufferBytes));
    }
    SecureBuffer& buf = state_.read_buffer;
    const uint64_t redactions_before = redactor.redactions();
    Relay relay(channel_, seq_, redactor);
    tls::Deadline deadline = After(limits_.first_byte);
    bool any = false;
    bool stray = false;
    while (!parser.done()) {
      KC_ASSIGN_OR_RETURN(size_t n, stream->Read(buf.mutable_bytes(), deadline));
      if (n == 0) {
        if (!any && reused_ && framing_ == keycell_ipc_BodyFraming_BODY_NONE) {
          *retry = true;
          return Status::Ok();
        }
        KC_RETURN_IF_ERROR(parser.FeedEof(relay));
        break;
      }
      any = true;
      const Result<size_t> used = parser.Feed(ByteView(buf.data(), n), relay);
      SecureWipe(buf.data(), n);
      KC_RETURN_IF_ERROR(used.status());
      stray = *used < n;
      KC_RETURN_IF_ERROR(relay.Flush());
      if (relay.head_sent()) deadline = After(limits_.idle);
    }
    KC_RETURN_IF_ERROR(relay.Flush());
    bool kept_alive = false;
    if (!stray && parser.KeepAlive()) {
      if (std::unique_ptr<tls::TlsConnection> conn = stream->Release())
        kept_alive = res_.pool.Put(std::move(conn));
    }
    keycell_ipc_Response end = NewResponse(seq_, keycell_ipc_Response_proxy_end_tag);
    end.body.proxy_end.reused_connection = reused_;
    end.body.proxy_end.tls_resumed = resumed_;
    end.body.proxy_end.kept_alive = kept_alive;
    end.body.proxy_end.request_body_bytes = request_body_bytes_;
    end.body.proxy_end.response_body_bytes = parser.body_bytes();
    end.body.proxy_end.redactions =
        static_cast<uint32_t>(std::min<uint64_t>(redactor.redactions() - redactions_before, UINT32_MAX));
    return ipc::SendResponse(channel_, &end, {}, kSendTimeoutMs);
  }

  Status Violation(const char* why) {
    violation_ = why;
    return Status(Err::kBadFrame, why);
  }

  ProxyResources& res_;
  ChannelState& state_;
  const int channel_;
  const uint32_t seq_;
  Limits limits_;
  proxy::RequestLimits request_limits_;
  int32_t framing_ = keycell_ipc_BodyFraming_BODY_NONE;
  uint64_t content_length_ = 0;
  uint64_t request_body_bytes_ = 0;
  bool reused_ = false;
  bool resumed_ = false;
  bool abandoned_ = false;
  bool body_pending_ = false;  // ProxyGo sent, last body frame not yet received
  const char* violation_ = nullptr;
  std::unique_ptr<keycell_ipc_Request> request_;  // ~22 KB: not on the thread's stack
  ipc::Attachments att_;
};

}  // namespace

ChannelNext RunExchange(ProxyResources& res, ChannelState& state, int channel,
                        const keycell_ipc_Request& start, const ipc::Attachments& att, const char** violation) {
  Exchange exchange(res, state, channel, start.seq);
  return exchange.Run(start.body.proxy_start, att, violation);
}

}  // namespace keycell::enclave::channel

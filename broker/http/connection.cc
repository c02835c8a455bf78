// The one translation unit that includes Beast: its request parser reads the head (after
// head_scanner.h's byte checks) and de-chunks the body. Keeping Beast here bounds its
// compile cost to this file (docs/http-server.md).
#include "broker/http/connection.h"

#include <string.h>

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/http/errors.h"
#include "broker/http/head_scanner.h"
#include "broker/http/response.h"

namespace keycell::broker::http {
namespace {

namespace bhttp = boost::beast::http;
using Parser = bhttp::request_parser<bhttp::buffer_body>;

constexpr size_t kReadChunkBytes = 16 * 1024;
constexpr size_t kCompactThresholdBytes = 64 * 1024;
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

struct Refusal {
  ErrorCode code;
  const char* message;
};

// Framing and header rules Beast leaves to us (RFC 9112 §6, §3.2). Beast already refuses
// differing Content-Length values and Content-Length with chunked; we go further and
// refuse anything ambiguous, because a proxy in front of us may read it differently.
std::optional<Refusal> CheckHeaders(const Parser::value_type& msg, const ServerOptions& opt) {
  const unsigned version = msg.version();
  if (version != 10 && version != 11)
    return Refusal{ErrorCode::kBadRequest, "unsupported HTTP version"};
  size_t fields = 0, content_length = 0, transfer_encoding = 0, host = 0;
  std::string_view cl_value, te_value;
  for (const auto& f : msg) {
    ++fields;
    const std::string_view name = f.name_string();
    if (EqualsIgnoreCase(name, "content-length")) {
      ++content_length;
      cl_value = f.value();
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      ++transfer_encoding;
      te_value = f.value();
    } else if (EqualsIgnoreCase(name, "host")) {
      ++host;
    }
  }
  if (fields > opt.max_header_fields)
    return Refusal{ErrorCode::kHeadersTooLarge, "too many header fields"};
  if (content_length > 1 || cl_value.find(',') != std::string_view::npos) {
    return Refusal{ErrorCode::kBadRequest, "repeated Content-Length"};
  }
  if (transfer_encoding > 0) {
    if (content_length > 0)
      return Refusal{ErrorCode::kBadRequest, "Content-Length with Transfer-Encoding"};
    if (version == 10) return Refusal{ErrorCode::kBadRequest, "Transfer-Encoding in HTTP/1.0"};
    if (transfer_encoding > 1 || !EqualsIgnoreCase(te_value, "chunked")) {
      return Refusal{ErrorCode::kNotImplemented, "unsupported Transfer-Encoding"};
    }
  }
  if (host > 1 || (version == 11 && host == 0)) {
    return Refusal{ErrorCode::kBadRequest, "Host header missing or repeated"};
  }
  return std::nullopt;
}

class Connection final : public ResponseChannel {
 public:
  Connection(Transport& transport, const ConnectionContext& ctx)
      : t_(transport), ctx_(ctx), opt_(*ctx.options) {}
  // Bytes a handler never read (a body refused before it was read) may hold a secret.
  ~Connection() override { explicit_bzero(buf_.data(), buf_.size()); }

  void Run() {
    for (bool first = true;; first = false) {
      const Next next = ServeOne(first);
      if (next == Next::kContinue) continue;
      if (next == Next::kLinger) t_.LingeringClose();
      return;
    }
  }

  // ResponseChannel.
  bool KeepAliveAfterResponse() override;
  Status Write(std::span<const std::string_view> pieces) override { return t_.Write(pieces); }

 private:
  enum class Next { kContinue, kClose, kLinger };

  class Body final : public BodyReader {
   public:
    explicit Body(Connection* c) : c_(c) {}
    Result<size_t> Read(char* buf, size_t n) override { return c_->ReadBody(buf, n); }
    bool done() const override { return c_->parser_->is_done(); }
    uint64_t bytes_read() const override { return c_->body_bytes_; }
    std::optional<uint64_t> content_length() const override {
      const auto cl = c_->parser_->content_length();
      return !c_->parser_->chunked() && cl ? std::optional<uint64_t>(*cl) : std::nullopt;
    }

   private:
    Connection* c_;
  };

  Next ServeOne(bool first);
  Next ServeParsed(Clock::time_point started);
  Result<size_t> ReadBody(char* buf, size_t n);
  bool Drain();
  Next Refuse(Clock::time_point started, ErrorCode code, std::string_view message);
  void Log(Clock::time_point started, std::string_view method, std::string_view path, int status,
           uint64_t response_bytes);

  std::string_view Pending() const { return std::string_view(buf_).substr(start_); }
  void Consume(size_t n) { start_ += n; }
  Result<size_t> Fill(Deadline deadline, bool interruptible);
  Status Fail(Status st) {
    body_error_ = st;
    return st;
  }

  Transport& t_;
  const ConnectionContext& ctx_;
  const ServerOptions& opt_;
  std::string buf_;  // received bytes; buf_[start_..] not yet consumed
  size_t start_ = 0;

  // Per request (reset by ServeOne).
  std::optional<Parser> parser_;
  Status body_error_;
  bool expect_continue_ = false;  // the client waits for "100 Continue" before its body
  bool continue_sent_ = false;
  bool response_started_ = false;
  bool force_close_ = false;
  uint64_t body_bytes_ = 0;
};

Result<size_t> Connection::Fill(Deadline deadline, bool interruptible) {
  if (start_ > 0 && (start_ == buf_.size() || start_ >= kCompactThresholdBytes)) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  const size_t old = buf_.size();
  buf_.resize(old + kReadChunkBytes);
  auto got = t_.Read(buf_.data() + old, kReadChunkBytes, deadline, interruptible);
  buf_.resize(old + (got.ok() ? *got : 0));
  return got;
}

Connection::Next Connection::ServeOne(bool first) {
  parser_.reset();
  body_error_ = Status::Ok();
  expect_continue_ = continue_sent_ = response_started_ = force_close_ = false;
  body_bytes_ = 0;

  // Idle until the first byte: silence, EOF or a server stop ends the connection quietly.
  const Deadline idle_deadline =
      first ? ctx_.first_request_deadline : Clock::now() + opt_.idle_timeout;
  if (Pending().empty()) {
    auto got = Fill(idle_deadline, /*interruptible=*/true);
    if (!got.ok() || *got == 0) return Next::kClose;
  }
  const Clock::time_point started = Clock::now();
  const Deadline head_deadline =
      first ? ctx_.first_request_deadline : started + opt_.header_timeout;

  HeadScanner scanner(opt_.max_header_bytes);
  for (;;) {
    const HeadScanner::State st = scanner.Scan(Pending());
    if (st == HeadScanner::State::kComplete) break;
    if (st == HeadScanner::State::kTooLarge) {
      return Refuse(started, ErrorCode::kHeadersTooLarge, "request head too large");
    }
    if (st == HeadScanner::State::kBadLineEnding) {
      return Refuse(started, ErrorCode::kBadRequest, "malformed request: bad line ending");
    }
    if (st == HeadScanner::State::kLeadingWhitespace) {
      return Refuse(started, ErrorCode::kBadRequest,
                    "malformed request: line starts with whitespace");
    }
    auto got = Fill(head_deadline, /*interruptible=*/false);
    if (!got.ok() && got.status().code() == Err::kTimeout) {
      return Refuse(started, ErrorCode::kRequestTimeout, "timed out reading the request head");
    }
    if (!got.ok() || *got == 0) return Next::kClose;  // the peer gave up mid-head
  }

  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(std::min<size_t>(opt_.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(opt_.max_body_bytes);
  // Exactly the head, with eager off: Beast 1.74 loses a body_limit error found at the end
  // of the head if the same put() goes on into body bytes (boostorg/beast#2201).
  const std::string_view head = Pending().substr(scanner.begin(), scanner.end() - scanner.begin());
  boost::system::error_code ec;
  const size_t used = parser_->put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec == bhttp::error::header_limit) {
    return Refuse(started, ErrorCode::kHeadersTooLarge, "request head too large");
  }
  if (ec == bhttp::error::body_limit) {
    return Refuse(started, ErrorCode::kPayloadTooLarge, "request body too large");
  }
  if (ec || used != head.size() || !parser_->is_header_done()) {
    const std::string message = "malformed request: " + (ec ? ec.message() : std::string("head"));
    parser_.reset();  // not a request we can name in the log
    return Refuse(started, ErrorCode::kBadRequest, message);
  }
  Consume(scanner.end());
  // From here on, body bytes are parsed as far as the handler's buffer allows.
  parser_->eager(true);
  return ServeParsed(started);
}

Connection::Next Connection::ServeParsed(Clock::time_point started) {
  const auto& msg = parser_->get();
  if (const auto refusal = CheckHeaders(msg, opt_)) {
    return Refuse(started, refusal->code, refusal->message);
  }
  if (const size_t n = static_cast<size_t>(
          std::count_if(msg.begin(), msg.end(),
                        [](const auto& f) { return EqualsIgnoreCase(f.name_string(), "expect"); }));
      n > 0) {
    const auto expect = msg[bhttp::field::expect];
    if (n > 1 || !EqualsIgnoreCase(expect, "100-continue")) {
      return Refuse(started, ErrorCode::kExpectationFailed, "unsupported Expect");
    }
    // HTTP/1.0 clients do not wait for it (RFC 9110 §10.1.1).
    expect_continue_ = msg.version() == 11 && !parser_->is_done();
  }
  auto target = ParseTarget(msg.target(), {opt_.allow_absolute_form});
  if (!target.ok()) return Refuse(started, ErrorCode::kBadRequest, target.status().where());

  std::vector<HeaderField> headers;
  for (const auto& f : msg)
    headers.push_back({std::string(f.name_string()), std::string(f.value())});
  Body body(this);
  const int version = static_cast<int>(msg.version());
  Request req(std::string(msg.method_string()), std::string(msg.target()),
              std::move(target).value(), version, std::move(headers), ctx_.peer, &body,
              ctx_.stopping);
  ResponseWriter res(*this, {req.method() == Method::kHead, version});
  bool threw = false;
  try {
    ctx_.router->Dispatch(req, res);
  } catch (...) {  // handlers may throw (std::bad_alloc, std::system_error): contain it here
    threw = true;
  }
  if (!res.head_written() && !res.failed()) {
    (void)SendError(res, ErrorCode::kInternal, threw ? "internal error" : "no response");
  }
  // A started but unfinished body (handler error, exception) cannot be completed
  // honestly: close, so the client sees a truncated response, not a wrong boundary.
  bool keep = res.keep_alive() && res.finished() && !res.failed();
  if (keep && !parser_->is_done()) keep = Drain();
  Log(started, req.method_name(), req.path(), res.status(), res.body_bytes());
  if (keep) return Next::kContinue;
  if (res.failed() || !res.finished()) return Next::kClose;
  return parser_->is_done() && Pending().empty() ? Next::kClose : Next::kLinger;
}

bool Connection::KeepAliveAfterResponse() {
  response_started_ = true;
  if (force_close_ || !parser_ || !parser_->is_header_done()) return false;
  if (!parser_->get().keep_alive())
    return false;  // "Connection: close", or HTTP/1.0 without keep-alive
  if (ctx_.stopping != nullptr && ctx_.stopping->load()) return false;
  if (!body_error_.ok()) return false;
  if (parser_->is_done()) return true;
  // The client holds its body back until "100 Continue", which it will now never get.
  if (expect_continue_ && !continue_sent_) return false;
  if (!parser_->chunked()) {
    const auto remaining = parser_->content_length_remaining();
    if (remaining && *remaining > kMaxDrainBytes) return false;
  }
  return true;  // a small (or chunked) remainder: Drain() after the response
}

Result<size_t> Connection::ReadBody(char* buf, size_t n) {
  if (!body_error_.ok()) return body_error_;
  if (n == 0 || parser_->is_done()) return size_t{0};
  if (expect_continue_ && !continue_sent_ && !response_started_) {
    continue_sent_ = true;
    const std::array<std::string_view, 1> pieces = {kContinueResponse};
    KC_RETURN_IF_ERROR(Fail(t_.Write(pieces)));
  }
  auto& body = parser_->get().body();
  const Deadline deadline = Clock::now() + opt_.body_timeout;
  for (;;) {
    if (!Pending().empty()) {
      body.data = buf;
      body.size = n;
      boost::system::error_code ec;
      const std::string_view in = Pending();
      const size_t used = parser_->put(boost::asio::buffer(in.data(), in.size()), ec);
      // Body bytes (and their chunk framing) leave the connection's buffer once handed
      // over: a body may hold a secret (the unlock page's PIN, docs/mcp.md), and the
      // buffer lives as long as the connection.
      explicit_bzero(buf_.data() + start_, used);
      Consume(used);
      const size_t produced = n - body.size;
      body.data = nullptr;  // never leave Beast a pointer into the caller's buffer
      if (ec && ec != bhttp::error::need_buffer && ec != bhttp::error::need_more) {
        return Fail(ec == bhttp::error::body_limit
                        ? Status(Err::kTooLarge, "http: body too large")
                        : Status(Err::kBadFrame, "http: malformed body"));
      }
      body_bytes_ += produced;
      if (produced > 0 || parser_->is_done()) return produced;
      // Beast holds a partial chunk header or trailer in Pending() until its end arrives;
      // bound it as a header would be (Beast itself sets no limit there).
      if (Pending().size() >= opt_.max_header_bytes) {
        return Fail(Status(Err::kBadFrame, "http: chunk header or trailer too long"));
      }
    }
    auto got = Fill(deadline, /*interruptible=*/false);
    if (!got.ok()) return Fail(got.status());
    if (*got == 0) return Fail(Status(Err::kBadFrame, "http: body truncated"));
  }
}

bool Connection::Drain() {
  char sink[8192];
  uint64_t drained = 0;
  while (!parser_->is_done()) {
    auto got = ReadBody(sink, sizeof(sink));
    if (!got.ok()) return false;
    drained += *got;
    if (drained > kMaxDrainBytes) return false;
  }
  return true;
}

Connection::Next Connection::Refuse(Clock::time_point started, ErrorCode code,
                                    std::string_view message) {
  force_close_ = true;
  const std::string_view method =
      parser_ && parser_->is_header_done() ? parser_->get().method_string() : std::string_view("-");
  // A HEAD request gets no body even when refused: the client would read it as the start
  // of the next response.
  ResponseWriter res(*this, {.head_request = method == "HEAD", .version = 11});
  (void)SendError(res, code, message);
  Log(started, method, "-", res.status(), res.body_bytes());
  return Next::kLinger;
}

void Connection::Log(Clock::time_point started, std::string_view method, std::string_view path,
                     int status, uint64_t response_bytes) {
  if (!opt_.access_log) return;
  AccessLogEntry entry;
  entry.method = method;
  entry.path = path;
  entry.status = status;
  entry.request_body_bytes = body_bytes_;
  entry.response_body_bytes = response_bytes;
  entry.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  entry.peer_ip = ctx_.peer.ip;
  try {
    opt_.access_log(entry);
  } catch (...) {  // a logging failure must not take the connection down
  }
}

}  // namespace

void ServeConnection(Transport& transport, const ConnectionContext& ctx) {
  try {
    Connection(transport, ctx).Run();
  } catch (...) {  // std::bad_alloc and friends: drop this connection, keep the server
  }
}

}  // namespace keycell::broker::http

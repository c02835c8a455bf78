// The one translation unit that includes Beast (its compile cost stays here). Beast's
// basic_parser does the tokenising; this file adds the buffering discipline (a whole
// head is handed to Beast at once, so field views stay valid until OnHead), the
// framing rules Beast leaves open, and the mapping to keycell Status.
#include "enclave/http/response_parser.h"

#include <string.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <optional>
#include <utility>

#include "common/secure_buffer.h"

namespace keycell::enclave::http {
namespace {

namespace bhttp = boost::beast::http;
using boost::beast::error_code;

constexpr size_t kMaxHeaderBytesLimit = 16 * 1024 * 1024;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "identity", empty, or a list of those.
bool IsIdentityCoding(std::string_view v) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view tok = TrimOws(v.substr(0, comma));
    if (!tok.empty() && !EqualsIgnoreCase(tok, "identity")) return false;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return true;
}

// Beast's errors as fixed literals. Never the offending bytes.
Status FromBeast(const error_code& ec) {
  using E = bhttp::error;
  struct Row {
    E e;
    Err code;
    const char* where;
  };
  static constexpr Row kRows[] = {
      {E::header_limit, Err::kTooLarge, "http response: head too large"},
      {E::body_limit, Err::kTooLarge, "http response: body too large"},
      {E::bad_line_ending, Err::kBadFrame, "http response: bad line ending"},
      {E::bad_version, Err::kBadFrame, "http response: bad status line (version)"},
      {E::bad_status, Err::kBadFrame, "http response: bad status line (status code)"},
      {E::bad_reason, Err::kBadFrame, "http response: bad status line (reason)"},
      {E::bad_field, Err::kBadFrame, "http response: bad field name"},
      {E::bad_value, Err::kBadFrame, "http response: bad field value"},
      {E::bad_content_length, Err::kBadFrame, "http response: bad or conflicting Content-Length"},
      {E::bad_transfer_encoding, Err::kBadFrame,
       "http response: bad or conflicting Transfer-Encoding"},
      {E::bad_chunk, Err::kBadFrame, "http response: bad chunk"},
      {E::bad_chunk_extension, Err::kBadFrame, "http response: bad chunk extension"},
      {E::bad_obs_fold, Err::kBadFrame, "http response: obs-fold"},
      {E::partial_message, Err::kBadFrame, "http response: truncated"},
  };
  for (const Row& r : kRows) {
    if (ec == r.e) return Status(r.code, r.where);
  }
  return Status(Err::kBadFrame, "http response: malformed");
}

}  // namespace

Status ResponseSink::OnInterim(const ResponseHead&) { return Status::Ok(); }
Status ResponseSink::OnTrailers(std::span<const HeaderField>) { return Status::Ok(); }

struct ResponseParser::Impl {
  enum class Phase { kHead, kBody };
  class Beast;  // Beast's parser with our callbacks

  // Beast callbacks (through Beast). Each returns a Status; non-ok stops Beast.
  Status OnStatusLine(int status, std::string_view reason, int version);
  Status OnField(bhttp::field f, std::string_view name, std::string_view value);
  Status OnHeadDone();
  Status OnBodyBytes(std::string_view body);
  void OnLastChunk() {
    in_trailers = true;
    field_count = 0;
  }
  Status OnFinish();

  Result<size_t> Feed(ByteView in, ResponseSink& sink);
  Status FeedEof(ResponseSink& sink);
  Result<size_t> Drive(const uint8_t* data, size_t n);
  Status DrainPending();
  Result<size_t> ScanHead();
  void NewBeast();
  void Compact();
  void Reset(bool head_request);
  Status Fail(Status st);

  ResponseParserOptions opt;
  SecureBuffer buf;  // pending input: [off, len) not yet consumed
  size_t off = 0, len = 0;
  Phase phase = Phase::kHead;
  size_t head_scanned = 0;  // bytes of the current head (from off) already scanned
  std::unique_ptr<Beast> beast;
  const char* put_end = nullptr;  // end of the buffer Beast is parsing (obs-fold check)
  ResponseSink* sink = nullptr;
  Status failure;
  bool got_bytes = false, done = false, extra = false;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t body_bytes = 0;
  size_t interims = 0;

  // The head (or trailer section) being parsed.
  int status = 0;
  unsigned version = 11;
  std::string_view reason;
  std::array<HeaderField, kMaxFields> fields;
  size_t field_count = 0;
  size_t content_lengths = 0, transfer_encodings = 0;
  bool content_length_list = false, te_chunked = false, content_coded = false;
  bool interim = false, in_trailers = false;
};

class ResponseParser::Impl::Beast final : public bhttp::basic_parser<false> {
 public:
  explicit Beast(Impl* impl) : impl_(impl) {}

 private:
  using sv = boost::beast::string_view;
  static void Check(const Status& st, error_code& ec) {
    // Any error stops Beast; the Status itself is in Impl::failure.
    if (!st.ok()) ec = bhttp::error::bad_value;
  }
  void on_request_impl(bhttp::verb, sv, sv, int, error_code& ec) override {
    ec = bhttp::error::bad_method;  // unreachable for a response parser
  }
  void on_response_impl(int code, sv why, int ver, error_code& ec) override {
    Check(impl_->OnStatusLine(code, why, ver), ec);
  }
  void on_field_impl(bhttp::field f, sv name, sv value, error_code& ec) override {
    Check(impl_->OnField(f, name, value), ec);
  }
  void on_header_impl(error_code& ec) override { Check(impl_->OnHeadDone(), ec); }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(sv body, error_code& ec) override {
    Check(impl_->OnBodyBytes(body), ec);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t size, sv, error_code&) override {
    if (size == 0) impl_->OnLastChunk();
  }
  size_t on_chunk_body_impl(std::uint64_t, sv body, error_code& ec) override {
    Check(impl_->OnBodyBytes(body), ec);
    return body.size();
  }
  void on_finish_impl(error_code& ec) override { Check(impl_->OnFinish(), ec); }

  Impl* impl_;
};

Status ResponseParser::Impl::Fail(Status st) {
  if (failure.ok()) failure = st;
  SecureWipe(buf.data(), buf.size());
  off = len = 0;
  return failure;
}

void ResponseParser::Impl::NewBeast() {
  beast = std::make_unique<Beast>(this);
  beast->header_limit(static_cast<uint32_t>(opt.max_header_bytes));
  beast->body_limit(opt.max_body_bytes != 0 ? boost::optional<uint64_t>(opt.max_body_bytes)
                                            : boost::optional<uint64_t>());
  beast->eager(true);
  if (opt.head_request) beast->skip(true);
  status = 0;
  reason = {};
  field_count = content_lengths = transfer_encodings = 0;
  content_length_list = te_chunked = content_coded = interim = in_trailers = false;
}

Status ResponseParser::Impl::OnStatusLine(int code, std::string_view why, int ver) {
  // We never send "Upgrade": a 101 is an upstream (or a man in the middle) trying to
  // turn the connection into something we cannot parse or redact.
  if (code == 101)
    return Fail(Status(Err::kBadFrame, "http response: 101 Switching Protocols refused"));
  if (code < 100 || code > 599)
    return Fail(Status(Err::kBadFrame, "http response: status out of range"));
  status = code;
  reason = why;
  version = static_cast<unsigned>(ver);
  interim = code / 100 == 1;
  return Status::Ok();
}

// Checks that the line this field started on is not continued by obs-fold (Beast
// would fold it silently). Beast has seen the byte after the field's CRLF, so it is in
// the buffer; field values cannot contain CR.
Status ResponseParser::Impl::OnField(bhttp::field f, std::string_view name,
                                     std::string_view value) {
  const char* cr = static_cast<const char*>(memchr(name.data(), '\r', put_end - name.data()));
  if (cr != nullptr && cr + 2 < put_end && (cr[2] == ' ' || cr[2] == '\t')) {
    return Fail(Status(Err::kBadFrame, "http response: obs-fold"));
  }
  if (field_count == kMaxFields)
    return Fail(Status(Err::kTooLarge, "http response: too many fields"));
  fields[field_count++] = HeaderField{name, value};
  if (in_trailers) return Status::Ok();  // Beast refuses framing fields in trailers itself
  if (f == bhttp::field::content_length) {
    ++content_lengths;
    content_length_list = content_length_list || value.find(',') != std::string_view::npos;
  } else if (f == bhttp::field::transfer_encoding) {
    ++transfer_encodings;
    te_chunked = EqualsIgnoreCase(value, "chunked");
  } else if (f == bhttp::field::content_encoding) {
    content_coded = content_coded || !IsIdentityCoding(value);
  }
  return Status::Ok();
}

// Framing rules beyond Beast's (which already refuses differing Content-Length values
// and Content-Length with chunked): anything a front end could read differently from
// us is refused (RFC 9112 §6.3 request smuggling, response splitting).
Status ResponseParser::Impl::OnHeadDone() {
  if (content_lengths > 1 || content_length_list) {
    return Fail(Status(Err::kBadFrame, "http response: repeated Content-Length"));
  }
  if (transfer_encodings > 0) {
    if (version == 10)
      return Fail(Status(Err::kBadFrame, "http response: Transfer-Encoding in HTTP/1.0"));
    if (transfer_encodings > 1 || !te_chunked) {
      return Fail(Status(Err::kBadFrame, "http response: Transfer-Encoding other than chunked"));
    }
  }
  ResponseHead head;
  head.version = version;
  head.status = status;
  head.reason = reason;
  head.fields = std::span<const HeaderField>(fields.data(), field_count);
  const auto cl = beast->content_length();
  if (cl) head.content_length = *cl;
  head.keep_alive = beast->keep_alive();
  if (interim || opt.head_request || status == 204 || status == 304) {
    head.framing = BodyFraming::kNone;
  } else if (beast->chunked()) {
    head.framing = BodyFraming::kChunked;
  } else {
    head.framing = cl ? BodyFraming::kContentLength : BodyFraming::kUntilClose;
  }
  const bool has_body = head.framing != BodyFraming::kNone &&
                        !(head.framing == BodyFraming::kContentLength && *cl == 0);
  // A compressed body would pass the redactor unread (docs/enclave-http.md).
  if (has_body && content_coded && !opt.allow_content_encoding) {
    return Fail(Status(Err::kPolicyDenied, "http response: Content-Encoding other than identity"));
  }
  field_count = 0;
  if (interim) {
    const Status st = sink->OnInterim(head);
    return st.ok() ? st : Fail(st);
  }
  framing = head.framing;
  const Status st = sink->OnHead(head);
  return st.ok() ? st : Fail(st);
}

Status ResponseParser::Impl::OnBodyBytes(std::string_view body) {
  body_bytes += body.size();
  if (opt.max_body_bytes != 0 && body_bytes > opt.max_body_bytes) {
    return Fail(Status(Err::kTooLarge, "http response: body too large"));
  }
  if (body.empty()) return Status::Ok();
  const Status st = sink->OnBody(AsBytes(body));
  return st.ok() ? st : Fail(st);
}

Status ResponseParser::Impl::OnFinish() {
  if (interim) return Status::Ok();
  Status st;
  if (in_trailers && field_count > 0) {
    st = sink->OnTrailers(std::span<const HeaderField>(fields.data(), field_count));
  }
  field_count = 0;
  if (st.ok()) st = sink->OnDone();
  if (!st.ok()) return Fail(st);
  done = true;
  return st;
}

// Runs Beast over [data, data + n) until it needs more input, the final response is
// complete, or (after a 1xx) a new head begins. Returns the bytes consumed.
Result<size_t> ResponseParser::Impl::Drive(const uint8_t* data, size_t n) {
  size_t used = 0;
  while (used < n && !done) {
    if (!beast) NewBeast();
    error_code ec;
    put_end = reinterpret_cast<const char*>(data + n);
    const size_t k = beast->put(boost::asio::const_buffer(data + used, n - used), ec);
    used += k;
    if (!failure.ok()) return failure;
    if (ec == bhttp::error::need_more) break;
    if (ec) return Fail(FromBeast(ec));
    if (beast->is_done() && interim) {
      // The final response follows on the same connection, head first.
      if (++interims > kMaxInterimResponses) {
        return Fail(Status(Err::kTooLarge, "http response: too many 1xx responses"));
      }
      beast.reset();
      phase = Phase::kHead;
      head_scanned = 0;
      break;
    }
    if (k == 0) break;
  }
  return used;
}

// Finds the end of the head in the pending bytes, refusing bare CR and bare LF (which
// some parsers accept as line ends and others do not). Returns its length, or 0 if the
// head is not complete yet.
Result<size_t> ResponseParser::Impl::ScanHead() {
  const uint8_t* p = buf.data() + off;
  const size_t n = len - off;
  for (size_t i = head_scanned; i < n; ++i) {
    const uint8_t prev = i > 0 ? p[i - 1] : 0;
    if (p[i] == '\n' && prev != '\r') return Fail(Status(Err::kBadFrame, "http response: bare LF"));
    if (prev == '\r' && p[i] != '\n') return Fail(Status(Err::kBadFrame, "http response: bare CR"));
    if (i >= 3 && memcmp(p + i - 3, "\r\n\r\n", 4) == 0) {
      head_scanned = 0;
      return i + 1;
    }
  }
  head_scanned = n;
  return size_t{0};
}

Status ResponseParser::Impl::DrainPending() {
  while (!done && off < len) {
    size_t used;
    if (phase == Phase::kHead) {
      KC_ASSIGN_OR_RETURN(const size_t head_len, ScanHead());
      if (head_len == 0) break;
      KC_ASSIGN_OR_RETURN(used, Drive(buf.data() + off, head_len));
      if (used != head_len) return Fail(Status(Err::kInternal, "http response: head not consumed"));
      if (!done && beast) phase = Phase::kBody;  // after a 1xx, beast is gone: next head
    } else {
      KC_ASSIGN_OR_RETURN(used, Drive(buf.data() + off, len - off));
      if (used == 0) break;
    }
    off += used;
  }
  Compact();
  return Status::Ok();
}

void ResponseParser::Impl::Compact() {
  if (off == 0) return;
  const size_t rest = len - off;
  memmove(buf.data(), buf.data() + off, rest);
  SecureWipe(buf.data() + rest, off);
  len = rest;
  off = 0;
}

Result<size_t> ResponseParser::Impl::Feed(ByteView in, ResponseSink& s) {
  if (!failure.ok()) return failure;
  sink = &s;
  if (!in.empty()) got_bytes = true;
  size_t used = 0;
  while (!in.empty() && !done) {
    if (phase == Phase::kBody && len == 0) {
      // Body bytes go straight from the caller's buffer to the sink.
      KC_ASSIGN_OR_RETURN(const size_t k, Drive(in.data(), in.size()));
      used += k;
      in = in.subspan(k);
      if (in.empty() || done) break;
      // Beast needs more than is here (a chunk-size line, the trailers): keep the rest.
    }
    const size_t take = std::min(in.size(), buf.size() - len);
    if (take == 0) {
      return Fail(Status(Err::kTooLarge, phase == Phase::kHead
                                             ? "http response: head too large"
                                             : "http response: chunk line or trailers too large"));
    }
    memcpy(buf.data() + len, in.data(), take);
    len += take;
    used += take;
    in = in.subspan(take);
    KC_RETURN_IF_ERROR(DrainPending());
  }
  if (done && (len > 0 || !in.empty())) {
    // Bytes past the end of the response: not ours, and the connection is out of step.
    // Those still pending came from this call (earlier ones would have completed it).
    extra = true;
    KC_CHECK(used >= len);
    used -= len;
    SecureWipe(buf.data(), len);
    len = 0;
  }
  return used;
}

Status ResponseParser::Impl::FeedEof(ResponseSink& s) {
  if (!failure.ok()) return failure;
  if (done) return Status::Ok();
  sink = &s;
  if (!got_bytes)
    return Fail(Status(Err::kBadFrame, "http response: connection closed before a response"));
  if (phase == Phase::kHead || len > 0 || !beast) {
    return Fail(Status(Err::kBadFrame, "http response: truncated"));
  }
  error_code ec;
  beast->put_eof(ec);
  if (!failure.ok()) return failure;
  if (ec) return Fail(FromBeast(ec));
  if (!done) return Fail(Status(Err::kBadFrame, "http response: truncated"));
  return Status::Ok();
}

void ResponseParser::Impl::Reset(bool head_request) {
  SecureWipe(buf.data(), buf.size());
  off = len = head_scanned = 0;
  phase = Phase::kHead;
  beast.reset();
  sink = nullptr;
  failure = Status::Ok();
  got_bytes = done = extra = false;
  framing = BodyFraming::kNone;
  body_bytes = 0;
  interims = 0;
  opt.head_request = head_request;
}

ResponseParser::ResponseParser(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResponseParser::ResponseParser(ResponseParser&&) noexcept = default;
ResponseParser& ResponseParser::operator=(ResponseParser&&) noexcept = default;
ResponseParser::~ResponseParser() = default;

Result<ResponseParser> ResponseParser::Create(const ResponseParserOptions& options) {
  if (options.max_header_bytes == 0 || options.max_header_bytes > kMaxHeaderBytesLimit) {
    return Status(Err::kInvalidArgument, "http response: max_header_bytes out of range");
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  KC_ASSIGN_OR_RETURN(impl->buf, SecureBuffer::Allocate(options.max_header_bytes));
  return ResponseParser(std::move(impl));
}

Result<size_t> ResponseParser::Feed(ByteView bytes, ResponseSink& sink) {
  return impl_->Feed(bytes, sink);
}
Status ResponseParser::FeedEof(ResponseSink& sink) { return impl_->FeedEof(sink); }
bool ResponseParser::done() const { return impl_->done; }
bool ResponseParser::KeepAlive() const {
  return impl_->done && !impl_->extra && impl_->beast && impl_->beast->keep_alive();
}
BodyFraming ResponseParser::framing() const { return impl_->framing; }
uint64_t ResponseParser::body_bytes() const { return impl_->body_bytes; }
void ResponseParser::Reset(bool head_request) { impl_->Reset(head_request); }

}  // namespace keycell::enclave::http

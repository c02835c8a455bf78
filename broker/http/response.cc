#include "broker/http/response.h"

#include <array>
#include <cstdio>

#include "broker/http/request.h"

namespace keycell::broker::http {
namespace {

struct Reason {
  int status;
  const char* text;
};
constexpr Reason kReasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {423, "Locked"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

// Framing headers: the writer decides them, so a handler (or a relayed upstream
// response) cannot make the client read a body boundary that differs from ours.
constexpr std::string_view kOwnedHeaders[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te"};

bool BodyForbidden(int status) { return status == 204 || status == 304; }

}  // namespace

const char* ReasonPhrase(int status) {
  for (const Reason& r : kReasons) {
    if (r.status == status) return r.text;
  }
  return "";
}

bool IsToken(std::string_view s) {
  // RFC 9110 tchar.
  constexpr std::string_view kPunct = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  for (const char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && kPunct.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool IsSafeHeaderValue(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

Status ResponseWriter::SetHeader(std::string_view name, std::string_view value) {
  if (head_written_) return Status(Err::kInvalidArgument, "http: header after response head");
  if (!IsToken(name)) return Status(Err::kInvalidArgument, "http: bad response header name");
  if (!IsSafeHeaderValue(value)) {
    return Status(Err::kInvalidArgument, "http: bad response header value");
  }
  for (const std::string_view owned : kOwnedHeaders) {
    if (EqualsIgnoreCase(name, owned)) {
      return Status(Err::kInvalidArgument, "http: framing header set by the writer");
    }
  }
  headers_.emplace_back(name, value);
  return Status::Ok();
}

Status ResponseWriter::CheckStatus(int status, bool has_body) const {
  if (head_written_) return Status(Err::kInvalidArgument, "http: response head already written");
  if (status < 200 || status > 599) return Status(Err::kInvalidArgument, "http: bad status code");
  if (has_body && BodyForbidden(status)) {
    return Status(Err::kInvalidArgument, "http: body on a 204/304 response");
  }
  return Status::Ok();
}

std::string ResponseWriter::BuildHead(int status, Framing framing, uint64_t content_length,
                                      std::string_view content_type) {
  // Asked once, right before the head goes out: the answer goes into this head.
  keep_alive_ =
      channel_.KeepAliveAfterResponse() && !close_requested_ && framing != Framing::kUntilClose;
  std::string head;
  head.reserve(256);
  char line[64];
  std::snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, ReasonPhrase(status));
  head += line;
  for (const auto& [name, value] : headers_) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  if (!content_type.empty()) head.append("Content-Type: ").append(content_type).append("\r\n");
  if (framing == Framing::kFixed && !BodyForbidden(status)) {
    head.append("Content-Length: ").append(std::to_string(content_length)).append("\r\n");
  } else if (framing == Framing::kChunked) {
    head.append("Transfer-Encoding: chunked\r\n");
  }
  if (!keep_alive_) {
    head.append("Connection: close\r\n");
  } else if (ctx_.version == 10) {
    head.append("Connection: keep-alive\r\n");
  }
  head.append("\r\n");
  head_written_ = true;
  status_ = status;
  framing_ = framing;
  declared_length_ = content_length;
  return head;
}

Status ResponseWriter::WritePieces(std::span<const std::string_view> pieces) {
  const Status st = channel_.Write(pieces);
  if (!st.ok()) failed_ = true;
  return st;
}

Status ResponseWriter::Send(int status, std::string_view content_type, std::string_view body) {
  KC_RETURN_IF_ERROR(CheckStatus(status, !body.empty()));
  if (!content_type.empty() && !IsSafeHeaderValue(content_type)) {
    return Status(Err::kInvalidArgument, "http: bad response header value");
  }
  const std::string head = BuildHead(status, Framing::kFixed, body.size(), content_type);
  finished_ = true;
  const bool send_body = !ctx_.head_request && !body.empty();
  const std::array<std::string_view, 2> pieces = {head, send_body ? body : std::string_view()};
  KC_RETURN_IF_ERROR(WritePieces(pieces));
  if (send_body) body_bytes_ = body.size();
  return Status::Ok();
}

Status ResponseWriter::BeginFixed(int status, uint64_t content_length) {
  KC_RETURN_IF_ERROR(CheckStatus(status, content_length > 0));
  const std::string head = BuildHead(status, Framing::kFixed, content_length, {});
  const std::array<std::string_view, 1> pieces = {head};
  return WritePieces(pieces);
}

Status ResponseWriter::BeginChunked(int status) {
  KC_RETURN_IF_ERROR(CheckStatus(status, true));
  const Framing framing = ctx_.version == 10 ? Framing::kUntilClose : Framing::kChunked;
  const std::string head = BuildHead(status, framing, 0, {});
  const std::array<std::string_view, 1> pieces = {head};
  return WritePieces(pieces);
}

Status ResponseWriter::Write(std::string_view data) {
  if (failed_) return Status(Err::kUnavailable, "http: response already failed");
  if (!head_written_ || finished_ || framing_ == Framing::kNone) {
    return Status(Err::kInvalidArgument, "http: Write outside a streamed body");
  }
  if (framing_ == Framing::kFixed && data.size() > declared_length_ - accepted_bytes_) {
    failed_ = true;  // the response can no longer be completed correctly
    return Status(Err::kInvalidArgument, "http: body longer than Content-Length");
  }
  if (data.empty()) return Status::Ok();
  accepted_bytes_ += data.size();
  if (ctx_.head_request) return Status::Ok();
  if (framing_ == Framing::kChunked) {
    char size_line[24];
    const int len = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
    const std::array<std::string_view, 3> pieces = {
        std::string_view(size_line, static_cast<size_t>(len)), data, "\r\n"};
    KC_RETURN_IF_ERROR(WritePieces(pieces));
  } else {
    const std::array<std::string_view, 1> pieces = {data};
    KC_RETURN_IF_ERROR(WritePieces(pieces));
  }
  body_bytes_ += data.size();
  return Status::Ok();
}

Status ResponseWriter::Finish() {
  if (failed_) return Status(Err::kUnavailable, "http: response already failed");
  if (!head_written_ || finished_)
    return Status(Err::kInvalidArgument, "http: Finish without Begin");
  // A HEAD handler may skip the body it would have sent.
  if (framing_ == Framing::kFixed && accepted_bytes_ != declared_length_ && !ctx_.head_request) {
    failed_ = true;
    return Status(Err::kInvalidArgument, "http: body shorter than Content-Length");
  }
  finished_ = true;
  if (framing_ == Framing::kChunked && !ctx_.head_request) {
    const std::array<std::string_view, 1> pieces = {"0\r\n\r\n"};
    return WritePieces(pieces);
  }
  return Status::Ok();
}

}  // namespace keycell::broker::http

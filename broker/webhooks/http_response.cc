#include "broker/webhooks/http_response.h"

#include <algorithm>
#include <climits>

namespace keycell::broker::webhooks {
namespace {

Status BadHead(const char* where, size_t offset) {
  return Status(Err::kBadFrame, where, static_cast<int32_t>(std::min<size_t>(offset, INT32_MAX)));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c)) return true;
  constexpr std::string_view kOthers = "!#$%&'*+-.^_`|~";
  return kOthers.find(c) != std::string_view::npos;
}

// Field values and reason phrases: HTAB, SP, VCHAR and obs-text (>= 0x80).
bool IsFieldChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

Status CheckHeaderLine(std::string_view line, size_t offset) {
  if (line.front() == ' ' || line.front() == '\t')
    return BadHead("webhooks: response: folded header line", offset);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return BadHead("webhooks: response: header line without a name", offset);
  for (size_t i = 0; i < colon; ++i)
    if (!IsTokenChar(line[i])) return BadHead("webhooks: response: bad header name", offset + i);
  for (size_t i = colon + 1; i < line.size(); ++i)
    if (!IsFieldChar(line[i]))
      return BadHead("webhooks: response: control character in header value", offset + i);
  return Status::Ok();
}

}  // namespace

Result<StatusLine> ParseStatusLine(std::string_view line) {
  // "HTTP/1.1 200" is the shortest form: 12 bytes.
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !IsDigit(line[7]) || line[8] != ' ')
    return BadHead("webhooks: response: not an HTTP/1.x status line", 0);
  StatusLine s;
  s.http_minor = line[7] - '0';
  if (s.http_minor > 1) return BadHead("webhooks: response: unsupported HTTP version", 7);
  if (!IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11]))
    return BadHead("webhooks: response: bad status code", 9);
  s.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (s.status < 100 || s.status > 599) return BadHead("webhooks: response: bad status code", 9);
  if (line.size() == 12) return s;
  if (line[12] != ' ') return BadHead("webhooks: response: bad status code", 12);
  s.reason = line.substr(13);
  for (size_t i = 0; i < s.reason.size(); ++i)
    if (!IsFieldChar(s.reason[i]))
      return BadHead("webhooks: response: control character in reason phrase", 13 + i);
  return s;
}

Result<std::optional<ResponseHead>> ParseResponseHead(std::string_view data, size_t max_bytes) {
  const std::string_view window = data.substr(0, std::min(data.size(), max_bytes));
  ResponseHead head;
  size_t pos = 0;
  size_t headers = 0;
  while (true) {
    const size_t nl = window.find('\n', pos);
    if (nl == std::string_view::npos) break;
    std::string_view line = window.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos)
      return BadHead("webhooks: response: bare CR", pos + line.find('\r'));
    if (pos == 0) {
      KC_ASSIGN_OR_RETURN(StatusLine s, ParseStatusLine(line));
      head.status = s.status;
    } else if (line.empty()) {
      head.head_bytes = nl + 1;
      return std::optional<ResponseHead>(head);
    } else {
      if (++headers > kMaxResponseHeaders)
        return Status(Err::kTooLarge, "webhooks: response: too many header lines");
      KC_RETURN_IF_ERROR(CheckHeaderLine(line, pos));
    }
    pos = nl + 1;
  }
  // The first line, even incomplete, must look like a status line from its first byte.
  if (pos == 0 && !window.empty()) {
    const std::string_view prefix = window.substr(0, std::min<size_t>(window.size(), 7));
    if (std::string_view("HTTP/1.").substr(0, prefix.size()) != prefix)
      return BadHead("webhooks: response: not an HTTP/1.x status line", 0);
  }
  if (data.size() >= max_bytes)
    return Status(Err::kTooLarge, "webhooks: response: head too large (cap 16 KiB)");
  return std::optional<ResponseHead>();
}

}  // namespace keycell::broker::webhooks

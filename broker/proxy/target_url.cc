#include "broker/proxy/target_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace keycell::broker::proxy {
namespace {

Status Bad(const char* where, size_t offset = 0) {
  return Status(Err::kInvalidArgument, where, static_cast<int32_t>(offset));
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Byte classes checked over the whole URL first, so no later step ever sees CR, LF,
// NUL, a space, a control byte or non-ASCII, and the host, port and path parsers only
// deal with visible ASCII.
Status CheckBytes(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n' || c == '\0') return Bad(kWhereUrlCrLfNul, i);
    if (c <= 0x20 || c == 0x7f) return Bad(kWhereUrlControl, i);
    if (c >= 0x80) return Bad(kWhereUrlNonAscii, i);
  }
  return Status::Ok();
}

// "https://" / "http://", any case. Returns the scheme and how many bytes it took.
Result<std::pair<Scheme, size_t>> ParseScheme(std::string_view text) {
  auto starts = [&](std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
      if (Lower(text[i]) != prefix[i]) return false;
    return true;
  };
  if (starts("https://")) return std::pair{Scheme::kHttps, size_t{8}};
  if (starts("http://")) return std::pair{Scheme::kHttp, size_t{7}};
  return Bad(kWhereUrlScheme);
}

// Four decimal parts 0..255, no leading zeros, nothing else.
bool IsDottedQuad(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    const size_t start = i;
    int value = 0;
    while (i < s.size() && IsDigit(s[i]) && i - start < 3) value = value * 10 + (s[i++] - '0');
    const size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    if (++parts == 4) return i == s.size();
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
  }
}

// Whether a name would be read as a number by inet_aton (and so by getaddrinfo): its
// last label is all digits or "0x" followed by hex digits.
bool LooksNumeric(std::string_view name) {
  const size_t dot = name.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && IsDigit(c);
  if (digits) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    for (char c : last.substr(2))
      if (!IsHex(c)) return false;
    return true;
  }
  return false;
}

// LDH labels of 1..63, no leading or trailing hyphen (RFC 1123 §2.1), <= 253 bytes.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostBytes) return false;
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    const char c = name[i];
    if (!(IsAlpha(c) || IsDigit(c) || c == '-')) return false;
    if (label == 0 && c == '-') return false;
    ++label;
  }
  return true;
}

Status ParseIpv6(std::string_view inside, TargetUrl* url) {
  // inet_pton would stop at a NUL, so copy into a bounded, terminated buffer; zone ids
  // ("%eth0") are refused: they name an interface of *this* machine.
  char buf[INET6_ADDRSTRLEN];
  if (inside.empty() || inside.size() >= sizeof(buf) || inside.find('%') != std::string_view::npos)
    return Bad(kWhereUrlIpv6);
  std::memcpy(buf, inside.data(), inside.size());
  buf[inside.size()] = '\0';
  in6_addr addr{};
  if (inet_pton(AF_INET6, buf, &addr) != 1) return Bad(kWhereUrlIpv6);
  char canonical[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &addr, canonical, sizeof(canonical)) == nullptr)
    return Bad(kWhereUrlIpv6);
  url->host_kind = HostKind::kIpv6;
  url->host = canonical;
  return Status::Ok();
}

Status ParseHost(std::string_view host, TargetUrl* url) {
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return Bad(kWhereUrlIpv6);
    return ParseIpv6(host.substr(1, host.size() - 2), url);
  }
  url->host.clear();
  for (char c : host) url->host.push_back(Lower(c));
  if (!IsDnsName(url->host)) return Bad(kWhereUrlHost);
  if (LooksNumeric(url->host)) {
    if (!IsDottedQuad(url->host)) return Bad(kWhereUrlNumericHost);
    url->host_kind = HostKind::kIpv4;
  } else {
    url->host_kind = HostKind::kName;
  }
  return Status::Ok();
}

Status ParsePort(std::string_view digits, TargetUrl* url) {
  if (digits.empty() || digits.size() > 5 || digits.front() == '0') return Bad(kWhereUrlPort);
  uint32_t port = 0;
  for (char c : digits) {
    if (!IsDigit(c)) return Bad(kWhereUrlPort);
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) return Bad(kWhereUrlPort);
  url->port = static_cast<uint16_t>(port);
  url->explicit_port = true;
  return Status::Ok();
}

// "host", "host:port", "[v6]" or "[v6]:port" (userinfo already refused).
Status ParseAuthority(std::string_view authority, TargetUrl* url) {
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(kWhereUrlIpv6);
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad(kWhereUrlIpv6);
      port = after.substr(1);
      has_port = true;
    }
  } else if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  KC_RETURN_IF_ERROR(ParseHost(host, url));
  url->port = url->https() ? 443 : 80;
  url->explicit_port = false;
  if (has_port) KC_RETURN_IF_ERROR(ParsePort(port, url));
  return Status::Ok();
}

// Path and query: CheckBytes already limited them to visible ASCII and the caller cut
// at "#"; what is left is the percent-escape syntax.
Status CheckEscapes(std::string_view s, size_t base) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size()) return Bad(kWhereUrlEscape, base + i);
    if (!IsHex(s[i + 1]) || !IsHex(s[i + 2])) return Bad(kWhereUrlEscape, base + i);
  }
  return Status::Ok();
}

}  // namespace

std::string_view TargetUrl::path() const {
  const std::string_view t(target);
  return t.substr(0, t.find('?'));
}

std::string_view TargetUrl::query() const {
  const std::string_view t(target);
  const size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

bool TargetUrl::has_query() const { return target.find('?') != std::string::npos; }

Result<TargetUrl> ParseTargetUrl(std::string_view text) {
  if (text.empty()) return Bad(kWhereUrlEmpty);
  if (text.size() > kMaxTargetUrlBytes) return Bad(kWhereUrlTooLong);
  KC_RETURN_IF_ERROR(CheckBytes(text));
  if (const size_t hash = text.find('#'); hash != std::string_view::npos)
    return Bad(kWhereUrlFragment, hash);

  TargetUrl url;
  KC_ASSIGN_OR_RETURN(const auto scheme, ParseScheme(text));
  url.scheme = scheme.first;
  const size_t auth_start = scheme.second;
  const size_t auth_end = std::min(text.find_first_of("/?", auth_start), text.size());
  const std::string_view authority = text.substr(auth_start, auth_end - auth_start);
  // Any "@" in the authority is userinfo (RFC 3986 §3.2.1). Refused rather than
  // stripped: "https://api.example.com@evil.example/" must not mean two hosts.
  if (const size_t at = authority.find('@'); at != std::string_view::npos)
    return Bad(kWhereUrlUserinfo, auth_start + at);
  KC_RETURN_IF_ERROR(ParseAuthority(authority, &url));

  const std::string_view rest = text.substr(auth_end);
  KC_RETURN_IF_ERROR(CheckEscapes(rest, auth_end));
  url.target = rest.empty() || rest.front() == '?' ? "/" : "";
  url.target.append(rest);
  return url;
}

std::string HostHeaderValue(const TargetUrl& url) {
  std::string out = url.host_kind == HostKind::kIpv6 ? "[" + url.host + "]" : url.host;
  if (url.port != (url.https() ? 443 : 80)) out += ":" + std::to_string(url.port);
  return out;
}

std::string FormatTargetUrl(const TargetUrl& url) {
  std::string out = url.https() ? "https://" : "http://";
  out += url.host_kind == HostKind::kIpv6 ? "[" + url.host + "]" : url.host;
  if (url.explicit_port) out += ":" + std::to_string(url.port);
  out += url.target;
  return out;
}

bool IsLoopbackSpelling(const TargetUrl& url) {
  switch (url.host_kind) {
    case HostKind::kName:
      return url.host == "localhost";
    case HostKind::kIpv4:
      return url.host.starts_with("127.");
    case HostKind::kIpv6:
      return url.host == "::1";
  }
  return false;
}

}  // namespace keycell::broker::proxy

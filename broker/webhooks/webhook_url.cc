#include "broker/webhooks/webhook_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <climits>

#include "broker/webhooks/types.h"

namespace keycell::broker::webhooks {
namespace {

constexpr size_t kMaxHostBytes = 253;
constexpr size_t kMaxLabelBytes = 63;

Status Bad(const char* where, size_t offset = 0) {
  return Status(Err::kInvalidArgument, where,
                static_cast<int32_t>(std::min<size_t>(offset, INT32_MAX)));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

// RFC 3986 pchar (unreserved, sub-delims, ':' '@'; '%' is checked by the caller) plus
// '/' and '?', which separate segments and start the query.
bool IsTargetChar(char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  constexpr std::string_view kOthers = "-._~!$&'()*+,;=:@/?";
  return kOthers.find(c) != std::string_view::npos;
}

// Four decimal parts 0..255 without leading zeros; nothing else (no "127.1", no hex or
// octal forms that inet_aton would take).
bool IsDottedQuad(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    const size_t start = i;
    int value = 0;
    while (i < s.size() && IsDigit(s[i]) && i - start < 3) value = value * 10 + (s[i++] - '0');
    const size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

Status CheckHostName(std::string_view host, size_t offset) {
  if (host.size() > kMaxHostBytes)
    return Bad("webhooks: url: host name longer than 253 bytes", offset);
  size_t label_start = 0;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i < host.size() && host[i] != '.') continue;
    const std::string_view label = host.substr(label_start, i - label_start);
    if (label.empty() || label.size() > kMaxLabelBytes)
      return Bad("webhooks: url: empty or overlong label in host name", offset + label_start);
    if (label.front() == '-' || label.back() == '-')
      return Bad("webhooks: url: host name label starts or ends with '-'", offset + label_start);
    if (i == host.size() && std::all_of(label.begin(), label.end(), IsDigit))
      return Bad("webhooks: url: host name ends in a numeric label (not an IPv4 address)",
                 offset + label_start);
    label_start = i + 1;
  }
  return Status::Ok();
}

Status ParseHost(std::string_view host, size_t offset, WebhookUrl* url) {
  if (host.empty()) return Bad("webhooks: url: missing host", offset);
  for (size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if (!IsAlpha(c) && !IsDigit(c) && c != '.' && c != '-')
      return Bad("webhooks: url: invalid character in host", offset + i);
  }
  if (std::all_of(host.begin(), host.end(), [](char c) { return IsDigit(c) || c == '.'; })) {
    if (!IsDottedQuad(host)) return Bad("webhooks: url: invalid IPv4 address", offset);
    url->host_kind = HostKind::kIpv4;
    url->host = std::string(host);
    return Status::Ok();
  }
  KC_RETURN_IF_ERROR(CheckHostName(host, offset));
  url->host_kind = HostKind::kName;
  url->host = ToLower(host);
  return Status::Ok();
}

Status ParseIpv6(std::string_view inside, size_t offset, WebhookUrl* url) {
  // inet_pton takes hex digits, ':' and an embedded dotted quad; nothing else (no zone).
  if (inside.empty() || inside.size() > 45 ||
      !std::all_of(inside.begin(), inside.end(),
                   [](char c) { return IsHex(c) || c == ':' || c == '.'; }))
    return Bad("webhooks: url: invalid IPv6 address", offset);
  const std::string z(inside);
  in6_addr addr{};
  if (inet_pton(AF_INET6, z.c_str(), &addr) != 1)
    return Bad("webhooks: url: invalid IPv6 address", offset);
  char canonical[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &addr, canonical, sizeof(canonical)) == nullptr)
    return Bad("webhooks: url: invalid IPv6 address", offset);
  url->host_kind = HostKind::kIpv6;
  url->host = canonical;
  return Status::Ok();
}

Status ParsePort(std::string_view digits, size_t offset, WebhookUrl* url) {
  if (digits.empty() || digits.size() > 5 || digits.front() == '0' ||
      !std::all_of(digits.begin(), digits.end(), IsDigit))
    return Bad("webhooks: url: invalid port (1..65535)", offset);
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  if (value > 65535) return Bad("webhooks: url: invalid port (1..65535)", offset);
  url->port = static_cast<uint16_t>(value);
  url->explicit_port = true;
  return Status::Ok();
}

// authority = host [":" port], or "[" v6 "]" [":" port]. `offset` locates it in the URL.
Status ParseAuthority(std::string_view auth, size_t offset, WebhookUrl* url) {
  if (auth.find('@') != std::string_view::npos)
    return Bad("webhooks: url: user info (user@host) is not allowed", offset + auth.find('@'));
  if (!auth.empty() && auth.front() == '[') {
    const size_t close = auth.find(']');
    if (close == std::string_view::npos) return Bad("webhooks: url: invalid IPv6 address", offset);
    KC_RETURN_IF_ERROR(ParseIpv6(auth.substr(1, close - 1), offset + 1, url));
    const std::string_view after = auth.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      return Bad("webhooks: url: invalid character after IPv6 address", offset + close + 1);
    if (after.empty()) return Status::Ok();
    return ParsePort(after.substr(1), offset + close + 2, url);
  }
  const size_t colon = auth.find(':');
  KC_RETURN_IF_ERROR(ParseHost(auth.substr(0, colon), offset, url));
  if (colon == std::string_view::npos) return Status::Ok();
  return ParsePort(auth.substr(colon + 1), offset + colon + 1, url);
}

Status ParseTarget(std::string_view rest, size_t offset, WebhookUrl* url) {
  for (size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '%') {
      if (i + 2 >= rest.size() || !IsHex(rest[i + 1]) || !IsHex(rest[i + 2]))
        return Bad("webhooks: url: bad %-escape in path", offset + i);
      i += 2;
      continue;
    }
    if (!IsTargetChar(c))
      return Bad("webhooks: url: invalid character in path or query", offset + i);
  }
  if (rest.empty())
    url->target = "/";
  else if (rest.front() == '?')
    url->target = "/" + std::string(rest);
  else
    url->target = std::string(rest);
  return Status::Ok();
}

}  // namespace

Result<WebhookUrl> ParseWebhookUrl(std::string_view text) {
  if (text.empty() || text.size() > kMaxUrlBytes)
    return Bad("webhooks: url: empty or longer than 2048 bytes", text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c <= 0x20 || c >= 0x7f)
      return Bad("webhooks: url: control character, space or non-ASCII byte", i);
  }
  if (const size_t hash = text.find('#'); hash != std::string_view::npos)
    return Bad("webhooks: url: fragments (#) are not allowed", hash);
  WebhookUrl url;
  const size_t sep = text.find("://");
  const std::string scheme = ToLower(text.substr(0, sep == std::string_view::npos ? 0 : sep));
  if (scheme == "https") {
    url.scheme = UrlScheme::kHttps;
    url.port = 443;
  } else if (scheme == "http") {
    url.scheme = UrlScheme::kHttp;
    url.port = 80;
  } else {
    return Bad("webhooks: url: scheme must be https:// (or http:// to a loopback host)");
  }
  const size_t auth_start = sep + 3;
  const std::string_view rest = text.substr(auth_start);
  const size_t auth_end = std::min(rest.find_first_of("/?"), rest.size());
  KC_RETURN_IF_ERROR(ParseAuthority(rest.substr(0, auth_end), auth_start, &url));
  KC_RETURN_IF_ERROR(ParseTarget(rest.substr(auth_end), auth_start + auth_end, &url));
  return url;
}

bool IsLoopbackHost(const WebhookUrl& url) {
  switch (url.host_kind) {
    case HostKind::kName:
      return url.host == "localhost";
    case HostKind::kIpv4:
      return url.host.starts_with("127.");
    case HostKind::kIpv6:
      return url.host == "::1";  // inet_ntop's canonical spelling
  }
  return false;
}

Status CheckUrlPolicy(const WebhookUrl& url) {
  if (url.scheme == UrlScheme::kHttp && !IsLoopbackHost(url))
    return Status(Err::kPolicyDenied,
                  "webhooks: url: plain http:// is allowed only to loopback hosts "
                  "(127.0.0.0/8, ::1, localhost); use https://");
  if (url.scheme == UrlScheme::kHttps && url.host_kind != HostKind::kName)
    return Status(Err::kPolicyDenied,
                  "webhooks: url: https:// needs a host name (a certificate cannot be verified "
                  "for an IP address)");
  return Status::Ok();
}

Result<WebhookUrl> ParseAndCheckWebhookUrl(std::string_view text) {
  KC_ASSIGN_OR_RETURN(WebhookUrl url, ParseWebhookUrl(text));
  KC_RETURN_IF_ERROR(CheckUrlPolicy(url));
  return url;
}

std::string HostHeader(const WebhookUrl& url) {
  std::string out = url.host_kind == HostKind::kIpv6 ? "[" + url.host + "]" : url.host;
  if (url.explicit_port) out += ":" + std::to_string(url.port);
  return out;
}

std::string FormatWebhookUrl(const WebhookUrl& url) {
  return std::string(url.scheme == UrlScheme::kHttps ? "https://" : "http://") + HostHeader(url) +
         url.target;
}

}  // namespace keycell::broker::webhooks

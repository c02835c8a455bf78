#include "enclave/proxy/header_rules.h"

#include <string.h>

namespace keycell::enclave::proxy {
namespace {

struct StrippedHeader {
  std::string_view name;  // lower-case
  const char* why;
};

// Caller headers that never reach the upstream. Adding a row is a review item: each is
// either hop-by-hop (RFC 9110 §7.6.1), or a field whose value the enclave decides.
constexpr StrippedHeader kStripped[] = {
    {"connection", "hop-by-hop; ours is always keep-alive (the TLS connection is pooled)"},
    {"keep-alive", "hop-by-hop"},
    {"te", "hop-by-hop; we accept no transfer codings but chunked"},
    {"trailer", "we send no trailers: the body writer frames the body itself"},
    {"transfer-encoding", "set from the body framing; a caller copy would be request smuggling"},
    {"upgrade", "we never switch protocols (the response parser refuses 101)"},
    {"host", "set from the checked target; a second Host is a routing confusion"},
    {"content-length", "set from the body framing; a caller copy would be request smuggling"},
    {"accept-encoding", "forced to identity: the redactor cannot see inside compressed bodies"},
};

// Proxy-Authorization, Proxy-Connection, ...: meant for a proxy, and we are the proxy.
constexpr std::string_view kProxyPrefix = "proxy-";

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

}  // namespace

bool IsTokenChar(uint8_t c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsTokenChar(static_cast<uint8_t>(c))) return false;
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  return true;
}

ValueFault CheckFieldValue(ByteView value) {
  ValueFault fault = ValueFault::kNone;
  for (uint8_t c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return ValueFault::kCrLfNul;
    if ((c < 0x20 && c != '\t') || c == 0x7f) fault = ValueFault::kControl;
  }
  return fault;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsStrippedHeader(std::string_view name) {
  if (name.size() >= kProxyPrefix.size() &&
      EqualsIgnoreCase(name.substr(0, kProxyPrefix.size()), kProxyPrefix))
    return true;
  for (const StrippedHeader& h : kStripped)
    if (EqualsIgnoreCase(name, h.name)) return true;
  return false;
}

bool ConnectionLists(std::string_view connection_value, std::string_view name) {
  while (!connection_value.empty()) {
    const size_t comma = connection_value.find(',');
    const std::string_view element = TrimOws(connection_value.substr(0, comma));
    if (IsToken(element) && EqualsIgnoreCase(element, name)) return true;
    if (comma == std::string_view::npos) break;
    connection_value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace keycell::enclave::proxy

#include "broker/proxy/proxy_request.h"

#include <utility>

namespace keycell::broker::proxy {
namespace {

struct DroppedHeader {
  std::string_view name;
  bool prefix;  // drop every header whose name starts with `name`
  const char* why;
};

// Every name the upstream never sees from the caller. The enclave sets Host,
// Content-Length / Transfer-Encoding and Connection itself (enclave/proxy/request_head.h)
// and drops most of these again; the broker drops them first so nothing meant for keycell
// leaves the machine, even in an error path.
constexpr DroppedHeader kDropped[] = {
    {"connection", false, "hop-by-hop (RFC 9110 §7.6.1); the options it names go too"},
    {"keep-alive", false, "hop-by-hop"},
    {"proxy-", true, "hop-by-hop: Proxy-Authorization, Proxy-Connection, ... are for us"},
    {"te", false, "hop-by-hop"},
    {"trailer", false, "hop-by-hop; the body is re-framed"},
    {"transfer-encoding", false, "hop-by-hop; the body framing is carried separately"},
    {"upgrade", false, "hop-by-hop; no protocol switch through the proxy"},
    {"host", false, "names keycell; the enclave writes the target's Host"},
    {"content-length", false, "the body framing is carried separately"},
    {"expect", false, "our server answered 100-continue; the enclave streams the body"},
    {"authorization", false, "carries keycell's own token (pxr_/kc_), never the upstream's"},
    {"x-api-key", false, "carries keycell's own token at route mounts (Anthropic SDK)"},
    {"x-target-", true, "the proxy's own controls (X-Target-Url, X-Target-Method, ...)"},
    {"x-credential-name", false, "the proxy's own control"},
};

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http::EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsTokenChar(c)) return false;
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The options every Connection field in `in` lists (RFC 9110 §7.6.1), as views into
// `in`. Elements that are not tokens name nothing.
std::vector<std::string_view> ConnectionOptions(std::span<const http::HeaderField> in) {
  std::vector<std::string_view> options;
  for (const http::HeaderField& f : in) {
    if (!http::EqualsIgnoreCase(f.name, "connection")) continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view option = TrimOws(rest.substr(0, comma));
      if (IsToken(option)) options.push_back(option);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return options;
}

bool Lists(const std::vector<std::string_view>& options, std::string_view name) {
  for (const std::string_view o : options)
    if (http::EqualsIgnoreCase(o, name)) return true;
  return false;
}

// Exactly one field named `name`, or none. Errors: `repeated` (kInvalidArgument).
Result<std::optional<std::string_view>> AtMostOne(const http::Request& req, std::string_view name,
                                                  const char* repeated) {
  if (req.HeaderCount(name) > 1) return Status(Err::kInvalidArgument, repeated);
  return req.Header(name);
}

}  // namespace

bool IsDroppedHeader(std::string_view name) {
  for (const DroppedHeader& d : kDropped) {
    if (d.prefix ? StartsWithIgnoreCase(name, d.name) : http::EqualsIgnoreCase(name, d.name))
      return true;
  }
  return false;
}

bool IsValidCredentialName(std::string_view name) {
  if (name.empty() || name.size() > kMaxCredentialNameBytes) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

Result<http::Method> ResolveMethod(http::Method own,
                                   std::optional<std::string_view> x_target_method) {
  const http::Method m = x_target_method ? http::ParseMethod(*x_target_method) : own;
  // ParseMethod is case-sensitive and maps everything outside the seven to kOther.
  if (m == http::Method::kOther) return Status(Err::kInvalidArgument, kWhereMethodNotAllowed);
  return m;
}

Result<std::vector<http::HeaderField>> FilterForwardHeaders(std::span<const http::HeaderField> in) {
  if (in.size() > kMaxForwardedHeaders)
    return Status(Err::kTooLarge, kWhereTooManyHeaders, static_cast<int32_t>(in.size()));
  const std::vector<std::string_view> connection_options = ConnectionOptions(in);
  std::vector<http::HeaderField> out;
  for (const http::HeaderField& f : in) {
    if (!IsToken(f.name)) return Status(Err::kInvalidArgument, kWhereHeaderName);
    if (f.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return Status(Err::kInvalidArgument, kWhereHeaderValue);
    if (IsDroppedHeader(f.name) || Lists(connection_options, f.name)) continue;
    out.push_back(f);
  }
  return out;
}

Result<ProxyCall> ParseProxyRequest(const http::Request& req) {
  ProxyCall call;
  KC_ASSIGN_OR_RETURN(const auto url, AtMostOne(req, "X-Target-Url", kWhereRepeatedTargetUrl));
  if (!url) return Status(Err::kInvalidArgument, kWhereNoTargetUrl);
  KC_ASSIGN_OR_RETURN(call.target, ParseTargetUrl(*url));

  KC_ASSIGN_OR_RETURN(const auto method,
                      AtMostOne(req, "X-Target-Method", kWhereRepeatedTargetMethod));
  KC_ASSIGN_OR_RETURN(call.method, ResolveMethod(req.method(), method));

  KC_ASSIGN_OR_RETURN(const auto name,
                      AtMostOne(req, "X-Credential-Name", kWhereRepeatedCredentialName));
  if (name) {
    if (!IsValidCredentialName(*name))
      return Status(Err::kInvalidArgument, kWhereBadCredentialName);
    call.credential_name = std::string(*name);
  }
  KC_ASSIGN_OR_RETURN(call.headers, FilterForwardHeaders(req.headers()));
  return call;
}

}  // namespace keycell::broker::proxy

#include "enclave/proxy/target.h"

namespace keycell::enclave::proxy {
namespace {

constexpr size_t kMaxLabelBytes = 63;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLdh(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-'; }
char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (ToLower(s[i]) != prefix[i]) return false;
  return true;
}

// All digits, or 0x followed by hex digits: what inet_aton reads as a number. Such a
// final label makes the whole name an IPv4 literal (same rule as enclave/tls).
bool IsNumericLabel(std::string_view label) {
  if (label.size() > 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    for (char c : label.substr(2))
      if (!IsHexDigit(c)) return false;
    return true;
  }
  for (char c : label)
    if (!IsDigit(c)) return false;
  return !label.empty();
}

// `host` is already lower-cased. Sets *ip for an IPv4 literal.
Status CheckHostSyntax(std::string_view host, bool* ip) {
  if (host.empty() || host.size() > kMaxHostBytes)
    return Status(Err::kInvalidArgument, kWhereBadHost);
  std::string_view last;
  size_t start = 0;
  while (true) {
    const size_t dot = host.find('.', start);
    const std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // Empty labels cover a leading, doubled or trailing dot.
    if (label.empty() || label.size() > kMaxLabelBytes || label.front() == '-' ||
        label.back() == '-')
      return Status(Err::kInvalidArgument, kWhereBadHost);
    for (char c : label)
      if (!IsLdh(c)) return Status(Err::kInvalidArgument, kWhereBadHost);
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  *ip = IsNumericLabel(last);
  return Status::Ok();
}

Result<std::string> NormaliseHost(std::string_view host, bool* ip) {
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    // Checked first and separately: a CR/LF here is an injection attempt, not a typo.
    if (u < 0x20 || u == 0x7f) return Status(Err::kInvalidArgument, kWhereHostControl);
  }
  if (host.find_first_of("[]:") != std::string_view::npos)
    return Status(Err::kInvalidArgument, kWhereIpv6);
  std::string lower(host);
  for (char& c : lower) c = ToLower(c);
  KC_RETURN_IF_ERROR(CheckHostSyntax(lower, ip));
  return lower;
}

Status CheckOriginPath(std::string_view path) {
  // Byte checks before the leading '/', so a CR/LF anywhere is always reported as such.
  for (size_t i = 0; i < path.size(); ++i) {
    const auto u = static_cast<unsigned char>(path[i]);
    if (u == '#') return Status(Err::kInvalidArgument, kWherePathFragment);
    if (u <= 0x20 || u == 0x7f) return Status(Err::kInvalidArgument, kWherePathControl);
    if (u >= 0x80) return Status(Err::kInvalidArgument, kWherePathNonAscii);
    if (u == '%' && (i + 2 >= path.size() || !IsHexDigit(path[i + 1]) || !IsHexDigit(path[i + 2])))
      return Status(Err::kInvalidArgument, kWherePathBadEscape);
  }
  if (path.empty() || path.front() != '/')
    return Status(Err::kInvalidArgument, kWherePathNotOrigin);
  return Status::Ok();
}

Result<uint32_t> ParsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return Status(Err::kInvalidArgument, kWhereBadPort);
  uint32_t port = 0;
  for (char c : s) {
    if (!IsDigit(c)) return Status(Err::kInvalidArgument, kWhereBadPort);
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535) return Status(Err::kInvalidArgument, kWhereBadPort);
  return port;
}

// Whether some allowed_hosts rule covers `host` on any port (scheme aside): tells "wrong
// host" from "wrong port" using only HostAllowed, so the matching rules stay in one place.
bool HostCoveredOnSomePort(const Policy& p, std::string_view host) {
  for (pb_size_t i = 0; i < p.allowed_hosts_count; ++i) {
    const uint32_t port = p.allowed_hosts[i].port != 0 ? p.allowed_hosts[i].port : 443;
    if (HostAllowed(p, host, port, /*https=*/true)) return true;
  }
  return false;
}

}  // namespace

Result<Target> Target::FromParts(Scheme scheme, std::string_view host, uint32_t port,
                                 std::string_view path) {
  Target t;
  t.scheme_ = scheme;
  KC_ASSIGN_OR_RETURN(t.host_, NormaliseHost(host, &t.ip_literal_));
  if (port > 65535) return Status(Err::kInvalidArgument, kWhereBadPort);
  t.port_ = static_cast<uint16_t>(port != 0 ? port : (scheme == Scheme::kHttps ? 443 : 80));
  KC_RETURN_IF_ERROR(CheckOriginPath(path));
  t.path_ = path;
  return t;
}

Result<Target> Target::FromUrl(std::string_view url) {
  Scheme scheme;
  std::string_view rest;
  if (StartsWithIgnoreCase(url, "https://")) {
    scheme = Scheme::kHttps;
    rest = url.substr(8);
  } else if (StartsWithIgnoreCase(url, "http://")) {
    scheme = Scheme::kHttp;
    rest = url.substr(7);
  } else {
    return Status(Err::kInvalidArgument, kWhereBadScheme);
  }
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  const std::string_view path =
      end == std::string_view::npos ? std::string_view() : rest.substr(end);
  // A CR/LF anywhere in the authority is reported as such, whatever else is wrong.
  for (char c : authority)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Status(Err::kInvalidArgument, kWhereHostControl);
  if (authority.find('@') != std::string_view::npos)
    return Status(Err::kInvalidArgument, kWhereUserinfo);
  std::string_view host = authority;
  uint32_t port = 0;
  const size_t colon = authority.find(':');
  if (colon != std::string_view::npos && authority.find_first_of("[]") == std::string_view::npos &&
      authority.find(':', colon + 1) == std::string_view::npos) {
    host = authority.substr(0, colon);
    KC_ASSIGN_OR_RETURN(port, ParsePort(authority.substr(colon + 1)));
  }
  if (!path.empty() && path.front() == '/') return FromParts(scheme, host, port, path);
  // "https://h" and "https://h?q" have an empty path: origin-form needs the '/'.
  std::string origin = "/";
  origin += path;
  return FromParts(scheme, host, port, origin);
}

std::string_view Target::path_without_query() const {
  return std::string_view(path_).substr(0, path_.find('?'));
}

bool Target::has_query() const { return path_.find('?') != std::string::npos; }

std::string_view Target::query() const {
  const size_t q = path_.find('?');
  return q == std::string::npos ? std::string_view() : std::string_view(path_).substr(q + 1);
}

Status CheckTarget(const Policy& policy, const Target& target) {
  const bool insecure_ok = InsecureHttpAllowed(policy, target.host());
  // An IP never matches a certificate here (mbedTLS 2.28 checks dNSName/CN only), so
  // only a loopback test server the policy names for plain http may be one.
  if (target.ip_literal() && (target.https() || !insecure_ok))
    return Status(Err::kPolicyDenied, kWhereIpNeedsTls);
  if (!HostCoveredOnSomePort(policy, target.host()))
    return Status(Err::kPolicyDenied, kWhereHostNotAllowed);
  if (!target.https() && !insecure_ok) return Status(Err::kPolicyDenied, kWhereHttpNotAllowed);
  if (!HostAllowed(policy, target.host(), target.port(), target.https()))
    return Status(Err::kPolicyDenied, kWherePortNotAllowed);
  return Status::Ok();
}

Status CheckInjectable(const Policy& policy, int64_t now) {
  if (!policy.has_injection) return Status(Err::kPolicyDenied, kWhereNoRecipe);
  switch (WireEnum(policy.injection.kind)) {
    case keycell_ipc_InjectKind_INJECT_NONE:
      return Status(Err::kPolicyDenied, kWhereNoRecipe);
    case keycell_ipc_InjectKind_INJECT_BEARER:
    case keycell_ipc_InjectKind_INJECT_BASIC:
    case keycell_ipc_InjectKind_INJECT_HEADER:
    case keycell_ipc_InjectKind_INJECT_QUERY:
    case keycell_ipc_InjectKind_INJECT_COOKIE:
      break;
    default:
      return Status(Err::kPolicyDenied, kWhereUnknownRecipe);
  }
  if (Expired(policy, now)) return Status(Err::kPolicyDenied, kWhereExpired);
  return Status::Ok();
}

}  // namespace keycell::enclave::proxy

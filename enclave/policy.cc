#include "enclave/policy.h"

#include <string.h>

namespace keycell::enclave {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A lower-case DNS name (or IPv4 literal, which is the same alphabet): labels of
// 1..63 [a-z0-9-], not starting or ending with '-', total ≤ 253.
bool ValidDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!IsLowerAlnum(c) && c != '-') return false;
    if (c == '-' && label == 0) return false;
    if (++label > 63) return false;
  }
  return label != 0 && s.back() != '-';
}

bool ValidHostPattern(std::string_view s) {
  if (s.starts_with("*.")) {
    const std::string_view suffix = s.substr(2);
    // "*.com" would hand a key to a whole TLD: require at least two labels.
    return ValidDnsName(suffix) && suffix.find('.') != std::string_view::npos;
  }
  return ValidDnsName(s);
}

// RFC 9110 token characters, for header and cookie names.
bool ValidToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (IsLowerAlnum(c) || (c >= 'A' && c <= 'Z')) continue;
    if (strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
  }
  return true;
}

bool ValidQueryName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && !(c >= 'A' && c <= 'Z') && strchr("-._~", c) == nullptr) return false;
  }
  return true;
}

// Visible ASCII and space only: a prefix lands verbatim in a header line.
bool ValidHeaderText(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool ValidAgentId(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && !(c >= 'A' && c <= 'Z') && strchr("._-", c) == nullptr) return false;
  }
  return true;
}

Status ValidateInjection(const keycell_ipc_Injection& in) {
  const std::string_view name = in.name, prefix = in.prefix;
  switch (WireEnum(in.kind)) {
    case keycell_ipc_InjectKind_INJECT_NONE:
    case keycell_ipc_InjectKind_INJECT_BEARER:
    case keycell_ipc_InjectKind_INJECT_BASIC:
      if (!name.empty() || !prefix.empty())
        return Status(Err::kInvalidArgument, "policy.injection: name/prefix only for header, query, cookie");
      return Status::Ok();
    case keycell_ipc_InjectKind_INJECT_HEADER:
      if (!ValidToken(name)) return Status(Err::kInvalidArgument, "policy.injection: bad header name");
      if (!ValidHeaderText(prefix)) return Status(Err::kInvalidArgument, "policy.injection: bad header prefix");
      return Status::Ok();
    case keycell_ipc_InjectKind_INJECT_QUERY:
      if (!ValidQueryName(name)) return Status(Err::kInvalidArgument, "policy.injection: bad query parameter name");
      if (!prefix.empty()) return Status(Err::kInvalidArgument, "policy.injection: prefix only for header");
      return Status::Ok();
    case keycell_ipc_InjectKind_INJECT_COOKIE:
      // No name: the secret is a whole "name=value" cookie pair.
      if (!name.empty() && !ValidToken(name)) return Status(Err::kInvalidArgument, "policy.injection: bad cookie name");
      if (!prefix.empty()) return Status(Err::kInvalidArgument, "policy.injection: prefix only for header");
      return Status::Ok();
  }
  return Status(Err::kInvalidArgument, "policy.injection: unknown kind");
}

uint32_t EffectivePort(uint32_t rule_port, bool https) { return rule_port != 0 ? rule_port : (https ? 443 : 80); }

bool PatternCovers(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  return pattern == host;
}

// Whether rule `a` admits every (host, port) that rule `b` admits.
bool RuleCovers(const keycell_ipc_HostRule& a, const keycell_ipc_HostRule& b) {
  if (a.port != b.port) return false;
  const std::string_view pa = a.host, pb = b.host;
  if (pb.starts_with("*.")) return pa.starts_with("*.") && (pa == pb || PatternCovers(pa, pb.substr(2)));
  return PatternCovers(pa, pb);
}

bool InList(std::string_view needle, const char (*list)[65], pb_size_t count) {
  for (pb_size_t i = 0; i < count; ++i)
    if (needle == list[i]) return true;
  return false;
}

}  // namespace

Status ValidatePolicy(const Policy& p) {
  for (pb_size_t i = 0; i < p.allowed_hosts_count; ++i) {
    if (!ValidHostPattern(p.allowed_hosts[i].host))
      return Status(Err::kInvalidArgument, "policy.allowed_hosts: not a lower-case DNS name or *.suffix");
    if (p.allowed_hosts[i].port > 65535) return Status(Err::kInvalidArgument, "policy.allowed_hosts: bad port");
  }
  if (p.has_injection) KC_RETURN_IF_ERROR(ValidateInjection(p.injection));
  for (pb_size_t i = 0; i < p.reveal_agents_count; ++i)
    if (!ValidAgentId(p.reveal_agents[i])) return Status(Err::kInvalidArgument, "policy.reveal_agents: bad agent id");
  for (pb_size_t i = 0; i < p.insecure_http_hosts_count; ++i) {
    const std::string_view h = p.insecure_http_hosts[i];
    bool listed = false;
    for (pb_size_t j = 0; j < p.allowed_hosts_count; ++j) listed |= h == p.allowed_hosts[j].host;
    if (!ValidDnsName(h) || !listed)
      return Status(Err::kInvalidArgument, "policy.insecure_http_hosts: must be an exact allowed host");
  }
  if (p.expires_at < 0) return Status(Err::kInvalidArgument, "policy.expires_at: negative");
  return Status::Ok();
}

bool HostAllowed(const Policy& p, std::string_view host, uint32_t port, bool https) {
  if (!ValidDnsName(host)) return false;
  if (!https && !InsecureHttpAllowed(p, host)) return false;
  for (pb_size_t i = 0; i < p.allowed_hosts_count; ++i) {
    const keycell_ipc_HostRule& r = p.allowed_hosts[i];
    if (EffectivePort(r.port, https) == port && PatternCovers(r.host, host)) return true;
  }
  return false;
}

bool InsecureHttpAllowed(const Policy& p, std::string_view host) {
  for (pb_size_t i = 0; i < p.insecure_http_hosts_count; ++i)
    if (host == p.insecure_http_hosts[i]) return true;
  return false;
}

bool RevealAllowed(const Policy& p, std::string_view agent_id) {
  if (!p.reveal) return false;
  if (p.reveal_agents_count == 0) return true;
  return InList(agent_id, p.reveal_agents, p.reveal_agents_count);
}

bool Expired(const Policy& p, int64_t now) { return p.expires_at != 0 && now >= p.expires_at; }

bool IsWidening(const Policy& prev, const Policy& next) {
  for (pb_size_t i = 0; i < next.allowed_hosts_count; ++i) {
    bool covered = false;
    for (pb_size_t j = 0; j < prev.allowed_hosts_count && !covered; ++j)
      covered = RuleCovers(prev.allowed_hosts[j], next.allowed_hosts[i]);
    if (!covered) return true;
  }
  for (pb_size_t i = 0; i < next.insecure_http_hosts_count; ++i)
    if (!InsecureHttpAllowed(prev, next.insecure_http_hosts[i])) return true;
  if (next.reveal && !prev.reveal) return true;
  if (next.reveal && prev.reveal_agents_count != 0) {
    if (next.reveal_agents_count == 0) return true;  // opened to every agent
    for (pb_size_t i = 0; i < next.reveal_agents_count; ++i)
      if (!InList(next.reveal_agents[i], prev.reveal_agents, prev.reveal_agents_count)) return true;
  }
  if (next.env_export && !prev.env_export) return true;
  if (prev.expires_at != 0 && (next.expires_at == 0 || next.expires_at > prev.expires_at)) return true;
  const keycell_ipc_Injection none = keycell_ipc_Injection_init_zero;
  const keycell_ipc_Injection& a = prev.has_injection ? prev.injection : none;
  const keycell_ipc_Injection& b = next.has_injection ? next.injection : none;
  return WireEnum(a.kind) != WireEnum(b.kind) || strcmp(a.name, b.name) != 0 || strcmp(a.prefix, b.prefix) != 0;
}

bool ValidEnvName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace keycell::enclave

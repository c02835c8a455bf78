#include "broker/identity/types.h"

#include <cstring>

namespace keycell::broker::identity {
namespace {

bool IsAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool HasControlChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool Is(const Status& s, Err code, const char* where) {
  return s.code() == code && std::strcmp(s.where(), where) == 0;
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kMember:
      return "member";
    case Role::kAdmin:
      return "admin";
    case Role::kOwner:
      return "owner";
  }
  return "?";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kMember, Role::kAdmin, Role::kOwner}) {
    if (name == RoleName(r)) return r;
  }
  return Status(Err::kInvalidArgument, "identity: unknown role");
}

const char* PrincipalKindName(PrincipalKind k) {
  switch (k) {
    case PrincipalKind::kToken:
      return "token";
    case PrincipalKind::kApiKey:
      return "apikey";
    case PrincipalKind::kOwner:
      return "owner";
  }
  return "?";
}

Principal OwnerPrincipal(uint32_t uid) {
  Principal p;
  p.kind = PrincipalKind::kOwner;
  p.role = Role::kOwner;
  p.id = "uid:" + std::to_string(uid);
  return p;
}

std::string RateLimitKey(const Principal& p) {
  if (p.kind == PrincipalKind::kOwner) return "owner";
  // Per agent, not per token: an agent cannot multiply its budget by holding several
  // tokens or keys.
  if (p.acts_as_agent()) return "agent:" + p.agent_id;
  return "apikey:" + p.id;
}

AuthRefusal RefusalOf(const Status& s) {
  if (s.ok()) return AuthRefusal::kNone;
  if (Is(s, Err::kInvalidArgument, kMalformedBearer)) return AuthRefusal::kMalformed;
  if (Is(s, Err::kUnknownKey, kUnknownBearer)) return AuthRefusal::kUnknown;
  if (Is(s, Err::kPolicyDenied, kBearerExpired)) return AuthRefusal::kExpired;
  if (Is(s, Err::kPolicyDenied, kBearerRevoked)) return AuthRefusal::kRevoked;
  return AuthRefusal::kOther;
}

Status ValidateAgentName(std::string_view name) {
  if (name.empty()) return Status(Err::kInvalidArgument, "identity: empty agent name");
  if (name.size() > kMaxAgentNameBytes)
    return Status(Err::kTooLarge, "identity: agent name too long");
  if (!IsAlnum(static_cast<unsigned char>(name[0])))
    return Status(Err::kInvalidArgument, "identity: agent name must start with a letter or digit");
  for (unsigned char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-')
      return Status(Err::kInvalidArgument, "identity: agent name allows [A-Za-z0-9._-] only");
  }
  // Names and ids share one argument slot (`agents rm NAME|ID`): keep them disjoint.
  if (name.starts_with(kAgentIdPrefix))
    return Status(Err::kInvalidArgument, "identity: agent name may not start with agt_");
  return Status::Ok();
}

Status ValidateCredentialName(std::string_view name) {
  if (name.empty()) return Status(Err::kInvalidArgument, "identity: empty credential name");
  if (name.size() > kMaxCredentialNameBytes)
    return Status(Err::kTooLarge, "identity: credential name too long");
  if (HasControlChar(name))
    return Status(Err::kInvalidArgument, "identity: control character in credential name");
  return Status::Ok();
}

Status ValidateScopePattern(std::string_view pattern) {
  if (pattern.empty()) return Status(Err::kInvalidArgument, "identity: empty scope pattern");
  if (pattern.size() > kMaxScopePatternBytes)
    return Status(Err::kTooLarge, "identity: scope pattern too long");
  // Control characters are never in credential names, and '\n' separates stored scopes.
  if (HasControlChar(pattern))
    return Status(Err::kInvalidArgument, "identity: control character in scope pattern");
  size_t backslashes = 0;
  for (auto it = pattern.rbegin(); it != pattern.rend() && *it == '\\'; ++it) ++backslashes;
  if (backslashes % 2 == 1)
    return Status(Err::kInvalidArgument, "identity: scope pattern ends in a lone backslash");
  return Status::Ok();
}

Status ValidateApiKeySpec(const ApiKeySpec& spec) {
  if (spec.name.empty()) return Status(Err::kInvalidArgument, "identity: empty api key name");
  if (spec.name.size() > kMaxApiKeyNameBytes)
    return Status(Err::kTooLarge, "identity: api key name too long");
  if (spec.description.size() > kMaxApiKeyDescriptionBytes)
    return Status(Err::kTooLarge, "identity: api key description too long");
  if (HasControlChar(spec.name) || HasControlChar(spec.description))
    return Status(Err::kInvalidArgument, "identity: control character in api key name");
  if (spec.expires_in_days < 0 || spec.expires_in_days > kMaxApiKeyDays)
    return Status(Err::kInvalidArgument, "identity: expires_in_days out of range (0..3650)");
  return Status::Ok();
}

}  // namespace keycell::broker::identity

#include "broker/identity/authz.h"

#include <algorithm>
#include <string>

namespace keycell::broker::identity {
namespace {

enum class TokKind : uint8_t { kLiteral, kOne, kStar, kGlobstar };
struct PatternTok {
  TokKind kind;
  char c;
};

std::vector<PatternTok> Tokenize(std::string_view p) {
  std::vector<PatternTok> toks;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      toks.push_back({TokKind::kLiteral, p[++i]});
    } else if (p[i] == '*') {
      const bool globstar = i + 1 < p.size() && p[i + 1] == '*';
      while (i + 1 < p.size() && p[i + 1] == '*') ++i;  // "***" is "**"
      toks.push_back({globstar ? TokKind::kGlobstar : TokKind::kStar, 0});
    } else if (p[i] == '?') {
      toks.push_back({TokKind::kOne, 0});
    } else {
      toks.push_back({TokKind::kLiteral, p[i]});
    }
  }
  return toks;
}

// Bytes of the UTF-8 code point starting at name[j] (1 for ASCII or a stray byte).
size_t CodePointLen(std::string_view name, size_t j) {
  size_t k = 1;
  if (static_cast<unsigned char>(name[j]) < 0xc0) return k;
  while (j + k < name.size() && k < 4 && (static_cast<unsigned char>(name[j + k]) & 0xc0) == 0x80)
    ++k;
  return k;
}

// One DP step: `next[j]` = the pattern up to and including `t` matches name[0, j).
void Step(const PatternTok& t, std::string_view name, const std::vector<uint8_t>& cur,
          std::vector<uint8_t>& next) {
  const size_t n = name.size();
  std::fill(next.begin(), next.end(), 0);
  for (size_t j = 0; j <= n; ++j) {
    switch (t.kind) {
      case TokKind::kLiteral:
        if (j < n && cur[j] && name[j] == t.c) next[j + 1] = 1;
        break;
      case TokKind::kOne:
        if (j < n && cur[j] && name[j] != '/') next[j + CodePointLen(name, j)] = 1;
        break;
      case TokKind::kStar:
        next[j] = cur[j] || (j > 0 && next[j - 1] && name[j - 1] != '/');
        break;
      case TokKind::kGlobstar:
        next[j] = cur[j] || (j > 0 && next[j - 1]);
        break;
    }
  }
}

}  // namespace

const char* ActionName(Action a) {
  switch (a) {
    case Action::kList:
      return "list";
    case Action::kUse:
      return "use";
    case Action::kReveal:
      return "reveal";
    case Action::kAddCredential:
      return "add-credential";
    case Action::kEditCredential:
      return "edit-credential";
    case Action::kRotateCredential:
      return "rotate-credential";
    case Action::kDeleteCredential:
      return "delete-credential";
    case Action::kManageAgents:
      return "manage-agents";
    case Action::kManageTokens:
      return "manage-tokens";
    case Action::kManageApiKeys:
      return "manage-api-keys";
    case Action::kManageWebhooks:
      return "manage-webhooks";
    case Action::kReadAudit:
      return "read-audit";
    case Action::kLock:
      return "lock";
    case Action::kUnlock:
      return "unlock";
    case Action::kDeleteWorkspace:
      return "delete-workspace";
  }
  return "?";
}

bool IsCredentialAction(Action a) {
  switch (a) {
    case Action::kUse:
    case Action::kReveal:
    case Action::kAddCredential:
    case Action::kEditCredential:
    case Action::kRotateCredential:
    case Action::kDeleteCredential:
      return true;
    default:
      return false;
  }
}

bool GlobMatch(std::string_view pattern, std::string_view name) {
  std::vector<uint8_t> cur(name.size() + 1, 0);
  std::vector<uint8_t> next(name.size() + 1, 0);
  cur[0] = 1;
  for (const PatternTok& t : Tokenize(pattern)) {
    Step(t, name, cur, next);
    cur.swap(next);
  }
  return cur[name.size()] != 0;
}

bool ScopeAllows(const std::vector<std::string>& scopes, std::string_view credential_name) {
  for (const std::string& s : scopes) {
    if (GlobMatch(s, credential_name)) return true;
  }
  return false;
}

bool ScopeAllows(const Agent& agent, std::string_view credential_name) {
  return ScopeAllows(agent.scopes, credential_name);
}

Status Authorize(const Principal& p, Action action, std::string_view credential) {
  if (IsCredentialAction(action) && credential.empty())
    return Status(Err::kInvalidArgument, "identity: action needs a credential name");
  if (!Allowed(p.role, action)) return Status(Err::kPolicyDenied, kRoleDenied);
  if (p.kind == PrincipalKind::kToken) {
    // A pxr_ token is a capability for one credential, whatever its agent's role.
    if (action != Action::kUse) return Status(Err::kPolicyDenied, kTokenOnlyUses);
    if (credential != p.credential) return Status(Err::kPolicyDenied, kTokenBound);
  }
  // Scopes are checked on every request, so narrowing them applies at once even to
  // tokens issued earlier.
  if (p.acts_as_agent() && !credential.empty() && !ScopeAllows(p.scopes, credential))
    return Status(Err::kPolicyDenied, kOutsideScope);
  return Status::Ok();
}

}  // namespace keycell::broker::identity

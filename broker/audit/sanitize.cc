#include "broker/audit/sanitize.h"

#include <algorithm>
#include <cstring>

namespace keycell::broker::audit {
namespace {

enum class Charset { kBase62, kKeyChars, kB64Token };

struct SecretPattern {
  const char* prefix;
  size_t min_run;  // characters of `charset` that must follow the prefix
  Charset charset;
  const char* why;
};

// Known secret shapes. min_run leaves room for what is *meant* to be logged: a keycell
// token's listed prefix is "pxr_" + 8 characters, the secret is "pxr_" + 43.
constexpr SecretPattern kSecretPatterns[] = {
    {"pxr_", 16, Charset::kBase62, "keycell proxy token (prefix + 43 base62)"},
    {"kc_", 16, Charset::kBase62, "keycell API key (prefix + 43 base62)"},
    {"sk-", 16, Charset::kKeyChars, "OpenAI / Anthropic secret keys (sk-, sk-proj-, sk-ant-)"},
    {"sk_live_", 8, Charset::kKeyChars, "Stripe live secret key"},
    {"sk_test_", 8, Charset::kKeyChars, "Stripe test secret key"},
    {"rk_live_", 8, Charset::kKeyChars, "Stripe restricted key"},
    {"ghp_", 16, Charset::kKeyChars, "GitHub personal access token"},
    {"gho_", 16, Charset::kKeyChars, "GitHub OAuth token"},
    {"ghs_", 16, Charset::kKeyChars, "GitHub app installation token"},
    {"github_pat_", 16, Charset::kKeyChars, "GitHub fine-grained token"},
    {"glpat-", 16, Charset::kKeyChars, "GitLab personal access token"},
    {"xoxb-", 8, Charset::kKeyChars, "Slack bot token"},
    {"xoxp-", 8, Charset::kKeyChars, "Slack user token"},
    {"AKIA", 12, Charset::kKeyChars, "AWS access key id"},
    {"AIza", 20, Charset::kKeyChars, "Google API key"},
    {"Bearer ", 12, Charset::kB64Token, "an Authorization header value"},
    {"bearer ", 12, Charset::kB64Token, "an Authorization header value"},
    {"Basic ", 12, Charset::kB64Token, "HTTP basic credentials"},
};

constexpr const char kRedacted[] = "[redacted]";
// A secret that starts before a field's cap ends at most this far after it, so text can
// be cut here before redaction without splitting a secret the patterns would catch.
constexpr size_t kRedactSlackBytes = 512;

bool IsAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool InCharset(unsigned char c, Charset cs) {
  if (IsAlnum(c)) return true;
  switch (cs) {
    case Charset::kBase62:
      return false;
    case Charset::kKeyChars:
      return c == '_' || c == '-';
    case Charset::kB64Token:  // RFC 6750 b64token
      return std::strchr("-._~+/=", c) != nullptr && c != '\0';
  }
  return false;
}

// Length of the redactable run at text[i] for `p`, or 0 when `p` does not match there.
size_t MatchAt(std::string_view text, size_t i, const SecretPattern& p) {
  const std::string_view prefix(p.prefix);
  if (text.substr(i, prefix.size()) != prefix) return 0;
  size_t end = i + prefix.size();
  while (end < text.size() && InCharset(static_cast<unsigned char>(text[end]), p.charset)) ++end;
  const size_t run = end - i - prefix.size();
  return run >= p.min_run ? end - i : 0;
}

// Cuts `s` to at most `cap` bytes at a UTF-8 boundary, marking the cut with "...".
void CapLength(std::string* s, size_t cap) {
  if (s->size() <= cap) return;
  size_t cut = cap - 3;
  while (cut > 0 && (static_cast<unsigned char>((*s)[cut]) & 0xC0) == 0x80) --cut;
  s->resize(cut);
  s->append("...");
}

// Control characters would let a record forge extra lines or escape sequences wherever
// it is printed. '_' rather than '?': a path must never gain a '?' (the schema refuses it).
void ReplaceControls(std::string* s) {
  for (char& c : *s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '_';
  }
}

std::string CleanText(std::string_view in, size_t cap) {
  std::string s(in.substr(0, cap + kRedactSlackBytes));
  ReplaceControls(&s);
  s = RedactSecrets(s);
  CapLength(&s, cap);
  return s;
}

bool IsWord(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string StripHostUserinfo(std::string_view host) {
  const size_t at = host.rfind('@');
  return std::string(at == std::string_view::npos ? host : host.substr(at + 1));
}

Status ValidateProgramFields(const Entry& e) {
  if (!IsWord(e.action, 1, kMaxActionBytes)) {
    return Status(Err::kInvalidArgument, "audit: bad action");
  }
  if (!IsWord(e.result, 0, kMaxResultBytes)) {
    return Status(Err::kInvalidArgument, "audit: bad result");
  }
  if (std::strcmp(ActorKindName(e.actor_kind), "?") == 0) {
    return Status(Err::kInvalidArgument, "audit: bad actor_kind");
  }
  if (e.version && (*e.version < 1 || *e.version > 0xffffffffLL)) {
    return Status(Err::kInvalidArgument, "audit: bad version");
  }
  if (e.status && (*e.status < 0 || *e.status > 999)) {
    return Status(Err::kInvalidArgument, "audit: bad status");
  }
  if (e.latency_us < 0) return Status(Err::kInvalidArgument, "audit: bad latency");
  return Status::Ok();
}

}  // namespace

std::string StripQuery(std::string_view path) {
  std::string out(path.substr(0, path.find_first_of("?#")));
  // Absolute-form request target (proxies see these): drop "user:password@".
  const size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos && out.find('/') > scheme_end) {
    const size_t auth = scheme_end + 3;
    const size_t auth_end = std::min(out.find('/', auth), out.size());
    const size_t at = out.rfind('@', auth_end);
    if (at != std::string::npos && at >= auth) out.erase(auth, at + 1 - auth);
  }
  return out;
}

std::string RedactSecrets(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    // A prefix glued to a word ("task-...") is not a key prefix.
    const bool boundary = i == 0 || !IsAlnum(static_cast<unsigned char>(text[i - 1]));
    size_t len = 0;
    const SecretPattern* hit = nullptr;
    for (const SecretPattern& p : kSecretPatterns) {
      if (boundary && (len = MatchAt(text, i, p)) != 0) {
        hit = &p;
        break;
      }
    }
    if (hit == nullptr) {
      out.push_back(text[i++]);
      continue;
    }
    out.append(hit->prefix).append(kRedacted);
    i += len;
  }
  return out;
}

Result<Entry> SanitizeEntry(const Entry& in) {
  KC_RETURN_IF_ERROR(ValidateProgramFields(in));
  Entry e = in;
  e.actor = CleanText(in.actor, kMaxActorBytes);
  e.credential = CleanText(in.credential, kMaxCredentialBytes);
  e.host = CleanText(StripHostUserinfo(in.host), kMaxHostBytes);
  e.path = CleanText(StripQuery(in.path), kMaxPathBytes);
  e.detail = CleanText(in.detail, kMaxDetailBytes);
  return e;
}

}  // namespace keycell::broker::audit

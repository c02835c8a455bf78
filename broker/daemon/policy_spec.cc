#include "broker/daemon/policy_spec.h"

#include <stdlib.h>
#include <string.h>

#include "enclave/policy.h"

namespace keycell::broker::daemon {
namespace {

constexpr ProviderDefaults kProviders[] = {
    {"openai", "api.openai.com", "bearer", "OPENAI_API_KEY"},
    {"anthropic", "api.anthropic.com", "header:x-api-key", "ANTHROPIC_API_KEY"},
    {"stripe", "api.stripe.com", "bearer", "STRIPE_API_KEY"},
    {"github", "api.github.com", "bearer", "GITHUB_TOKEN"},
    {"resend", "api.resend.com", "bearer", "RESEND_API_KEY"},
    {"gemini", "generativelanguage.googleapis.com", "header:x-goog-api-key", "GEMINI_API_KEY"},
    {"mistral", "api.mistral.ai", "bearer", "MISTRAL_API_KEY"},
    {"groq", "api.groq.com", "bearer", "GROQ_API_KEY"},
    {"cohere", "api.cohere.com", "bearer", "COHERE_API_KEY"},
    {"huggingface", "huggingface.co", "bearer", "HF_TOKEN"},
    {"sendgrid", "api.sendgrid.com", "bearer", "SENDGRID_API_KEY"},
    {"slack", "slack.com", "bearer", "SLACK_BOT_TOKEN"},
    {"openrouter", "openrouter.ai", "bearer", "OPENROUTER_API_KEY"},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (tolower(static_cast<unsigned char>(a[i])) != tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out;
}

template <size_t N>
bool CopyField(char (&dst)[N], std::string_view src) {
  if (src.size() >= N) return false;
  memcpy(dst, src.data(), src.size());
  dst[src.size()] = '\0';
  return true;
}

Status Invalid(std::string* message, std::string text) {
  *message = std::move(text);
  return Status(Err::kInvalidArgument, "policy spec");
}

Status AddHost(Policy* p, std::string_view spec, std::string* message) {
  if (p->allowed_hosts_count == sizeof(p->allowed_hosts) / sizeof(p->allowed_hosts[0]))
    return Invalid(message, "too many allowed hosts (at most 32)");
  std::string host = Lower(spec);
  uint32_t port = 0;
  if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    char* end = nullptr;
    const long v = strtol(host.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535) return Invalid(message, "bad port in host '" + std::string(spec) + "'");
    port = static_cast<uint32_t>(v);
    host.resize(colon);
  }
  keycell_ipc_HostRule& r = p->allowed_hosts[p->allowed_hosts_count++];
  if (!CopyField(r.host, host)) return Invalid(message, "host name too long: '" + std::string(spec) + "'");
  r.port = port;
  return Status::Ok();
}

Status ParseInject(std::string_view spec, keycell_ipc_Injection* in, std::string* message) {
  *in = keycell_ipc_Injection_init_zero;
  const size_t c1 = spec.find(':');
  const std::string_view kind = spec.substr(0, c1);
  const std::string_view rest = c1 == std::string_view::npos ? "" : spec.substr(c1 + 1);
  const size_t c2 = rest.find(':');
  const std::string_view name = rest.substr(0, c2);
  const std::string_view prefix = c2 == std::string_view::npos ? "" : rest.substr(c2 + 1);
  const auto bad = [&] {
    return Invalid(message, "bad --inject '" + std::string(spec) +
                                "': use bearer, basic, header:NAME[:PREFIX], query:NAME, cookie[:NAME] or none");
  };
  if (kind == "none" && rest.empty()) return Status::Ok();
  if (kind == "bearer" && rest.empty()) in->kind = keycell_ipc_InjectKind_INJECT_BEARER;
  else if (kind == "basic" && rest.empty()) in->kind = keycell_ipc_InjectKind_INJECT_BASIC;
  else if (kind == "header" && !name.empty()) in->kind = keycell_ipc_InjectKind_INJECT_HEADER;
  else if (kind == "query" && !name.empty() && c2 == std::string_view::npos) in->kind = keycell_ipc_InjectKind_INJECT_QUERY;
  else if (kind == "cookie" && c2 == std::string_view::npos) in->kind = keycell_ipc_InjectKind_INJECT_COOKIE;
  else return bad();
  if (!CopyField(in->name, name) || !CopyField(in->prefix, prefix)) return bad();
  return Status::Ok();
}

std::string InjectSpec(const keycell_ipc_Injection& in) {
  const std::string name = in.name, prefix = in.prefix;
  switch (enclave::WireEnum(in.kind)) {
    case keycell_ipc_InjectKind_INJECT_BEARER: return "bearer";
    case keycell_ipc_InjectKind_INJECT_BASIC: return "basic";
    case keycell_ipc_InjectKind_INJECT_HEADER: return "header:" + name + (prefix.empty() ? "" : ":" + prefix);
    case keycell_ipc_InjectKind_INJECT_QUERY: return "query:" + name;
    case keycell_ipc_InjectKind_INJECT_COOKIE: return name.empty() ? "cookie" : "cookie:" + name;
    default: return "none";
  }
}

bool StringList(const cJSON* obj, const char* key, std::vector<std::string>* out) {
  const cJSON* arr = json::GetMember(obj, key);
  if (arr == nullptr) return true;
  if (json::TypeOf(arr) != json::Type::kArray) return false;
  for (const cJSON* item : json::Children(arr)) {
    const auto s = json::AsString(item);
    if (!s) return false;
    out->emplace_back(*s);
  }
  return true;
}

}  // namespace

const ProviderDefaults* FindProvider(std::string_view provider) {
  for (const ProviderDefaults& p : kProviders)
    if (EqualsIgnoreCase(p.provider, provider)) return &p;
  return nullptr;
}

std::string KnownProviders() {
  std::string out;
  for (const ProviderDefaults& p : kProviders) out += (out.empty() ? "" : ", ") + std::string(p.provider);
  return out;
}

Result<Policy> BuildPolicy(PolicySpec spec, std::string_view provider, std::string* message) {
  if (const ProviderDefaults* d = FindProvider(provider)) {
    if (spec.hosts.empty()) spec.hosts.emplace_back(d->host);
    if (spec.inject.empty()) spec.inject = d->inject;
  }
  if (spec.hosts.empty() && spec.inject.empty()) spec.inject = "none";
  keycell_ipc_Injection recipe;  // a bad recipe is named before a missing host
  KC_RETURN_IF_ERROR(ParseInject(spec.inject.empty() ? "none" : spec.inject, &recipe, message));
  if (spec.hosts.empty() && spec.inject != "none")
    return Invalid(message, "no allowed host: give --allow-host HOST (or a known --provider: " + KnownProviders() + ")");
  Policy p = keycell_ipc_Policy_init_zero;
  for (const std::string& h : spec.hosts) KC_RETURN_IF_ERROR(AddHost(&p, h, message));
  p.has_injection = true;
  KC_RETURN_IF_ERROR(ParseInject(spec.inject.empty() ? "none" : spec.inject, &p.injection, message));
  p.reveal = spec.revealable || !spec.reveal_agents.empty();
  for (const std::string& a : spec.reveal_agents) {
    if (p.reveal_agents_count == 32) return Invalid(message, "too many reveal agents (at most 32)");
    if (!CopyField(p.reveal_agents[p.reveal_agents_count++], a)) return Invalid(message, "agent id too long");
  }
  p.env_export = spec.env_export;
  p.expires_at = spec.expires_at;
  for (const std::string& h : spec.insecure_http) {
    if (p.insecure_http_hosts_count == 8) return Invalid(message, "too many insecure hosts (at most 8)");
    if (!CopyField(p.insecure_http_hosts[p.insecure_http_hosts_count++], Lower(h)))
      return Invalid(message, "host name too long");
  }
  if (Status st = enclave::ValidatePolicy(p); !st.ok()) return Invalid(message, st.where());
  return p;
}

Result<PolicySpec> PolicySpecFromJson(const cJSON* obj, std::string* message) {
  PolicySpec spec;
  if (!StringList(obj, "hosts", &spec.hosts) || !StringList(obj, "reveal_agents", &spec.reveal_agents) ||
      !StringList(obj, "insecure_http", &spec.insecure_http))
    return Invalid(message, "hosts, reveal_agents and insecure_http must be lists of strings");
  spec.inject = std::string(json::GetString(obj, "inject").value_or(""));
  spec.revealable = json::GetBool(obj, "revealable").value_or(false);
  spec.env_export = json::GetBool(obj, "env_export").value_or(false);
  spec.expires_at = json::GetInt(obj, "expires_at").value_or(0);
  return spec;
}

json::Json PolicyToJson(const Policy& p) {
  json::Json obj = json::MakeObject();
  json::Json hosts = json::MakeArray();
  for (pb_size_t i = 0; i < p.allowed_hosts_count; ++i) {
    std::string h = p.allowed_hosts[i].host;
    if (p.allowed_hosts[i].port != 0) h += ":" + std::to_string(p.allowed_hosts[i].port);
    if (auto s = json::MakeString(h); s.ok()) (void)json::Append(hosts.get(), std::move(*s));
  }
  (void)json::Set(obj.get(), "hosts", std::move(hosts));
  (void)json::SetString(obj.get(), "inject", p.has_injection ? InjectSpec(p.injection) : "none");
  (void)json::SetBool(obj.get(), "revealable", p.reveal);
  json::Json agents = json::MakeArray();
  for (pb_size_t i = 0; i < p.reveal_agents_count; ++i)
    if (auto s = json::MakeString(p.reveal_agents[i]); s.ok()) (void)json::Append(agents.get(), std::move(*s));
  (void)json::Set(obj.get(), "reveal_agents", std::move(agents));
  (void)json::SetBool(obj.get(), "env_export", p.env_export);
  (void)json::SetInt(obj.get(), "expires_at", p.expires_at);
  json::Json insecure = json::MakeArray();
  for (pb_size_t i = 0; i < p.insecure_http_hosts_count; ++i)
    if (auto s = json::MakeString(p.insecure_http_hosts[i]); s.ok()) (void)json::Append(insecure.get(), std::move(*s));
  (void)json::Set(obj.get(), "insecure_http", std::move(insecure));
  return obj;
}

std::string EnvNameFor(std::string_view name) {
  std::string out;
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    out += isalnum(u) ? static_cast<char>(toupper(u)) : '_';
  }
  if (out.empty() || isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  return out;
}

}  // namespace keycell::broker::daemon

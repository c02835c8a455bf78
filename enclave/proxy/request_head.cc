#include "enclave/proxy/request_head.h"

#include <string.h>

#include <vector>

#include "enclave/proxy/head_writer.h"
#include "enclave/proxy/header_rules.h"

namespace keycell::enclave::proxy {
namespace {

constexpr std::string_view kCrLf = "\r\n";

struct MethodRule {
  std::string_view name;
  bool sends_body;  // a body-less request still says "Content-Length: 0" (RFC 9110 §8.6)
};

// The methods an injected request may use. Absent on purpose: TRACE (the upstream
// echoes the request back, credential included), CONNECT (a tunnel, not a request).
constexpr MethodRule kMethods[] = {
    {"GET", false},  {"HEAD", false},   {"POST", true},     {"PUT", true},
    {"PATCH", true}, {"DELETE", false}, {"OPTIONS", false},
};

// Everything Serialize needs, validated. Views into the caller's input and the policy;
// `secret` is the caller's SecretView (the only plaintext this struct points at).
struct Plan {
  const Target* target;
  const MethodRule* method;
  int32_t kind;
  std::string_view name;    // the policy's header, query parameter or cookie name
  std::string_view prefix;  // HEADER only
  SecretView secret;
  std::vector<HeaderField> headers;            // caller headers that pass through
  std::vector<std::string_view> cookie_pairs;  // COOKIE: the caller's cookies we keep
  std::vector<std::string_view> query_params;  // QUERY: the caller's parameters we keep
  BodyFraming framing;
  uint64_t content_length;
};

// A nanopb string field: NUL-terminated when decoded, but bounded here all the same.
template <size_t N>
std::string_view FixedString(const char (&field)[N]) {
  return std::string_view(field, strnlen(field, N));
}

Result<const MethodRule*> CheckMethod(std::string_view method) {
  if (!IsToken(method)) return Status(Err::kInvalidArgument, kWhereMethodNotToken);
  for (const MethodRule& m : kMethods)
    if (m.name == method) return &m;
  return Status(Err::kInvalidArgument, kWhereMethodNotAllowed);
}

Status CheckFraming(const RequestSpec& r, const RequestLimits& limits) {
  switch (r.framing) {
    case BodyFraming::kNone:
    case BodyFraming::kChunked:
      return Status::Ok();
    case BodyFraming::kContentLength:
      return CheckBodyBytes(r.content_length, limits);
  }
  return Status(Err::kInvalidArgument, kWhereBadFraming);
}

Status CheckCallerHeaders(std::span<const HeaderField> headers, const RequestLimits& limits) {
  if (headers.size() > limits.max_header_count) return Status(Err::kTooLarge, kWhereTooManyHeaders);
  size_t total = 0;
  for (const HeaderField& h : headers) {
    if (h.name.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
      return Status(Err::kInvalidArgument, kWhereHeaderNameControl);
    if (!IsToken(h.name)) return Status(Err::kInvalidArgument, kWhereHeaderNameNotToken);
    switch (CheckFieldValue(AsBytes(h.value))) {
      case ValueFault::kNone:
        break;
      case ValueFault::kCrLfNul:
        return Status(Err::kInvalidArgument, kWhereHeaderValueCrLfNul);
      case ValueFault::kControl:
        return Status(Err::kInvalidArgument, kWhereHeaderValueControl);
    }
    // Bounds the work below (Connection lists are matched against every name).
    total += h.name.size() + h.value.size() + 4;
    if (total > limits.max_head_bytes) return Status(Err::kTooLarge, kWhereHeadTooLarge);
  }
  return Status::Ok();
}

bool ValidQueryName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_' || c == '~'))
      return false;
  return true;
}

// Re-checks the sealed recipe where it matters here: its name and prefix land verbatim
// in the head. ValidatePolicy checked them at seal time; this keeps the head builder
// safe on its own.
Status CheckRecipe(int32_t kind, std::string_view name, std::string_view prefix) {
  switch (kind) {
    case keycell_ipc_InjectKind_INJECT_HEADER:
      if (!IsToken(name) || CheckFieldValue(AsBytes(prefix)) != ValueFault::kNone)
        return Status(Err::kPolicyDenied, kWhereBadRecipe);
      // Host, Content-Length, Transfer-Encoding, ...: a secret there would be a
      // routing or framing decision, and we strip the caller's copies anyway.
      if (IsStrippedHeader(name)) return Status(Err::kPolicyDenied, kWhereReservedHeader);
      return Status::Ok();
    case keycell_ipc_InjectKind_INJECT_QUERY:
      return ValidQueryName(name) ? Status::Ok() : Status(Err::kPolicyDenied, kWhereBadRecipe);
    case keycell_ipc_InjectKind_INJECT_COOKIE:
      return name.empty() || IsToken(name) ? Status::Ok()
                                           : Status(Err::kPolicyDenied, kWhereBadRecipe);
    default:
      return Status::Ok();
  }
}

// Reads the secret only; reports the first reason it cannot go where the recipe puts it.
Status CheckSecretFor(int32_t kind, bool named_cookie, SecretView secret) {
  if (secret.empty()) return Status(Err::kInvalidArgument, kWhereSecretEmpty);
  // Percent-encoded: any byte is safe in the request line.
  if (kind == keycell_ipc_InjectKind_INJECT_QUERY) return Status::Ok();
  // Basic is base64 on the wire, but RFC 7617 forbids controls in user-pass, and a
  // trailing newline in a stored secret is a mistake worth refusing, not encoding.
  switch (CheckFieldValue(secret.bytes())) {
    case ValueFault::kNone:
      break;
    case ValueFault::kCrLfNul:
      return Status(Err::kInvalidArgument, kWhereSecretCrLfNul);
    case ValueFault::kControl:
      return Status(Err::kInvalidArgument, kWhereSecretControl);
  }
  if (kind == keycell_ipc_InjectKind_INJECT_BASIC &&
      memchr(secret.data(), ':', secret.size()) == nullptr)
    return Status(Err::kInvalidArgument, kWhereBasicNotUserPass);
  // "name=<secret>" with a ';' inside would set further cookies of the secret's choosing.
  if (named_cookie && memchr(secret.data(), ';', secret.size()) != nullptr)
    return Status(Err::kInvalidArgument, kWhereCookieSemicolon);
  return Status::Ok();
}

// The name of the header the recipe sets (empty for QUERY).
std::string_view InjectedHeaderName(int32_t kind, std::string_view name) {
  switch (kind) {
    case keycell_ipc_InjectKind_INJECT_BEARER:
    case keycell_ipc_InjectKind_INJECT_BASIC:
      return "Authorization";
    case keycell_ipc_InjectKind_INJECT_HEADER:
      return name;
    case keycell_ipc_InjectKind_INJECT_COOKIE:
      return "Cookie";
    default:
      return {};
  }
}

bool IsOws(uint8_t c) { return c == ' ' || c == '\t'; }

// Whether a bare cookie secret ("a=1" or "a=1; b=2") sets a cookie named `name`.
// Reads the secret in place; nothing is copied.
bool SecretSetsCookie(SecretView secret, std::string_view name) {
  const uint8_t* p = secret.data();
  const size_t n = secret.size();
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    while (end < n && p[end] != ';') ++end;
    size_t start = i;
    while (start < end && IsOws(p[start])) ++start;
    size_t eq = start;
    while (eq < end && p[eq] != '=') ++eq;
    size_t name_end = eq;
    while (name_end > start && IsOws(p[name_end - 1])) --name_end;
    if (eq < end && name_end - start == name.size() &&
        memcmp(p + start, name.data(), name.size()) == 0)
      return true;
    i = end + 1;
  }
  return false;
}

// The caller's cookie pairs minus the ones the injection sets (cookie names are
// case-sensitive, RFC 6265 §5.4). Empty pairs are dropped.
void CollectCookiePairs(std::string_view value, Plan& plan) {
  while (!value.empty()) {
    const size_t semi = value.find(';');
    const std::string_view pair = TrimOws(value.substr(0, semi));
    const size_t eq = pair.find('=');
    const std::string_view pair_name =
        eq == std::string_view::npos ? std::string_view() : TrimOws(pair.substr(0, eq));
    const bool replaced =
        eq != std::string_view::npos &&
        (plan.name.empty() ? SecretSetsCookie(plan.secret, pair_name) : pair_name == plan.name);
    if (!pair.empty() && !replaced) plan.cookie_pairs.push_back(pair);
    if (semi == std::string_view::npos) break;
    value.remove_prefix(semi + 1);
  }
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
uint8_t HexValue(char c) {
  return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

// Whether a raw query parameter name, percent-decoded ('+' as space, as servers read
// forms), equals `name`: "api%5Fkey" is the same parameter as "api_key" to the server.
bool QueryNameEquals(std::string_view raw, std::string_view name) {
  size_t j = 0;
  for (size_t i = 0; i < raw.size(); ++i, ++j) {
    uint8_t c = static_cast<uint8_t>(raw[i]);
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < raw.size() && IsHexDigit(raw[i + 1]) && IsHexDigit(raw[i + 2])) {
      c = static_cast<uint8_t>(HexValue(raw[i + 1]) << 4 | HexValue(raw[i + 2]));
      i += 2;
    }
    if (j >= name.size() || static_cast<uint8_t>(name[j]) != c) return false;
  }
  return j == name.size();
}

void CollectQueryParams(std::string_view query, Plan& plan) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    if (!param.empty() && !QueryNameEquals(param.substr(0, param.find('=')), plan.name))
      plan.query_params.push_back(param);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

// Splits the caller's headers into what passes through, what is dropped, and (COOKIE)
// the cookies to merge.
void FilterHeaders(std::span<const HeaderField> headers, std::string_view injected, Plan& plan) {
  std::vector<std::string_view> connection_values;
  for (const HeaderField& h : headers)
    if (EqualsIgnoreCase(h.name, "connection")) connection_values.push_back(h.value);
  const bool cookie_recipe = plan.kind == keycell_ipc_InjectKind_INJECT_COOKIE;
  for (const HeaderField& h : headers) {
    if (IsStrippedHeader(h.name)) continue;
    bool listed = false;
    for (std::string_view c : connection_values) listed = listed || ConnectionLists(c, h.name);
    if (listed) continue;
    if (!injected.empty() && EqualsIgnoreCase(h.name, injected)) {
      if (cookie_recipe) CollectCookiePairs(h.value, plan);
      continue;
    }
    plan.headers.push_back(HeaderField{h.name, TrimOws(h.value)});
  }
}

void WriteRequestLine(const Plan& plan, HeadWriter& w) {
  w.Put(plan.method->name);
  w.PutChar(' ');
  if (plan.kind != keycell_ipc_InjectKind_INJECT_QUERY) {
    w.Put(plan.target->path());
  } else {
    w.Put(plan.target->path_without_query());
    w.PutChar('?');
    for (std::string_view p : plan.query_params) {
      w.Put(p);
      w.PutChar('&');
    }
    w.Put(plan.name);
    w.PutChar('=');
    w.PutSecretPercent(plan.secret);
  }
  w.Put(" HTTP/1.1\r\n");
}

void WriteInjectedHeader(const Plan& plan, HeadWriter& w) {
  switch (plan.kind) {
    case keycell_ipc_InjectKind_INJECT_BEARER:
      w.Put("Authorization: Bearer ");
      w.PutSecret(plan.secret);
      break;
    case keycell_ipc_InjectKind_INJECT_BASIC:
      w.Put("Authorization: Basic ");
      w.PutSecretBase64(plan.secret);
      break;
    case keycell_ipc_InjectKind_INJECT_HEADER:
      w.Put(plan.name);
      w.Put(": ");
      w.Put(plan.prefix);
      w.PutSecret(plan.secret);
      break;
    case keycell_ipc_InjectKind_INJECT_COOKIE:
      w.Put("Cookie: ");
      for (std::string_view p : plan.cookie_pairs) {
        w.Put(p);
        w.Put("; ");
      }
      if (!plan.name.empty()) {
        w.Put(plan.name);
        w.PutChar('=');
      }
      w.PutSecret(plan.secret);
      break;
    default:  // QUERY: in the request line
      return;
  }
  w.Put(kCrLf);
}

void Serialize(const Plan& plan, HeadWriter& w) {
  WriteRequestLine(plan, w);
  w.Put("Host: ");
  w.Put(plan.target->host());
  if (!plan.target->default_port()) {
    w.PutChar(':');
    w.PutDecimal(plan.target->port());
  }
  w.Put(kCrLf);
  for (const HeaderField& h : plan.headers) {
    w.Put(h.name);
    w.PutChar(':');
    if (!h.value.empty()) w.PutChar(' ');
    w.Put(h.value);
    w.Put(kCrLf);
  }
  WriteInjectedHeader(plan, w);
  w.Put("Accept-Encoding: identity\r\nConnection: keep-alive\r\n");
  if (plan.framing == BodyFraming::kContentLength ||
      (plan.framing == BodyFraming::kNone && plan.method->sends_body)) {
    w.Put("Content-Length: ");
    w.PutDecimal(plan.framing == BodyFraming::kContentLength ? plan.content_length : 0);
    w.Put(kCrLf);
  } else if (plan.framing == BodyFraming::kChunked) {
    w.Put("Transfer-Encoding: chunked\r\n");
  }
  w.Put(kCrLf);
}

}  // namespace

Status CheckBodyBytes(uint64_t total_sent, const RequestLimits& limits) {
  if (limits.max_body_bytes != 0 && total_sent > limits.max_body_bytes)
    return Status(Err::kTooLarge, kWhereBodyTooLarge);
  return Status::Ok();
}

Result<SecureBuffer> BuildRequestHead(const Policy& policy, int64_t now, const Target& target,
                                      const RequestSpec& request, SecretView secret,
                                      const RequestLimits& limits) {
  KC_RETURN_IF_ERROR(CheckInjectable(policy, now));
  KC_RETURN_IF_ERROR(CheckTarget(policy, target));
  KC_ASSIGN_OR_RETURN(const MethodRule* method, CheckMethod(request.method));
  KC_RETURN_IF_ERROR(CheckFraming(request, limits));
  KC_RETURN_IF_ERROR(CheckCallerHeaders(request.headers, limits));

  Plan plan{&target,
            method,
            WireEnum(policy.injection.kind),
            FixedString(policy.injection.name),
            FixedString(policy.injection.prefix),
            secret,
            {},
            {},
            {},
            request.framing,
            request.content_length};
  KC_RETURN_IF_ERROR(CheckRecipe(plan.kind, plan.name, plan.prefix));
  const bool named_cookie = plan.kind == keycell_ipc_InjectKind_INJECT_COOKIE && !plan.name.empty();
  KC_RETURN_IF_ERROR(CheckSecretFor(plan.kind, named_cookie, secret));
  FilterHeaders(request.headers, InjectedHeaderName(plan.kind, plan.name), plan);
  if (plan.kind == keycell_ipc_InjectKind_INJECT_QUERY) CollectQueryParams(target.query(), plan);

  HeadWriter counter;
  Serialize(plan, counter);
  if (counter.size() > limits.max_head_bytes) return Status(Err::kTooLarge, kWhereHeadTooLarge);
  // The only place the injected head is assembled: straight into locked memory.
  KC_ASSIGN_OR_RETURN(SecureBuffer head, SecureBuffer::Allocate(counter.size()));
  HeadWriter writer(head.data(), head.size());
  Serialize(plan, writer);
  KC_CHECK(writer.size() == head.size());
  return head;
}

}  // namespace keycell::enclave::proxy

// The injected request head (enclave/proxy/request_head.h): arbitrary target, method,
// caller headers, recipe and secret bytes -> BuildRequestHead builds or refuses. Input:
//   flags (1) | method | host | path | secret | recipe name | recipe prefix | headers*
// where each field is len (1) + bytes and each header is name field + value field.
// Flags: bits 0-2 recipe kind (% 6: NONE BEARER BASIC HEADER QUERY COOKIE), bits 3-4
// framing (% 3), bit 5 plain http, bit 6 a 512-byte head limit, bit 7 port 8080.
// Empty method/host/path mean GET / api.example.com / "/".
// Policy: api.example.com, *.example.org, 127.0.0.1 (insecure-allowed), port per bit 7.
//
// Properties on success, checked with a small parser written here (abort on violation):
//   - CR and LF only as CRLF line ends, no NUL, the head ends at its first empty line;
//   - request line "METHOD SP origin-form SP HTTP/1.1", the method as given, the target
//     visible ASCII starting with '/';
//   - every field line "token:" [SP value], value without controls but HTAB;
//   - exactly one Host (host[:port]), one Accept-Encoding: identity, one
//     Connection: keep-alive; at most one Content-Length, Transfer-Encoding only as
//     "chunked" and never with Content-Length; no TE/Trailer/Upgrade/Keep-Alive/Proxy-*;
//   - the injected header exactly once, with exactly the recipe's value (the secret, its
//     base64 computed here, prefix+secret, or the cookie pair last in Cookie); for QUERY
//     the target ends with name=<percent-encoded secret computed here>;
//   - success implies: method allowed, no CR/LF/NUL in any caller header, for header
//     recipes none in the secret; the head within the limit.

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <string_view>
#include <vector>

#include "enclave/proxy/request_head.h"

namespace keycell::enclave::proxy {
namespace {

void Require(bool ok) {
  if (!ok) abort();
}

struct Reader {
  const uint8_t* p;
  size_t n;
  std::string_view Field() {
    if (n == 0) return {};
    size_t len = p[0];
    if (len > n - 1) len = n - 1;
    std::string_view s(reinterpret_cast<const char*>(p + 1), len);
    p += 1 + len;
    n -= 1 + len;
    return s;
  }
};

bool Lower(char c, char d) { return (c | 0x20) == (d | 0x20); }
bool IEq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!Lower(a[i], b[i])) return false;
  return true;
}
bool RefTchar(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}
bool HasCrLfNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != s.npos;
}

std::string RefBase64(std::string_view in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const size_t k = in.size() - i < 3 ? in.size() - i : 3;
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) v = v << 8 | (j < k ? static_cast<unsigned char>(in[i + j]) : 0);
    for (size_t j = 0; j < 4; ++j) out += j <= k ? a[(v >> (18 - 6 * j)) & 63] : '=';
  }
  return out;
}

std::string RefPercent(std::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (isalnum(c) || (c != 0 && strchr("-._~", c) != nullptr)) {
      out += static_cast<char>(c);
    } else {
      static const char* h = "0123456789ABCDEF";
      out += {'%', h[c >> 4], h[c & 15]};
    }
  }
  return out;
}

struct Field {
  std::string_view name, value;
};

struct Parsed {
  std::string_view method, target, version;
  std::vector<Field> fields;
};

Parsed ParseHead(std::string_view head) {
  // CR and LF only as CRLF; no NUL; the first empty line is the end.
  for (size_t i = 0; i < head.size(); ++i) {
    Require(head[i] != '\0');
    if (head[i] == '\r') Require(i + 1 < head.size() && head[i + 1] == '\n');
    if (head[i] == '\n') Require(i > 0 && head[i - 1] == '\r');
  }
  Require(head.size() >= 4 && head.find("\r\n\r\n") == head.size() - 4);
  Parsed out;
  size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  Require(sp1 != line.npos && sp2 > sp1);
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  Require(out.version == "HTTP/1.1" && !out.target.empty() && out.target[0] == '/');
  for (unsigned char c : out.target) Require(c > 0x20 && c < 0x7f && c != '#');
  size_t at = eol + 2;
  while (at < head.size() - 2) {
    eol = head.find("\r\n", at);
    const std::string_view l = head.substr(at, eol - at);
    const size_t colon = l.find(':');
    Require(colon != l.npos && colon > 0);
    Field f{l.substr(0, colon), l.substr(colon + 1)};
    for (unsigned char c : f.name) Require(RefTchar(c));
    if (!f.value.empty()) {
      Require(f.value[0] == ' ');
      f.value.remove_prefix(1);
    }
    for (unsigned char c : f.value) Require(c == '\t' || (c >= 0x20 && c != 0x7f));
    out.fields.push_back(f);
    at = eol + 2;
  }
  return out;
}

size_t CountNamed(const Parsed& p, std::string_view name, std::string_view* last = nullptr) {
  size_t n = 0;
  for (const Field& f : p.fields) {
    if (!IEq(f.name, name)) continue;
    ++n;
    if (last != nullptr) *last = f.value;
  }
  return n;
}

Policy MakePolicy(int32_t kind, std::string_view name, std::string_view prefix, uint32_t port) {
  Policy p = keycell_ipc_Policy_init_zero;
  for (const char* h : {"api.example.com", "*.example.org", "127.0.0.1"}) {
    strcpy(p.allowed_hosts[p.allowed_hosts_count].host, h);
    p.allowed_hosts[p.allowed_hosts_count++].port = port;
  }
  strcpy(p.insecure_http_hosts[p.insecure_http_hosts_count++], "127.0.0.1");
  p.has_injection = true;
  memcpy(&p.injection.kind, &kind, sizeof(kind));
  // nanopb strings: at most max_size - 1 bytes, NUL-terminated (a NUL ends them early).
  if (!name.empty()) memcpy(p.injection.name, name.data(), name.size() < 64 ? name.size() : 64);
  if (!prefix.empty())
    memcpy(p.injection.prefix, prefix.data(), prefix.size() < 64 ? prefix.size() : 64);
  return p;
}

void CheckInjected(const Parsed& parsed, int32_t kind, std::string_view name,
                   std::string_view prefix, std::string_view secret) {
  std::string_view value;
  switch (kind) {
    case keycell_ipc_InjectKind_INJECT_BEARER:
      Require(CountNamed(parsed, "Authorization", &value) == 1 &&
              value == "Bearer " + std::string(secret));
      break;
    case keycell_ipc_InjectKind_INJECT_BASIC:
      Require(CountNamed(parsed, "Authorization", &value) == 1 &&
              value == "Basic " + RefBase64(secret));
      break;
    case keycell_ipc_InjectKind_INJECT_HEADER:
      Require(CountNamed(parsed, name, &value) == 1 &&
              value == std::string(prefix) + std::string(secret));
      break;
    case keycell_ipc_InjectKind_INJECT_COOKIE: {
      const std::string pair =
          name.empty() ? std::string(secret) : std::string(name) + "=" + std::string(secret);
      Require(CountNamed(parsed, "Cookie", &value) == 1 && value.size() >= pair.size() &&
              value.substr(value.size() - pair.size()) == pair);
      break;
    }
    case keycell_ipc_InjectKind_INJECT_QUERY: {
      const std::string tail = std::string(name) + "=" + RefPercent(secret);
      const std::string_view t = parsed.target;
      Require(t.size() > tail.size() && t.substr(t.size() - tail.size()) == tail &&
              (t[t.size() - tail.size() - 1] == '?' || t[t.size() - tail.size() - 1] == '&'));
      break;
    }
    default:
      abort();  // INJECT_NONE must have been refused
  }
}

void CheckHead(std::string_view head, std::string_view method, const Target& target,
               BodyFraming framing, int32_t kind, std::string_view name, std::string_view prefix,
               std::string_view secret) {
  const Parsed parsed = ParseHead(head);
  Require(parsed.method == method);
  std::string_view v;
  std::string host = target.host();
  if (!target.default_port()) host += ":" + std::to_string(target.port());
  Require(CountNamed(parsed, "Host", &v) == 1 && v == host);
  Require(CountNamed(parsed, "Accept-Encoding", &v) == 1 && v == "identity");
  Require(CountNamed(parsed, "Connection", &v) == 1 && v == "keep-alive");
  const size_t cl = CountNamed(parsed, "Content-Length");
  const size_t te = CountNamed(parsed, "Transfer-Encoding", &v);
  Require(cl <= 1 && te <= 1 && cl + te <= 1);
  Require((te == 1) == (framing == BodyFraming::kChunked) && (te == 0 || v == "chunked"));
  for (const char* n : {"TE", "Trailer", "Upgrade", "Keep-Alive"})
    Require(CountNamed(parsed, n) == 0);
  for (const Field& f : parsed.fields)
    Require(!(f.name.size() >= 6 && IEq(f.name.substr(0, 6), "proxy-")));
  CheckInjected(parsed, kind, name, prefix, secret);
}

}  // namespace
}  // namespace keycell::enclave::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::enclave::proxy;
  using keycell::SecretView;
  using keycell::enclave::Policy;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  Reader in{data + 1, size - 1};
  std::string_view method = in.Field(), host = in.Field(), path = in.Field();
  const std::string_view secret = in.Field(), name_in = in.Field(), prefix_in = in.Field();
  std::vector<HeaderField> headers;
  while (in.n > 0) {
    const std::string_view n = in.Field();
    headers.push_back(HeaderField{n, in.Field()});
  }
  if (method.empty()) method = "GET";
  if (host.empty()) host = "api.example.com";
  if (path.empty()) path = "/";

  const int32_t kind = (flags & 7) % 6;
  const auto framing = static_cast<BodyFraming>((flags >> 3 & 3) % 3);
  const uint32_t port = (flags & 0x80) ? 8080 : 0;
  const Policy policy = MakePolicy(kind, name_in, prefix_in, port);
  // What the policy really holds (a NUL or the 64-byte cap ends the strings).
  const std::string_view name = policy.injection.name, prefix = policy.injection.prefix;
  RequestLimits limits;
  if (flags & 0x40) limits.max_head_bytes = 512;

  auto target =
      Target::FromParts((flags & 0x20) ? Scheme::kHttp : Scheme::kHttps, host, port, path);
  if (!target.ok()) return 0;
  RequestSpec spec{method, headers, framing, 1234};
  auto head = BuildRequestHead(
      policy, 0, *target, spec,
      SecretView(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()), limits);
  if (!head.ok()) {
    Require(head.status().where() != nullptr && strncmp(head.status().where(), "proxy: ", 7) == 0);
    return 0;
  }
  // Success implies the refusals that must have happened did not apply.
  Require(method == "GET" || method == "HEAD" || method == "POST" || method == "PUT" ||
          method == "PATCH" || method == "DELETE" || method == "OPTIONS");
  for (const HeaderField& h : headers) Require(!HasCrLfNul(h.name) && !HasCrLfNul(h.value));
  if (kind != keycell_ipc_InjectKind_INJECT_QUERY) Require(!HasCrLfNul(secret));
  Require(head->size() <= limits.max_head_bytes);
  const std::string_view bytes(reinterpret_cast<const char*>(head->data()), head->size());
  CheckHead(bytes, method, *target, framing, kind, name, prefix, secret);
  return 0;
}

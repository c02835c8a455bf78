// libFuzzer harness for kc_broker_proxy's untrusted-input parsers (docs/broker-proxy.md):
// the X-Target-Url parser, the forwarded-header filter, /v1/proxy request interpretation,
// the route target builder and the address classifier. Input format (seeds in
// fuzz/corpus/proxy_target_fuzzer/): the first line is the X-Target-Url value; every
// further line is a header field "name:value" (value as is, no trimming), at most
// kMaxLines of them. Properties checked, aborting on violation:
//   - ParseTargetUrl: an accepted URL has a well-formed host (a lower-case LDH name, a
//     dotted quad inet_pton reads, or an IPv6 address inet_pton reads), a non-zero
//     port, and an origin-form target of visible ASCII with no '#' and only well-formed
//     escapes; its canonical form parses back to itself; a refusal names a literal.
//   - FilterForwardHeaders: the output is an order-preserving subsequence of the input
//     with no dropped name, no name that a Connection field lists, token names and
//     values without CR/LF/NUL.
//   - ParseProxyRequest on a Request built from the fields: agrees with ParseTargetUrl and
//     FilterForwardHeaders, and never yields the method kOther.
//   - RouteTarget (base "/v1") with the URL's path and query: starts with the base, is
//     visible ASCII, and ParseTargetUrl accepts the resulting URL (when within its cap).
//   - ClassifyAddress: an IPv4-mapped IPv6 address always classifies as its IPv4 address.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "broker/http/request.h"
#include "broker/http/target.h"
#include "broker/proxy/proxy_request.h"
#include "broker/proxy/routes.h"
#include "broker/proxy/target_url.h"
#include "broker/proxy/upstream_connect.h"

namespace keycell::broker::proxy {
namespace {

constexpr size_t kMaxLines = 200;

void Require(bool cond) {
  if (!cond) abort();
}

bool Visible(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool EscapesOk(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '%' && (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2]))) return false;
  return true;
}

void CheckTargetInvariants(const TargetUrl& url) {
  Require(!url.host.empty() && url.host.size() <= kMaxHostBytes && Visible(url.host));
  Require(url.port != 0);
  Require(!url.target.empty() && url.target.front() == '/' && Visible(url.target));
  Require(url.target.find('#') == std::string::npos && EscapesOk(url.target));
  const std::string host(url.host);
  switch (url.host_kind) {
    case HostKind::kName:
      for (const char c : host)
        Require((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
      break;
    case HostKind::kIpv4: {
      in_addr a{};
      Require(inet_pton(AF_INET, host.c_str(), &a) == 1);
      break;
    }
    case HostKind::kIpv6: {
      in6_addr a{};
      Require(inet_pton(AF_INET6, host.c_str(), &a) == 1);
      break;
    }
  }
}

void CheckUrl(std::string_view text) {
  auto url = ParseTargetUrl(text);
  if (!url.ok()) {
    Require(url.status().code() == Err::kInvalidArgument);
    Require(std::string_view(url.status().where()).starts_with("proxy: X-Target-Url"));
    return;
  }
  CheckTargetInvariants(*url);
  const std::string canonical = FormatTargetUrl(*url);
  auto again = ParseTargetUrl(canonical);
  Require(again.ok() && FormatTargetUrl(*again) == canonical);
  Require(again->host == url->host && again->port == url->port && again->target == url->target);
  Require(Visible(HostHeaderValue(*url)));

  // The same path and query at a route mount.
  Route route;
  route.name = "fuzz";
  auto base = ParseTargetUrl("https://api.example.com/v1");
  Require(base.ok());
  route.upstream = std::move(base).value();
  auto routed =
      RouteTarget(route, url->path() == "/" ? "" : url->path(), url->has_query(), url->query());
  if (routed.ok()) {
    Require(routed->target.starts_with("/v1") && Visible(routed->target));
    const std::string full = FormatTargetUrl(*routed);
    // The route target's own cap is on the target; the whole URL may be a little longer.
    if (full.size() <= kMaxTargetUrlBytes) Require(ParseTargetUrl(full).ok());
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

void CheckFilter(const std::vector<http::HeaderField>& in) {
  auto out = FilterForwardHeaders(in);
  if (!out.ok()) return;
  size_t j = 0;
  for (const http::HeaderField& f : *out) {
    Require(!IsDroppedHeader(f.name) && IsToken(f.name));
    Require(f.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    // Order-preserving subsequence of the input.
    while (j < in.size() && !(in[j].name == f.name && in[j].value == f.value)) ++j;
    Require(j < in.size());
    ++j;
    // No Connection field lists it (a crude re-check: the option appears as a whole
    // comma-separated, OWS-trimmed element, compared case-insensitively).
    for (const http::HeaderField& c : in) {
      if (!http::EqualsIgnoreCase(c.name, "connection")) continue;
      std::string_view rest = c.value;
      while (true) {
        const size_t comma = rest.find(',');
        std::string_view opt = rest.substr(0, comma);
        while (!opt.empty() && (opt.front() == ' ' || opt.front() == '\t')) opt.remove_prefix(1);
        while (!opt.empty() && (opt.back() == ' ' || opt.back() == '\t')) opt.remove_suffix(1);
        Require(!http::EqualsIgnoreCase(opt, f.name));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
  }
}

void CheckRequest(std::string_view url_line, const std::vector<http::HeaderField>& fields) {
  auto parsed = http::ParseTarget("/v1/proxy");
  Require(parsed.ok());
  std::vector<http::HeaderField> headers = fields;
  headers.push_back({"X-Target-Url", std::string(url_line)});
  http::StringBodyReader body("");
  const http::Request req("POST", "/v1/proxy", std::move(parsed).value(), 11, std::move(headers),
                          http::PeerAddress{"127.0.0.1", 1}, &body);
  auto call = ParseProxyRequest(req);
  if (!call.ok()) return;
  Require(call->method != http::Method::kOther);
  CheckTargetInvariants(call->target);
  auto direct = ParseTargetUrl(*req.Header("X-Target-Url"));
  Require(direct.ok() && FormatTargetUrl(*direct) == FormatTargetUrl(call->target));
  auto filtered = FilterForwardHeaders(req.headers());
  Require(filtered.ok() && filtered->size() == call->headers.size());
  if (call->credential_name) Require(IsValidCredentialName(*call->credential_name));
}

void CheckClassify(const uint8_t* data, size_t size) {
  if (size < 4) return;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  std::memcpy(&in.sin_addr, data, 4);
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  mapped.sin6_addr.s6_addr[10] = 0xff;
  mapped.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&mapped.sin6_addr.s6_addr[12], data, 4);
  Require(ClassifyAddress(reinterpret_cast<const sockaddr*>(&in)) ==
          ClassifyAddress(reinterpret_cast<const sockaddr*>(&mapped)));
  if (size >= 16) {
    sockaddr_in6 any{};
    any.sin6_family = AF_INET6;
    std::memcpy(&any.sin6_addr, data, 16);
    // Any 16 bytes are some IPv6 address (::255.255.255.255 is even a broadcast, through
    // the IPv4-compatible form), never "unsupported".
    Require(ClassifyAddress(reinterpret_cast<const sockaddr*>(&any)) != AddressClass::kUnsupported);
  }
}

}  // namespace
}  // namespace keycell::broker::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::broker;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view url_line = in.substr(0, nl);
  std::vector<http::HeaderField> fields;
  if (nl != std::string_view::npos) {
    std::string_view rest = in.substr(nl + 1);
    while (!rest.empty() && fields.size() < proxy::kMaxLines) {
      const size_t end = rest.find('\n');
      const std::string_view line = rest.substr(0, end);
      const size_t colon = line.find(':');
      fields.push_back(
          {std::string(line.substr(0, colon)),
           colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1))});
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  proxy::CheckUrl(url_line);
  proxy::CheckFilter(fields);
  proxy::CheckRequest(url_line, fields);
  proxy::CheckClassify(data, size);
  return 0;
}

#include "broker/http/auth.h"

#include <arpa/inet.h>

#include <string>

#include "broker/identity/identity_store.h"

namespace keycell::broker::http {

Result<std::optional<std::string_view>> PresentedCredential(const Request& req) {
  if (req.HeaderCount("Authorization") > 1) {
    return Status(Err::kInvalidArgument, "http: repeated Authorization header");
  }
  if (req.HeaderCount("X-API-Key") > 1) {
    return Status(Err::kInvalidArgument, "http: repeated X-API-Key header");
  }
  std::optional<std::string_view> bearer;
  if (const auto authorization = req.Header("Authorization")) {
    bearer = identity::BearerFromAuthorization(*authorization);
  }
  std::optional<std::string_view> api_key = req.Header("X-API-Key");
  if (api_key && api_key->empty()) api_key.reset();
  if (bearer && api_key && *bearer != *api_key) {
    // Two different credentials: whichever we picked, the other one might be the one a
    // policy check elsewhere looked at.
    return Status(Err::kInvalidArgument, "http: Authorization and X-API-Key differ");
  }
  return bearer ? bearer : api_key;
}

bool IsLoopbackHostHeader(std::string_view host) {
  std::string_view name = host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    const std::string_view after = host.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (port.empty()) return false;
    }
    if (name != "::1") return false;  // the only IPv6 loopback address, in its short form
  } else {
    const size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (!EqualsIgnoreCase(name, "localhost")) {
      const std::string text(name);
      in_addr addr{};
      if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return false;  // dotted quad only
      if ((ntohl(addr.s_addr) >> 24) != 127) return false;
    }
  }
  if (port.size() > 5) return false;
  unsigned value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

}  // namespace keycell::broker::http

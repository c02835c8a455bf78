#include "broker/config/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace keycell::broker {
namespace {

Result<uint16_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return Status(Err::kInvalidArgument, "listen: bad port");
  uint32_t port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Status(Err::kInvalidArgument, "listen: bad port");
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) return Status(Err::kInvalidArgument, "listen: bad port");
  return static_cast<uint16_t>(port);
}

// Fills host and loopback from a numeric host, or fails.
Status ParseHost(std::string_view host, bool bracketed, ListenAddress* out) {
  const Status bad(Err::kInvalidArgument, "listen: host must be an IP literal or localhost");
  const std::string h(host);  // inet_pton needs a terminated string
  if (!bracketed && h == "localhost") {
    out->host = "127.0.0.1";
    out->loopback = true;
    return Status::Ok();
  }
  if (bracketed) {
    in6_addr a6;
    if (inet_pton(AF_INET6, h.c_str(), &a6) != 1) return bad;
    out->loopback =
        IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
  } else {
    in_addr a4;
    if (inet_pton(AF_INET, h.c_str(), &a4) != 1) return bad;  // dotted quad only
    out->loopback = (ntohl(a4.s_addr) >> 24) == 127;
  }
  out->host = h;
  return Status::Ok();
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Status(Err::kInvalidArgument, "listen: missing port");
  std::string_view host = text.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  ListenAddress out;
  KC_ASSIGN_OR_RETURN(out.port, ParsePort(text.substr(colon + 1)));
  KC_RETURN_IF_ERROR(ParseHost(host, bracketed, &out));
  return out;
}

}  // namespace keycell::broker

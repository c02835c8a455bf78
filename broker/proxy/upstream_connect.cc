#include "broker/proxy/upstream_connect.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace keycell::broker::proxy {
namespace {

// ---- Classification --------------------------------------------------------------

struct V4Rule {
  uint32_t prefix;  // host byte order
  int bits;
  AddressClass cls;
  const char* why;
};

constexpr uint32_t V4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// First match wins, so the single metadata and broadcast addresses come before the
// ranges that contain them.
constexpr V4Rule kV4Rules[] = {
    {V4(169, 254, 169, 254), 32, AddressClass::kMetadata, "AWS/GCP/Azure/OpenStack metadata"},
    {V4(169, 254, 170, 2), 32, AddressClass::kMetadata, "AWS ECS task metadata and credentials"},
    {V4(100, 100, 100, 200), 32, AddressClass::kMetadata, "Alibaba Cloud metadata"},
    {V4(255, 255, 255, 255), 32, AddressClass::kBroadcast, "limited broadcast"},
    {V4(0, 0, 0, 0), 8, AddressClass::kUnspecified, "'this network'; 0.0.0.0 reaches localhost"},
    {V4(10, 0, 0, 0), 8, AddressClass::kPrivate, "RFC 1918"},
    {V4(100, 64, 0, 0), 10, AddressClass::kCgnat, "RFC 6598 carrier-grade NAT"},
    {V4(127, 0, 0, 0), 8, AddressClass::kLoopback, "loopback"},
    {V4(169, 254, 0, 0), 16, AddressClass::kLinkLocal, "RFC 3927 link-local"},
    {V4(172, 16, 0, 0), 12, AddressClass::kPrivate, "RFC 1918"},
    {V4(192, 0, 0, 0), 24, AddressClass::kReserved, "IETF protocol assignments (RFC 6890)"},
    {V4(192, 0, 2, 0), 24, AddressClass::kReserved, "TEST-NET-1 documentation"},
    {V4(192, 168, 0, 0), 16, AddressClass::kPrivate, "RFC 1918"},
    {V4(198, 18, 0, 0), 15, AddressClass::kReserved, "benchmarking (RFC 2544)"},
    {V4(198, 51, 100, 0), 24, AddressClass::kReserved, "TEST-NET-2 documentation"},
    {V4(203, 0, 113, 0), 24, AddressClass::kReserved, "TEST-NET-3 documentation"},
    {V4(224, 0, 0, 0), 4, AddressClass::kMulticast, "multicast"},
    {V4(240, 0, 0, 0), 4, AddressClass::kReserved, "reserved (class E)"},
};

AddressClass ClassifyV4(uint32_t addr) {
  for (const V4Rule& r : kV4Rules) {
    const uint32_t mask = r.bits == 0 ? 0 : ~uint32_t{0} << (32 - r.bits);
    if ((addr & mask) == r.prefix) return r.cls;
  }
  return AddressClass::kPublic;
}

using V6Bytes = std::array<uint8_t, 16>;

struct V6Rule {
  V6Bytes prefix;
  int bits;
  AddressClass cls;  // ignored when v4_offset >= 0
  int v4_offset;     // >= 0: the class of the IPv4 address embedded at this byte offset
  const char* why;
};

constexpr V6Bytes kZero{};
constexpr V6Bytes kOne{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr V6Bytes kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr V6Bytes kTranslated{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr V6Bytes kNat64{0x00, 0x64, 0xff, 0x9b};
constexpr V6Bytes kNat64Local{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
constexpr V6Bytes k6to4{0x20, 0x02};
constexpr V6Bytes kEc2Metadata{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
constexpr V6Bytes kUla{0xfc};
constexpr V6Bytes kLinkLocal{0xfe, 0x80};
constexpr V6Bytes kSiteLocal{0xfe, 0xc0};
constexpr V6Bytes kMulticast{0xff};
constexpr V6Bytes kDiscard{0x01, 0x00};
constexpr V6Bytes kDocumentation{0x20, 0x01, 0x0d, 0xb8};
constexpr V6Bytes kGlobalUnicast{0x20};

constexpr V6Rule kV6Rules[] = {
    {kZero, 128, AddressClass::kUnspecified, -1, "unspecified"},
    {kOne, 128, AddressClass::kLoopback, -1, "loopback"},
    {kEc2Metadata, 128, AddressClass::kMetadata, -1, "AWS IMDS over IPv6"},
    {kMapped, 96, AddressClass::kPublic, 12, "IPv4-mapped: a dual-stack socket connects over IPv4"},
    {kTranslated, 96, AddressClass::kPublic, 12, "IPv4-translated (SIIT, RFC 2765)"},
    {kZero, 96, AddressClass::kPublic, 12, "IPv4-compatible (deprecated ::a.b.c.d)"},
    {kNat64, 96, AddressClass::kPublic, 12, "NAT64 well-known prefix: a gateway reaches a.b.c.d"},
    {kNat64Local, 48, AddressClass::kPrivate, -1, "NAT64 local-use prefix (RFC 8215)"},
    {k6to4, 16, AddressClass::kPublic, 2, "6to4: the relay reaches the embedded IPv4 address"},
    {kUla, 7, AddressClass::kPrivate, -1, "unique local (RFC 4193)"},
    {kLinkLocal, 10, AddressClass::kLinkLocal, -1, "link-local"},
    {kSiteLocal, 10, AddressClass::kPrivate, -1, "site-local (deprecated, RFC 3879)"},
    {kMulticast, 8, AddressClass::kMulticast, -1, "multicast"},
    {kDiscard, 64, AddressClass::kReserved, -1, "discard-only (RFC 6666)"},
    {kDocumentation, 32, AddressClass::kReserved, -1, "documentation (RFC 3849)"},
    // Everything else outside 2000::/3 is unassigned: nothing legitimate lives there.
};

bool V6Matches(const V6Bytes& addr, const V6Bytes& prefix, int bits) {
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr[i] & mask) != (prefix[i] & mask)) return false;
  }
  return true;
}

AddressClass ClassifyV6(const V6Bytes& addr) {
  for (const V6Rule& r : kV6Rules) {
    if (!V6Matches(addr, r.prefix, r.bits)) continue;
    if (r.v4_offset < 0) return r.cls;
    const size_t o = static_cast<size_t>(r.v4_offset);
    return ClassifyV4(V4(addr[o], addr[o + 1], addr[o + 2], addr[o + 3]));
  }
  if (!V6Matches(addr, kGlobalUnicast, 3)) return AddressClass::kReserved;
  return AddressClass::kPublic;
}

// ---- Resolve and connect ---------------------------------------------------------

struct AddrInfoFree {
  void operator()(addrinfo* p) const noexcept { freeaddrinfo(p); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoFree>;

bool IsIpLiteral(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET6, host.c_str(), &a6) == 1 || inet_pton(AF_INET, host.c_str(), &a4) == 1;
}

Result<AddrInfo> Resolve(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV | (IsIpLiteral(host) ? AI_NUMERICHOST : 0);
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) return Status(Err::kUnavailable, kWhereDnsFailed, rc);
  if (res == nullptr) return Status(Err::kUnavailable, kWhereDnsFailed, EAI_NONAME);
  return AddrInfo(res);
}

// Milliseconds left until `deadline`, rounded up, or 0 when it has passed.
int RemainingMs(Deadline deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 60 * 60 * 1000 ? 60 * 60 * 1000 : static_cast<int>(ms);
}

Status ConnectError(int err) {
  if (err == ECONNREFUSED) return Status(Err::kUpstreamIo, kWhereConnectRefused, err);
  if (err == ETIMEDOUT) return Status(Err::kTimeout, kWhereConnectTimeout, err);
  return Status(Err::kUpstreamIo, kWhereConnectFailed, err);
}

// Waits for a non-blocking connect to finish and returns its outcome.
Status FinishConnect(int fd, Deadline deadline) {
  while (true) {
    const int ms = RemainingMs(deadline);
    if (ms == 0) return Status(Err::kTimeout, kWhereConnectTimeout);
    pollfd p{fd, POLLOUT, 0};
    const int n = poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(Err::kUpstreamIo, kWhereConnectFailed, errno);
    if (n == 0) continue;  // poll's rounding; RemainingMs decides
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    return err == 0 ? Status::Ok() : ConnectError(err);
  }
}

// Connects to exactly `a->ai_addr`: the sockaddr the caller classified.
Result<UniqueFd> ConnectOne(const addrinfo* a, Deadline deadline) {
  UniqueFd fd(socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd) return Status(Err::kUpstreamIo, kWhereSocket, errno);
  // Request heads and small JSON bodies are written in pieces; Nagle would hold the
  // last piece back for an ACK.
  const int one = 1;
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    return Status(Err::kUpstreamIo, kWhereSocket, errno);
  if (connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return fd;
  // EINTR on a non-blocking connect: the attempt continues in the background.
  if (errno != EINPROGRESS && errno != EINTR) return ConnectError(errno);
  KC_RETURN_IF_ERROR(FinishConnect(fd.get(), deadline));
  return fd;
}

Status CheckHost(std::string_view host) {
  if (host.empty() || host.size() > 255)
    return Status(Err::kInvalidArgument, kWhereBadUpstreamHost);
  // No NUL in particular: getaddrinfo would resolve only the part before it.
  for (const char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Status(Err::kInvalidArgument, kWhereBadUpstreamHost);
  }
  return Status::Ok();
}

}  // namespace

const char* AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kCgnat:
      return "cgnat";
    case AddressClass::kReserved:
      return "reserved";
    case AddressClass::kMetadata:
      return "metadata";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kBroadcast:
      return "broadcast";
    case AddressClass::kUnsupported:
      return "unsupported";
  }
  return "unsupported";
}

AddressClass ClassifyAddress(const sockaddr* sa) {
  if (sa == nullptr) return AddressClass::kUnsupported;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return ClassifyV4(ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    V6Bytes bytes;
    std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
    return ClassifyV6(bytes);
  }
  return AddressClass::kUnsupported;
}

bool AddressPolicy::Allows(AddressClass c) const {
  switch (c) {
    case AddressClass::kPublic:
      return true;
    case AddressClass::kPrivate:
    case AddressClass::kLoopback:
    case AddressClass::kLinkLocal:
    case AddressClass::kCgnat:
    case AddressClass::kReserved:
      return allow_internal;
    case AddressClass::kMetadata:
      return allow_metadata;
    case AddressClass::kUnspecified:
    case AddressClass::kMulticast:
    case AddressClass::kBroadcast:
    case AddressClass::kUnsupported:
      return false;
  }
  return false;
}

Result<UniqueFd> ResolveAndConnect(std::string_view host, uint16_t port, AddressPolicy policy,
                                   Deadline deadline) {
  KC_RETURN_IF_ERROR(CheckHost(host));
  if (port == 0) return Status(Err::kInvalidArgument, kWhereBadUpstreamPort);
  KC_ASSIGN_OR_RETURN(const AddrInfo list, Resolve(std::string(host), port));
  // The resolver may have used up the budget on its own.
  if (RemainingMs(deadline) == 0) return Status(Err::kTimeout, kWhereConnectTimeout);

  Status refused;  // the first policy refusal, if every candidate is refused
  Status last;     // the last connect failure among allowed candidates
  bool tried = false;
  for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    const AddressClass cls = ClassifyAddress(a->ai_addr);
    if (!policy.Allows(cls)) {
      if (refused.ok())
        refused = Status(Err::kPolicyDenied, kWhereAddressNotAllowed, static_cast<int32_t>(cls));
      continue;
    }
    tried = true;
    auto fd = ConnectOne(a, deadline);
    if (fd.ok()) return fd;
    last = fd.status();
    if (last.code() == Err::kTimeout) return last;
  }
  if (tried) return last;
  if (!refused.ok()) return refused;
  return Status(Err::kUnavailable, kWhereDnsFailed, EAI_NONAME);
}

}  // namespace keycell::broker::proxy

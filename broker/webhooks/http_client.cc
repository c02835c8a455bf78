#include "broker/webhooks/http_client.h"

#include <arpa/inet.h>
#include <mbedtls/error.h>
#include <mbedtls/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "broker/webhooks/http_response.h"

namespace keycell::broker::webhooks {
namespace {

using internal::Connection;
using internal::Deadline;

constexpr size_t kReadChunkBytes = 4096;
constexpr int kMaxInterimResponses = 8;

// Adds every certificate of a PEM/DER file to `chain`. mbedtls_x509_crt_parse_file would
// do, but reading ourselves lets a missing file report its errno.
Status AddCaFile(mbedtls_x509_crt* chain, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Err::kUpstreamIo, "webhooks: cannot read CA file", errno);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // PEM parsing needs the terminating NUL counted in the length.
  if (pem.find("-----BEGIN") != std::string::npos) pem.push_back('\0');
  const int rc =
      mbedtls_x509_crt_parse(chain, reinterpret_cast<const unsigned char*>(pem.data()), pem.size());
  // rc > 0: that many certificates failed to parse (a bundle may hold exotic ones); the
  // rest were added. rc < 0: nothing usable.
  if (rc < 0) return Status(Err::kTls, "webhooks: CA file has no usable certificate", rc);
  return Status::Ok();
}

bool IsLoopbackAddress(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

struct AddrInfoFree {
  void operator()(addrinfo* p) const noexcept { freeaddrinfo(p); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoFree>;

Result<AddrInfo> Resolve(const WebhookUrl& url, const std::function<bool(const sockaddr*)>& allowed) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (url.host_kind == HostKind::kName ? 0 : AI_NUMERICHOST);
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res);
  if (rc != 0) return Status(Err::kUnavailable, kDnsFailed, rc);
  AddrInfo list(res);
  if (url.scheme == UrlScheme::kHttp) {
    // Plain text may only stay on this machine, whatever the name resolved to.
    for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next)
      if (!IsLoopbackAddress(a->ai_addr)) return Status(Err::kPolicyDenied, kHttpNotLoopback);
  }
  // Every candidate, not only the first: connect may fall through to any of them.
  if (allowed)
    for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next)
      if (!allowed(a->ai_addr)) return Status(Err::kPolicyDenied, kAddressRefused);
  return list;
}

Result<UniqueFd> ConnectOne(const addrinfo* a, const Deadline& deadline) {
  UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
  if (!fd) return Status(Err::kUpstreamIo, kConnectFailed, errno);
  if (connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS && errno != EINTR)
    return Status(Err::kUpstreamIo, kConnectFailed, errno);
  KC_RETURN_IF_ERROR(internal::WaitFd(fd.get(), POLLOUT, deadline, kConnectTimeout));
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return Status(Err::kUpstreamIo, kConnectFailed, err);
  return fd;
}

// Tries each address in order until one connects; the deadline covers them all.
Result<UniqueFd> Connect(const addrinfo* list, const Deadline& deadline) {
  Status last(Err::kUpstreamIo, kConnectFailed, EADDRNOTAVAIL);
  for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
    auto fd = ConnectOne(a, deadline);
    if (fd.ok()) return fd;
    last = fd.status();
    if (last.code() == Err::kTimeout || last.code() == Err::kUnavailable) return last;
  }
  return last;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

Result<std::string> BuildRequestHead(const WebhookUrl& url, std::span<const HttpHeader> headers,
                                     size_t body_bytes) {
  std::string head = "POST " + url.target + " HTTP/1.1\r\nHost: " + HostHeader(url) + "\r\n";
  for (const HttpHeader& h : headers) {
    // No header injection: a value with CR/LF would start a header of its own.
    if (!IsToken(h.name) ||
        h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
      return Status(Err::kInvalidArgument, "webhooks: bad request header");
    head.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  head += "Content-Length: " + std::to_string(body_bytes) + "\r\nConnection: close\r\n\r\n";
  return head;
}

// Reads until a final (non-1xx) response head is complete; returns its status.
Result<int> ReadStatus(Connection& conn) {
  std::string buf;
  char chunk[kReadChunkBytes];
  int interim = 0;
  while (true) {
    KC_ASSIGN_OR_RETURN(std::optional<ResponseHead> head, ParseResponseHead(buf));
    if (head) {
      // 1xx (except 101, which we never ask for) is interim: the real answer follows.
      if (head->status >= 200 || head->status == 101) return head->status;
      if (++interim > kMaxInterimResponses)
        return Status(Err::kBadFrame, "webhooks: response: too many interim (1xx) answers");
      buf.erase(0, head->head_bytes);
      continue;
    }
    const size_t want = std::min(sizeof(chunk), kMaxResponseHeadBytes - buf.size());
    KC_ASSIGN_OR_RETURN(size_t n,
                        conn.ReadSome(MutableByteView(reinterpret_cast<uint8_t*>(chunk), want)));
    if (n == 0) return Status(Err::kUpstreamIo, kClosedBeforeResponse);
    buf.append(chunk, n);
  }
}

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpClientOptions& options) {
  std::unique_ptr<HttpClient> client(new HttpClient());
  client->address_allowed_ = options.address_allowed;
  for (const std::string* path : {&options.system_ca_file, &options.extra_ca_file}) {
    if (path->empty()) continue;
    KC_RETURN_IF_ERROR(AddCaFile(client->trust_.get(), *path));
  }
  return client;
}

Result<int> HttpClient::Post(const WebhookUrl& url, std::span<const HttpHeader> headers,
                             std::string_view body, int timeout_ms, int cancel_fd) const {
  KC_RETURN_IF_ERROR(CheckUrlPolicy(url));
  KC_ASSIGN_OR_RETURN(std::string head, BuildRequestHead(url, headers, body.size()));
  KC_ASSIGN_OR_RETURN(AddrInfo addrs, Resolve(url, address_allowed_));
  // The deadline starts after DNS: getaddrinfo cannot be bounded or cancelled anyway.
  const Deadline deadline{std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms),
                          cancel_fd};
  KC_ASSIGN_OR_RETURN(UniqueFd fd, Connect(addrs.get(), deadline));
  std::unique_ptr<Connection> conn;
  if (url.scheme == UrlScheme::kHttps) {
    // An empty chain (no CA file configured) verifies nothing: every handshake fails.
    KC_ASSIGN_OR_RETURN(
        conn, internal::MakeTlsConnection(std::move(fd), url.host, trust_.get(), deadline));
  } else {
    conn = internal::MakePlainConnection(std::move(fd), deadline);
  }
  conn->set_timeout_where(kSendTimeout);
  KC_RETURN_IF_ERROR(conn->WriteAll(AsBytes(head)));
  KC_RETURN_IF_ERROR(conn->WriteAll(AsBytes(body)));
  conn->set_timeout_where(kResponseTimeout);
  KC_ASSIGN_OR_RETURN(int status, ReadStatus(*conn));
  conn->Shutdown();
  return status;
}

std::string DescribeHttpError(const Status& s) {
  std::string_view where = s.where();
  if (where.starts_with("webhooks: ")) where.remove_prefix(10);
  std::string out(where);
  char buf[256] = {};
  const char* w = s.where();
  if (w == kDnsFailed) {
    out += std::string(": ") + gai_strerror(s.detail());
  } else if (w == kCertNotTrusted || w == kCertNameMismatch || w == kCertExpired ||
             w == kCertVerifyFailed) {
    // One line: mbedTLS lists each flag on its own line; keep the first.
    mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", static_cast<uint32_t>(s.detail()));
    std::string_view info(buf);
    info = info.substr(0, info.find('\n'));
    if (!info.empty()) out += std::string(" (") + std::string(info) + ")";
  } else if (s.code() == Err::kTls && s.detail() != 0) {
    mbedtls_strerror(s.detail(), buf, sizeof(buf));
    out += std::string(": ") + buf;
  } else if (s.code() == Err::kUpstreamIo && s.detail() != 0) {
    const char* desc = strerrordesc_np(s.detail());
    out += std::string(": ") + (desc != nullptr ? desc : "errno " + std::to_string(s.detail()));
  }
  return out;
}

}  // namespace keycell::broker::webhooks

#pragma once
// The byte stream to an upstream that one proxied exchange reads and writes: a verified
// TLS connection (the normal case) or, only for a host the sealed policy names
// insecure-allowed, a plain TCP socket. Both use the same handed-in socket syscalls
// (sendto, recvfrom, poll) and the same deadline semantics as tls::TlsConnection.
//
// Only TLS streams are pooled (tls::UpstreamPool): a plain stream is closed after its
// exchange, since nothing on it was verified in the first place.

#include <memory>

#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "enclave/tls/tls_connection.h"

namespace keycell::enclave::channel {

using tls::Deadline;

class UpstreamStream {
 public:
  virtual ~UpstreamStream() = default;
  // As tls::TlsConnection::Read: >= 1 byte, 0 at EOF, or an error.
  virtual Result<size_t> Read(MutableByteView buf, Deadline deadline) = 0;
  virtual Status WriteAll(ByteView data, Deadline deadline) = 0;
  // The pooled TLS connection inside, or nullptr for a plain stream. Release() gives
  // ownership back (to park it in the pool).
  virtual std::unique_ptr<tls::TlsConnection> Release() = 0;
};

std::unique_ptr<UpstreamStream> WrapTls(std::unique_ptr<tls::TlsConnection> conn);

// A plain TCP stream over `fd` (a connected SOCK_STREAM socket). Errors from Read and
// WriteAll: kUpstreamIo "proxy: upstream read failed" / "proxy: upstream write failed"
// (detail = errno), kTimeout "proxy: upstream timed out".
std::unique_ptr<UpstreamStream> WrapPlain(UniqueFd fd);

}  // namespace keycell::enclave::channel

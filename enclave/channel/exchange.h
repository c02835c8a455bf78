#pragma once
// One proxied call on a proxy channel (docs/proxy.md "One exchange on a channel"):
//
//   broker  ProxyStart {ref, target, method, framing, limits} [blob, path, header block]
//   enclave ProxyNeedSocket            when no idle verified connection to host:port exists
//   broker  ProxySocket + fd           (or ProxySocket without fd: it could not connect,
//                                       the exchange is abandoned and nothing more is sent)
//   enclave ProxyGo                    request head written: send the body (if framed)
//   broker  ProxyBody {last} [bytes]... (≤ 64 KiB each)
//   enclave ProxyHead [reason, header block], ProxyChunk [bytes]..., ProxyEnd
//           or, at any point, a Response with a non-zero status: the exchange is over.
//
// In order, nothing skipped: unseal (the token, under its mutex) → the authoritative
// policy check and the injected request head (proxy::BuildRequestHead) → an upstream
// stream (a pooled verified TLS connection, else a handshake on the broker's socket
// against the *target host the policy allowed*) → the head, then the body → the
// response, parsed (http::ResponseParser) and redacted (http::Redactor: headers, reason
// and body) before any byte goes back to the broker → the connection back to the pool
// if the response allows keep-alive.
//
// Plaintext: the secret lives in the unsealed record's SecureBuffer, the request head's
// SecureBuffer and the redactor's locked state, all wiped when the exchange ends; the
// upstream's response is read into a SecureBuffer (it may echo the secret) that is
// wiped after every read.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/ipc/enclave.pb.h"
#include "common/ipc/message.h"
#include "enclave/http/redactor.h"
#include "enclave/http/response_parser.h"
#include "enclave/sealed_record.h"
#include "enclave/token_backend.h"
#include "enclave/tls/session_cache.h"
#include "enclave/tls/tls_client_config.h"
#include "enclave/tls/upstream_pool.h"

namespace keycell::enclave::channel {

// Body bytes per ProxyBody / ProxyChunk frame, at most.
inline constexpr size_t kMaxBodyFrameBytes = 64 * 1024;

// What every channel thread shares. All members are thread-safe.
struct ProxyResources {
  TokenBackend& token;             // a SerializedToken
  const tls::TlsClientConfig* tls;  // nullptr: no CA could be loaded; https is refused
  tls::SessionCache sessions;
  tls::UpstreamPool pool;

  ProxyResources(TokenBackend& t, const tls::TlsClientConfig* c) : token(t), tls(c) {}
};

// What a channel keeps between its exchanges, so a busy channel pays neither an unseal
// (a C_Decrypt under the token's mutex) nor the locked allocations (each an mmap +
// mlock) of every call: the credential it last used — plaintext in the Unsealed's
// locked buffer, reused only for the very same ref and sealed bytes, and wiped when the
// channel closes or the next credential replaces it — with its redactor, plus the read
// buffer and the response parser. The sealed policy is still checked on every call
// (expiry included). One channel thread owns it; never shared.
struct ChannelState {
  RecordRef ref = keycell_ipc_RecordRef_init_zero;
  std::vector<uint8_t> blob;  // the sealed record `unsealed` came from (not secret)
  std::optional<Unsealed> unsealed;
  std::unique_ptr<http::Redactor> redactor;
  SecureBuffer read_buffer;
  std::optional<http::ResponseParser> parser;
  size_t parser_head_bytes = 0;
  uint64_t parser_body_bytes = 0;
};

// Whether the channel may carry another exchange afterwards.
enum class ChannelNext { kContinue, kClose };

// Runs the exchange that `start` (a decoded ProxyStart request with its attachments)
// began on `channel`. Every failure is answered with an error Response (the `where` a
// fixed literal) and, when body frames may still be on their way, kClose: the channel
// is out of step and must be closed. kClose without a reply when the broker broke the
// protocol (the caller logs `*violation`).
ChannelNext RunExchange(ProxyResources& res, ChannelState& state, int channel,
                        const keycell_ipc_Request& start, const ipc::Attachments& att, const char** violation);

}  // namespace keycell::enclave::channel

#pragma once
// The broker's side of proxy channels (docs/proxy.md): a pool of channels to the
// enclave, and the exchange that runs one proxied call on a borrowed channel. The
// broker never sees the credential: it sends the sealed blob and the caller's request,
// connects a socket when the enclave asks for one, streams the request body, and relays
// what the enclave sends back (already redacted).
//
// Thread-safe: any number of threads may Run at once; each borrows its own channel
// (opened on demand; idle ones are kept, up to a bound). Channels of an enclave that
// has since gone (lock, crash, restart) are never reused.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "broker/enclave/enclave_client.h"
#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker {

struct ProxyHeader {
  std::string_view name;
  std::string_view value;
};

enum class ProxyBodyFraming { kNone, kLength, kChunked };

// One proxied call. Views: valid for the duration of Run.
struct ProxyCallSpec {
  RecordRef ref;
  ByteView blob;  // the sealed record
  bool https = true;
  std::string_view host;    // lower-case DNS name (an IPv4 literal only for insecure http)
  uint16_t port = 443;
  std::string_view path;    // origin-form: "/v1/chat?x=1"
  std::string_view method;  // "GET", ...
  std::span<const ProxyHeader> headers;  // forwarded caller headers (already filtered)
  ProxyBodyFraming framing = ProxyBodyFraming::kNone;
  uint64_t content_length = 0;  // kLength only
  keycell_ipc_ProxyLimits limits = keycell_ipc_ProxyLimits_init_zero;
};

// The upstream's response head, redacted by the enclave. Views into a frame: valid
// during OnHead only.
struct ProxyResponseHead {
  int status = 0;
  std::string_view reason;
  std::vector<ProxyHeader> headers;
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool no_body = false;  // HEAD, 1xx, 204, 304
};

struct ProxyOutcome {
  bool reused_connection = false;
  bool tls_resumed = false;
  bool kept_alive = false;
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  uint32_t redactions = 0;
};

// What an exchange needs from its caller (the HTTP handler, or a buffered tool call).
class ProxyExchangeIo {
 public:
  virtual ~ProxyExchangeIo() = default;
  // The enclave has no idle verified connection: connect a socket to the target (after
  // the address checks). An error abandons the exchange and is Run's result.
  virtual Result<UniqueFd> Connect() = 0;
  // The next request body bytes (framed requests only); 0 at the end.
  virtual Result<size_t> ReadBody(uint8_t* buf, size_t n) = 0;
  virtual Status OnHead(const ProxyResponseHead& head) = 0;
  // Redacted body bytes, as they arrive.
  virtual Status OnBody(ByteView bytes) = 0;
};

class ProxyChannels {
 public:
  // The enclave serves at most this many channels (enclave/channel/channel.h).
  static constexpr size_t kDefaultMaxChannels = 32;

  // `enclave` must outlive this. At most `max_channels` are open at once (idle or busy);
  // a call that finds all of them busy waits for one, up to `wait`.
  explicit ProxyChannels(EnclaveClient& enclave, size_t max_channels = kDefaultMaxChannels,
                         std::chrono::milliseconds wait = std::chrono::seconds(30))
      : enclave_(enclave), max_channels_(max_channels), wait_(wait) {}
  ProxyChannels(const ProxyChannels&) = delete;
  ProxyChannels& operator=(const ProxyChannels&) = delete;

  // Runs one exchange. Errors: the enclave's refusal (its code and reason: policy,
  // TLS, upstream I/O, timeouts, limits); an error returned by `io` (passed through);
  // kLocked; kUnavailable "proxy: enclave channel failed" when the enclave went away
  // mid-call (restart, lock) or broke the protocol, kUnavailable "proxy: all enclave
  // channels busy" when none freed up in time.
  Result<ProxyOutcome> Run(const ProxyCallSpec& spec, ProxyExchangeIo& io);

  // Idle channels now (tests).
  size_t idle() const;
  // Drops every idle channel (the enclave ends the threads).
  void Clear();

 private:
  struct Channel {
    UniqueFd fd;
    uint64_t generation = 0;
    uint32_t next_seq = 1;
  };
  Result<Channel> Acquire();
  // Back to the idle list (reusable) or closed (out of step, or of an older enclave).
  void Release(Channel channel, bool reusable);
  Result<ProxyOutcome> RunOn(Channel& ch, const ProxyCallSpec& spec, ProxyExchangeIo& io, bool* reusable,
                             bool* nothing_sent);

  EnclaveClient& enclave_;
  const size_t max_channels_;
  const std::chrono::milliseconds wait_;
  mutable std::mutex mu_;
  std::condition_variable freed_;  // a channel went idle or was closed
  std::vector<Channel> idle_;      // guarded by mu_
  size_t open_ = 0;                // guarded by mu_: idle + busy
};

}  // namespace keycell::broker

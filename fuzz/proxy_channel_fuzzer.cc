// A proxy channel as a hostile broker drives it: one exchange through
// enclave::channel::RunExchange (ProxyStart decode, limits, the header block, target
// syntax, unsealing over the software FakeToken, the authoritative policy check and the
// injected head, NeedSocket/ProxySocket, request body frames, then — for plain-http
// targets — the upstream response from a socket the harness pre-filled: parser,
// redactor, relay, keep-alive).
//
// Input layout (make_seeds_channel.cc writes seeds in it):
//   ctl | u16be n | upstream[n] | frames
//   frames: u32be len | frame body, repeated. The first is the exchange's start; the
//           rest are queued on the broker's end of the channel before the exchange
//           runs, then the broker's end is shut for writing, so every read the enclave
//           makes is answered at once (data or EOF): a run never blocks.
//   ctl bit 0  attach the "upstream" socket to the first follow-up frame (as the broker
//              does with ProxySocket). Its peer holds `upstream` and then EOF.
// No CA is loaded, so https targets end at the trust check; seal a plain-http policy
// for the deep paths.

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "common/ipc/framing.h"
#include "common/ipc/message.h"
#include "enclave/channel/exchange.h"
#include "enclave/testing/fake_token.h"

namespace keycell::enclave {
namespace {

constexpr size_t kMaxFollowUpBytes = 64 * 1024;  // stays within the socket buffer
constexpr size_t kMaxFrames = 16;

// KEYCELL_FUZZ_VERBOSE=1: print what the enclave answered (for checking new seeds).
const bool g_verbose = getenv("KEYCELL_FUZZ_VERBOSE") != nullptr;

void PrintReplies(int fd, const char* violation) {
  auto resp = std::make_unique<keycell_ipc_Response>();
  for (;;) {
    Result<ipc::Frame> f = ipc::RecvFrame(fd, 0);
    if (!f.ok()) break;
    ipc::Attachments att;
    if (!ipc::ParseResponse(f->payload.view().bytes(), resp.get(), &att).ok()) break;
    fprintf(stderr, "  reply kind %u status %d %s", unsigned(resp->which_body), int(resp->status), resp->error);
    for (size_t i = 0; i < att.count; ++i) fprintf(stderr, " [%.*s]", int(att[i].size()), AsChars(att[i]).data());
    fputc('\n', stderr);
  }
  if (violation) fprintf(stderr, "  closed: %s\n", violation);
}

[[maybe_unused]] const bool g_init = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

struct Pair {
  UniqueFd a, b;
  static Pair Make() {
    int sv[2];
    KC_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    return Pair{UniqueFd(sv[0]), UniqueFd(sv[1])};
  }
};

void WriteAllOrDie(int fd, ByteView b) {
  size_t done = 0;
  while (done < b.size()) {
    const ssize_t n = send(fd, b.data() + done, b.size() - done, MSG_NOSIGNAL);
    KC_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
}

void Run(const uint8_t* data, size_t size) {
  if (size < 3) return;
  const uint8_t ctl = data[0];
  const size_t upstream_len = (size_t{data[1]} << 8) | data[2];
  data += 3;
  size -= 3;
  if (upstream_len > size) return;
  const ByteView upstream(data, upstream_len);
  data += upstream_len;
  size -= upstream_len;

  std::vector<ByteView> frames;
  while (size >= 4 && frames.size() < kMaxFrames) {
    const size_t len = GetU32Be(data);
    if (len > size - 4 || len > ipc::kMaxFrameBytes) break;
    frames.emplace_back(data + 4, len);
    data += 4 + len;
    size -= 4 + len;
  }
  if (frames.empty()) return;
  size_t follow_up_bytes = 0;
  for (size_t i = 1; i < frames.size(); ++i) follow_up_bytes += frames[i].size() + 4;
  if (follow_up_bytes > kMaxFollowUpBytes) return;

  auto start = std::make_unique<keycell_ipc_Request>();
  ipc::Attachments att;
  if (!ipc::ParseRequest(frames[0], start.get(), &att).ok()) return;
  if (start->which_body != keycell_ipc_Request_proxy_start_tag) return;

  Pair channel = Pair::Make();
  Pair upstream_sock = Pair::Make();
  if (!upstream.empty()) WriteAllOrDie(upstream_sock.b.get(), upstream);
  KC_CHECK(shutdown(upstream_sock.b.get(), SHUT_WR) == 0);
  for (size_t i = 1; i < frames.size(); ++i) {
    const int fd = (ctl & 1) && i == 1 ? upstream_sock.a.get() : -1;
    KC_CHECK(ipc::SendFrame(channel.b.get(), std::span<const ByteView>(&frames[i], 1), fd, 1000).ok());
  }
  KC_CHECK(shutdown(channel.b.get(), SHUT_WR) == 0);

  testing::FakeToken token;
  const ByteView pin = AsBytes(testing::kFakePin);
  KC_CHECK(token.Login(SecretView(pin.data(), pin.size())).ok());
  channel::ProxyResources res(token, nullptr);
  const char* violation = nullptr;
  channel::ChannelState state;
  (void)channel::RunExchange(res, state, channel.a.get(), *start, att, &violation);
  if (g_verbose) PrintReplies(channel.b.get(), violation);
}

}  // namespace
}  // namespace keycell::enclave

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  keycell::enclave::Run(data, size);
  return 0;
}

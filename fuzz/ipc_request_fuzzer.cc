// The enclave's whole attack surface as the broker sees it: frame bodies through
// enclave::DispatchFrame (nanopb decode, the request table, every handler) on a
// fresh EnclaveState over the software FakeToken.
//
// Input layout (make_seeds.cc writes seeds in it):
//   ctl | n | fd_bytes[n] | body
//   ctl bits 0-1  prelude, done with real encoded requests before the body:
//                 0 none, 1 Hello, 2 Hello + Unlock (PIN attachment),
//                 3 Hello + Unlock (PIN read from a pipe)
//   ctl bit 2     attach an fd to the (first) frame of the body
//   ctl bits 3-4  that fd: 0 memfd holding fd_bytes (read/write, a regular file),
//                 1 pipe read end holding fd_bytes then EOF, 2 socket whose peer has
//                 closed, 3 pipe write end whose reader has closed
//   ctl bit 5     body is a sequence of u32be len | frame body, dispatched in order
//                 (reaches multi-step states such as a PIN lockout)
//   ctl bit 6     the fd's contents continue with 64 KiB of 'A' after fd_bytes, so a
//                 secret read from the fd can sit exactly on or just past the cap
// Every fd is ready or at EOF, so no handler can wait on it: a run never blocks.

#include <fcntl.h>
#include <pb_encode.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "common/ipc/message.h"
#include "enclave/dispatch.h"
#include "enclave/testing/fake_token.h"

namespace keycell::enclave {
namespace {

constexpr size_t kMaxFramesPerRun = 16;
constexpr size_t kPadBytes = 64 * 1024;  // enclave/handlers.cc reads at most 64 KiB + 1 from an fd

// A WriteEnv or Reveal{to_fd} into a pipe whose reader has gone raises SIGPIPE. It is
// ignored here so the run reaches the handlers' EPIPE path, which is what the enclave
// process needs too: keycell-enclave does not ignore SIGPIPE yet, so there the same
// requests (seeds write_env_closed_pipe, reveal_to_closed_pipe) kill the enclave.
[[maybe_unused]] const bool g_init = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

// KEYCELL_FUZZ_VERBOSE=1: print each dispatch's outcome (for checking new seeds).
const bool g_verbose = getenv("KEYCELL_FUZZ_VERBOSE") != nullptr;

void WriteAllOrDie(int fd, ByteView b) {
  size_t done = 0;
  while (done < b.size()) {
    const ssize_t n = write(fd, b.data() + done, b.size() - done);
    KC_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
}

void WriteContents(int fd, ByteView contents, bool pad) {
  WriteAllOrDie(fd, contents);
  if (!pad) return;
  static const std::vector<uint8_t> kPad(kPadBytes, 'A');
  WriteAllOrDie(fd, kPad);
}

UniqueFd MakeFd(unsigned kind, ByteView contents, bool pad) {
  int p[2];
  switch (kind) {
    case 0: {
      UniqueFd fd(memfd_create("fuzz-fd", MFD_CLOEXEC));
      KC_CHECK(fd.valid());
      WriteContents(fd.get(), contents, pad);
      KC_CHECK(lseek(fd.get(), 0, SEEK_SET) == 0);
      return fd;
    }
    case 1:
      KC_CHECK(pipe2(p, O_CLOEXEC) == 0);
      // Room for all of it, so this write never waits for a reader.
      if (pad)
        KC_CHECK(fcntl(p[1], F_SETPIPE_SZ, 2 * kPadBytes) >= static_cast<int>(kPadBytes + 256));
      WriteContents(p[1], contents, pad);
      close(p[1]);
      return UniqueFd(p[0]);
    case 2:
      KC_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0);
      close(p[1]);
      return UniqueFd(p[0]);
    default:
      KC_CHECK(pipe2(p, O_CLOEXEC) == 0);
      close(p[0]);
      return UniqueFd(p[1]);
  }
}

// What every non-fatal reply must satisfy, whatever the request was.
void CheckReply(const Reply& reply) {
  const std::vector<ByteView> att = reply.Attachments();
  KC_CHECK(att.size() <= 1);
  if (reply.resp.status != 0) {
    KC_CHECK(att.empty());
    KC_CHECK(reply.resp.which_body == 0);
  }
  // The serve loop encodes this next; a reply that does not encode would be fatal there.
  static uint8_t buf[keycell_ipc_Response_size];
  pb_ostream_t os = pb_ostream_from_buffer(buf, sizeof(buf));
  KC_CHECK(pb_encode(&os, keycell_ipc_Response_fields, &reply.resp));
}

// Returns false when the enclave would end: fatal frame or exit requested.
bool Dispatch(EnclaveState& state, ByteView body, UniqueFd fd) {
  Reply reply;
  const char* fatal = nullptr;
  // An exactly sized heap copy: a read past the frame is then an ASan report.
  std::vector<uint8_t> copy(body.begin(), body.end());
  if (!DispatchFrame(state, copy, std::move(fd), &reply, &fatal)) {
    KC_CHECK(fatal != nullptr);
    if (g_verbose) fprintf(stderr, "  fatal: %s\n", fatal);
    return false;
  }
  if (g_verbose)
    fprintf(stderr, "  status %d %s body %u\n", reply.resp.status, reply.resp.error,
            reply.resp.which_body);
  CheckReply(reply);
  return !state.exit_requested();
}

void Prelude(EnclaveState& state, unsigned mode) {
  if (mode == 0) return;
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
  std::vector<uint8_t> body;
  req.which_body = keycell_ipc_Request_hello_tag;
  req.body.hello.protocol_version = ipc::kProtocolVersion;
  KC_CHECK(ipc::EncodeRequestBodyForTest(&req, {}, &body).ok());
  KC_CHECK(Dispatch(state, body, UniqueFd()));
  if (mode == 1) return;

  req = keycell_ipc_Request_init_zero;
  body.clear();
  req.which_body = keycell_ipc_Request_unlock_tag;
  UniqueFd fd;
  if (mode == 2) {
    const ByteView pin[] = {AsBytes(testing::kFakePin)};
    KC_CHECK(ipc::EncodeRequestBodyForTest(&req, pin, &body).ok());
  } else {
    req.body.unlock.pin_from_fd = true;
    KC_CHECK(ipc::EncodeRequestBodyForTest(&req, {}, &body).ok());
    fd = MakeFd(1, AsBytes("1234\n"), false);
  }
  KC_CHECK(Dispatch(state, body, std::move(fd)));
  KC_CHECK(state.unlocked());
}

}  // namespace
}  // namespace keycell::enclave

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell;
  using namespace keycell::enclave;
  if (size < 2) return 0;
  const unsigned ctl = data[0];
  const size_t n = data[1];
  if (size < 2 + n) return 0;
  const ByteView fd_bytes(data + 2, n);
  ByteView rest(data + 2 + n, size - 2 - n);

  // Everything per run is local: no token login, PIN failure count or hello flag
  // survives into the next input.
  testing::FakeToken token;
  EnclaveState state(token, [&state] {
    state.set_sandbox_stage(2);
    return Status::Ok();
  });
  Prelude(state, ctl & 3);

  UniqueFd fd = (ctl & 4) ? MakeFd((ctl >> 3) & 3, fd_bytes, ctl & 0x40) : UniqueFd();
  if (!(ctl & 0x20)) {
    Dispatch(state, rest, std::move(fd));
    return 0;
  }
  for (size_t i = 0; i < kMaxFramesPerRun && rest.size() >= 4; ++i) {
    const uint32_t len = GetU32Be(rest.data());
    if (len > rest.size() - 4) break;
    if (!Dispatch(state, rest.subspan(4, len), std::move(fd))) break;
    fd = UniqueFd();
    rest = rest.subspan(4 + len);
  }
  return 0;
}

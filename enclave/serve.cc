#include "enclave/serve.h"

#include <stdio.h>

#include "common/ipc/framing.h"
#include "common/ipc/message.h"
#include "enclave/dispatch.h"

namespace keycell::enclave {
namespace {

constexpr int kReplyTimeoutMs = 10 * 1000;  // a broker that will not read is gone

}  // namespace

int Serve(EnclaveState& state, int control_fd) {
  for (;;) {
    auto frame = ipc::RecvFrame(control_fd, ipc::kNoTimeout);
    if (!frame.ok()) {
      if (frame.status().code() == Err::kUnavailable) return 0;  // broker closed: done
      fprintf(stderr, "keycell-enclave: fatal: %s (%s)\n", frame.status().where(),
              ErrName(frame.status().code()));
      return 2;
    }
    Reply reply;
    const char* fatal = nullptr;
    if (!DispatchFrame(state, frame->payload.view().bytes(), std::move(frame->fd), &reply, &fatal)) {
      fprintf(stderr, "keycell-enclave: fatal: %s\n", fatal);
      return 2;
    }
    frame->payload.clear();  // the request's secrets are no longer needed
    const std::vector<ByteView> attachments = reply.Attachments();
    const Status sent = ipc::SendResponse(control_fd, &reply.resp, attachments, kReplyTimeoutMs);
    if (!sent.ok()) {
      fprintf(stderr, "keycell-enclave: cannot reply: %s\n", sent.where());
      return 2;
    }
    if (state.exit_requested()) return 0;
  }
}

}  // namespace keycell::enclave

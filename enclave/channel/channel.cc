#include "enclave/channel/channel.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>

#include "common/ipc/framing.h"
#include "common/ipc/message.h"

namespace keycell::enclave::channel {
namespace {

std::atomic<int> g_live{0};

struct ChannelThread {
  ProxyResources* res;
  UniqueFd fd;
};

void Serve(ProxyResources& res, int fd) {
  auto request = std::make_unique<keycell_ipc_Request>();  // ~22 KB: off the stack
  ChannelState state;  // wiped when the channel ends
  for (;;) {
    Result<ipc::Frame> frame = ipc::RecvFrame(fd, ipc::kNoTimeout);
    if (!frame.ok()) {
      if (frame.status().code() != Err::kUnavailable)  // EOF: the broker closed it
        fprintf(stderr, "keycell-enclave: channel closed: %s\n", frame.status().where());
      return;
    }
    ipc::Attachments att;
    const char* violation = nullptr;
    if (!ipc::ParseRequest(frame->payload.view().bytes(), request.get(), &att).ok() ||
        request->which_body != keycell_ipc_Request_proxy_start_tag || frame->fd) {
      violation = "expected a proxy start";
    } else if (RunExchange(res, state, fd, *request, att, &violation) == ChannelNext::kContinue) {
      continue;
    }
    if (violation != nullptr) fprintf(stderr, "keycell-enclave: channel closed: %s\n", violation);
    return;
  }
}

void* ThreadMain(void* arg) {
  std::unique_ptr<ChannelThread> t(static_cast<ChannelThread*>(arg));
  Serve(*t->res, t->fd.get());
  t.reset();  // closes the channel before the slot is given back
  g_live.fetch_sub(1);
  return nullptr;
}

bool IsStreamSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

}  // namespace

Status StartChannel(ProxyResources& res, UniqueFd channel) {
  if (!IsStreamSocket(channel.get())) return Status(Err::kInvalidArgument, "proxy: channel is not a stream socket");
  if (g_live.fetch_add(1) >= kMaxChannels) {
    g_live.fetch_sub(1);
    return Status(Err::kTooLarge, "proxy: too many channels");
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kThreadStackBytes);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto* t = new ChannelThread{&res, std::move(channel)};
  pthread_t tid;
  const int rc = pthread_create(&tid, &attr, ThreadMain, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete t;
    g_live.fetch_sub(1);
    return Status(Err::kInternal, "proxy: cannot start a channel thread", rc);
  }
  return Status::Ok();
}

int LiveChannels() { return g_live.load(); }

}  // namespace keycell::enclave::channel

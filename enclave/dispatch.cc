#include "enclave/dispatch.h"

#include <string.h>

#include "common/ipc/message.h"

namespace keycell::enclave {
namespace {

enum Flag : uint32_t {
  kWhenLocked = 1u << 0,    // allowed before Unlock
  kWhenUnlocked = 1u << 1,  // allowed after Unlock
  kOnce = 1u << 2,          // at most once per process (Hello)
  kNeedsFd = 1u << 3,       // the frame must carry exactly one fd
  kMayTakeFd = 1u << 4,     // the handler decides: PIN/secret read from it, or value written
};

struct HandlerEntry {
  pb_size_t tag;
  uint32_t flags;
  Handler fn;
};

// The enclave's entire attack surface. Adding a row needs a security review, a test
// in tests/enclave/dispatch_test.cc and a seed in fuzz/corpus/ipc_request_fuzzer/.
constexpr HandlerEntry kHandlers[] = {
    {keycell_ipc_Request_hello_tag, kWhenLocked | kWhenUnlocked | kOnce, HandleHello},
    {keycell_ipc_Request_status_tag, kWhenLocked | kWhenUnlocked, HandleStatus},
    {keycell_ipc_Request_unlock_tag, kWhenLocked | kMayTakeFd, HandleUnlock},
    {keycell_ipc_Request_lock_tag, kWhenLocked | kWhenUnlocked, HandleLock},
    {keycell_ipc_Request_seal_tag, kWhenUnlocked | kMayTakeFd, HandleSeal},
    {keycell_ipc_Request_reseal_tag, kWhenUnlocked | kMayTakeFd, HandleReseal},
    {keycell_ipc_Request_reveal_tag, kWhenUnlocked | kMayTakeFd, HandleReveal},
    {keycell_ipc_Request_write_env_tag, kWhenUnlocked | kNeedsFd, HandleWriteEnv},
    {keycell_ipc_Request_hmac_tag, kWhenUnlocked, HandleHmac},
    // Creates a secret inside the enclave; the optional fd receives it once (reveal_to_fd).
    {keycell_ipc_Request_generate_tag, kWhenUnlocked | kMayTakeFd, HandleGenerate},
    // One end of a socketpair, served by a new thread running proxy exchanges
    // (enclave/channel): only after unlock, i.e. under both sandbox stages.
    {keycell_ipc_Request_open_channel_tag, kWhenUnlocked | kNeedsFd, HandleOpenChannel},
};

const HandlerEntry* Find(pb_size_t tag) {
  for (const HandlerEntry& e : kHandlers)
    if (e.tag == tag) return &e;
  return nullptr;
}

// Decoded requests are large (~22 KB) and may hold names and policies: static
// storage, wiped after every frame.
keycell_ipc_Request g_request;

struct WipeRequest {
  ~WipeRequest() { SecureWipe(&g_request, sizeof(g_request)); }
};

const char* CheckPermitted(const EnclaveState& s, const HandlerEntry& e, bool has_fd) {
  if (!s.hello_done() && e.tag != keycell_ipc_Request_hello_tag) return "request before hello";
  if ((e.flags & kOnce) && s.hello_done()) return "repeated once-only request";
  if (!(e.flags & (s.unlocked() ? kWhenUnlocked : kWhenLocked)))
    return s.unlocked() ? "request not permitted when unlocked" : "request not permitted when locked";
  if ((e.flags & kNeedsFd) && !has_fd) return "request needs an fd";
  if (!(e.flags & (kNeedsFd | kMayTakeFd)) && has_fd) return "unexpected fd";
  return nullptr;
}

}  // namespace

bool DispatchFrame(EnclaveState& state, ByteView payload, UniqueFd fd, Reply* reply,
                   const char** fatal_reason) {
  WipeRequest wipe;
  ipc::Attachments att;
  if (!ipc::ParseRequest(payload, &g_request, &att).ok()) {
    *fatal_reason = "bad frame";
    return false;
  }
  const HandlerEntry* entry = Find(g_request.which_body);
  if (entry == nullptr) {
    *fatal_reason = "unsupported request";
    return false;
  }
  if (const char* why = CheckPermitted(state, *entry, fd.valid())) {
    *fatal_reason = why;
    return false;
  }
  reply->resp.seq = g_request.seq;
  const Status st = entry->fn(state, g_request, att, std::move(fd), reply);
  if (st.code() == Err::kBadFrame) {
    *fatal_reason = st.where();
    return false;
  }
  if (!st.ok()) {
    // A refused request carries no body and no attachment, whatever the handler left.
    const uint32_t seq = reply->resp.seq;
    *reply = Reply{};
    reply->resp.seq = seq;
    reply->resp.status = static_cast<int32_t>(st.code());
    snprintf(reply->resp.error, sizeof(reply->resp.error), "%s", st.where());
    reply->resp.detail = st.detail();
  }
  return true;
}

}  // namespace keycell::enclave

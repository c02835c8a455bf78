#pragma once
// One handler per row of the request table (dispatch.cc). Handlers validate intent
// before touching a secret, keep plaintext in SecureBuffers, and return a Status
// that becomes the response's error. A handler returns Err::kBadFrame only for a
// structurally impossible request (wrong attachment count, fd misuse); dispatch
// treats that as a protocol violation and ends the process.

#include <vector>

#include "common/ipc/enclave.pb.h"
#include "common/ipc/message.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"
#include "enclave/enclave_state.h"

namespace keycell::enclave {

struct Reply {
  keycell_ipc_Response resp = keycell_ipc_Response_init_zero;
  std::vector<uint8_t> blob;  // non-secret attachment: a sealed record
  SecureBuffer secret;        // secret attachment: revealed plaintext

  // Attachments in wire order: at most one of blob / secret is set by a handler.
  std::vector<ByteView> Attachments() const;
};

using Handler = Status (*)(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&,
                           UniqueFd, Reply*);

Status HandleHello(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleStatus(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleUnlock(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleLock(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleSeal(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleReseal(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleReveal(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleWriteEnv(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleHmac(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleGenerate(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);
Status HandleOpenChannel(EnclaveState&, const keycell_ipc_Request&, const ipc::Attachments&, UniqueFd, Reply*);

}  // namespace keycell::enclave

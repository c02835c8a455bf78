#pragma once
// The enclave's request table and the one function that applies it to a frame.

#include "common/bytes.h"
#include "common/unique_fd.h"
#include "enclave/enclave_state.h"
#include "enclave/handlers.h"

namespace keycell::enclave {

// Handles one frame from the broker. Returns true with *reply filled (status and
// error set for refused requests) or false with *fatal_reason set when the peer broke
// protocol: a frame that does not decode, an unknown request, a request not permitted
// in the current state or order, fd or attachment misuse. The caller ends the process
// on false (OpenSSH monitor style: the broker is presumed compromised) and the
// broker's supervisor starts a fresh, locked enclave.
bool DispatchFrame(EnclaveState& state, ByteView payload, UniqueFd fd, Reply* reply,
                   const char** fatal_reason);

}  // namespace keycell::enclave

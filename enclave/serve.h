#pragma once
// The enclave's serve loop: one broker connection, one frame at a time.

#include "enclave/enclave_state.h"

namespace keycell::enclave {

// Serves requests on `control_fd` until the broker closes it (returns 0), a Lock or
// PIN lockout asks the process to end (returns 0 after the reply is sent), or the
// broker breaks protocol (logs the reason and returns 2; the caller exits, the
// broker's supervisor restarts a locked enclave). Blocks.
int Serve(EnclaveState& state, int control_fd);

}  // namespace keycell::enclave

#pragma once
// Randomness for nonces and data keys: getrandom(2), which the seccomp filter allows
// in every stage. No file access (no /dev/urandom) and no state to wipe.

#include "common/bytes.h"
#include "common/result.h"

namespace keycell::enclave {

// Fills `out` from the kernel CSPRNG. Blocks only before the pool is initialised.
Status FillRandom(MutableByteView out);

}  // namespace keycell::enclave

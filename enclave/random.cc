#include "enclave/random.h"

#include <errno.h>
#include <sys/random.h>

namespace keycell::enclave {

Status FillRandom(MutableByteView out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(Err::kInternal, "getrandom", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace keycell::enclave

#include "enclave/proxy/redirect.h"

namespace keycell::enclave::proxy {

bool IsRedirect(int status) {
  switch (status) {
    case 301:  // Moved Permanently
    case 302:  // Found
    case 303:  // See Other
    case 307:  // Temporary Redirect
    case 308:  // Permanent Redirect
      return true;
    default:
      return false;
  }
}

}  // namespace keycell::enclave::proxy

#pragma once
// How the tests start the real keycell-enclave on a TempToken: the launch description
// keycelld would build for that token (token directory read/write, its config file
// read-only, SOFTHSM2_CONF as the enclave's whole environment). Header-only so that
// kc_test_support does not depend on the broker.

#include <string>

#include "broker/enclave/enclave_client.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell::test {

inline broker::EnclaveLaunch LaunchFor(const TempToken& token, const std::string& enclave_path,
                                       int call_timeout_ms = 10000) {
  broker::EnclaveLaunch l;
  l.enclave_path = enclave_path;
  l.module_path = TempToken::module_path();
  l.token_label = token.label();
  l.token_dirs = {token.dir() + "/tokens"};
  l.read_files = {token.conf_path()};
  l.env = {{"SOFTHSM2_CONF", token.conf_path()}};
  l.call_timeout_ms = call_timeout_ms;
  return l;
}

}  // namespace keycell::test

#pragma once
// Small builders for policies and refs used across enclave tests.

#include <string.h>

#include <initializer_list>
#include <string>

#include "common/ipc/enclave.pb.h"

namespace keycell::enclave::testing {

inline keycell_ipc_Policy MakePolicy(std::initializer_list<const char*> hosts,
                                     keycell_ipc_InjectKind kind = keycell_ipc_InjectKind_INJECT_BEARER,
                                     const char* name = "", const char* prefix = "") {
  keycell_ipc_Policy p = keycell_ipc_Policy_init_zero;
  for (const char* h : hosts) {
    strcpy(p.allowed_hosts[p.allowed_hosts_count].host, h);
    ++p.allowed_hosts_count;
  }
  p.has_injection = true;
  p.injection.kind = kind;
  strcpy(p.injection.name, name);
  strcpy(p.injection.prefix, prefix);
  return p;
}

inline keycell_ipc_RecordRef MakeRef(const char* id, uint32_t version, const char* name) {
  keycell_ipc_RecordRef r = keycell_ipc_RecordRef_init_zero;
  strcpy(r.record_id, id);
  r.version = version;
  strcpy(r.name, name);
  return r;
}

}  // namespace keycell::enclave::testing

#pragma once
// The operations keycelld performs for its clients: one function per control-protocol
// op (docs/control-protocol.md), on top of the store (metadata and sealed records) and
// the enclave (everything that needs a plaintext). Plaintexts never pass through here:
// values arrive in pipes handed to the enclave, and reveal/env/run output goes from the
// enclave straight into the caller's fd or the .env file.
//
// Thread-safe: the store and the enclave client serialise internally.

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "broker/daemon/control_protocol.h"
#include "broker/enclave/enclave_client.h"
#include "broker/json/json.h"
#include "broker/store/store.h"

namespace keycell::broker::daemon {

struct OpResult {
  json::Json result;   // set on success
  ControlError error;  // set when !ok
  bool ok = false;
};

class Vault {
 public:
  Vault(store::Store& store, EnclaveClient& enclave, std::string data_dir)
      : store_(store), enclave_(enclave), data_dir_(std::move(data_dir)) {}

  // Runs one op. Unknown ops and malformed args are errors, never crashes.
  OpResult Dispatch(std::string_view op, const cJSON* args, UniqueFd fd);

  // Seconds since the vault was last used (for idle auto-lock).
  int64_t IdleSeconds() const;
  EnclaveClient& enclave() { return enclave_; }

  // One row per op: handlers live in vault_ops_*.cc.
  using Handler = OpResult (Vault::*)(const cJSON* args, UniqueFd fd);

  OpResult OpStatus(const cJSON* args, UniqueFd fd);
  OpResult OpUnlock(const cJSON* args, UniqueFd fd);
  OpResult OpLock(const cJSON* args, UniqueFd fd);
  OpResult OpAdd(const cJSON* args, UniqueFd fd);
  OpResult OpList(const cJSON* args, UniqueFd fd);
  OpResult OpShow(const cJSON* args, UniqueFd fd);
  OpResult OpGet(const cJSON* args, UniqueFd fd);
  OpResult OpRemove(const cJSON* args, UniqueFd fd);
  OpResult OpRotate(const cJSON* args, UniqueFd fd);
  OpResult OpHistory(const cJSON* args, UniqueFd fd);
  OpResult OpRollback(const cJSON* args, UniqueFd fd);
  OpResult OpHealth(const cJSON* args, UniqueFd fd);
  OpResult OpProjects(const cJSON* args, UniqueFd fd);
  OpResult OpAssign(const cJSON* args, UniqueFd fd);
  OpResult OpUnassign(const cJSON* args, UniqueFd fd);
  OpResult OpEnv(const cJSON* args, UniqueFd fd);
  OpResult OpRun(const cJSON* args, UniqueFd fd);
  OpResult OpExportSealed(const cJSON* args, UniqueFd fd);
  OpResult OpImportSealed(const cJSON* args, UniqueFd fd);

 private:
  store::Store& store_;
  EnclaveClient& enclave_;
  std::string data_dir_;
  std::atomic<int64_t> last_use_{0};
};

// Helpers shared by the op files.
OpResult Ok(json::Json result);
OpResult Fail(const Status& st, std::string message = "");
OpResult Fail(std::string code, std::string message, int exit_code);
int64_t NowSeconds();
// The record reference a sealed version is bound to.
keycell_ipc_RecordRef RefOf(std::string_view record_id, uint32_t version, std::string_view name);

}  // namespace keycell::broker::daemon

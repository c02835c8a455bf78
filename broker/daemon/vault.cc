#include "broker/daemon/vault.h"

#include <string.h>
#include <time.h>

#include "broker/daemon/log.h"

namespace keycell::broker::daemon {
namespace {

struct OpEntry {
  const char* name;
  Vault::Handler fn;
  bool mutates;  // logged at info level; read-only ops at debug
};

constexpr OpEntry kOps[] = {
    {"status", &Vault::OpStatus, false},         {"unlock", &Vault::OpUnlock, true},
    {"lock", &Vault::OpLock, true},              {"add", &Vault::OpAdd, true},
    {"list", &Vault::OpList, false},             {"show", &Vault::OpShow, false},
    {"get", &Vault::OpGet, true},                {"rm", &Vault::OpRemove, true},
    {"rotate", &Vault::OpRotate, true},          {"history", &Vault::OpHistory, false},
    {"rollback", &Vault::OpRollback, true},      {"health", &Vault::OpHealth, false},
    {"projects", &Vault::OpProjects, false},     {"assign", &Vault::OpAssign, true},
    {"unassign", &Vault::OpUnassign, true},      {"env", &Vault::OpEnv, true},
    {"run", &Vault::OpRun, true},                {"export_sealed", &Vault::OpExportSealed, true},
    {"import_sealed", &Vault::OpImportSealed, true},
};

}  // namespace

OpResult Ok(json::Json result) {
  OpResult r;
  r.ok = true;
  r.result = std::move(result);
  return r;
}

OpResult Fail(const Status& st, std::string message) {
  OpResult r;
  r.error = ErrorFromStatus(st, std::move(message));
  return r;
}

OpResult Fail(std::string code, std::string message, int exit_code) {
  OpResult r;
  r.error = ControlError{std::move(code), std::move(message), exit_code};
  return r;
}

int64_t NowSeconds() { return static_cast<int64_t>(time(nullptr)); }

keycell_ipc_RecordRef RefOf(std::string_view record_id, uint32_t version, std::string_view name) {
  keycell_ipc_RecordRef ref = keycell_ipc_RecordRef_init_zero;
  snprintf(ref.record_id, sizeof(ref.record_id), "%.*s", static_cast<int>(record_id.size()), record_id.data());
  ref.version = version;
  snprintf(ref.name, sizeof(ref.name), "%.*s", static_cast<int>(name.size()), name.data());
  return ref;
}

int64_t Vault::IdleSeconds() const { return NowSeconds() - last_use_.load(); }

OpResult Vault::Dispatch(std::string_view op, const cJSON* args, UniqueFd fd) {
  for (const OpEntry& e : kOps) {
    if (op != e.name) continue;
    last_use_ = NowSeconds();
    OpResult r = (this->*e.fn)(args, std::move(fd));
    const std::string name(json::GetString(args, "name").value_or(""));
    LogEvent(r.ok ? (e.mutates ? LogLevel::kInfo : LogLevel::kDebug) : LogLevel::kWarn, op,
             {{"name", name}, {"result", r.ok ? "ok" : r.error.code}});
    return r;
  }
  return Fail("unknown_op", "unknown operation '" + std::string(op) + "'", kExitUsage);
}

}  // namespace keycell::broker::daemon

#pragma once
// What `add` and `import` send: the credential's metadata and the policy the enclave
// seals with its value (docs/control-protocol.md, broker/daemon/policy_spec.h), and the
// value itself, through a pipe.

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "broker/cli/session.h"
#include "broker/json/json.h"
#include "common/secure_buffer.h"

namespace keycell::cli {

// How often rotate / add --overwrite retry after a `conflict` (another client changed
// the credential between keycelld reading and writing it). Each retry follows a
// success of the other client, so a handful suffices even for busy scripts.
inline constexpr int kMaxConflictRetries = 8;

struct AddFlags {
  std::string provider, env, notes, expires, inject;
  std::vector<std::string> tags, hosts, reveal_agents, insecure_http;
  bool revealable = false, env_export = false, overwrite = false;
};

// Registers --provider --env --tag --allow-host --inject --revealable --reveal-agent
// --env-export --insecure-http --overwrite on `cmd`, and --notes --expires when
// `per_credential` (add, not import: one note or expiry rarely fits a whole file).
void AddFlagsTo(CLI::App* cmd, AddFlags& flags, bool per_credential);

// The `add` op's args for `name`. --expires is parsed here against `now_unix`.
// Errors: kInvalidArgument with *why set (a bad --expires).
Result<json::Json> AddArgs(const AddFlags& flags, std::string_view name, int64_t now_unix,
                           std::string* why);

// Sends `op` (add or rotate) with a pipe that holds `value`. Retries up to
// kMaxConflictRetries times on a `conflict` error (the value is still ours, so a
// fresh pipe is filled each time). Returns the exit code; errors are stored in
// *error when it is set, printed otherwise (see Session::Call).
int SendValue(Session& session, std::string_view op, const cJSON* args, SecretView value,
              json::Json* result, ControlError* error = nullptr);

// The message for a value that could not be read (ReadValueInput's errors), printed,
// and its exit code: empty → kExitInvalid, too large → kExitTooLarge.
int ValueInputFail(const Status& st);

}  // namespace keycell::cli

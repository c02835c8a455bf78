#pragma once
// keycell's MCP tools (issue 6, "Tools"; docs/mcp.md "The tools"): the reference
// products' tool names and parameters, each one a thin adapter over a Vault op. Every
// call runs through Vault::Dispatch for the principal the registry was built for, so the
// role table, the agent's scopes and the audit trail apply exactly as on the control
// socket; an op's refusal becomes an isError result carrying the op's own message (never
// a secret). No tool returns a credential's plaintext except get_key and vault_secret get
// with reveal, and only when the credential's sealed policy lets the enclave reveal it
// to the calling agent; otherwise the error points the agent at proxy_request,
// inject_env or `keycell run`.
//
// The tools that carry values (add_key, rotate_key, create_credential, vault_secret,
// rotate_and_store, get_key, inject_env) are in mcp_tools_values.cc: values travel to
// and from the enclave through pipes, as on the control socket.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/daemon/vault.h"
#include "broker/identity/authz.h"
#include "broker/mcp/tool_registry.h"

namespace keycell::broker::daemon {

struct McpToolOptions {
  // config mcp.tool_sets: any of "pushkey", "agentkeys", "vault_secret", "all".
  // whoami and audit_log belong to no set and are always registered.
  std::vector<std::string> tool_sets = {"all"};

  bool Enabled(std::string_view set) const;
};

// The tools of the enabled sets, every handler bound to `vault` (which must outlive the
// registry) and to a copy of `who`. Returns null only if a tool definition is refused by
// ToolRegistry::Add (a bug; `why` names it when non-null).
std::shared_ptr<const mcp::ToolRegistry> BuildToolRegistry(Vault& vault,
                                                           const identity::Principal& who,
                                                           const McpToolOptions& opts,
                                                           std::string* why = nullptr);

}  // namespace keycell::broker::daemon

#pragma once
// The unlock_vault MCP tool's behaviour (docs/mcp.md "unlock_vault"). Its registration
// and schema live with the other tools in mcp_tools.cc; what it does lives here.
//
// Without arguments, on a locked vault:
//   - the client declared URL-mode elicitation (capabilities.elicitation.url, 2025-11-25):
//     a one-time unlock page is made (unlock_page.h) and elicitation/create {mode: "url"}
//     asks the client to open it in the human's browser; the tool then waits (bounded by
//     the page's lifetime, cancellable) until the page unlocked the vault, sends
//     notifications/elicitation/complete and returns {unlocked: true};
//   - otherwise: a result (not an error) with the page's URL and the advice to run
//     `keycell unlock` in a terminal.
// With `password` (Pushkey compatibility): only when config mcp.allow_password_unlock is
// true; otherwise an isError result that says how to enable it and why not to. The PIN
// goes into a pipe to the enclave like the CLI's, and the copy in the arguments is wiped.

#include <chrono>
#include <memory>

#include "broker/daemon/unlock_page.h"
#include "broker/daemon/vault.h"
#include "broker/identity/types.h"
#include "broker/json/json.h"
#include "broker/mcp/tool_registry.h"

namespace keycell::broker::daemon {

class UnlockVaultTool {
 public:
  // `pages` may be null (no HTTP listener: only the terminal advice is given); it and
  // `vault` must outlive the tool.
  UnlockVaultTool(Vault& vault, identity::Principal who, UnlockPages* pages,
                  bool allow_password)
      : vault_(vault), who_(std::move(who)), pages_(pages), allow_password_(allow_password) {}

  // `args` is the validated arguments object; `password`, when present, is wiped in it.
  mcp::ToolResult Run(const mcp::ToolContext& ctx, const cJSON* args) const;

  // How long the tool waits for the client to answer elicitation/create (the human
  // deciding whether to open the link).
  static constexpr std::chrono::minutes kElicitTimeout{10};

 private:
  mcp::ToolResult WithPassword(const cJSON* password) const;
  mcp::ToolResult WithPage(const mcp::ToolContext& ctx) const;

  Vault& vault_;
  const identity::Principal who_;
  UnlockPages* const pages_;
  const bool allow_password_;
};

}  // namespace keycell::broker::daemon

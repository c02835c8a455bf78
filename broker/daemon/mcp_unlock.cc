#include "broker/daemon/mcp_unlock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "broker/store/types.h"
#include "common/unique_fd.h"
#include "mbedtls/platform_util.h"

namespace keycell::broker::daemon {
namespace {

using mcp::ToolResult;

ToolResult Report(bool unlocked, bool already, const std::string& url = "",
                  std::string text = "") {
  json::Json out = json::MakeObject();
  (void)json::SetBool(out.get(), "unlocked", unlocked);
  (void)json::SetBool(out.get(), "already_unlocked", already);
  if (!url.empty()) (void)json::SetString(out.get(), "url", url);
  return ToolResult::Structured(std::move(out), std::move(text));
}

std::string Requester(const identity::Principal& who) {
  return who.acts_as_agent() ? who.agent_name : who.id;
}

// capabilities.elicitation.url is an object (2025-11-25). An empty `elicitation: {}`
// means form mode only, which must never carry a PIN.
bool SupportsUrlElicitation(const json::Json& caps) {
  const cJSON* elicitation = json::GetObject(caps.get(), "elicitation");
  return json::GetObject(elicitation, "url") != nullptr;
}

}  // namespace

ToolResult UnlockVaultTool::Run(const mcp::ToolContext& ctx, const cJSON* args) const {
  const cJSON* password = json::GetMember(args, "password");
  if (password != nullptr) return WithPassword(password);
  if (vault_.enclave().unlocked()) return Report(true, true);
  return WithPage(ctx);
}

ToolResult UnlockVaultTool::WithPassword(const cJSON* password) const {
  // Wipe the argument's copy whatever happens next (the message text the transport
  // read is the transport's to wipe; cJSON owns this one).
  struct Wipe {
    const cJSON* item;
    ~Wipe() {
      if (cJSON_IsString(item) && item->valuestring != nullptr)
        mbedtls_platform_zeroize(item->valuestring, std::strlen(item->valuestring));
    }
  } wipe{password};
  if (!allow_password_)
    return ToolResult::Error(
        "password_unlock_disabled: unlock_vault does not accept a PIN unless the config sets "
        "mcp.allow_password_unlock = true, and it should stay off: the PIN would pass through "
        "the model's context and the client's logs. Call unlock_vault without arguments (the "
        "human gets a one-time unlock page) or ask the human to run `keycell unlock`.");
  const char* pin = cJSON_IsString(password) ? password->valuestring : nullptr;
  const size_t len = pin != nullptr ? std::strlen(pin) : 0;
  if (len == 0 || std::strpbrk(pin, "\r\n") != nullptr)
    return ToolResult::Error("invalid_argument: password must be one non-empty line");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ToolResult::Error("internal: could not unlock");
  UniqueFd read_end(fds[0]);
  {
    UniqueFd write_end(fds[1]);
    // A PIN line is far below a pipe's capacity: these writes do not block.
    if (write(write_end.get(), pin, len) != static_cast<ssize_t>(len) ||
        write(write_end.get(), "\n", 1) != 1)
      return ToolResult::Error("internal: could not unlock");
  }
  OpResult r = vault_.Dispatch(who_, "unlock", nullptr, std::move(read_end));
  if (!r.ok) return ToolResult::Error(r.error.code + ": " + r.error.message);
  return Report(true, json::GetBool(r.result.get(), "already_unlocked").value_or(false));
}

ToolResult UnlockVaultTool::WithPage(const mcp::ToolContext& ctx) const {
  constexpr char kTerminal[] = "Or ask the human to run `keycell unlock` in a terminal.";
  if (pages_ == nullptr)
    return ToolResult::Error(
        "locked: keycell's vault is locked. Ask the human to run `keycell unlock` in a terminal "
        "(the PIN is never passed through MCP), then try again.");
  auto page = pages_->Create(Requester(who_));
  if (!page.ok())
    return ToolResult::Error(
        "locked: keycell's vault is locked and no unlock page could be made. Ask the human to "
        "run `keycell unlock` in a terminal, then try again.");
  const std::string advice =
      "keycell's vault is locked. Ask the human to open " + page->url +
      " in a browser on this machine and enter the token PIN there (valid 10 minutes, once). " +
      kTerminal + " Then call the tool again.";
  if (!SupportsUrlElicitation(ctx.ClientCapabilities())) return Report(false, false, page->url, advice);

  auto elicitation_id = store::NewRecordId();
  if (!elicitation_id.ok()) return Report(false, false, page->url, advice);
  json::Json params = json::MakeObject();
  (void)json::SetString(params.get(), "mode", "url");
  (void)json::SetString(params.get(), "elicitationId", *elicitation_id);
  (void)json::SetString(params.get(), "url", page->url);
  (void)json::SetString(params.get(), "message",
                        "An agent asks to unlock keycell's vault. Open this local page and "
                        "enter the token PIN there; the agent never sees it.");
  auto answer = ctx.Request("elicitation/create", std::move(params), kElicitTimeout);
  if (ctx.cancelled()) return ToolResult::Error("cancelled");
  if (!answer.ok()) return Report(false, false, page->url, advice);
  const std::string action(json::GetString(answer->get(), "action").value_or(""));
  if (action != "accept")
    return ToolResult::Error("declined: the human did not open the unlock page (" +
                             (action.empty() ? std::string("no answer") : action) + "). " +
                             kTerminal);
  const UnlockPages::Outcome outcome = pages_->Wait(
      page->token, std::chrono::minutes(10), [&ctx] { return ctx.cancelled(); });
  if (outcome != UnlockPages::Outcome::kUnlocked)
    return ToolResult::Error(
        "locked: the unlock page expired or was abandoned before the vault was unlocked. " +
        std::string(kTerminal));
  json::Json done = json::MakeObject();
  (void)json::SetString(done.get(), "elicitationId", *elicitation_id);
  (void)ctx.Notify("notifications/elicitation/complete", std::move(done));
  return Report(true, false);
}

}  // namespace keycell::broker::daemon

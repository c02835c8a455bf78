#pragma once
// The table of tools/call steps every official client runs against keycell (success and
// failure paths of every tool), the plan driver.mjs reads, and the checks of its report.
//
// Adding a tool = adding its Step(s) to CallTable() in call_table.cc. CheckToolList fails
// when the server lists a tool that has no step, so a new tool cannot go untested.

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/json/json.h"
#include "tests/mcp_clients/mcp_vault_fixture.h"

namespace keycell::test {

enum class Expect {
  kOk,         // a result with isError false (the client validated structuredContent)
  kToolError,  // a result with isError true
  kRpcError,   // a JSON-RPC error (the client threw); `code` must match
  // A result, either way. Only for the tools still arriving from another branch whose
  // semantics this table guesses (IsArrivingTool); tighten once they have merged.
  kAnyResult,
};

struct Step {
  std::string as;  // the identity: "agent" (member key bound to bot) or "owner"
  std::string tool;
  std::string arguments;  // a JSON object; "@UP@" → https://localhost:<upstream port>,
                          // "@PROJECT@" → an existing absolute directory
  Expect expect = Expect::kOk;
  std::string contains;  // must appear in the result's text (or the error's message)
  int code = 0;          // kRpcError: the JSON-RPC error code
  std::string save;      // driver.mjs "save": keep structuredContent for "${save.field}"
  std::function<void(const cJSON* structured)> check;  // kOk: further checks
};

struct TableContext {
  std::string upstream;     // https://localhost:PORT
  std::string project_dir;  // absolute, exists
  std::string added_value;  // the value add_key stores (a secret: must never come back)
  std::string rotated_value;
};

// Tools being added on other branches (issue 6): their steps run only when the server
// lists the tool (driver.mjs "if_listed"), so this table works before and after they
// merge. Remove a name once its tool is in main.
const std::set<std::string, std::less<>>& ArrivingTools();
inline bool IsArrivingTool(std::string_view tool) { return ArrivingTools().count(tool) != 0; }

// Every tool, the agent and the owner, success and failure; ends with the vault locked.
std::vector<Step> CallTable();

// The plan for driver.mjs. `endpoint` is the URL (http transports) or, for stdio, the
// path of the keycell binary (run as `keycell mcp`).
std::string PlanJson(const std::string& client, const std::string& transport,
                     const std::string& endpoint, const std::vector<Step>& steps,
                     const TableContext& ctx);

// tools/list as `as` saw it: each tool has title, description, inputSchema, outputSchema
// and the four annotation hints; and each has at least one step in `steps`.
void CheckToolList(const NodeRun& run, const std::string& as, const std::vector<Step>& steps);

// Each result against its step (SCOPED_TRACE names the step); `secrets` must appear
// nowhere in what the driver printed.
void CheckResults(const NodeRun& run, const std::vector<Step>& steps,
                  const std::vector<std::string>& secrets);

}  // namespace keycell::test

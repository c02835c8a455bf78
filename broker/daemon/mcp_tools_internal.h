#pragma once
// What the MCP tool files (mcp_tools.cc, mcp_tools_values.cc) share: the schema
// builders, the annotation presets, running an op for the registry's principal, and the
// Builder that adds a tool to the registry. Internal to broker/daemon.

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "broker/daemon/mcp_tools.h"
#include "broker/daemon/vault.h"
#include "broker/mcp/tool_registry.h"

namespace keycell::broker::daemon::tools_internal {

using mcp::Tool;
using mcp::ToolAnnotations;
using mcp::ToolResult;

// ---- Schemas -----------------------------------------------------------------------

// The schemas are literals of this file: a parse failure is a bug ToolRegistry::Add
// reports (an empty schema is refused there).
inline json::Json Schema(const std::string& text) {
  auto parsed = json::ParseJson(text);
  return parsed.ok() ? std::move(*parsed) : json::Json();
}

// {"type":"object","properties":{...},"required":[...],"additionalProperties":false}
inline std::string Object(const std::string& properties, const std::string& required = "",
                   bool closed = true) {
  std::string s = R"({"type":"object","properties":{)" + properties + "}";
  if (!required.empty()) s += R"(,"required":[)" + required + "]";
  if (closed) s += R"(,"additionalProperties":false)";
  return s + "}";
}

inline const std::string kStr = R"({"type":"string"})";
inline const std::string kInt = R"({"type":"integer"})";
inline const std::string kBool = R"({"type":"boolean"})";
inline const std::string kTime = R"({"type":["integer","null"],"description":"Unix seconds, or null"})";
inline const std::string kStrings = R"({"type":"array","items":{"type":"string"}})";

inline std::string Prop(const std::string& name, const std::string& schema) {
  return "\"" + name + "\":" + schema;
}

inline std::string Described(const std::string& type_and_more, const std::string& description) {
  return "{" + type_and_more + R"(,"description":")" + description + "\"}";
}

// Output items stay open (additionalProperties unset) so an op may grow a field
// without breaking the contract.
inline const std::string kCredentialItem = Object(
    Prop("name", kStr) + "," + Prop("provider", kStr) + "," + Prop("env", kStr) + "," +
        Prop("tags", kStrings) + "," + Prop("notes", kStr) + "," + Prop("created_at", kInt) + "," +
        Prop("rotated_at", kTime) + "," + Prop("expires_at", kTime) + "," + Prop("version", kInt) +
        "," + Prop("latest_version", kInt) + "," + Prop("projects", kStrings),
    R"("name","version")", false);

inline const std::string kAgentItem = Object(Prop("id", kStr) + "," + Prop("name", kStr) + "," +
                                          Prop("created_at", kInt) + "," + Prop("scopes", kStrings),
                                      R"("id","name","scopes")", false);

inline const std::string kAuditItem = Object(
    Prop("seq", kInt) + "," + Prop("ts", kInt) + "," + Prop("actor", kStr) + "," +
        Prop("actor_kind", kStr) + "," + Prop("action", kStr) + "," + Prop("credential", kStr) +
        "," + Prop("version", kTime) + "," + Prop("host", kStr) + "," + Prop("path", kStr) + "," +
        Prop("result", kStr) + "," + Prop("status", R"({"type":["integer","null"]})") + "," +
        Prop("latency_us", kInt) + "," + Prop("detail", kStr) + "," + Prop("hash", kStr),
    R"("seq","ts","actor","action","result")", false);

inline std::string ListOf(const std::string& key, const std::string& item) {
  return Object(Prop(key, R"({"type":"array","items":)" + item + "}"), "\"" + key + "\"", false);
}

inline const std::string kNoArguments = Object("");

// A credential name as the store accepts it (store::ValidateName checks the rest).
inline const std::string kCredentialName =
    R"({"type":"string","minLength":1,"maxLength":128,"description":"The credential's name, e.g. openai/prod"})";

// ---- Annotations -------------------------------------------------------------------

// Reads keycell's own state only.
constexpr ToolAnnotations kReadOnly{.read_only_hint = true,
                                    .destructive_hint = false,
                                    .idempotent_hint = true,
                                    .open_world_hint = false};
// Changes keycell's state additively; a repeat adds something again (a second agent...).
constexpr ToolAnnotations kCreates{.read_only_hint = false,
                                   .destructive_hint = false,
                                   .idempotent_hint = false,
                                   .open_world_hint = false};
// Changes state additively and converges: a repeat changes nothing more.
constexpr ToolAnnotations kSets{.read_only_hint = false,
                                .destructive_hint = false,
                                .idempotent_hint = true,
                                .open_world_hint = false};
// Removes something; a repeat removes nothing more (it reports not_found).
constexpr ToolAnnotations kDeletes{.read_only_hint = false,
                                   .destructive_hint = true,
                                   .idempotent_hint = true,
                                   .open_world_hint = false};

// ---- Running ops -------------------------------------------------------------------

class Tools {
 public:
  Tools(Vault& vault, identity::Principal who) : vault_(vault), who_(std::move(who)) {}

  OpResult Run(std::string_view op, const json::Json& args, UniqueFd fd = UniqueFd()) const {
    return vault_.Dispatch(who_, op, args.get(), std::move(fd));
  }
  const identity::Principal& who() const { return who_; }

 private:
  Vault& vault_;
  const identity::Principal who_;
};

// An op's refusal as the tool's error: the op's code and its one-line message, which
// never carries a secret (ControlError's contract).
inline ToolResult OpError(const OpResult& r) {
  return ToolResult::Error(r.error.code + ": " + r.error.message);
}

// {key: result}, for ops that answer with an array.
inline json::Json Wrap(const char* key, json::Json value) {
  json::Json out = json::MakeObject();
  (void)json::Set(out.get(), key, std::move(value));
  return out;
}

inline json::Json Args() { return json::MakeObject(); }

inline void CopyMember(const cJSON* from, const char* from_key, cJSON* to, const char* to_key) {
  if (const cJSON* v = json::GetMember(from, from_key)) (void)json::Set(to, to_key, json::Clone(v));
}

// Runs `op` with `args`, and on success hands its result to `shape`.
inline ToolResult RunOp(const Tools& t, std::string_view op, const json::Json& args,
                 const std::function<json::Json(json::Json)>& shape) {
  OpResult r = t.Run(op, args);
  if (!r.ok) return OpError(r);
  return ToolResult::Structured(shape(std::move(r.result)));
}

inline json::Json AsIs(json::Json result) { return result; }

struct Builder {
  mcp::ToolRegistry& registry;
  const Tools& t;
  std::string* why;
  bool ok = true;

  void Add(const char* name, const char* title, std::string description, const std::string& input,
           const std::string& output, ToolAnnotations annotations, mcp::ToolHandler handler) {
    if (!ok) return;
    Tool tool;
    tool.name = name;
    tool.title = title;
    tool.description = std::move(description);
    tool.input_schema = Schema(input);
    tool.output_schema = Schema(output);
    tool.annotations = annotations;
    tool.handler = std::move(handler);
    std::string detail;
    if (!registry.Add(std::move(tool), &detail).ok()) {
      ok = false;
      if (why != nullptr) *why = std::string(name) + ": " + detail;
    }
  }
};

// mcp_tools_values.cc: the tools that take or give a value (add_key, rotate_key,
// inject_env, create_credential, vault_secret, rotate_and_store), for the enabled sets.
void AddValueTools(Builder& b, const McpToolOptions& opts);

}  // namespace keycell::broker::daemon::tools_internal

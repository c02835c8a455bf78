// The MCP tools: one adapter per tool, from validated arguments to a Vault op's args and
// from the op's result to structuredContent. The schemas below are the contract the
// server checks (broker/mcp/schema.h); docs/mcp.md "The tools" lists them.

#include "broker/daemon/mcp_tools.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "broker/daemon/control_protocol.h"
#include "broker/daemon/mcp_tools_internal.h"

namespace keycell::broker::daemon {
namespace {

using namespace tools_internal;  // NOLINT(google-build-using-namespace): the shared tool kit


// ---- proxy_request -----------------------------------------------------------------

constexpr const char* kMethods = R"(["GET","HEAD","POST","PUT","PATCH","DELETE","OPTIONS"])";

bool HasHeader(const cJSON* headers, std::string_view name) {
  for (const cJSON* h : json::Children(headers)) {
    const std::string_view key = json::KeyOf(h);
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(),
                   [](char a, char b) { return (a | 0x20) == (b | 0x20); }))
      return true;
  }
  return false;
}

// [name, value]; a name or value that is not a JSON string (invalid UTF-8) is left out,
// so the op refuses the pair as malformed.
json::Json Pair(std::string_view name, std::string_view value) {
  json::Json pair = json::MakeArray();
  if (auto n = json::MakeString(name); n.ok()) (void)json::Append(pair.get(), std::move(*n));
  if (auto v = json::MakeString(value); v.ok()) (void)json::Append(pair.get(), std::move(*v));
  return pair;
}

// arguments → the `proxy` op's args: headers {name: value} → [[name, value]], body (text,
// or JSON for an object/array, then Content-Type application/json unless given) →
// body_base64.
json::Json ProxyArgs(const cJSON* a) {
  json::Json args = Args();
  CopyMember(a, "credential", args.get(), "credential");
  CopyMember(a, "token", args.get(), "token");
  CopyMember(a, "url", args.get(), "url");
  CopyMember(a, "method", args.get(), "method");
  const cJSON* headers = json::GetObject(a, "headers");
  json::Json pairs = json::MakeArray();
  for (const cJSON* h : json::Children(headers)) {
    (void)json::Append(pairs.get(), Pair(json::KeyOf(h), json::AsString(h).value_or("")));
  }
  const cJSON* body = json::GetMember(a, "body");
  std::string bytes;
  if (auto text = json::AsString(body)) {
    bytes = std::string(*text);
  } else if (json::TypeOf(body) == json::Type::kObject ||
             json::TypeOf(body) == json::Type::kArray) {
    if (auto printed = json::Print(body); printed.ok()) bytes = std::move(*printed);
    if (!HasHeader(headers, "content-type")) {
      (void)json::Append(pairs.get(), Pair("Content-Type", "application/json"));
    }
  }
  if (json::ChildCount(pairs.get()) > 0) (void)json::Set(args.get(), "headers", std::move(pairs));
  if (body != nullptr && json::TypeOf(body) != json::Type::kNull)
    (void)json::SetString(args.get(), "body_base64", Base64Encode(bytes));
  return args;
}

// The op's {status, reason, headers: [[n, v]], body_base64} → {status, reason, headers:
// {name: value} (repeats joined with ", "), body (UTF-8 text) or body_base64}.
json::Json ProxyResponse(json::Json r) {
  json::Json out = json::MakeObject();
  (void)json::SetInt(out.get(), "status", json::GetInt(r.get(), "status").value_or(0));
  (void)json::SetString(out.get(), "reason", json::GetString(r.get(), "reason").value_or(""));
  std::map<std::string, std::string> joined;
  std::vector<std::string> order;
  for (const cJSON* pair : json::Children(json::GetArray(r.get(), "headers"))) {
    const cJSON* name = pair->child;
    const cJSON* value = name != nullptr ? name->next : nullptr;
    const auto n = json::AsString(name);
    const auto v = json::AsString(value);
    if (!n || !v) continue;
    auto [it, fresh] = joined.emplace(std::string(*n), std::string(*v));
    if (fresh)
      order.push_back(it->first);
    else
      it->second += ", " + std::string(*v);
  }
  json::Json headers = json::MakeObject();
  for (const std::string& n : order) (void)json::SetString(headers.get(), n.c_str(), joined[n]);
  (void)json::Set(out.get(), "headers", std::move(headers));
  auto body = Base64Decode(json::GetString(r.get(), "body_base64").value_or(""));
  const std::string bytes = body.ok() ? std::move(*body) : std::string();
  if (auto text = json::MakeString(bytes); text.ok()) {
    (void)json::Set(out.get(), "body", std::move(*text));
  } else {
    (void)json::SetString(out.get(), "body_base64",
                          json::GetString(r.get(), "body_base64").value_or(""));
  }
  return out;
}

// ---- Registration ------------------------------------------------------------------

void AddCommon(Builder& b) {
  const Tools* t = &b.t;
  b.Add("whoami", "Who am I",
        "Shows the identity keycell sees for this MCP connection: its kind (owner, api_key, "
        "token), role, "
        "and for an agent its name, id and credential scopes.",
        kNoArguments,
        Object(Prop("kind", kStr) + "," + Prop("role", kStr) + "," + Prop("id", kStr) + "," +
                   Prop("agent_id", kStr) + "," + Prop("agent", kStr) + "," +
                   Prop("scopes", kStrings) + "," + Prop("credential", kStr),
               R"("kind","role","id")", false),
        kReadOnly,
        [t](const mcp::ToolContext&, const cJSON*) { return RunOp(*t, "whoami", Args(), AsIs); });

  b.Add(
      "audit_log", "Audit log",
      "Reads keycell's hash-chained audit trail, newest first: who used, changed or revealed which "
      "credential, when, and with what result. An agent sees only its own records.",
      Object(
          Prop("agent",
               Described(R"("type":"string","minLength":1)", "Only records of this agent (name)")) +
          "," +
          Prop("credential", Described(R"("type":"string","minLength":1)",
                                       "Only records about this credential")) +
          "," +
          Prop("action", Described(R"("type":"string","minLength":1)",
                                   "Only this action, e.g. proxy, reveal, credential.add")) +
          "," +
          Prop("since", Described(R"("type":"integer","minimum":0)",
                                  "Only records at or after this Unix time")) +
          "," +
          Prop("before_seq", Described(R"("type":"integer","minimum":1)",
                                       "Only records before this sequence number (paging)")) +
          "," +
          Prop("limit", Described(R"("type":"integer","minimum":1,"maximum":10000,"default":100)",
                                  "At most this many records"))),
      ListOf("records", kAuditItem), kReadOnly, [t](const mcp::ToolContext&, const cJSON* a) {
        return RunOp(*t, "audit.query", json::Clone(a),
                     [](json::Json r) { return Wrap("records", std::move(r)); });
      });
}

void AddAgentKeys(Builder& b) {
  const Tools* t = &b.t;
  b.Add(
      "list_credentials", "List credentials",
      "Lists the credentials this caller may see: names and metadata (provider, environment, tags, "
      "versions, expiry), never values.",
      kNoArguments, ListOf("credentials", kCredentialItem), kReadOnly,
      [t](const mcp::ToolContext&, const cJSON*) {
        return RunOp(*t, "list", Args(),
                     [](json::Json r) { return Wrap("credentials", std::move(r)); });
      });

  b.Add("delete_credential", "Delete a credential",
        "Deletes a credential and all its versions from the vault. Agents holding proxy tokens for "
        "it can "
        "no longer use it. Cannot be undone.",
        Object(Prop("name", kCredentialName), R"("name")"),
        Object(Prop("removed", kStr), R"("removed")", false), kDeletes,
        [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "name", args.get(), "name");
          return RunOp(*t, "rm", args, AsIs);
        });

  b.Add("list_agents", "List agents",
        "Lists the agents registered with keycell (an agent sees only itself), with their "
        "credential scopes.",
        kNoArguments, ListOf("agents", kAgentItem), kReadOnly,
        [t](const mcp::ToolContext&, const cJSON*) {
          return RunOp(*t, "agents.list", Args(),
                       [](json::Json r) { return Wrap("agents", std::move(r)); });
        });

  b.Add("create_agent", "Create an agent",
        "Registers a new agent (an AI tool, bot or script) by name. Optional scopes are credential "
        "name "
        "patterns it may use (e.g. openai/*); assign_credential adds the exact name when needed.",
        Object(Prop("name", Described(R"("type":"string","minLength":1,"maxLength":64)",
                                      "A unique agent name, e.g. marketing-bot")) +
                   "," +
                   Prop("scopes",
                        Described(R"("type":"array","items":{"type":"string","minLength":1})",
                                  "Credential name patterns the agent may use")),
               R"("name")"),
        kAgentItem, kCreates, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "name", args.get(), "name");
          CopyMember(a, "scopes", args.get(), "scopes");
          return RunOp(*t, "agents.create", args, AsIs);
        });

  b.Add("delete_agent", "Delete an agent",
        "Deletes an agent by name or id; its proxy tokens and bound API keys stop working at once.",
        Object(Prop("agent", Described(R"("type":"string","minLength":1)",
                                       "The agent's name or id (agt_...)")),
               R"("agent")"),
        Object(Prop("removed", kStr) + "," + Prop("id", kStr) + "," + Prop("tokens_revoked", kInt),
               R"("removed","id","tokens_revoked")", false),
        kDeletes, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "agent", args.get(), "agent");
          return RunOp(*t, "agents.rm", args, AsIs);
        });

  b.Add("assign_credential", "Assign a credential to an agent",
        "Issues the agent's proxy token (pxr_...) for one credential and returns it; the agent "
        "presents it "
        "to proxy_request or the HTTP proxy, and keycell injects the real credential. The token is "
        "shown "
        "once; assigning again replaces (revokes) the agent's previous token for that credential.",
        Object(
            Prop("agent", Described(R"("type":"string","minLength":1)", "The agent's name or id")) +
                "," + Prop("credential", kCredentialName) + "," +
                Prop("expires_in_seconds",
                     Described(R"("type":"integer","minimum":1,"maximum":315360000)",
                               "Token lifetime; no expiry when omitted")),
            R"("agent","credential")"),
        Object(Prop("token", kStr) + "," + Prop("prefix", kStr) + "," + Prop("agent", kStr) + "," +
                   Prop("credential", kStr) + "," + Prop("expires_at", kTime) + "," +
                   Prop("replaced_prefix", kStr) + "," + Prop("scope_added", kBool),
               R"("token","prefix","agent","credential")", false),
        // Destructive: a repeat revokes the token issued by the previous call.
        ToolAnnotations{.read_only_hint = false,
                        .destructive_hint = true,
                        .idempotent_hint = false,
                        .open_world_hint = false},
        [t](const mcp::ToolContext&, const cJSON* a) {
          return RunOp(*t, "agents.assign", json::Clone(a), AsIs);
        });

  b.Add(
      "proxy_request", "Proxied HTTP request",
      "Makes an HTTPS request with a stored credential injected by keycell, without the caller "
      "ever "
      "seeing it. Give the credential's name (or a pxr_ proxy token bound to one), the URL (its "
      "host must "
      "be allowed by the credential's policy) and optionally method, headers and body. Returns the "
      "upstream's status, headers and body, with every form of the credential redacted.",
      Object(
          Prop("credential",
               Described(R"("type":"string","minLength":1,"maxLength":128)",
                         "The credential's name; optional with a token bound to one")) +
              "," +
              Prop("token", Described(R"("type":"string","minLength":1,"maxLength":256)",
                                      "Act as this pxr_ proxy token (or kc_ API key)")) +
              "," +
              Prop("url", Described(R"("type":"string","minLength":1,"maxLength":8192)",
                                    "The https URL to call")) +
              "," +
              Prop("method",
                   std::string(R"({"type":"string","default":"GET","enum":)") + kMethods + "}") +
              "," +
              Prop("headers",
                   Described(R"("type":"object","additionalProperties":{"type":"string"})",
                             "Request headers as {name: value}; auth headers are set by keycell")) +
              "," +
              Prop("body",
                   Described(R"("type":["string","object","array","null"])",
                             "Text body, or JSON (sent with Content-Type: application/json)")),
          R"("url")"),
      Object(Prop("status", kInt) + "," + Prop("reason", kStr) + "," +
                 Prop("headers", R"({"type":"object","additionalProperties":{"type":"string"}})") +
                 "," + Prop("body", kStr) + "," + Prop("body_base64", kStr),
             R"("status","headers")", false),
      // Open world and destructive: it can POST or DELETE at any allowed upstream.
      ToolAnnotations{.read_only_hint = false,
                      .destructive_hint = true,
                      .idempotent_hint = false,
                      .open_world_hint = true},
      [t](const mcp::ToolContext&, const cJSON* a) {
        return RunOp(*t, "proxy", ProxyArgs(a), ProxyResponse);
      });
}

void AddPushkey(Builder& b) {
  const Tools* t = &b.t;
  b.Add("unlock_vault", "Unlock the vault",
        "Reports whether the vault is unlocked. If it is locked, the human must unlock it with "
        "`keycell unlock` in a terminal: the PIN never passes through the model.",
        kNoArguments,
        Object(Prop("unlocked", kBool) + "," + Prop("already_unlocked", kBool), R"("unlocked")",
               false),
        kSets, [t](const mcp::ToolContext&, const cJSON*) {
          OpResult r = t->Run("status", Args());
          if (!r.ok) return OpError(r);
          if (!json::GetBool(r.result.get(), "unlocked").value_or(false))
            return ToolResult::Error(
                "locked: keycell's vault is locked. Ask the human to run `keycell unlock` in a "
                "terminal (the PIN "
                "is never passed through MCP), then try again.");
          json::Json out = json::MakeObject();
          (void)json::SetBool(out.get(), "unlocked", true);
          (void)json::SetBool(out.get(), "already_unlocked", true);
          return ToolResult::Structured(std::move(out));
        });

  b.Add("lock_vault", "Lock the vault",
        "Locks the vault: the enclave logs out of the token and forgets every key until the human "
        "runs "
        "`keycell unlock`. Proxied calls fail while locked.",
        kNoArguments, Object(Prop("unlocked", kBool), R"("unlocked")", false), kSets,
        [t](const mcp::ToolContext&, const cJSON*) { return RunOp(*t, "lock", Args(), AsIs); });

  b.Add("list_keys", "List keys",
        "Lists the keys (credentials) this caller may see, optionally filtered by environment, "
        "provider or "
        "project path. Names and metadata only, never values.",
        Object(Prop("env", Described(R"("type":"string","minLength":1)",
                                     "Only keys of this environment, e.g. prod")) +
               "," +
               Prop("provider", Described(R"("type":"string","minLength":1)",
                                          "Only keys of this provider, e.g. openai")) +
               "," +
               Prop("project", Described(R"("type":"string","minLength":1)",
                                         "Only keys assigned to this project path"))),
        ListOf("keys", kCredentialItem), kReadOnly, [t](const mcp::ToolContext&, const cJSON* a) {
          return RunOp(*t, "list", json::Clone(a),
                       [](json::Json r) { return Wrap("keys", std::move(r)); });
        });

  b.Add("check_health", "Check key health",
        "Reports keys that need attention: not rotated within the threshold (stale, or never "
        "rotated), "
        "expiring within 7 days, or expired.",
        Object(Prop("rotation_threshold_days",
                    Described(R"("type":"integer","minimum":1,"maximum":36500,"default":90)",
                              "Keys older than this many days count as stale"))),
        Object(Prop("threshold_days", kInt) + "," + Prop("total", kInt) + "," +
                   Prop("stale", kStrings) + "," + Prop("expiring_soon", kStrings) + "," +
                   Prop("expired", kStrings) + "," + Prop("never_rotated", kStrings) + "," +
                   Prop("needs_action", kBool),
               R"("threshold_days","needs_action")", false),
        kReadOnly, [t](const mcp::ToolContext&, const cJSON* a) {
          json::Json args = Args();
          CopyMember(a, "rotation_threshold_days", args.get(), "days");
          return RunOp(*t, "health", args, AsIs);
        });

  b.Add("list_projects", "List projects",
        "Lists the project paths keys are assigned to, with their keys.", kNoArguments,
        ListOf("projects", Object(Prop("path", kStr) + "," + Prop("keys", kStrings),
                                  R"("path","keys")", false)),
        kReadOnly, [t](const mcp::ToolContext&, const cJSON*) {
          return RunOp(*t, "projects", Args(),
                       [](json::Json r) { return Wrap("projects", std::move(r)); });
        });

  b.Add(
      "assign_key", "Assign a key to a project",
      "Assigns a key to a project directory, so inject_env and `keycell run` in that project use "
      "it.",
      Object(Prop("key_name", kCredentialName) + "," +
                 Prop("project_path", Described(R"("type":"string","minLength":1,"maxLength":4096)",
                                                "The project's absolute directory path")),
             R"("key_name","project_path")"),
      Object(Prop("key_name", kStr) + "," + Prop("project_path", kStr),
             R"("key_name","project_path")", false),
      kSets, [t](const mcp::ToolContext&, const cJSON* a) {
        json::Json args = Args();
        CopyMember(a, "key_name", args.get(), "name");
        CopyMember(a, "project_path", args.get(), "path");
        return RunOp(*t, "assign", args, [](json::Json r) {
          json::Json out = json::MakeObject();
          CopyMember(r.get(), "name", out.get(), "key_name");
          CopyMember(r.get(), "path", out.get(), "project_path");
          return out;
        });
      });
}

}  // namespace

bool McpToolOptions::Enabled(std::string_view set) const {
  return std::find(tool_sets.begin(), tool_sets.end(), "all") != tool_sets.end() ||
         std::find(tool_sets.begin(), tool_sets.end(), set) != tool_sets.end();
}

std::shared_ptr<const mcp::ToolRegistry> BuildToolRegistry(Vault& vault,
                                                           const identity::Principal& who,
                                                           const McpToolOptions& opts,
                                                           std::string* why) {
  // The handlers hold the Tools through this shared_ptr, which the registry keeps alive.
  auto tools = std::make_shared<Tools>(vault, who);
  auto registry = std::make_shared<mcp::ToolRegistry>();
  Builder b{*registry, *tools, why};
  if (opts.Enabled("pushkey")) AddPushkey(b);
  if (opts.Enabled("agentkeys")) AddAgentKeys(b);
  AddValueTools(b, opts);
  AddCommon(b);
  if (!b.ok) return nullptr;
  // Keep `tools` alive as long as the registry: an aliasing shared_ptr owns both.
  struct Owner {
    std::shared_ptr<Tools> tools;
    std::shared_ptr<mcp::ToolRegistry> registry;
  };
  auto owner = std::make_shared<Owner>(Owner{std::move(tools), registry});
  return std::shared_ptr<const mcp::ToolRegistry>(owner, owner->registry.get());
}

}  // namespace keycell::broker::daemon

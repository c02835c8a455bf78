#include "tests/mcp_clients/call_table.h"

#include <algorithm>
#include <cstdio>

namespace keycell::test {
namespace {

constexpr char kRedacted[] = "[REDACTED:keycell]";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string Str(const cJSON* obj, const char* key) {
  return std::string(json::GetString(obj, key).value_or(""));
}

// The names of the objects in structured[key], in order.
std::vector<std::string> Names(const cJSON* structured, const char* key,
                               const char* field = "name") {
  std::vector<std::string> out;
  for (const cJSON* item : json::Children(json::GetArray(structured, key)))
    out.push_back(Str(item, field));
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const char* ExpectName(Expect e) {
  switch (e) {
    case Expect::kOk:
      return "ok";
    case Expect::kToolError:
      return "isError";
    case Expect::kRpcError:
      return "JSON-RPC error";
    case Expect::kAnyResult:
      return "any result";
  }
  return "?";
}

}  // namespace

const std::set<std::string, std::less<>>& ArrivingTools() {
  // Empty since add_key, rotate_key, inject_env, create_credential, vault_secret and
  // rotate_and_store merged.
  static const std::set<std::string, std::less<>> kTools = {};
  return kTools;
}

std::vector<Step> CallTable() {
  const auto ok = Expect::kOk;
  const auto tool_error = Expect::kToolError;
  // Refusals by role or scope read "forbidden: ..." (docs/mcp.md, "The tools").
  const std::string forbidden = "forbidden";
  const std::string invalid = "invalid arguments";
  return {
      // ---- who and whether unlocked ----
      {"agent", "whoami", "{}", ok, "", 0, "",
       [](const cJSON* s) {
         EXPECT_EQ(Str(s, "role"), "member");
         EXPECT_EQ(Str(s, "agent"), "bot");
       }},
      {"owner", "whoami", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(Str(s, "role"), "owner"); }},
      {"agent", "whoami", R"({"extra":1})", tool_error, invalid},
      {"agent", "unlock_vault", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(json::GetBool(s, "unlocked"), true); }},
      // The PIN never passes through the model: a password argument is refused unless the
      // config opts in (mcp.allow_password_unlock, off here).
      {"agent", "unlock_vault", R"({"password":"test-pin-1234"})", tool_error,
       "password_unlock_disabled"},

      // ---- listing: the agent sees only its scopes ----
      {"agent", "list_keys", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(Names(s, "keys"), std::vector<std::string>{"svc/alpha"}); }},
      {"owner", "list_keys", R"({"provider":"no-such-provider"})", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_TRUE(Names(s, "keys").empty()); }},
      {"agent", "list_keys", R"({"env":7})", tool_error, invalid},
      {"owner", "list_credentials", "{}", ok, "", 0, "",
       [](const cJSON* s) {
         const auto names = Names(s, "credentials");
         EXPECT_TRUE(Has(names, "svc/alpha") && Has(names, "svc/beta") && Has(names, "svc/gamma"));
       }},
      {"agent", "list_credentials", "{}", ok, "", 0, "",
       [](const cJSON* s) {
         EXPECT_EQ(Names(s, "credentials"), std::vector<std::string>{"svc/alpha"});
       }},

      // ---- get_key never reveals: the refusal points at the safe tools ----
      {"agent", "get_key", R"({"name":"svc/alpha"})", tool_error, "proxy_request"},
      {"owner", "get_key", R"({"name":"svc/alpha"})", tool_error, "proxy_request"},
      {"agent", "get_key", R"({"name":"svc/beta"})", tool_error, forbidden},  // outside its scope
      {"agent", "get_key", "{}", tool_error, invalid},

      // ---- health and projects ----
      {"agent", "check_health", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(json::GetInt(s, "threshold_days"), 90); }},
      {"agent", "check_health", R"({"rotation_threshold_days":0})", tool_error, invalid},
      {"owner", "assign_key", R"({"key_name":"svc/alpha","project_path":"@PROJECT@"})", ok},
      {"owner", "assign_key", R"({"key_name":"svc/alpha"})", tool_error, invalid},
      {"agent", "assign_key", R"({"key_name":"svc/beta","project_path":"@PROJECT@"})", tool_error,
       forbidden},
      {"agent", "list_projects", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(Names(s, "projects", "path").size(), 1u); }},

      // ---- agents and grants ----
      {"agent", "list_agents", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_TRUE(Has(Names(s, "agents"), "bot")); }},
      {"agent", "create_agent", R"({"name":"intruder"})", tool_error, forbidden},
      {"owner", "create_agent", R"({"name":"helper","scopes":["svc/*"]})", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(Str(s, "name"), "helper"); }},
      {"owner", "create_agent", R"({"name":""})", tool_error, invalid},
      {"owner", "assign_credential", R"({"agent":"helper","credential":"svc/alpha"})", ok, "", 0,
       "grant", [](const cJSON* s) { EXPECT_EQ(Str(s, "token").rfind("pxr_", 0), 0u); }},
      {"agent", "assign_credential", R"({"agent":"bot","credential":"svc/beta"})", tool_error,
       forbidden},

      // ---- proxy_request: the secret is injected upstream and redacted on the way back ----
      {"agent", "proxy_request", R"({"credential":"svc/alpha","url":"@UP@/echo"})", ok, "", 0, "",
       [](const cJSON* s) {
         EXPECT_EQ(json::GetInt(s, "status"), 200);
         EXPECT_NE(Str(s, "body").find(kRedacted), std::string::npos) << Str(s, "body");
       }},
      {"owner", "proxy_request",
       R"({"token":"${grant.token}","url":"@UP@/echo","method":"POST","body":{"q":1}})", ok, "", 0,
       "", [](const cJSON* s) { EXPECT_EQ(json::GetInt(s, "status"), 200); }},
      {"agent", "proxy_request", R"({"credential":"svc/beta","url":"@UP@/echo"})", tool_error,
       forbidden},
      {"agent", "proxy_request", R"({"credential":"svc/alpha","url":"https://example.com/"})",
       tool_error, ""},  // a host the sealed policy does not allow
      {"agent", "proxy_request", R"({"credential":"svc/alpha","url":"@UP@/echo","method":"BREW"})",
       tool_error, invalid},

      // ---- audit ----
      {"owner", "audit_log", R"({"limit":5})", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_FALSE(Names(s, "records", "action").empty()); }},
      {"owner", "audit_log", R"({"limit":0})", tool_error, invalid},
      {"agent", "audit_log", "{}", tool_error, forbidden},  // members do not read the trail

      // ---- deletion ----
      {"agent", "delete_credential", R"({"name":"svc/alpha"})", tool_error, forbidden},
      {"owner", "delete_credential", R"({"name":"svc/gamma"})", ok},
      {"owner", "delete_credential", R"({"name":"svc/gamma"})", tool_error, "not_found"},
      {"agent", "delete_agent", R"({"agent":"helper"})", tool_error, forbidden},
      {"owner", "delete_agent", R"({"agent":"helper"})", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(json::GetInt(s, "tokens_revoked"), 1); }},

      // ---- an unknown tool is a protocol error, not a tool result ----
      {"agent", "no_such_tool", "{}", Expect::kRpcError, "", -32602},

      // ---- the value tools ----
      {"owner", "add_key", R"({"name":"svc/added","value":"@ADDED@","provider":"test"})", ok},
      {"owner", "add_key", R"({"name":"svc/added2"})", tool_error, invalid},
      {"agent", "add_key", R"({"name":"svc/added3","value":"@ADDED@"})", tool_error, forbidden},
      {"owner", "rotate_key", R"({"name":"svc/added","new_value":"@ROTATED@"})", ok},
      {"agent", "rotate_key", R"({"name":"svc/alpha","new_value":"@ROTATED@"})", tool_error,
       forbidden},
      // svc/env is sealed with --env-export; svc/alpha is not, so .env stays unchanged.
      {"owner", "inject_env", R"({"project_path":"@PROJECT@","keys":["svc/env"]})", ok},
      {"agent", "inject_env", R"({"project_path":"@PROJECT@","keys":["svc/alpha"]})", tool_error,
       "cannot be exported"},
      {"owner", "create_credential",
       R"({"name":"svc/created","value":"@ADDED@","hosts":["localhost:1"]})", ok},
      {"owner", "create_credential", R"({"name":"svc/created2","value":"@ADDED@"})", tool_error,
       "hosts"},
      {"agent", "vault_secret", R"({"action":"list"})", ok},
      {"agent", "vault_secret", R"({"action":"get","name":"svc/alpha"})", ok, "", 0, "",
       [](const cJSON* s) {
         EXPECT_EQ(Str(s, "masked_value"), "********");
         EXPECT_EQ(json::GetBool(s, "revealed"), false);
       }},
      {"agent", "vault_secret", R"({"action":"get","name":"svc/alpha","reveal":true})", tool_error},
      {"agent", "vault_secret", R"({"action":"explode"})", tool_error, invalid},
      {"owner", "rotate_and_store", R"({"name":"svc/beta"})", ok, "", 0, "",
       [](const cJSON* s) {
         EXPECT_EQ(json::GetBool(s, "generated"), true);
         EXPECT_EQ(json::GetInt(s, "version"), 2);
       }},
      {"agent", "rotate_and_store", R"({"name":"svc/alpha"})", tool_error, forbidden},

      // ---- last: the locked vault ----
      {"agent", "lock_vault", "{}", tool_error, forbidden},
      {"owner", "lock_vault", "{}", ok, "", 0, "",
       [](const cJSON* s) { EXPECT_EQ(json::GetBool(s, "unlocked"), false); }},
      // Metadata stays listable while locked (it is in the store, not the enclave).
      {"agent", "list_keys", "{}", ok},
      // No URL elicitation declared by the test clients: the one-time page's URL, and the
      // CLI alternative, for the human.
      {"agent", "unlock_vault", "{}", ok, "keycell unlock", 0, "",
       [](const cJSON* s) {
         EXPECT_EQ(json::GetBool(s, "unlocked"), false);
         EXPECT_EQ(Str(s, "url").rfind("http://127.0.0.1:", 0), 0u) << Str(s, "url");
       }},
      {"agent", "proxy_request", R"({"credential":"svc/alpha","url":"@UP@/echo"})", tool_error,
       "locked"},
  };
}

std::string PlanJson(const std::string& client, const std::string& transport,
                     const std::string& endpoint, const std::vector<Step>& steps,
                     const TableContext& ctx) {
  json::Json plan = json::MakeObject();
  (void)json::SetString(plan.get(), "client", client);
  (void)json::SetString(plan.get(), "transport", transport);
  if (transport == "stdio") {
    json::Json command = json::MakeArray();
    (void)json::Append(command.get(), json::MakeString(endpoint).value());
    (void)json::Append(command.get(), json::MakeString("mcp").value());
    (void)json::Set(plan.get(), "command", std::move(command));
  } else {
    (void)json::SetString(plan.get(), "url", endpoint);
  }
  (void)json::SetString(plan.get(), "negotiation", "auto");
  json::Json identities = json::MakeArray();
  for (const char* as : {"agent", "owner"})
    (void)json::Append(identities.get(), json::MakeString(as).value());
  (void)json::Set(plan.get(), "identities", std::move(identities));
  json::Json calls = json::MakeArray();
  for (const Step& s : steps) {
    std::string args = Replace(s.arguments, "@UP@", ctx.upstream);
    args = Replace(args, "@PROJECT@", ctx.project_dir);
    args = Replace(args, "@ADDED@", ctx.added_value);
    args = Replace(args, "@ROTATED@", ctx.rotated_value);
    auto parsed = json::ParseJson(args);
    EXPECT_TRUE(parsed.ok()) << s.tool << ": " << args;
    json::Json call = json::MakeObject();
    (void)json::SetString(call.get(), "as", s.as);
    (void)json::SetString(call.get(), "tool", s.tool);
    (void)json::Set(call.get(), "arguments", parsed.ok() ? std::move(*parsed) : json::MakeObject());
    if (!s.save.empty()) (void)json::SetString(call.get(), "save", s.save);
    if (IsArrivingTool(s.tool)) (void)json::SetBool(call.get(), "if_listed", true);
    (void)json::Append(calls.get(), std::move(call));
  }
  (void)json::Set(plan.get(), "calls", std::move(calls));
  auto printed = json::Print(plan.get());
  EXPECT_TRUE(printed.ok());
  return printed.ok() ? *printed : "";
}

void CheckToolList(const NodeRun& run, const std::string& as, const std::vector<Step>& steps) {
  const cJSON* tools = json::GetArray(run.connection(as), "tools");
  ASSERT_NE(tools, nullptr) << run.Transcript();
  EXPECT_GE(json::ChildCount(tools), 16u);
  for (const cJSON* t : json::Children(tools)) {
    const std::string name = Str(t, "name");
    SCOPED_TRACE("tool " + name);
    EXPECT_FALSE(Str(t, "title").empty());
    EXPECT_FALSE(Str(t, "description").empty());
    EXPECT_EQ(Str(json::GetObject(t, "inputSchema"), "type"), "object");
    EXPECT_EQ(Str(json::GetObject(t, "outputSchema"), "type"), "object");
    const cJSON* annotations = json::GetObject(t, "annotations");
    for (const char* hint : {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"})
      EXPECT_TRUE(json::GetBool(annotations, hint).has_value()) << hint;
    const bool covered =
        std::any_of(steps.begin(), steps.end(), [&](const Step& s) { return s.tool == name; });
    EXPECT_TRUE(covered) << "no step calls " << name << ": add one to CallTable()";
  }
}

void CheckResults(const NodeRun& run, const std::vector<Step>& steps,
                  const std::vector<std::string>& secrets) {
  ASSERT_EQ(run.proc.exit_code, 0) << run.Transcript();
  ASSERT_NE(run.report, nullptr) << run.Transcript();
  for (const std::string& secret : secrets) {
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(run.Transcript().find(secret), std::string::npos) << "a secret reached the client";
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    SCOPED_TRACE("step " + std::to_string(i) + ": " + s.as + " " + s.tool + " " + s.arguments +
                 " (expect " + ExpectName(s.expect) + ")");
    const cJSON* r = run.result(i);
    ASSERT_NE(r, nullptr);
    const std::string outcome = Str(r, "outcome");
    if (outcome == "skipped") {
      std::printf("[ skipped  ] step %zu: %s (the server does not list it)\n", i, s.tool.c_str());
      EXPECT_TRUE(IsArrivingTool(s.tool)) << "only arriving tools may be skipped";
      continue;
    }
    const std::string text = Str(r, "text") + Str(r, "message");
    auto print = json::Print(r);
    const std::string printed = print.ok() ? *print : "";
    if (s.expect == Expect::kRpcError) {
      ASSERT_EQ(outcome, "error") << printed;
      EXPECT_EQ(json::GetInt(r, "code"), s.code) << printed;
      EXPECT_NE(text.find(s.contains), std::string::npos) << printed;
      continue;
    }
    ASSERT_EQ(outcome, "result") << printed;
    if (s.expect == Expect::kOk) {
      EXPECT_EQ(json::GetBool(r, "isError"), false) << printed;
    } else if (s.expect == Expect::kToolError) {
      EXPECT_EQ(json::GetBool(r, "isError"), true) << printed;
    }
    EXPECT_NE(text.find(s.contains), std::string::npos) << printed;
    if (s.expect == Expect::kOk && s.check) s.check(json::GetObject(r, "structuredContent"));
  }
}

}  // namespace keycell::test

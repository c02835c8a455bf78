// Agents and their proxy tokens: agents create/list/rm/scope/assign, tokens list/revoke.
// A proxy token (pxr_...) is printed once, alone on stdout, so `TOKEN=$(keycell agents
// assign ...)` works; keycelld keeps only its SHA-256.

#include <time.h>

#include "broker/cli/commands.h"
#include "broker/cli/expiry.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"

namespace keycell::cli {
namespace {

constexpr char kAgentsDetails[] =
    "An agent is a program acting for you (Claude Code, a bot, a CI job). It uses\n"
    "credentials through proxy tokens (one per agent and credential) or an API key\n"
    "bound to it, and only credentials its scopes cover: name patterns where * matches\n"
    "within one path segment and ** across '/', e.g. openai/*, stripe-prod, **.\n"
    "A new agent has no scopes; `agents assign` adds the credential's name.\n"
    "\n"
    "Examples:\n"
    "  keycell agents create ci-bot --scope 'openai/*'\n"
    "  keycell agents assign ci-bot openai/prod --expires 30d\n"
    "  keycell agents scope ci-bot --add stripe-test --remove 'openai/*'\n"
    "  keycell agents list\n"
    "  keycell agents rm ci-bot\n";

constexpr char kAssignDetails[] =
    "Issues the agent's proxy token for CREDENTIAL and prints it once, alone on stdout\n"
    "(a note goes to stderr). The agent sends it as `Authorization: Bearer pxr_...` to\n"
    "keycelld's proxy; it never sees the credential itself. One token per agent and\n"
    "credential: assigning again replaces (revokes) the previous token. If the agent's\n"
    "scopes do not cover CREDENTIAL, its exact name is added to them.\n"
    "\n"
    "Examples:\n"
    "  keycell agents assign ci-bot openai/prod\n"
    "  TOKEN=$(keycell agents assign ci-bot openai/prod --expires 2026-12-31)\n";

constexpr char kTokensDetails[] =
    "Proxy tokens by prefix (the first 12 characters; the rest is never stored).\n"
    "Revocation applies to the very next request.\n"
    "\n"
    "Examples:\n"
    "  keycell tokens list\n"
    "  keycell tokens list --all      # include revoked tokens\n"
    "  keycell tokens revoke pxr_AbCdEfGh\n";

template <class T>
std::shared_ptr<T> Make() {
  return std::make_shared<T>();
}

std::string AgentLine(const cJSON* a) {
  return "agent " + StringField(a, "name") + " (" + StringField(a, "id") +
         "), scopes: " + JoinOrDash(StringsOf(json::GetArray(a, "scopes")), " ") + "\n";
}

std::string AgentsTable(const cJSON* list) {
  if (json::ChildCount(list) == 0) return "no agents\n";
  Table t({"NAME", "ID", "CREATED", "SCOPES"});
  for (const cJSON* a : json::Children(list))
    t.AddRow({StringField(a, "name"), StringField(a, "id"), TimeField(a, "created_at"),
              JoinOrDash(StringsOf(json::GetArray(a, "scopes")), " ")});
  return t.Render();
}

std::string TokensTable(const cJSON* list) {
  if (json::ChildCount(list) == 0) return "no tokens\n";
  Table t({"PREFIX", "AGENT", "CREDENTIAL", "CREATED", "LAST USED", "EXPIRES", "REVOKED"});
  for (const cJSON* k : json::Children(list))
    t.AddRow({StringField(k, "prefix"), StringField(k, "agent"), StringField(k, "credential"),
              TimeField(k, "created_at"), TimeField(k, "last_used_at"), TimeField(k, "expires_at"),
              TimeField(k, "revoked_at")});
  return t.Render();
}

int RunAssign(const std::string& agent, const std::string& credential, const std::string& expires, bool as_json) {
  json::Json args = json::MakeObject();
  (void)json::SetString(args.get(), "agent", agent);
  (void)json::SetString(args.get(), "credential", credential);
  if (!expires.empty()) {
    const int64_t now = static_cast<int64_t>(time(nullptr));
    auto at = ParseExpiry(expires, now);
    if (!at.ok()) return Fail(kExitInvalid, std::string("--expires: ") + at.status().where());
    (void)json::SetInt(args.get(), "expires_in_seconds", *at - now);
  }
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json r;
  if ((rc = session->Call("agents.assign", args.get(), -1, &r)) != kExitOk) return rc;
  if (as_json) return PrintJson(r.get());
  std::string note = "keycell: proxy token for agent '" + agent + "' and credential '" + credential + "'";
  if (auto e = json::GetInt(r.get(), "expires_at")) note += ", expires " + FormatTime(*e);
  note += "; shown once, store it now\n";
  if (json::GetBool(r.get(), "scope_added").value_or(false))
    note += "keycell: added '" + credential + "' to the agent's scopes\n";
  if (const std::string old = StringField(r.get(), "replaced_prefix"); !old.empty())
    note += "keycell: the previous token " + old + " is revoked\n";
  fputs(note.c_str(), stderr);
  return PrintText(StringField(r.get(), "token") + "\n");
}

void RegisterAgents(CLI::App& app, int& exit_code) {
  CLI::App* agents = AddCommand(app, "agents", "Manage agents and issue their proxy tokens", kAgentsDetails);
  agents->require_subcommand(1);

  auto name = Make<std::string>();
  auto scopes = Make<std::vector<std::string>>();
  auto as_json = Make<bool>();
  CLI::App* c = AddCommand(*agents, "create", "Create an agent", kAgentsDetails);
  c->add_option("name", *name, "Agent name ([A-Za-z0-9._-], up to 64)")->required();
  AddRepeatable(c, "--scope", *scopes, "Credential-name pattern the agent may use (repeatable)");
  c->add_flag("--json", *as_json, "Print JSON");
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "name", *name);
    (void)json::Set(args.get(), "scopes", JsonStrings(*scopes));
    exit_code = CallAndPrint("agents.create", args.get(), *as_json,
                             [](const cJSON* a) { return "keycell: created " + AgentLine(a); });
  });

  auto list_json = Make<bool>();
  c = AddCommand(*agents, "list", "List agents and their scopes", kAgentsDetails);
  c->add_flag("--json", *list_json, "Print JSON: [{id, name, created_at, scopes[]}]");
  c->callback([=, &exit_code] { exit_code = CallAndPrint("agents.list", nullptr, *list_json, AgentsTable); });

  auto rm_name = Make<std::string>();
  c = AddCommand(*agents, "rm", "Delete an agent; its tokens and bound API keys stop working", kAgentsDetails);
  c->add_option("agent", *rm_name, "Agent name or id")->required();
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "agent", *rm_name);
    exit_code = CallAndPrint("agents.rm", args.get(), false, [](const cJSON* r) {
      return "keycell: removed agent " + StringField(r, "removed") + "; " + IntField(r, "tokens_revoked") +
             " proxy token(s) revoked\n";
    });
  });

  auto sc_agent = Make<std::string>();
  auto sc_set = Make<std::vector<std::string>>();
  auto sc_add = Make<std::vector<std::string>>();
  auto sc_remove = Make<std::vector<std::string>>();
  auto sc_clear = Make<bool>();
  c = AddCommand(*agents, "scope", "Change which credentials an agent may use", kAgentsDetails);
  c->add_option("agent", *sc_agent, "Agent name or id")->required();
  AddRepeatable(c, "--set", *sc_set, "Replace the scopes with these patterns (repeatable)");
  AddRepeatable(c, "--add", *sc_add, "Add a pattern (repeatable)");
  AddRepeatable(c, "--remove", *sc_remove, "Remove a pattern (repeatable)");
  c->add_flag("--clear", *sc_clear, "Remove every scope (the agent can use nothing)");
  c->callback([=, &exit_code] {
    const int modes = !sc_set->empty() + !sc_add->empty() + !sc_remove->empty() + *sc_clear;
    if (modes != 1) {
      exit_code = Fail(kExitUsage, "agents scope needs exactly one of --set, --add, --remove or --clear");
      return;
    }
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "agent", *sc_agent);
    const char* mode = !sc_add->empty() ? "add" : !sc_remove->empty() ? "remove" : "set";
    (void)json::SetString(args.get(), "mode", mode);
    const auto& patterns = !sc_add->empty() ? *sc_add : !sc_remove->empty() ? *sc_remove : *sc_set;
    (void)json::Set(args.get(), "scopes", JsonStrings(patterns));
    exit_code = CallAndPrint("agents.scope", args.get(), false, [](const cJSON* a) { return "keycell: " + AgentLine(a); });
  });

  auto as_agent = Make<std::string>();
  auto as_cred = Make<std::string>();
  auto as_expires = Make<std::string>();
  auto as_json2 = Make<bool>();
  c = AddCommand(*agents, "assign", "Issue an agent's proxy token for a credential", kAssignDetails);
  c->add_option("agent", *as_agent, "Agent name or id")->required();
  c->add_option("credential", *as_cred, "Credential name")->required();
  c->add_option("--expires", *as_expires, "Token expiry: a duration (30d, 12h) or a date (2026-12-31)");
  c->add_flag("--json", *as_json2, "Print JSON (including the token)");
  c->callback([=, &exit_code] { exit_code = RunAssign(*as_agent, *as_cred, *as_expires, *as_json2); });
}

void RegisterTokens(CLI::App& app, int& exit_code) {
  CLI::App* tokens = AddCommand(app, "tokens", "List and revoke proxy tokens", kTokensDetails);
  tokens->require_subcommand(1);
  auto all = Make<bool>();
  auto as_json = Make<bool>();
  CLI::App* c = AddCommand(*tokens, "list", "List proxy tokens", kTokensDetails);
  c->add_flag("--all", *all, "Include revoked tokens");
  c->add_flag("--json", *as_json, "Print JSON");
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetBool(args.get(), "all", *all);
    exit_code = CallAndPrint("tokens.list", args.get(), *as_json, TokensTable);
  });
  auto prefix = Make<std::string>();
  c = AddCommand(*tokens, "revoke", "Revoke a proxy token (effective on the next request)", kTokensDetails);
  c->add_option("prefix", *prefix, "The token's prefix as `tokens list` shows it")->required();
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "prefix", *prefix);
    exit_code = CallAndPrint("tokens.revoke", args.get(), false,
                             [](const cJSON* r) { return "keycell: revoked " + StringField(r, "revoked") + "\n"; });
  });
}

}  // namespace

void RegisterAgentCommands(CLI::App& app, int& exit_code) {
  RegisterAgents(app, exit_code);
  RegisterTokens(app, exit_code);
}

}  // namespace keycell::cli

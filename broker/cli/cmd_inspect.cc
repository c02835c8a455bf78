// Reading metadata (never values): list, show, history, health; and rollback, which
// only moves the current-version pointer.

#include <limits.h>
#include <stdlib.h>

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"

namespace keycell::cli {
namespace {

constexpr char kListDetails[] =
    "Lists credentials (metadata only, never values), filtered by any combination of\n"
    "--env, --provider, --tag and --project (credentials assigned to that directory).\n"
    "With --json: an array of {name, provider, env, tags[], notes, created_at,\n"
    "rotated_at, expires_at, version, latest_version, projects[]} (times in unix seconds,\n"
    "null when unset).\n"
    "\n"
    "Examples:\n"
    "  keycell list\n"
    "  keycell list --env prod --provider openai\n"
    "  keycell list --project . --json | jq -r '.[].name'\n";

constexpr char kShowDetails[] =
    "Shows one credential: metadata, the sealed policy (hosts, injection, reveal, env\n"
    "export, expiry) and every version with its fingerprint (an HMAC made in the\n"
    "enclave: equal fingerprints mean equal values, and it says nothing else about the\n"
    "value). Never the value itself. --json prints the same as one object.\n"
    "\n"
    "Examples:\n"
    "  keycell show openai-prod\n"
    "  keycell show openai-prod --json | jq .policy.hosts\n";

constexpr char kHistoryDetails[] =
    "Lists NAME's versions, oldest first: number, creation time, fingerprint, and which\n"
    "one is current. --json: [{version, created_at, fingerprint, current}].\n"
    "\n"
    "Example:\n"
    "  keycell history openai-prod\n";

constexpr char kRollbackDetails[] =
    "Makes version N of NAME current again (after a bad rotation). Nothing is deleted:\n"
    "newer versions stay in the history and a later rollback can return to them.\n"
    "\n"
    "Example:\n"
    "  keycell rollback openai-prod --to 2\n";

constexpr char kHealthDetails[] =
    "Checks every credential: expired, expiring within 7 days, stale (last rotated more\n"
    "than --days ago) and never rotated (created more than --days ago). Exits 14 when\n"
    "anything needs action, 0 otherwise, so it can gate CI. --json: {threshold_days,\n"
    "total, expired[], expiring_soon[], stale[], never_rotated[], needs_action}.\n"
    "\n"
    "Examples:\n"
    "  keycell health\n"
    "  keycell health --days 30 --json\n";

struct ListOptions {
  std::string env, provider, project, tag;
  bool json = false;
};

// Paths are stored absolute and resolved: "." and symlinks must name the same project.
std::string AbsolutePath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) != nullptr) return resolved;
  return path;
}

json::Json NameArgs(const std::string& name) {
  json::Json args = json::MakeObject();
  (void)json::SetString(args.get(), "name", name);
  return args;
}

int RunList(const ListOptions& o) {
  json::Json args = json::MakeObject();
  if (!o.env.empty()) (void)json::SetString(args.get(), "env", o.env);
  if (!o.provider.empty()) (void)json::SetString(args.get(), "provider", o.provider);
  if (!o.project.empty()) (void)json::SetString(args.get(), "project", AbsolutePath(o.project));
  if (!o.tag.empty()) (void)json::SetString(args.get(), "tag", o.tag);
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json list;
  if ((rc = session->Call("list", args.get(), -1, &list)) != kExitOk) return rc;
  if (o.json) return PrintJson(list.get());
  if (json::ChildCount(list.get()) == 0) return PrintText("no credentials\n");
  Table t({"NAME", "PROVIDER", "ENV", "VERSION", "ROTATED", "EXPIRES", "TAGS"});
  for (const cJSON* c : json::Children(list.get())) {
    const int64_t rotated = json::GetInt(c, "rotated_at").value_or(0);
    t.AddRow({StringField(c, "name"), StringField(c, "provider"), StringField(c, "env"),
              IntField(c, "version"), rotated != 0 ? FormatDate(rotated) : "never",
              FormatDate(json::GetInt(c, "expires_at").value_or(0)),
              JoinOrDash(StringsOf(json::GetArray(c, "tags")))});
  }
  return PrintText(t.Render());
}

std::string VersionsTable(const cJSON* versions) {
  Table t({"VERSION", "CREATED", "FINGERPRINT", "CURRENT"});
  for (const cJSON* v : json::Children(versions))
    t.AddRow({IntField(v, "version"), TimeField(v, "created_at"), StringField(v, "fingerprint"),
              json::GetBool(v, "current").value_or(false) ? "*" : ""});
  return t.Render();
}

std::string PolicyBlock(const cJSON* p) {
  if (p == nullptr) return "  (none recorded)\n";
  std::string reveal = json::GetBool(p, "revealable").value_or(false) ? "yes" : "no";
  if (auto agents = StringsOf(json::GetArray(p, "reveal_agents")); !agents.empty())
    reveal += " (agents: " + JoinOrDash(agents, ", ") + ")";
  std::string block = KeyValueBlock(
      {{"allowed hosts", JoinOrDash(StringsOf(json::GetArray(p, "hosts")), ", ")},
       {"inject", StringField(p, "inject")},
       {"revealable", reveal},
       {"env export", json::GetBool(p, "env_export").value_or(false) ? "yes" : "no"},
       {"insecure http", JoinOrDash(StringsOf(json::GetArray(p, "insecure_http")), ", ")},
       {"expires", TimeField(p, "expires_at")}});
  std::string out;
  for (size_t pos = 0; pos < block.size();) {  // indent under "policy:"
    const size_t nl = block.find('\n', pos);
    out += "  " + block.substr(pos, nl - pos + 1);
    pos = nl + 1;
  }
  return out;
}

int PrintShow(const cJSON* c) {
  const int64_t rotated = json::GetInt(c, "rotated_at").value_or(0);
  std::string text = KeyValueBlock(
      {{"name", StringField(c, "name")},
       {"provider", StringField(c, "provider")},
       {"env", StringField(c, "env")},
       {"tags", JoinOrDash(StringsOf(json::GetArray(c, "tags")))},
       {"notes", StringField(c, "notes")},
       {"created", TimeField(c, "created_at")},
       {"rotated", rotated != 0 ? FormatTime(rotated) : "never"},
       {"expires", TimeField(c, "expires_at")},
       {"version", IntField(c, "version") + " (latest " + IntField(c, "latest_version") + ")"},
       {"projects", JoinOrDash(StringsOf(json::GetArray(c, "projects")), ", ")}});
  const cJSON* policy = json::GetObject(c, "policy");
  text += "policy:\n" + PolicyBlock(policy) + "versions:\n" +
          VersionsTable(json::GetArray(c, "versions"));
  return PrintText(text);
}

int RunNamed(const char* op, const std::string& name, bool as_json) {
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json result;
  if ((rc = session->Call(op, NameArgs(name).get(), -1, &result)) != kExitOk) return rc;
  if (as_json) return PrintJson(result.get());
  return std::string_view(op) == "show" ? PrintShow(result.get())
                                        : PrintText(VersionsTable(result.get()));
}

int RunRollback(const std::string& name, int to) {
  json::Json args = NameArgs(name);
  (void)json::SetInt(args.get(), "to", to);
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json result;
  if ((rc = session->Call("rollback", args.get(), -1, &result)) != kExitOk) return rc;
  return PrintText("keycell: '" + name + "' now uses version " + IntField(result.get(), "version") +
                   "\n");
}

int RunHealth(int days, bool as_json) {
  json::Json args = json::MakeObject();
  (void)json::SetInt(args.get(), "days", days);
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json h;
  if ((rc = session->Call("health", args.get(), -1, &h)) != kExitOk) return rc;
  const bool needs_action = json::GetBool(h.get(), "needs_action").value_or(false);
  const auto list = [&](const char* key) {
    return JoinOrDash(StringsOf(json::GetArray(h.get(), key)), ", ");
  };
  if (as_json) {
    if ((rc = PrintJson(h.get())) != kExitOk) return rc;
  } else {
    std::string text = IntField(h.get(), "total") +
                       " credentials checked (stale: not rotated for " +
                       IntField(h.get(), "threshold_days") + " days)\n";
    text += KeyValueBlock({{"expired", list("expired")},
                           {"expiring soon", list("expiring_soon")},
                           {"stale", list("stale")},
                           {"never rotated", list("never_rotated")}});
    text +=
        needs_action ? "needs action: rotate or replace the credentials above\n" : "all healthy\n";
    if ((rc = PrintText(text)) != kExitOk) return rc;
  }
  return needs_action ? kExitNeedsAction : kExitOk;
}

}  // namespace

void RegisterInspectCommands(CLI::App& app, int& exit_code) {
  auto list = std::make_shared<ListOptions>();
  CLI::App* c = AddCommand(app, "list", "List credentials (metadata only)", kListDetails);
  c->add_option("--env", list->env, "Only this environment label");
  c->add_option("--provider", list->provider, "Only this provider");
  c->add_option("--project", list->project, "Only credentials assigned to this directory")
      ->type_name("PATH");
  c->add_option("--tag", list->tag, "Only credentials with this tag");
  c->add_flag("--json", list->json, "Print JSON");
  c->callback([list, &exit_code] { exit_code = RunList(*list); });

  for (const char* op : {"show", "history"}) {
    auto name = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    const bool show = std::string_view(op) == "show";
    c = AddCommand(app, op,
                   show ? "Show a credential's metadata, policy and versions (never its value)"
                        : "List a credential's versions",
                   show ? kShowDetails : kHistoryDetails);
    c->add_option("name", *name, "Credential name")->required();
    c->add_flag("--json", *as_json, "Print JSON");
    c->callback([op, name, as_json, &exit_code] { exit_code = RunNamed(op, *name, *as_json); });
  }

  auto rb_name = std::make_shared<std::string>();
  auto rb_to = std::make_shared<int>(0);
  c = AddCommand(app, "rollback", "Make an earlier version current again", kRollbackDetails);
  c->add_option("name", *rb_name, "Credential name")->required();
  c->add_option("--to", *rb_to, "Version number to make current")->required()->type_name("N");
  c->callback([rb_name, rb_to, &exit_code] { exit_code = RunRollback(*rb_name, *rb_to); });

  auto days = std::make_shared<int>(90);
  auto h_json = std::make_shared<bool>(false);
  c = AddCommand(app, "health", "Find expired, expiring, stale and never-rotated credentials",
                 kHealthDetails);
  c->add_option("--days", *days, "Rotation age that counts as stale")
      ->capture_default_str()
      ->type_name("N");
  c->add_flag("--json", *h_json, "Print JSON");
  c->callback([days, h_json, &exit_code] { exit_code = RunHealth(*days, *h_json); });
}

}  // namespace keycell::cli

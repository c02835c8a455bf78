// Projects: directories that credentials are assigned to, and the .env files keycelld
// writes into them (projects, assign, unassign, env).

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"
#include "broker/daemon/policy_spec.h"

namespace keycell::cli {
namespace {

constexpr char kProjectsDetails[] =
    "Lists project directories and the credentials assigned to each. --json:\n"
    "[{path, keys[]}].\n"
    "\n"
    "Examples:\n"
    "  keycell projects\n"
    "  keycell projects --json\n";

constexpr char kAssignDetails[] =
    "Assigns credential NAME to the project directory PATH (which must exist; it is\n"
    "stored as an absolute path with symlinks resolved). `keycell env PATH` and\n"
    "`keycell run` in PATH then use the project's credentials by default.\n"
    "\n"
    "Examples:\n"
    "  keycell assign openai-prod ~/src/chatbot\n"
    "  keycell assign stripe-test .\n";

constexpr char kUnassignDetails[] =
    "Removes NAME from the project PATH (the credential itself stays).\n"
    "\n"
    "Example:\n"
    "  keycell unassign openai-prod ~/src/chatbot\n";

constexpr char kEnvDetails[] =
    "Writes PATH/.env with the project's credentials (or --keys A,B): one NAME=value\n"
    "line per credential, the variable being the credential's name in upper case with\n"
    "other characters as _ (openai-prod -> OPENAI_PROD). keycelld opens the file (0600,\n"
    "written to a temporary file, fsynced, renamed) and the enclave writes the values\n"
    "into it, so they never pass through keycell or keycelld. Lines of an existing .env\n"
    "that keycell does not manage are kept. If PATH is in a git work tree and nothing\n"
    "ignores .env yet, .env is added to PATH/.gitignore. Only credentials sealed with\n"
    "--env-export can be written; if any cannot, nothing is written (exit 11).\n"
    "\n"
    "Examples:\n"
    "  keycell env .\n"
    "  keycell env ~/src/chatbot --keys openai-prod,stripe-test\n";

// An existing directory as an absolute, symlink-free path, or "" after printing why.
std::string ProjectDir(const std::string& path, int* exit_code) {
  char resolved[PATH_MAX];
  struct stat st {};
  if (realpath(path.c_str(), resolved) == nullptr || stat(resolved, &st) != 0) {
    *exit_code = Fail(kExitInvalid, path + ": " + strerror(errno));
    return "";
  }
  if (!S_ISDIR(st.st_mode)) {
    *exit_code = Fail(kExitInvalid, path + ": not a directory");
    return "";
  }
  return resolved;
}

int RunProjects(bool as_json) {
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json list;
  if ((rc = session->Call("projects", nullptr, -1, &list)) != kExitOk) return rc;
  if (as_json) return PrintJson(list.get());
  if (json::ChildCount(list.get()) == 0) return PrintText("no projects\n");
  Table t({"PATH", "KEYS"});
  for (const cJSON* p : json::Children(list.get()))
    t.AddRow({StringField(p, "path"), JoinOrDash(StringsOf(json::GetArray(p, "keys")), ", ")});
  return PrintText(t.Render());
}

int RunAssign(const char* op, const std::string& name, const std::string& path) {
  int rc = kExitOk;
  const std::string dir = ProjectDir(path, &rc);
  if (dir.empty()) return rc;
  json::Json args = json::MakeObject();
  (void)json::SetString(args.get(), "name", name);
  if (!json::SetString(args.get(), "path", dir).ok())
    return Fail(kExitInvalid, "the path is not valid UTF-8");
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json result;
  if ((rc = session->Call(op, args.get(), -1, &result)) != kExitOk) return rc;
  const bool assign = std::string_view(op) == "assign";
  return PrintText("keycell: " + std::string(assign ? "assigned '" : "unassigned '") + name +
                   (assign ? "' to " : "' from ") + dir + "\n");
}

// The variable names a request writes: --keys, or the project's assigned credentials.
std::vector<std::string> EnvNames(Session& session, const std::vector<std::string>& keys,
                                  const std::string& dir) {
  std::vector<std::string> names = keys;
  if (names.empty()) {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "project", dir);
    json::Json list;
    ControlError ignored;
    if (session.Call("list", args.get(), -1, &list, &ignored) == kExitOk)
      for (const cJSON* c : json::Children(list.get())) names.push_back(StringField(c, "name"));
  }
  for (std::string& n : names) n = broker::daemon::EnvNameFor(n);
  return names;
}

int RunEnv(const std::string& path, const std::vector<std::string>& keys) {
  int rc = kExitOk;
  const std::string dir = ProjectDir(path, &rc);
  if (dir.empty()) return rc;
  json::Json args = json::MakeObject();
  if (!json::SetString(args.get(), "path", dir).ok())
    return Fail(kExitInvalid, "the path is not valid UTF-8");
  json::Json arr = json::MakeArray();
  for (const auto& k : keys)
    if (auto s = json::MakeString(k); s.ok()) (void)json::Append(arr.get(), std::move(*s));
  if (!keys.empty()) (void)json::Set(args.get(), "keys", std::move(arr));
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json r;
  if ((rc = session->Call("env", args.get(), -1, &r)) != kExitOk) return rc;
  std::string text = "keycell: wrote " + IntField(r.get(), "written") + " variable(s) to " +
                     StringField(r.get(), "file") + ": " +
                     JoinOrDash(EnvNames(*session, keys, dir), ", ") + "\n";
  if (auto skipped = StringsOf(json::GetArray(r.get(), "skipped")); !skipped.empty())
    text += "keycell: skipped (not exportable): " + JoinOrDash(skipped, ", ") + "\n";
  if (json::GetBool(r.get(), "gitignore_updated").value_or(false))
    text += "keycell: added .env to " + dir + "/.gitignore\n";
  return PrintText(text);
}

}  // namespace

void RegisterProjectCommands(CLI::App& app, int& exit_code) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* c =
      AddCommand(app, "projects", "List projects and their assigned credentials", kProjectsDetails);
  c->add_flag("--json", *as_json, "Print JSON");
  c->callback([as_json, &exit_code] { exit_code = RunProjects(*as_json); });

  for (const char* op : {"assign", "unassign"}) {
    auto name = std::make_shared<std::string>();
    auto path = std::make_shared<std::string>();
    const bool assign = std::string_view(op) == "assign";
    c = AddCommand(app, op,
                   assign ? "Assign a credential to a project directory"
                          : "Remove a credential from a project",
                   assign ? kAssignDetails : kUnassignDetails);
    c->add_option("name", *name, "Credential name")->required();
    c->add_option("path", *path, "Project directory")->required();
    c->callback([op, name, path, &exit_code] { exit_code = RunAssign(op, *name, *path); });
  }

  auto env_path = std::make_shared<std::string>();
  auto env_keys = std::make_shared<std::vector<std::string>>();
  c = AddCommand(app, "env", "Write PATH/.env with the project's credentials", kEnvDetails);
  c->add_option("path", *env_path, "Project directory")->required();
  c->add_option("--keys", *env_keys, "These credentials instead of the project's (comma-separated)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("A,B");
  c->callback([env_path, env_keys, &exit_code] { exit_code = RunEnv(*env_path, *env_keys); });
}

}  // namespace keycell::cli

// API keys (kc_...): the MCP Key Manager's key commands. A key authenticates a program
// to keycelld's network endpoints (proxy, REST, MCP over HTTP) with a role, optionally
// acting as an agent. It is printed once; keycelld keeps only its SHA-256, so `use`
// cannot show an old key again: it re-issues one (same name, role and agent) and revokes
// the old one.

#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"
#include "broker/envfile/atomic_file.h"
#include "broker/envfile/env_file_merge.h"
#include "broker/envfile/gitignore.h"
#include "common/secure_buffer.h"

namespace keycell::cli {
namespace {

constexpr char kApiKeysDetails[] =
    "API keys let programs call keycelld over HTTP (the proxy, the REST API, MCP over\n"
    "HTTP) as `Authorization: Bearer kc_...` or `X-API-Key: kc_...`. Roles: member (list\n"
    "and use credentials), admin (everything but deleting the workspace), owner. A key\n"
    "made with --agent acts as that agent (its scopes apply). You can only create keys\n"
    "up to your own role. A key is shown once: keycelld stores only its hash, so\n"
    "`apikeys use ID PATH` issues a replacement (same name, role and agent; the old key\n"
    "is revoked) and writes it to PATH/.env as KEYCELL_API_KEY.\n"
    "\n"
    "Examples:\n"
    "  keycell apikeys create ci --role member --agent ci-bot --expires-in-days 30\n"
    "  keycell apikeys create laptop --use-in-env ~/src/app   # writes ~/src/app/.env\n"
    "  keycell apikeys list --active-only\n"
    "  keycell apikeys view 3f2a9c1d0b4e5f60\n"
    "  keycell apikeys revoke 3f2a9c1d0b4e5f60\n"
    "  keycell apikeys delete 3f2a9c1d0b4e5f60\n"
    "  keycell apikeys use 3f2a9c1d0b4e5f60 ~/src/app\n";

template <class T>
std::shared_ptr<T> Make() {
  return std::make_shared<T>();
}

std::string Expiry(const cJSON* k) {
  return json::GetInt(k, "expires_at") ? TimeField(k, "expires_at") : "never";
}

std::string KeysTable(const cJSON* list) {
  if (json::ChildCount(list) == 0) return "no API keys\n";
  Table t({"ID", "NAME", "ROLE", "AGENT", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATUS"});
  for (const cJSON* k : json::Children(list)) {
    const bool revoked = json::GetInt(k, "revoked_at").has_value();
    const bool active = json::GetBool(k, "active").value_or(false);
    t.AddRow({StringField(k, "id"), StringField(k, "name"), StringField(k, "role"), StringField(k, "agent"),
              StringField(k, "prefix"), TimeField(k, "created_at"), TimeField(k, "last_used_at"), Expiry(k),
              revoked ? "revoked" : active ? "active" : "expired"});
  }
  return t.Render();
}

std::string KeyBlock(const cJSON* k) {
  return KeyValueBlock({{"id", StringField(k, "id")},
                        {"name", StringField(k, "name")},
                        {"description", StringField(k, "description")},
                        {"role", StringField(k, "role")},
                        {"agent", StringField(k, "agent").empty() ? "-" : StringField(k, "agent")},
                        {"prefix", StringField(k, "prefix")},
                        {"created", TimeField(k, "created_at")},
                        {"last used", TimeField(k, "last_used_at")},
                        {"expires", Expiry(k)},
                        {"revoked", TimeField(k, "revoked_at")},
                        {"active", json::GetBool(k, "active").value_or(false) ? "yes" : "no"}});
}

// PATH as the directory whose .env gets the key: a directory, or a file named .env.
std::string EnvDir(const std::string& path, int* exit_code) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return path;
  std::string copy = path;
  const std::string base = basename(copy.data());
  if (base != ".env") {
    *exit_code = Fail(kExitInvalid, path + ": not a directory or a .env file");
    return "";
  }
  copy = path;
  return dirname(copy.data());
}

// Writes KEYCELL_API_KEY='<key>' into dir/.env (other lines kept, temp file + rename)
// and makes sure git ignores it.
int WriteKeyToEnv(const std::string& path, const cJSON* issued) {
  int rc = kExitOk;
  const std::string dir = EnvDir(path, &rc);
  if (dir.empty()) return rc;
  const auto key = json::GetString(issued, "key");
  if (!key) return Fail(kExitFailure, "keycelld sent no key");
  const std::string_view head = "KEYCELL_API_KEY='", tail = "'\n";
  auto buffer = SecureBuffer::Allocate(head.size() + key->size() + tail.size());
  if (!buffer.ok()) return Fail(kExitFailure, "out of memory");
  SecureBuffer& line = *buffer;
  memcpy(line.data(), head.data(), head.size());
  memcpy(line.data() + head.size(), key->data(), key->size());
  memcpy(line.data() + head.size() + key->size(), tail.data(), tail.size());
  const Status st = broker::envfile::ReplaceEnvFile(dir, {"KEYCELL_API_KEY"}, [&](int fd) -> Status {
    return broker::envfile::WriteAll(fd, ByteView(line.data(), line.size()));
  });
  if (!st.ok()) return Fail(kExitFailure, std::string("cannot write ") + dir + "/.env: " + st.where());
  auto ignored = broker::envfile::EnsureGitignored(dir);
  std::string text = "keycell: wrote KEYCELL_API_KEY for key " + StringField(issued, "id") + " to " + dir + "/.env\n";
  if (ignored.ok() && *ignored) text += "keycell: added .env to " + dir + "/.gitignore\n";
  return PrintText(text);
}

// Prints a fresh key once: alone on stdout (notes on stderr), or into a .env.
int ShowIssued(const cJSON* r, const std::string& use_in_env, bool as_json) {
  if (!use_in_env.empty()) return WriteKeyToEnv(use_in_env, r);
  if (as_json) return PrintJson(r);
  std::string note = "keycell: API key " + StringField(r, "id") + " (" + StringField(r, "name") + ", role " +
                     StringField(r, "role") + (StringField(r, "agent").empty() ? "" : ", agent " + StringField(r, "agent")) +
                     ", expires " + Expiry(r) + "); shown once, store it now\n";
  if (const std::string old = StringField(r, "replaced_id"); !old.empty())
    note += "keycell: the previous key " + old + " is revoked\n";
  fputs(note.c_str(), stderr);
  return PrintText(StringField(r, "key") + "\n");
}

int Issue(std::string_view op, const json::Json& args, const std::string& use_in_env, bool as_json) {
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json r;
  if ((rc = session->Call(op, args.get(), -1, &r)) != kExitOk) return rc;
  return ShowIssued(r.get(), use_in_env, as_json);
}

}  // namespace

void RegisterApiKeyCommands(CLI::App& app, int& exit_code) {
  CLI::App* keys = AddCommand(app, "apikeys", "Manage API keys for keycelld's HTTP endpoints", kApiKeysDetails);
  keys->require_subcommand(1);

  struct CreateArgs {
    std::string name, description, role = "member", agent, use_in_env;
    int64_t days = 90;
    bool as_json = false;
  };
  auto ca = Make<CreateArgs>();
  CLI::App* c = AddCommand(*keys, "create", "Create an API key (shown once)", kApiKeysDetails);
  c->add_option("name", ca->name, "A name to recognise the key by")->required();
  c->add_option("--description", ca->description, "Free text");
  c->add_option("--expires-in-days", ca->days, "Lifetime in days; 0 = never (default 90)")->check(CLI::Range(0, 3650));
  c->add_option("--role", ca->role, "member, admin or owner (default member)")
      ->check(CLI::IsMember({"member", "admin", "owner"}));
  c->add_option("--agent", ca->agent, "Act as this agent (its scopes apply)");
  c->add_option("--use-in-env", ca->use_in_env, "Write the key to PATH/.env as KEYCELL_API_KEY instead of printing it");
  c->add_flag("--json", ca->as_json, "Print JSON (including the key)");
  c->callback([ca, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "name", ca->name);
    (void)json::SetString(args.get(), "description", ca->description);
    (void)json::SetInt(args.get(), "expires_in_days", ca->days);
    (void)json::SetString(args.get(), "role", ca->role);
    if (!ca->agent.empty()) (void)json::SetString(args.get(), "agent", ca->agent);
    exit_code = Issue("apikeys.create", args, ca->use_in_env, ca->as_json);
  });

  auto active_only = Make<bool>();
  auto list_json = Make<bool>();
  c = AddCommand(*keys, "list", "List API keys (never the keys themselves)", kApiKeysDetails);
  c->add_flag("--active-only", *active_only, "Only keys neither revoked nor expired");
  c->add_flag("--json", *list_json, "Print JSON");
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetBool(args.get(), "active_only", *active_only);
    exit_code = CallAndPrint("apikeys.list", args.get(), *list_json, KeysTable);
  });

  for (const char* op : {"view", "revoke", "delete"}) {
    auto id = Make<std::string>();
    auto as_json = Make<bool>();
    const std::string_view o = op;
    c = AddCommand(*keys, op,
                   o == "view"     ? "Show one API key's details"
                   : o == "revoke" ? "Revoke an API key (kept in the list, refused from the next request)"
                                   : "Delete an API key",
                   kApiKeysDetails);
    c->add_option("id", *id, "The key's id (apikeys list)")->required();
    if (o == "view") c->add_flag("--json", *as_json, "Print JSON");
    c->callback([=, &exit_code] {
      json::Json args = json::MakeObject();
      (void)json::SetString(args.get(), "id", *id);
      exit_code = CallAndPrint(std::string("apikeys.") + op, args.get(), *as_json, [o](const cJSON* r) {
        if (o == "delete") return "keycell: deleted API key " + StringField(r, "deleted") + "\n";
        if (o == "revoke") return "keycell: revoked API key " + StringField(r, "id") + "\n";
        return KeyBlock(r);
      });
    });
  }

  auto use_id = Make<std::string>();
  auto use_path = Make<std::string>();
  auto use_days = std::make_shared<int64_t>(90);
  c = AddCommand(*keys, "use", "Re-issue an API key into PATH/.env (the old key is revoked)", kApiKeysDetails);
  c->add_option("id", *use_id, "The key's id")->required();
  c->add_option("path", *use_path, "Project directory, or its .env file")->required();
  c->add_option("--expires-in-days", *use_days, "Lifetime of the new key; 0 = never (default 90)")
      ->check(CLI::Range(0, 3650));
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    (void)json::SetString(args.get(), "id", *use_id);
    (void)json::SetInt(args.get(), "expires_in_days", *use_days);
    exit_code = Issue("apikeys.reissue", args, *use_path, false);
  });
}

}  // namespace keycell::cli

// Credential values in and out: add, rotate, get, rm. Values only ever travel through
// pipes between this process and the enclave (secret_io.h); keycelld passes the pipe
// along and never reads it.

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "broker/cli/commands.h"
#include "broker/cli/credential_args.h"
#include "broker/cli/output.h"
#include "broker/cli/secret_io.h"
#include "broker/cli/session.h"
#include "broker/cli/terminal.h"

namespace keycell::cli {
namespace {

constexpr char kAddDetails[] =
    "Stores a new credential. The value is read from stdin when stdin is not a terminal\n"
    "(everything up to EOF, one trailing newline removed), otherwise from a no-echo\n"
    "prompt (typed once; paste it; a terminal line holds at most 4095 bytes, pipe\n"
    "longer values). It is never taken from the command line. At most 64 KiB.\n"
    "\n"
    "The value is sealed by the enclave together with its policy: the hosts it may be\n"
    "sent to (--allow-host), how it is injected into requests (--inject), whether it\n"
    "may be printed (--revealable, --reveal-agent), written to .env files\n"
    "(--env-export) or sent over plain http (--insecure-http). A known --provider fills\n"
    "the host and recipe (openai: api.openai.com, bearer). Widening a sealed policy\n"
    "later needs the PIN again, so start narrow. `keycell run` and `keycell env` hand\n"
    "the value to programs, so they need --env-export.\n"
    "\n"
    "An existing NAME is refused (exit 8) unless --overwrite, which adds a new version\n"
    "with the new value, metadata and policy; older versions stay for rollback.\n"
    "\n"
    "Examples:\n"
    "  keycell add openai-prod --provider openai --env prod < key.txt\n"
    "  printf %s \"$TOKEN\" | keycell add gh --provider github --tag ci --expires 90d\n"
    "  keycell add internal-api --allow-host api.internal.example:8443 --inject header:X-Api-Key\n"
    "  keycell add legacy --env-export --revealable        # prompts for the value\n";

constexpr char kRotateDetails[] =
    "Stores a new value for NAME as a new version (read like `keycell add`: stdin or a\n"
    "no-echo prompt) and makes it current. The sealed policy is kept; every old version\n"
    "stays available to `keycell rollback`. Concurrent rotations of one name are\n"
    "serialised (a rotation that raced another is retried), so history stays linear.\n"
    "\n"
    "Examples:\n"
    "  keycell rotate openai-prod < new-key.txt\n"
    "  pass show openai | keycell rotate openai-prod\n";

constexpr char kGetDetails[] =
    "Prints the plaintext of NAME's current version to stdout: exactly the value, with\n"
    "no trailing newline unless stdout is a terminal. Only for credentials sealed with\n"
    "--revealable (or --reveal-agent); --reveal and a --purpose (sent to the enclave)\n"
    "are required so that nobody prints a key by accident. To use a key without seeing\n"
    "it, prefer `keycell run` or `keycell env`.\n"
    "\n"
    "Example:\n"
    "  keycell get openai-prod --reveal --purpose \"paste into the vendor console\"\n";

constexpr char kRmDetails[] =
    "Removes NAME, all its sealed versions and its project assignments. Asks for\n"
    "confirmation on a terminal; without a terminal, --yes is required (exit 2\n"
    "otherwise). There is no undo (except a backup from `keycell export --sealed`).\n"
    "\n"
    "Examples:\n"
    "  keycell rm old-key\n"
    "  keycell rm old-key --yes\n";

struct AddOptions {
  std::string name;
  AddFlags flags;
};

int RunAdd(const AddOptions& o) {
  std::string why;
  auto args = AddArgs(o.flags, o.name, time(nullptr), &why);
  if (!args.ok()) return Fail(kExitInvalid, why);
  auto value = ReadValueInput("Value for " + o.name + " (no echo): ");
  if (!value.ok()) return ValueInputFail(value.status());
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json result;
  if ((rc = SendValue(*session, "add", args->get(), value->view(), &result)) != kExitOk) return rc;
  printf("keycell: %s '%s' (version %s)\n",
         o.flags.overwrite && IntField(result.get(), "version") != "1" ? "replaced the value of"
                                                                       : "added",
         o.name.c_str(), IntField(result.get(), "version").c_str());
  return kExitOk;
}

int RunRotate(const std::string& name) {
  json::Json args = json::MakeObject();
  if (!json::SetString(args.get(), "name", name).ok())
    return Fail(kExitInvalid, "the name is not valid UTF-8 text");
  auto value = ReadValueInput("New value for " + name + " (no echo): ");
  if (!value.ok()) return ValueInputFail(value.status());
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json result;
  if ((rc = SendValue(*session, "rotate", args.get(), value->view(), &result)) != kExitOk)
    return rc;
  printf("keycell: rotated '%s' (now version %s)\n", name.c_str(),
         IntField(result.get(), "version").c_str());
  return kExitOk;
}

struct GetOptions {
  std::string name, purpose, agent;
  bool reveal = false;
};

int RunGet(const GetOptions& o) {
  if (!o.reveal)
    return Fail(kExitUsage,
                "get prints the plaintext of '" + o.name +
                    "': confirm with --reveal --purpose TEXT (or use the key without seeing it: "
                    "keycell run, keycell env)");
  if (o.purpose.find_first_not_of(" \t") == std::string::npos)
    return Fail(kExitUsage, "get --reveal needs --purpose TEXT: why the plaintext is needed");
  json::Json args = json::MakeObject();
  if (!json::SetString(args.get(), "name", o.name).ok() ||
      !json::SetString(args.get(), "purpose", o.purpose).ok() ||
      !json::SetString(args.get(), "agent_id", o.agent).ok())
    return Fail(kExitInvalid, "arguments must be valid UTF-8 text");
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  SecureBuffer secret;
  json::Json result;
  if ((rc = session->CallWithOutput("get", args.get(), kMaxValueBytes, &secret, &result)) !=
      kExitOk)
    return rc;
  if (!WriteSecret(STDOUT_FILENO, secret.view()).ok())
    return Fail(kExitFailure, "cannot write to stdout");
  if (isatty(STDOUT_FILENO))
    (void)!write(STDOUT_FILENO, "\n", 1);  // keep the prompt off the value's line
  return kExitOk;
}

int RunRemove(const std::string& name, bool yes) {
  json::Json args = json::MakeObject();
  if (!json::SetString(args.get(), "name", name).ok())
    return Fail(kExitInvalid, "the name is not valid UTF-8 text");
  if (!yes && !isatty(STDIN_FILENO))
    return Fail(kExitUsage,
                "not removing '" + name + "' without confirmation: no terminal (add --yes)");
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json shown;
  if ((rc = session->Call("show", args.get(), -1, &shown)) != kExitOk)
    return rc;  // not_found before asking
  if (!yes) {
    const std::string q = "Remove '" + name + "' and its " +
                          IntField(shown.get(), "latest_version") + " sealed version(s)? [y/N] ";
    if (!AskYesNo(q)) return Fail(kExitFailure, "not removed");
  }
  json::Json result;
  if ((rc = session->Call("rm", args.get(), -1, &result)) != kExitOk) return rc;
  printf("keycell: removed '%s'\n", name.c_str());
  return kExitOk;
}

}  // namespace

void RegisterCredentialCommands(CLI::App& app, int& exit_code) {
  auto add = std::make_shared<AddOptions>();
  CLI::App* c = AddCommand(
      app, "add", "Store a new credential (value from stdin or a no-echo prompt)", kAddDetails);
  c->add_option("name", add->name,
                "Credential name (its variable in run/env: upper case, _ for others)")
      ->required();
  AddFlagsTo(c, add->flags, true);
  c->callback([add, &exit_code] { exit_code = RunAdd(*add); });

  auto rotate = std::make_shared<std::string>();
  c = AddCommand(app, "rotate", "Store a new value as a new version (old versions kept)",
                 kRotateDetails);
  c->add_option("name", *rotate, "Credential name")->required();
  c->callback([rotate, &exit_code] { exit_code = RunRotate(*rotate); });

  auto get = std::make_shared<GetOptions>();
  c = AddCommand(app, "get", "Print a revealable credential's value (needs --reveal --purpose)",
                 kGetDetails);
  c->add_option("name", get->name, "Credential name")->required();
  c->add_flag("--reveal", get->reveal, "Confirm that the plaintext should be printed");
  c->add_option("--purpose", get->purpose,
                "Why the plaintext is needed (sent to the enclave with the request)")
      ->type_name("TEXT");
  c->add_option("--agent", get->agent, "Agent id to reveal as (for --reveal-agent policies)")
      ->type_name("ID");
  c->callback([get, &exit_code] { exit_code = RunGet(*get); });

  auto rm_name = std::make_shared<std::string>();
  auto rm_yes = std::make_shared<bool>(false);
  c = AddCommand(app, "rm", "Remove a credential and all its versions", kRmDetails);
  c->add_option("name", *rm_name, "Credential name")->required();
  c->add_flag("-y,--yes", *rm_yes, "Do not ask for confirmation");
  c->callback([rm_name, rm_yes, &exit_code] { exit_code = RunRemove(*rm_name, *rm_yes); });
}

}  // namespace keycell::cli

// Moving credentials in and out: `import FILE.env` (a dotenv file into the vault,
// values never echoed), `import --sealed FILE` / `export --sealed FILE` (backups of
// the sealed store, useless without the token).

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/cli/commands.h"
#include "broker/cli/credential_args.h"
#include "broker/cli/output.h"
#include "broker/cli/secret_io.h"
#include "broker/cli/session.h"
#include "broker/envfile/dotenv_parser.h"

namespace keycell::cli {
namespace {

constexpr char kImportDetails[] =
    "With FILE.env: moves every variable of a dotenv file into the vault, one credential\n"
    "per variable, named after it. The values are parsed here (python-dotenv's dialect,\n"
    "no interpolation; ambiguous syntax is refused with its line number) and each goes\n"
    "to the enclave through a pipe; none is printed. --provider, --env, --tag and the\n"
    "policy flags apply to every imported credential. A name already in the vault is\n"
    "skipped unless --overwrite. Prints the counts of added, skipped and failed\n"
    "variables; exits non-zero if any failed. Delete the plaintext file afterwards.\n"
    "\n"
    "With --sealed FILE: merges a backup written by `keycell export --sealed` (all or\n"
    "nothing; conflicting names stop the import).\n"
    "\n"
    "Examples:\n"
    "  keycell import .env --env dev --env-export && shred -u .env\n"
    "  keycell import prod.env --provider openai --env prod\n"
    "  keycell import --sealed ~/backups/keycell-2026-01-01.db\n";

constexpr char kExportDetails[] =
    "Writes a consistent snapshot of the sealed store (metadata and every sealed\n"
    "version, no plaintext) to FILE (0600, written to a temporary file and renamed).\n"
    "The backup is useless without the token holding the KEK: keep a token backup too\n"
    "(for the embedded SoftHSM2 token, <data_dir>/softhsm). Plaintext export is\n"
    "deliberately not offered; use `keycell env` for a project's .env.\n"
    "\n"
    "Example:\n"
    "  keycell export --sealed ~/backups/keycell-$(date +%F).db\n";

struct ImportOptions {
  std::string file, sealed;
  AddFlags flags;
};

// `path` made absolute without requiring it to exist (export creates it): the
// directory is resolved, the last component kept.
std::string AbsoluteNewPath(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  char resolved[PATH_MAX];
  if (realpath(dir.c_str(), resolved) == nullptr) return "";
  return std::string(resolved) + (std::string_view(resolved) == "/" ? "" : "/") + base;
}

int RunSealed(const char* op, const std::string& path) {
  const std::string file = AbsoluteNewPath(path);
  if (file.empty() || file.back() == '/') return Fail(kExitInvalid, path + ": no such directory");
  json::Json args = json::MakeObject();
  if (!json::SetString(args.get(), "file", file).ok())
    return Fail(kExitInvalid, "the path is not valid UTF-8");
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json r;
  if ((rc = session->Call(op, args.get(), -1, &r)) != kExitOk) return rc;
  if (std::string_view(op) == "export_sealed")
    return PrintText("keycell: sealed backup written to " + file + "\n");
  return PrintText("keycell: imported " + file + ": " + IntField(r.get(), "credentials_added") +
                   " added, " + IntField(r.get(), "credentials_updated") + " updated (" +
                   IntField(r.get(), "versions_added") + " versions), " +
                   IntField(r.get(), "unchanged") + " unchanged\n");
}

Result<std::vector<broker::envfile::EnvEntry>> ParseFile(const std::string& path,
                                                         std::string* why) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    *why = path + ": " + strerror(errno);
    return Status(Err::kUpstreamIo, "open", errno);
  }
  auto bytes =
      ReadAllSecret(fd.get(), broker::envfile::kMaxDotenvBytes);  // the file holds plaintexts
  if (!bytes.ok()) {
    *why =
        path + (bytes.status().code() == Err::kTooLarge ? ": larger than 1 MiB" : ": cannot read");
    return bytes.status();
  }
  auto entries = broker::envfile::ParseDotenv(bytes->view().bytes());
  if (!entries.ok()) *why = path + ": " + broker::envfile::DescribeEnvfileError(entries.status());
  return entries;
}

// Errors that will hit every remaining variable too: stop instead of repeating them.
bool Fatal(const ControlError& e) {
  return e.code == "locked" || e.code == "enclave_unavailable" || e.code == "daemon_unavailable" ||
         e.code == "internal";
}

int RunImportDotenv(const ImportOptions& o) {
  std::string why;
  auto entries = ParseFile(o.file, &why);
  if (!entries.ok())
    return Fail(entries.status().code() == Err::kUpstreamIo ? kExitFailure : kExitInvalid, why);
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  size_t added = 0, skipped = 0, failed = 0;
  int last_failure = kExitOk;
  for (const auto& e : *entries) {
    ControlError err;
    auto args = AddArgs(o.flags, e.name, time(nullptr), &why);
    if (!args.ok()) return Fail(kExitInvalid, why);
    if (e.value.empty()) err = ControlError{"invalid_argument", "empty value", kExitInvalid};
    json::Json result;
    rc = e.value.empty() ? kExitInvalid
                         : SendValue(*session, "add", args->get(), e.value.view(), &result, &err);
    if (rc == kExitOk)
      ++added;
    else if (err.code == "exists")
      ++skipped;
    else {
      ++failed;
      last_failure = Fail(rc, e.name + " (line " + std::to_string(e.line) + "): " + err.message);
      if (Fatal(err)) return last_failure;
    }
  }
  printf("keycell: imported %s: %zu added, %zu skipped (already in the vault%s), %zu failed\n",
         o.file.c_str(), added, skipped, o.flags.overwrite ? "" : "; --overwrite replaces them",
         failed);
  return failed > 0 ? last_failure : kExitOk;
}

int RunImport(const ImportOptions& o) {
  if (o.file.empty() == o.sealed.empty())
    return Fail(kExitUsage,
                "import needs either FILE.env or --sealed FILE (see keycell import --help)");
  if (!o.sealed.empty()) return RunSealed("import_sealed", o.sealed);
  return RunImportDotenv(o);
}

}  // namespace

void RegisterImportExportCommands(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* c = AddCommand(app, "import", "Import a .env file (or a sealed backup) into the vault",
                           kImportDetails);
  c->add_option("file", o->file, "Dotenv file to import")->type_name("FILE.env");
  c->add_option("--sealed", o->sealed, "Merge a sealed backup written by keycell export --sealed")
      ->type_name("FILE");
  AddFlagsTo(c, o->flags, false);
  c->callback([o, &exit_code] { exit_code = RunImport(*o); });

  auto out = std::make_shared<std::string>();
  c = AddCommand(app, "export", "Write a sealed backup of the store", kExportDetails);
  c->add_option("--sealed", *out, "Backup file to write")->required()->type_name("FILE");
  c->callback([out, &exit_code] { exit_code = RunSealed("export_sealed", *out); });
}

}  // namespace keycell::cli

// projects, assign, unassign, env, run, export_sealed, import_sealed.

#include <limits.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "broker/daemon/policy_spec.h"
#include "broker/daemon/vault.h"
#include "broker/envfile/env_file_merge.h"
#include "broker/envfile/gitignore.h"

namespace keycell::broker::daemon {
namespace {

Result<std::string> RequirePath(const cJSON* args, const char* key) {
  const auto p = json::GetString(args, key);
  if (!p || p->empty() || (*p)[0] != '/') return Status(Err::kInvalidArgument, "path must be absolute");
  return store::NormalizeProjectPath(*p);
}

// The credentials an env/run request names: `keys` if given, else those assigned to
// `project`. Each with its current sealed version.
struct Selected {
  std::vector<store::SealedVersion> versions;
  std::vector<std::string> env_names;
};

// An agent gets only what its scopes cover: one credential outside them refuses the
// whole request (kPolicyDenied), like one that may not be exported.
Result<Selected> Select(store::Store& store, const identity::Principal& who, const cJSON* args,
                        const std::string& project, std::string* why) {
  std::vector<std::string> names = StringArray(args, "keys");
  if (names.empty() && !project.empty()) {
    KC_ASSIGN_OR_RETURN(const auto creds, store.CredentialsForProject(project));
    for (const auto& c : creds) names.push_back(c.name);
  }
  if (names.empty()) {
    *why = "no keys: pass --keys A,B or assign keys to the project (keycell assign NAME PATH)";
    return Status(Err::kInvalidArgument, "select");
  }
  if (names.size() > ipc::kMaxAttachments) {
    *why = "at most 64 keys at once";
    return Status(Err::kTooLarge, "select");
  }
  Selected out;
  for (const std::string& n : names) {
    if (Status st = identity::Authorize(who, identity::Action::kUse, n); !st.ok()) {
      *why = "'" + n + "' is outside the agent's scopes";
      return st;
    }
    auto v = store.GetCurrent(n);
    if (!v.ok()) {
      *why = "no such credential: " + n;
      return v.status();
    }
    out.env_names.push_back(EnvNameFor(n));
    out.versions.push_back(std::move(*v));
  }
  return out;
}

// The audit record of an env/run: which credentials (names and versions), never values.
AuditFacts FactsOf(const Selected& s, std::string prefix) {
  AuditFacts f;
  if (s.versions.size() == 1) {
    f.credential = s.versions[0].name;
    f.version = s.versions[0].version;
  }
  f.detail = std::move(prefix);
  for (const auto& v : s.versions) f.detail += (&v == &s.versions.front() ? "" : ",") + v.name;
  return f;
}

std::vector<EnvItem> Items(const Selected& s) {
  std::vector<EnvItem> items;
  for (size_t i = 0; i < s.versions.size(); ++i) {
    const auto& v = s.versions[i];
    items.push_back({RefOf(v.record_id, v.version, v.name), s.env_names[i], v.sealed});
  }
  return items;
}

json::Json Outcome(const WriteEnvOutcome& w) {
  json::Json out = json::MakeObject();
  (void)json::SetInt(out.get(), "written", w.written);
  json::Json skipped = json::MakeArray();
  for (const auto& s : w.skipped)
    if (auto j = json::MakeString(s); j.ok()) (void)json::Append(skipped.get(), std::move(*j));
  (void)json::Set(out.get(), "skipped", std::move(skipped));
  return out;
}

}  // namespace

OpResult Vault::OpProjects(const identity::Principal&, const cJSON*, UniqueFd) {
  auto list = store_.ListProjects();
  if (!list.ok()) return Fail(list.status());
  json::Json out = json::MakeArray();
  for (const store::Project& p : *list) {
    json::Json o = json::MakeObject();
    (void)json::SetString(o.get(), "path", p.path);
    json::Json names = json::MakeArray();
    for (const auto& n : p.credentials)
      if (auto s = json::MakeString(n); s.ok()) (void)json::Append(names.get(), std::move(*s));
    (void)json::Set(o.get(), "keys", std::move(names));
    (void)json::Append(out.get(), std::move(o));
  }
  return Ok(std::move(out));
}

OpResult Vault::OpAssign(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string name(json::GetString(args, "name").value_or(""));
  auto path = RequirePath(args, "path");
  if (!path.ok()) return Fail(path.status(), "the project path must be absolute");
  if (Status st = store_.Assign(name, *path); !st.ok())
    return Fail(st, st.code() == Err::kUnknownKey ? "no such credential" : "");
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "name", name);
  (void)json::SetString(out.get(), "path", *path);
  return Ok(std::move(out));
}

OpResult Vault::OpUnassign(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string name(json::GetString(args, "name").value_or(""));
  auto path = RequirePath(args, "path");
  if (!path.ok()) return Fail(path.status(), "the project path must be absolute");
  if (Status st = store_.Unassign(name, *path); !st.ok())
    return Fail(st, st.code() == Err::kUnknownKey ? "not assigned" : "");
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "name", name);
  (void)json::SetString(out.get(), "path", *path);
  return Ok(std::move(out));
}

// keycelld opens the .env itself (temp file, fsync, rename) and hands the fd to the
// enclave, which writes the values; keycelld never sees them.
OpResult Vault::OpEnv(const identity::Principal& who, const cJSON* args, UniqueFd) {
  auto path = RequirePath(args, "path");
  if (!path.ok()) return Fail(path.status(), "the project path must be absolute");
  std::string why;
  auto sel = Select(store_, who, args, *path, &why);
  if (!sel.ok()) return Fail(sel.status(), why);
  const AuditFacts facts = FactsOf(*sel, *path + ": ");
  const std::vector<EnvItem> items = Items(*sel);
  WriteEnvOutcome outcome;
  Status st = envfile::ReplaceEnvFile(*path, sel->env_names, [&](int fd) -> Status {
    auto w = enclave_.WriteEnv(fd, items);
    if (!w.ok()) return w.status();
    outcome = std::move(*w);
    // All or nothing: a refused entry would otherwise lose its old line in .env.
    if (!outcome.skipped.empty()) return Status(Err::kPolicyDenied, "env: not exportable");
    return Status::Ok();
  });
  if (st.code() == Err::kPolicyDenied && !outcome.skipped.empty()) {
    std::string names;
    for (const auto& n : outcome.skipped) names += (names.empty() ? "" : ", ") + n;
    return WithAudit(Fail(st, "not written, .env unchanged: " + names +
                                  " cannot be exported (sealed without --env-export, or a value that is not "
                                  "valid UTF-8 text)"),
                     facts);
  }
  if (!st.ok())
    return WithAudit(Fail(st, st.code() == Err::kInvalidArgument ? std::string("cannot write .env: ") + st.where() : ""),
                     facts);
  auto ignored = envfile::EnsureGitignored(*path);
  json::Json out = Outcome(outcome);
  (void)json::SetString(out.get(), "file", *path + "/.env");
  (void)json::SetBool(out.get(), "gitignore_updated", ignored.ok() && *ignored);
  return WithAudit(Ok(std::move(out)), facts);
}

// The fd is a pipe whose read end the CLI holds: NAME\0value\0 records go from the
// enclave straight to the CLI, which builds the child's environment from them.
OpResult Vault::OpRun(const identity::Principal& who, const cJSON* args, UniqueFd fd) {
  if (!fd) return Fail(Status(Err::kInvalidArgument, "run"), "run needs the environment pipe");
  std::string project;
  if (json::GetString(args, "project")) {
    auto p = RequirePath(args, "project");
    if (!p.ok()) return Fail(p.status(), "the project path must be absolute");
    project = *p;
  }
  std::string why;
  auto sel = Select(store_, who, args, project, &why);
  if (!sel.ok()) return Fail(sel.status(), why);
  const AuditFacts facts = FactsOf(*sel, "");
  const std::vector<EnvItem> items = Items(*sel);
  auto w = enclave_.WriteEnv(fd.get(), items, EnvFormat::kNulRecords);
  if (!w.ok()) return WithAudit(Fail(w.status()), facts);
  return WithAudit(Ok(Outcome(*w)), facts);
}

OpResult Vault::OpExportSealed(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string file(json::GetString(args, "file").value_or(""));
  if (file.empty() || file[0] != '/') return Fail(Status(Err::kInvalidArgument, "file"), "the file path must be absolute");
  if (Status st = store_.ExportSealed(file); !st.ok()) return Fail(st, std::string("export failed: ") + st.where());
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "file", file);
  return Ok(std::move(out));
}

OpResult Vault::OpImportSealed(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string file(json::GetString(args, "file").value_or(""));
  if (file.empty() || file[0] != '/') return Fail(Status(Err::kInvalidArgument, "file"), "the file path must be absolute");
  std::vector<std::string> conflicts;
  auto r = store_.ImportSealed(file, &conflicts);
  if (!r.ok()) {
    std::string msg = std::string("import failed: ") + r.status().where();
    for (const auto& c : conflicts) msg += (&c == &conflicts.front() ? " (" : ", ") + c;
    if (!conflicts.empty()) msg += ")";
    return Fail(r.status(), msg);
  }
  json::Json out = json::MakeObject();
  (void)json::SetInt(out.get(), "credentials_added", r->credentials_added);
  (void)json::SetInt(out.get(), "credentials_updated", r->credentials_updated);
  (void)json::SetInt(out.get(), "versions_added", r->versions_added);
  (void)json::SetInt(out.get(), "unchanged", r->unchanged);
  return Ok(std::move(out));
}

}  // namespace keycell::broker::daemon

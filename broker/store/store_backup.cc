// Sealed backups: ExportSealed writes a standalone copy with SQLite's backup API;
// ImportSealed attaches a copy read-only and merges it with INSERT ... SELECT in one
// transaction. Backups hold only sealed blobs, useless without the token, but are still
// written 0600 since names, notes and project paths are private.

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "broker/store/private_files.h"
#include "broker/store/schema.h"
#include "broker/store/store.h"
#include "broker/store/store_internal.h"

namespace keycell::broker::store {
namespace {

// Removes a temporary file unless the export reached its rename.
struct TempFile {
  std::string path;
  bool keep = false;
  ~TempFile() {
    if (!keep) unlink(path.c_str());
  }
};

Status CopyDatabase(const Db& src, const Db& dest) {
  sqlite3_backup* b = sqlite3_backup_init(dest.get(), "main", src.get(), "main");
  if (b == nullptr) return SqliteStatus(sqlite3_extended_errcode(dest.get()), "store: backup");
  const int step_rc = sqlite3_backup_step(b, -1);  // all pages, one read transaction
  const int finish_rc = sqlite3_backup_finish(b);
  if (step_rc != SQLITE_DONE) return SqliteStatus(step_rc, "store: backup");
  return SqliteStatus(finish_rc, "store: backup");
}

// The rename at the end of an export would replace the live database (and orphan its
// WAL) if `file` named it.
Status RefuseOwnFile(const Db& db, const std::string& file) {
  struct stat target {};
  struct stat own {};
  const char* own_path = sqlite3_db_filename(db.get(), "main");
  if (stat(file.c_str(), &target) != 0 || own_path == nullptr || stat(own_path, &own) != 0) {
    return Status::Ok();  // nothing there yet (or unknown): the rename cannot hit the store
  }
  if (target.st_dev == own.st_dev && target.st_ino == own.st_ino) {
    return Status(Err::kInvalidArgument, "store: backup file is the store itself");
  }
  return Status::Ok();
}

// "file:" URI of `path` with mode=ro, percent-encoding everything that could be read
// as URI syntax.
std::string ReadOnlyUri(const std::string& path) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::strchr("/._-~", c) != nullptr) {
      uri.push_back(static_cast<char>(c));
    } else {
      char esc[4];
      std::snprintf(esc, sizeof(esc), "%%%02X", c);
      uri += esc;
    }
  }
  return uri + "?mode=ro";
}

// ATTACH cannot run inside a transaction, so this precedes the import's BEGIN.
Status AttachReadOnly(const Db& db, const std::string& file) {
  KC_ASSIGN_OR_RETURN(Statement attach,
                      Statement::Prepare(db, "ATTACH DATABASE ?1 AS src", "store: attach backup"));
  attach.Bind(1, ReadOnlyUri(file));
  return attach.Run();
}

// A file that SQLite cannot read as a database is bad input, not a store failure.
Status AsBadBackup(const Status& s) {
  const int primary = s.detail() & 0xff;
  if (s.ok() || (primary != SQLITE_NOTADB && primary != SQLITE_CORRUPT)) return s;
  return Status(Err::kInvalidArgument, "store: backup is not a keycell store", s.detail());
}

// Detaches "src" when the import ends, however it ends.
struct Detach {
  Db& db;
  ~Detach() { (void)db.Exec("DETACH DATABASE src", "store: DETACH"); }
};

Status CheckBackup(const Db& db) {
  const Result<std::string> check =
      db.QueryText("PRAGMA src.quick_check", "store: backup quick_check");
  if (!check.ok()) return AsBadBackup(check.status());
  if (*check != "ok") return Status(Err::kInvalidArgument, "store: backup failed quick_check");
  KC_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(db, "src"));
  if (version == 0) return Status(Err::kInvalidArgument, "store: backup is not a keycell store");
  if (version > kLatestSchemaVersion) return Status(Err::kInvalidArgument, kSchemaTooNew, version);
  // TODO(store): a backup from an older schema must be migrated in a temporary copy
  // before merging; with a single schema version there is none yet.
  if (version != kLatestSchemaVersion) {
    return Status(Err::kInvalidArgument, "store: backup schema too old", version);
  }
  // The one rule the tables cannot CHECK (see schema.cc).
  KC_ASSIGN_OR_RETURN(int64_t bad_json, db.QueryInt("SELECT count(*) FROM src.credential_versions "
                                                    "WHERE policy <> '' AND NOT json_valid(policy)",
                                                    "store: backup policy check"));
  if (bad_json != 0) return Status(Err::kInvalidArgument, "store: backup policy is not JSON");
  return Status::Ok();
}

// Names whose import would break an invariant: one name, two record ids; one record id,
// two names; one (record id, version), two different blobs.
constexpr const char kSelectConflicts[] = R"sql(
SELECT s.name FROM src.credentials s JOIN main.credentials m ON m.name = s.name
 WHERE m.record_id <> s.record_id
UNION
SELECT s.name FROM src.credentials s JOIN main.credentials m ON m.record_id = s.record_id
 WHERE m.name <> s.name
UNION
SELECT s.name FROM src.credentials s JOIN main.credentials m ON m.record_id = s.record_id
  JOIN src.credential_versions sv ON sv.credential_id = s.id
  JOIN main.credential_versions mv ON mv.credential_id = m.id AND mv.version = sv.version
 WHERE mv.sealed <> sv.sealed
ORDER BY 1)sql";

Result<std::vector<std::string>> FindConflicts(const Db& db) {
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db, kSelectConflicts, "store: select import conflicts"));
  std::vector<std::string> names;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return names;
    names.push_back(st.Text(0));
  }
}

// The merge, in order. Rows are never inserted with OR IGNORE: that would also skip
// rows failing a CHECK, and a backup that breaks a limit must fail loudly instead.
enum class Count { kNone, kCredentials, kVersions, kUpdated };
struct MergeStep {
  Count count;  // which report field the statement's changes (or single result) feed
  const char* sql;
};
constexpr MergeStep kMergeSteps[] = {
    {Count::kNone, R"sql(
CREATE TEMP TABLE import_new AS
SELECT s.id AS src_id, s.record_id FROM src.credentials s
 WHERE NOT EXISTS (SELECT 1 FROM main.credentials m WHERE m.record_id = s.record_id))sql"},
    {Count::kUpdated, R"sql(
SELECT count(DISTINCT s.id) FROM src.credential_versions sv
  JOIN src.credentials s ON s.id = sv.credential_id
  JOIN main.credentials m ON m.record_id = s.record_id
 WHERE NOT EXISTS (SELECT 1 FROM main.credential_versions mv
                    WHERE mv.credential_id = m.id AND mv.version = sv.version))sql"},
    {Count::kCredentials, R"sql(
INSERT INTO main.credentials (record_id, name, provider, env, notes, created_at, rotated_at,
                              expires_at, current_version, policy)
SELECT s.record_id, s.name, s.provider, s.env, s.notes, s.created_at, s.rotated_at,
       s.expires_at, s.current_version,
       -- the policy copy is rebuilt from the version row, not taken from the file
       coalesce((SELECT sv.policy FROM src.credential_versions sv
                  WHERE sv.credential_id = s.id AND sv.version = s.current_version), '')
  FROM src.credentials s JOIN temp.import_new n ON n.src_id = s.id)sql"},
    {Count::kVersions, R"sql(
INSERT INTO main.credential_versions (credential_id, version, created_at, sealed, fingerprint,
                                      policy)
SELECT m.id, sv.version, sv.created_at, sv.sealed, sv.fingerprint, sv.policy
  FROM src.credential_versions sv
  JOIN src.credentials s ON s.id = sv.credential_id
  JOIN main.credentials m ON m.record_id = s.record_id
 WHERE NOT EXISTS (SELECT 1 FROM main.credential_versions mv
                    WHERE mv.credential_id = m.id AND mv.version = sv.version))sql"},
    {Count::kNone, R"sql(
INSERT INTO main.credential_tags (credential_id, tag)
SELECT m.id, t.tag FROM src.credential_tags t
  JOIN temp.import_new n ON n.src_id = t.credential_id
  JOIN main.credentials m ON m.record_id = n.record_id)sql"},
    {Count::kNone, R"sql(
INSERT INTO main.projects (path)
SELECT p.path FROM src.projects p
 WHERE NOT EXISTS (SELECT 1 FROM main.projects mp WHERE mp.path = p.path))sql"},
    {Count::kNone, R"sql(
INSERT INTO main.assignments (credential_id, project_id)
SELECT m.id, mp.id FROM src.assignments a
  JOIN temp.import_new n ON n.src_id = a.credential_id
  JOIN main.credentials m ON m.record_id = n.record_id
  JOIN src.projects sp ON sp.id = a.project_id
  JOIN main.projects mp ON mp.path = sp.path)sql"},
    {Count::kNone, "DROP TABLE temp.import_new"},
};

Result<ImportReport> Merge(const Db& db) {
  ImportReport report;
  int64_t src_total = 0;
  for (const MergeStep& step : kMergeSteps) {
    KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, step.sql, "store: import merge"));
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    const auto n = static_cast<uint32_t>(row ? st.Int(0) : db.Changes());
    if (step.count == Count::kCredentials) report.credentials_added = n;
    if (step.count == Count::kVersions) report.versions_added = n;
    if (step.count == Count::kUpdated) report.credentials_updated = n;
  }
  KC_ASSIGN_OR_RETURN(src_total,
                      db.QueryInt("SELECT count(*) FROM src.credentials", "store: import count"));
  report.unchanged =
      static_cast<uint32_t>(src_total) - report.credentials_added - report.credentials_updated;
  return report;
}

// The deferred foreign key would catch this at COMMIT too; checking first gives the
// caller an error that says what is wrong with the backup.
Status CheckCurrentVersionsExist(const Db& db) {
  KC_ASSIGN_OR_RETURN(int64_t missing, db.QueryInt(R"sql(
      SELECT count(*) FROM main.credentials c WHERE NOT EXISTS (
        SELECT 1 FROM main.credential_versions v
         WHERE v.credential_id = c.id AND v.version = c.current_version))sql",
                                                   "store: import check versions"));
  if (missing != 0) {
    return Status(Err::kInvalidArgument, "store: backup lacks a current version");
  }
  return Status::Ok();
}

}  // namespace

Status Store::ExportSealed(const std::string& file) {
  KC_RETURN_IF_ERROR(RefuseOwnFile(db_, file));
  TempFile tmp;
  KC_ASSIGN_OR_RETURN(UniqueFd fd, CreatePrivateTemp(file, &tmp.path));
  {
    KC_ASSIGN_OR_RETURN(Db dest, Db::Open(tmp.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
    {
      std::lock_guard<std::mutex> lock(mu_);
      KC_RETURN_IF_ERROR(CopyDatabase(db_, dest));
    }
    // The copy carries the WAL flag in its header; a backup must be one self-contained
    // file, so switch it to a rollback journal (this also folds in any WAL content).
    KC_ASSIGN_OR_RETURN(std::string mode, dest.QueryText("PRAGMA journal_mode = DELETE",
                                                         "store: backup journal_mode"));
    if (mode != "delete") return Status(Err::kInternal, "store: backup journal_mode");
  }
  if (fsync(fd.get()) != 0) return Status(Err::kUpstreamIo, "store: fsync backup", errno);
  if (rename(tmp.path.c_str(), file.c_str()) != 0) {
    return Status(Err::kUpstreamIo, "store: rename backup", errno);
  }
  tmp.keep = true;
  return FsyncParentDir(file);
}

Result<ImportReport> Store::ImportSealed(const std::string& file,
                                         std::vector<std::string>* conflicts) {
  if (access(file.c_str(), R_OK) != 0) return Status(Err::kUpstreamIo, "store: open backup", errno);
  std::lock_guard<std::mutex> lock(mu_);
  KC_RETURN_IF_ERROR(AsBadBackup(AttachReadOnly(db_, file)));
  Detach detach{db_};
  KC_RETURN_IF_ERROR(CheckBackup(db_));
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(std::vector<std::string> clashes, FindConflicts(db_));
  if (!clashes.empty()) {
    if (conflicts != nullptr) *conflicts = std::move(clashes);
    return Status(Err::kInvalidArgument, kImportConflict);
  }
  KC_ASSIGN_OR_RETURN(ImportReport report, Merge(db_));
  KC_RETURN_IF_ERROR(CheckCurrentVersionsExist(db_));
  KC_RETURN_IF_ERROR(tx.Commit());
  return report;
}

}  // namespace keycell::broker::store

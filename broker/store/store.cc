#include "broker/store/store.h"

#include <ctime>
#include <filesystem>

#include "broker/store/private_files.h"
#include "broker/store/schema.h"
#include "broker/store/store_internal.h"

namespace keycell::broker::store {

using internal::Exists;
using internal::ReadCredential;
using internal::ReadHead;
using internal::ReplaceTags;

namespace {

Status Configure(Db& db) {
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  KC_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON", "store: foreign_keys=ON"));
  KC_ASSIGN_OR_RETURN(std::string fk, db.QueryText("PRAGMA foreign_keys", "store: foreign_keys"));
  if (fk != "1") return Status(Err::kInternal, "store: foreign_keys=ON");
  KC_ASSIGN_OR_RETURN(std::string mode,
                      db.QueryText("PRAGMA journal_mode = WAL", "store: journal_mode=WAL"));
  if (mode != "wal") return Status(Err::kInternal, "store: journal_mode=WAL");
  // FULL (not WAL's usual NORMAL): every COMMIT fsyncs the WAL, so an acknowledged
  // write survives power loss, not just a process crash.
  return db.Exec("PRAGMA synchronous = FULL", "store: synchronous=FULL");
}

Result<int64_t> InsertCredentialRow(const Db& db, const CredentialMeta& meta,
                                    std::string_view record_id, const VersionWrite& v1) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      INSERT INTO credentials (record_id, name, provider, env, notes, created_at, expires_at,
                               current_version, policy)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8))sql",
                                                       "store: insert credential"));
  st.Bind(1, record_id);
  st.Bind(2, meta.name);
  st.Bind(3, meta.provider);
  st.Bind(4, meta.env);
  st.Bind(5, meta.notes);
  st.Bind(6, v1.now);
  st.Bind(7, meta.expires_at);
  st.Bind(8, v1.policy_json);
  KC_RETURN_IF_ERROR(st.Run());
  return db.LastInsertRowId();
}

Status UpdateMetaRow(const Db& db, int64_t id, const CredentialMeta& meta) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      UPDATE credentials SET provider = ?2, env = ?3, notes = ?4, expires_at = ?5
       WHERE id = ?1)sql",
                                                       "store: update credential"));
  st.Bind(1, id);
  st.Bind(2, meta.provider);
  st.Bind(3, meta.env);
  st.Bind(4, meta.notes);
  st.Bind(5, meta.expires_at);
  return st.Run();
}

// Applies a MetadataUpdate as a plain merge onto the stored values.
CredentialMeta Merge(const Credential& c, const MetadataUpdate& u) {
  CredentialMeta m;
  m.name = c.name;
  m.provider = u.provider.value_or(c.provider);
  m.env = u.env.value_or(c.env);
  m.notes = u.notes.value_or(c.notes);
  m.tags = u.tags.value_or(c.tags);
  m.expires_at = u.clear_expires_at ? std::nullopt : (u.expires_at ? u.expires_at : c.expires_at);
  return m;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) KC_RETURN_IF_ERROR(MakePrivateDirs(dir));
  KC_RETURN_IF_ERROR(EnsurePrivateFile(path));
  // URI filenames are on for ImportSealed's read-only ATTACH; "./" keeps a relative path
  // that happens to start with "file:" from being read as a URI.
  const std::string open_path = path.starts_with("file:") ? "./" + path : path;
  KC_ASSIGN_OR_RETURN(
      Db db, Db::Open(open_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI));
  KC_RETURN_IF_ERROR(Configure(db));
  KC_ASSIGN_OR_RETURN(int version, Migrate(db, static_cast<int64_t>(std::time(nullptr))));
  return std::unique_ptr<Store>(new Store(std::move(db), version));
}

Result<Credential> Store::AddCredential(const CredentialMeta& meta, std::string_view record_id,
                                        const VersionWrite& v1) {
  KC_RETURN_IF_ERROR(ValidateMeta(meta));
  KC_RETURN_IF_ERROR(ValidateRecordId(record_id));
  KC_RETURN_IF_ERROR(ValidateVersionWrite(v1));
  if (v1.version != 1) return Status(Err::kInvalidArgument, "store: first version must be 1");
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  // Checked explicitly (under the write lock) so each case has its own error rather
  // than one opaque UNIQUE failure.
  KC_ASSIGN_OR_RETURN(bool taken, Exists(db_, "SELECT 1 FROM credentials WHERE name = ?1",
                                         meta.name, "store: check name"));
  if (taken) return Status(Err::kInvalidArgument, kNameExists);
  KC_ASSIGN_OR_RETURN(taken, Exists(db_, "SELECT 1 FROM credentials WHERE record_id = ?1",
                                    record_id, "store: check record id"));
  if (taken) return Status(Err::kInvalidArgument, "store: record id exists");
  KC_ASSIGN_OR_RETURN(int64_t id, InsertCredentialRow(db_, meta, record_id, v1));
  KC_RETURN_IF_ERROR(internal::InsertVersion(db_, id, v1));
  KC_RETURN_IF_ERROR(ReplaceTags(db_, id, meta.tags));
  KC_ASSIGN_OR_RETURN(Credential added, ReadCredential(db_, meta.name));
  KC_RETURN_IF_ERROR(tx.Commit());
  return added;
}

Result<Credential> Store::OverwriteCredential(const CredentialMeta& meta, uint32_t expected_current,
                                              const VersionWrite& v) {
  KC_RETURN_IF_ERROR(ValidateMeta(meta));
  KC_RETURN_IF_ERROR(ValidateVersionWrite(v));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(internal::Head head, ReadHead(db_, meta.name));
  KC_RETURN_IF_ERROR(internal::PushVersion(db_, head, expected_current, v));
  KC_RETURN_IF_ERROR(UpdateMetaRow(db_, head.id, meta));
  KC_RETURN_IF_ERROR(ReplaceTags(db_, head.id, meta.tags));
  KC_ASSIGN_OR_RETURN(Credential updated, ReadCredential(db_, meta.name));
  KC_RETURN_IF_ERROR(tx.Commit());
  return updated;
}

Result<Credential> Store::GetCredential(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadCredential(db_, name);
}

Result<std::vector<Credential>> Store::ListCredentials(const CredentialFilter& filter) {
  CredentialFilter f = filter;
  if (f.project) {
    KC_ASSIGN_OR_RETURN(std::string norm, NormalizeProjectPath(*f.project));
    f.project = std::move(norm);
  }
  std::lock_guard<std::mutex> lock(mu_);
  return internal::QueryCredentials(db_, f, nullptr);
}

Status Store::DeleteCredential(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db_, "DELETE FROM credentials WHERE name = ?1",
                                         "store: delete credential"));
  st.Bind(1, name);
  KC_RETURN_IF_ERROR(st.Run());  // versions, tags and assignments go by ON DELETE CASCADE
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchCredential);
  return tx.Commit();
}

Status Store::UpdateMetadata(std::string_view name, const MetadataUpdate& update) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Credential current, ReadCredential(db_, name));
  const CredentialMeta merged = Merge(current, update);
  KC_RETURN_IF_ERROR(ValidateMeta(merged));
  KC_RETURN_IF_ERROR(UpdateMetaRow(db_, current.id, merged));
  if (update.tags) KC_RETURN_IF_ERROR(ReplaceTags(db_, current.id, merged.tags));
  return tx.Commit();
}

Status Store::IntegrityCheck() {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(std::string r,
                      db_.QueryText("PRAGMA integrity_check", "store: integrity_check"));
  if (r != "ok") return Status(Err::kInternal, "store: integrity_check failed");
  return Status::Ok();
}

namespace internal {

Status ReplaceTags(const Db& db, int64_t credential_id, const std::vector<std::string>& tags) {
  KC_ASSIGN_OR_RETURN(Statement del,
                      Statement::Prepare(db, "DELETE FROM credential_tags WHERE credential_id = ?1",
                                         "store: delete tags"));
  del.Bind(1, credential_id);
  KC_RETURN_IF_ERROR(del.Run());
  KC_ASSIGN_OR_RETURN(
      Statement ins,
      Statement::Prepare(
          db, "INSERT OR IGNORE INTO credential_tags (credential_id, tag) VALUES (?1, ?2)",
          "store: insert tag"));
  for (const std::string& tag : tags) {
    ins.Reset();
    ins.Bind(1, credential_id);
    ins.Bind(2, tag);
    KC_RETURN_IF_ERROR(ins.Run());
  }
  return Status::Ok();
}

}  // namespace internal
}  // namespace keycell::broker::store

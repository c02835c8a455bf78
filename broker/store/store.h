#pragma once
// keycelld's credential store: metadata and *sealed* versions of credentials, projects
// and assignments, in one SQLite file (WAL, foreign keys, synchronous=FULL). It never
// sees a plaintext secret; sealed blobs are opaque ciphertext made by the enclave.
// Schema, migrations and the add/rotate flows are described in docs/store.md.
//
// Thread-safety: one Store is one SQLite connection guarded by a mutex, so any number of
// threads may share it. Several Stores (or processes) on one file are also safe: each
// write is a BEGIN IMMEDIATE transaction and waits up to kBusyTimeoutMs for the lock.
//
// Durability: every method that writes commits before it returns ok, and the commit is
// fsynced (synchronous=FULL), so an acknowledged write survives kill -9 and power loss.
// A failed write leaves nothing behind (each method is one transaction).
//
// Blocking: every method blocks on file I/O (a write includes an fsync) and, if another
// connection holds the write lock, for up to kBusyTimeoutMs.
//
// Errors every method can return, in addition to those listed per method:
//   kTimeout         the database stayed locked past kBusyTimeoutMs ("store: ..." where)
//   kInternal        SQLite failed (I/O error, disk full, corruption); detail is the SQLite
//                    extended result code (SqliteCodeName() in sqlite.h names it)
//   kNoMem           SQLite ran out of memory
// Errors with a meaning callers act on (compare code() AND where() with the constants
// and helpers of types.h: IsNameExists(), IsConflict()):
//   kUnknownKey      no credential of that name (where kNoSuchCredential) or no such
//                    version (kNoSuchVersion), assignment (kNotAssigned), project
//   kInvalidArgument + kNameExists     AddCredential: the name is taken
//   kUnavailable     + kConflict       optimistic check failed: someone else changed the
//                                      credential since the caller read it; re-read, retry
//   kInvalidArgument (other wheres)    a value broke a limit or a format rule
//   kTooLarge                          a value exceeded its kMax* limit

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/store/sqlite.h"
#include "broker/store/types.h"
#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::store {

inline constexpr int kBusyTimeoutMs = 5000;

class Store {
 public:
  // Opens (creating if missing) the database at `path`: missing parent directories are
  // made 0700 and a new file 0600 whatever the umask; an existing file with group/other
  // permission bits is narrowed to 0600. Then WAL, foreign keys, synchronous=FULL, the
  // busy timeout, and any pending schema migrations (each in its own transaction).
  // Errors: kUpstreamIo (detail errno: "store: mkdir", "store: create db file",
  // "store: db path is not a regular file"), kInvalidArgument + kSchemaTooNew when
  // the file's schema_version is newer than this code knows (nothing is changed),
  // kInternal ("store: journal_mode=WAL" etc.).
  static Result<std::unique_ptr<Store>> Open(const std::string& path);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store() = default;

  // The schema version the database is at after Open (== the newest this code knows).
  int SchemaVersion() const { return schema_version_; }

  // ---- credentials ----

  // Adds a new credential whose version 1 is `v1` (v1.version must be 1), sealed by the
  // enclave for (record_id, 1, meta.name); record_id from NewRecordId(). created_at =
  // v1.now, rotated_at unset. Never overwrites: for `add --overwrite` of an existing
  // name use OverwriteCredential (docs/store.md has the daemon's flow).
  // Errors: kInvalidArgument + kNameExists; kInvalidArgument "store: record id exists";
  // validation errors.
  Result<Credential> AddCredential(const CredentialMeta& meta, std::string_view record_id,
                                   const VersionWrite& v1);

  // `add --overwrite`: keeps the credential (record id, history, assignments,
  // created_at), replaces its metadata with `meta` and adds `v` as the new current
  // version (v.version == latest_version + 1, sealed for the existing record id);
  // rotated_at = v.now. The same optimistic check as AddVersion applies.
  // Errors: kUnknownKey + kNoSuchCredential; kUnavailable + kConflict; validation errors.
  Result<Credential> OverwriteCredential(const CredentialMeta& meta, uint32_t expected_current,
                                         const VersionWrite& v);

  // Errors: kUnknownKey + kNoSuchCredential.
  Result<Credential> GetCredential(std::string_view name);

  // All credentials matching `filter`, ordered by name, in one query.
  // Errors: kInvalidArgument if filter.project is not a valid project path.
  Result<std::vector<Credential>> ListCredentials(const CredentialFilter& filter);

  // Deletes the credential with all its versions, tags and assignments (projects stay).
  // Errors: kUnknownKey + kNoSuchCredential.
  Status DeleteCredential(std::string_view name);

  // Changes the fields set in `update`. Errors: kUnknownKey + kNoSuchCredential;
  // validation errors.
  Status UpdateMetadata(std::string_view name, const MetadataUpdate& update);

  // ---- versions ----

  // Rotation: stores `v` as the new current version and sets rotated_at = v.now.
  // Optimistic concurrency: succeeds only if the credential's current_version is still
  // `expected_current` and v.version is still latest_version + 1 (both as read by the
  // caller before sealing); otherwise nothing changes and kUnavailable + kConflict is
  // returned, so concurrent rotations yield a linear history and the loser re-reads,
  // re-seals for the new version number, and retries.
  // Errors: kUnknownKey + kNoSuchCredential; kUnavailable + kConflict; validation errors.
  Status AddVersion(std::string_view name, uint32_t expected_current, const VersionWrite& v);

  // Rollback (or roll forward): makes an existing `version` current, if the current
  // version is still `expected_current`. rotated_at is left alone.
  // Errors: kUnknownKey + kNoSuchCredential / kNoSuchVersion; kUnavailable + kConflict.
  Status SetCurrentVersion(std::string_view name, uint32_t version, uint32_t expected_current);

  // Every stored version, oldest first. Errors: kUnknownKey + kNoSuchCredential.
  Result<std::vector<VersionInfo>> History(std::string_view name);

  // One version's sealed blob and binding. Errors: kUnknownKey + kNoSuchCredential /
  // kNoSuchVersion.
  Result<SealedVersion> GetVersion(std::string_view name, uint32_t version);
  // The current version's sealed blob. Errors: kUnknownKey + kNoSuchCredential.
  Result<SealedVersion> GetCurrent(std::string_view name);

  // ---- projects ----

  // Adds a project (path normalised by NormalizeProjectPath); adding an existing path
  // returns the existing project. Errors: path validation errors.
  Result<Project> AddProject(std::string_view path);
  // Removes a project and its assignments. Errors: kUnknownKey + kNoSuchProject.
  Status RemoveProject(std::string_view path);
  // All projects with their assigned credential names, ordered by path, in one query.
  Result<std::vector<Project>> ListProjects();
  // Assigns credential `name` to the project at `path`, creating the project if needed.
  // Assigning twice is not an error. Errors: kUnknownKey + kNoSuchCredential; path errors.
  Status Assign(std::string_view name, std::string_view path);
  // Errors: kUnknownKey + kNoSuchCredential / kNotAssigned; path errors.
  Status Unassign(std::string_view name, std::string_view path);
  // The credentials assigned to `path`, ordered by name (empty for an unknown project).
  Result<std::vector<Credential>> CredentialsForProject(std::string_view path);

  // ---- backups ----

  // Writes a consistent snapshot of the whole store to `file` as a standalone SQLite
  // database (rollback-journal mode, mode 0600): written to a temporary file in the same
  // directory, fsynced, then renamed over `file`. Readers and writers are not blocked
  // for long (the copy runs in one read transaction).
  // Errors: kUpstreamIo (detail errno) for file errors; kInternal ("store: backup");
  // kInvalidArgument "store: backup file is the store itself".
  Status ExportSealed(const std::string& file);

  // Merges a file written by ExportSealed, all or nothing, in one transaction:
  //  - a credential whose record id is not stored is added with all its versions, tags
  //    and assignments (projects are created as needed);
  //  - a credential whose record id is stored under the same name gains the versions it
  //    lacks (rollback targets); its metadata and current version stay as they are;
  //  - conflicts stop the whole import: a name stored with another record id, a record
  //    id stored under another name, or a version number holding a different blob.
  // The file is opened read-only and checked (quick_check, schema version) first.
  // Errors: kInvalidArgument + kImportConflict (names listed in `conflicts`, if given);
  // kInvalidArgument + kSchemaTooNew; kInvalidArgument "store: backup is not a keycell
  // store" / "store: backup failed quick_check"; kInvalidArgument for rows that break
  // a limit (CHECK constraints).
  Result<ImportReport> ImportSealed(const std::string& file,
                                    std::vector<std::string>* conflicts = nullptr);

  // PRAGMA integrity_check: ok, or kInternal "store: integrity_check failed".
  Status IntegrityCheck();

 private:
  Store(Db db, int schema_version) : db_(std::move(db)), schema_version_(schema_version) {}

  std::mutex mu_;  // guards db_: one connection, one transaction at a time
  Db db_;
  int schema_version_;
};

}  // namespace keycell::broker::store

#include "broker/store/schema.h"

#include <iterator>

#include "broker/store/types.h"

namespace keycell::broker::store {
namespace {

// Version 1. The CHECK constraints repeat the limits of types.h so that rows arriving
// through ImportSealed (INSERT ... SELECT from a file we did not write) are held to the
// same rules as rows written through the API. char(31) is the list separator used by
// the read queries, hence banned in names and paths.
constexpr const char kSchemaV1[] = R"sql(
CREATE TABLE credentials (
  id INTEGER PRIMARY KEY,
  record_id TEXT NOT NULL UNIQUE CHECK (typeof(record_id) = 'text' AND length(record_id) = 32
                                        AND record_id NOT GLOB '*[^0-9a-f]*'),
  name TEXT NOT NULL UNIQUE CHECK (typeof(name) = 'text'
                                   AND length(CAST(name AS BLOB)) BETWEEN 1 AND 128
                                   AND instr(name, char(31)) = 0),
  provider TEXT NOT NULL DEFAULT '' CHECK (typeof(provider) = 'text'
                                           AND length(CAST(provider AS BLOB)) <= 64),
  env TEXT NOT NULL DEFAULT '' CHECK (typeof(env) = 'text' AND length(CAST(env AS BLOB)) <= 64),
  notes TEXT NOT NULL DEFAULT '' CHECK (typeof(notes) = 'text'
                                        AND length(CAST(notes AS BLOB)) <= 4096),
  created_at INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
  rotated_at INTEGER CHECK (rotated_at IS NULL OR typeof(rotated_at) = 'integer'),
  expires_at INTEGER CHECK (expires_at IS NULL OR typeof(expires_at) = 'integer'),
  current_version INTEGER NOT NULL CHECK (typeof(current_version) = 'integer'
                                          AND current_version BETWEEN 1 AND 4294967295),
  -- Copy of the current version's policy, kept by every writer that moves
  -- current_version, so a listing never reads version rows (they share pages with blobs).
  policy TEXT NOT NULL DEFAULT '' CHECK (typeof(policy) = 'text'
                                         AND length(CAST(policy AS BLOB)) <= 32768),
  -- The current version must exist. Deferred: a credential and its first version are
  -- inserted in one transaction, in that order.
  FOREIGN KEY (id, current_version) REFERENCES credential_versions (credential_id, version)
    DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX credentials_by_provider ON credentials (provider);
CREATE INDEX credentials_by_env ON credentials (env);

CREATE TABLE credential_versions (
  credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
  version INTEGER NOT NULL CHECK (typeof(version) = 'integer'
                                  AND version BETWEEN 1 AND 4294967295),
  created_at INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
  fingerprint TEXT NOT NULL DEFAULT '' CHECK (typeof(fingerprint) = 'text'
                                              AND length(CAST(fingerprint AS BLOB)) <= 64),
  -- Informational copy of the policy sealed in this version (the enclave's is
  -- authoritative). Kept per version so a rollback shows the policy that is in force.
  -- json_valid() is checked by the writers: SQLite 3.40 does not mark it innocuous, so
  -- it may not appear in a schema read with trusted_schema=OFF.
  policy TEXT NOT NULL DEFAULT '' CHECK (typeof(policy) = 'text'
                                         AND length(CAST(policy AS BLOB)) <= 32768),
  -- Last, so reading the columns above never walks the blob's overflow pages.
  sealed BLOB NOT NULL CHECK (typeof(sealed) = 'blob' AND length(sealed) BETWEEN 1 AND 131072),
  PRIMARY KEY (credential_id, version)
);

CREATE TABLE credential_tags (
  credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
  tag TEXT NOT NULL CHECK (typeof(tag) = 'text' AND length(tag) BETWEEN 1 AND 64
                           AND tag NOT GLOB '*[^A-Za-z0-9._:/@+-]*'),
  PRIMARY KEY (credential_id, tag)
) WITHOUT ROWID;
CREATE INDEX credential_tags_by_tag ON credential_tags (tag, credential_id);

CREATE TABLE projects (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE CHECK (typeof(path) = 'text' AND substr(path, 1, 1) = '/'
                                   AND length(CAST(path AS BLOB)) <= 4096
                                   AND instr(path, char(31)) = 0)
);

CREATE TABLE assignments (
  credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  PRIMARY KEY (credential_id, project_id)
) WITHOUT ROWID;
CREATE INDEX assignments_by_project ON assignments (project_id, credential_id);
)sql";

// Append only. A released migration is never edited: write a new one.
constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
};
static_assert(std::size(kMigrations) == kLatestSchemaVersion);
static_assert(MigrationStepsInOrder(kMigrations));

constexpr MigrationPlan kPlan = {kMigrations, kSchemaTooNew, "store: migration"};

}  // namespace

Result<int> Migrate(Db& db, int64_t now) { return Migrate(db, kPlan, now); }

}  // namespace keycell::broker::store

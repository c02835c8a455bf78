#include "broker/identity/identity_db.h"

#include <filesystem>
#include <iterator>

#include "broker/store/migrations.h"
#include "broker/store/private_files.h"

namespace keycell::broker::identity {

using store::Db;

namespace {

// Version 1. CHECKs repeat the API's formats so a hand-edited or restored file is held
// to the same rules. Only hashes of secrets are stored; `prefix` is the listed, non-secret
// head of a secret (12 of its 47 characters, leaving 208 random bits unknown).
constexpr const char kSchemaV1[] = R"sql(
CREATE TABLE agents (
  id TEXT PRIMARY KEY CHECK (typeof(id) = 'text' AND length(id) = 20 AND substr(id, 1, 4) = 'agt_'
                             AND substr(id, 5) NOT GLOB '*[^0-9A-Za-z]*'),
  name TEXT NOT NULL UNIQUE CHECK (typeof(name) = 'text' AND length(name) BETWEEN 1 AND 64
                                   AND name NOT GLOB '*[^A-Za-z0-9._-]*'
                                   AND name NOT GLOB 'agt_*'),
  created_at INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
  -- Sorted, unique credential-name patterns joined by '\n' (patterns have no control
  -- characters). A column, not a table: authentication reads it with the token row.
  scopes TEXT NOT NULL DEFAULT '' CHECK (typeof(scopes) = 'text'
                                         AND length(CAST(scopes AS BLOB)) <= 8255)
);

CREATE TABLE proxy_tokens (
  id INTEGER PRIMARY KEY,
  prefix TEXT NOT NULL UNIQUE CHECK (typeof(prefix) = 'text' AND length(prefix) = 12
                                     AND substr(prefix, 1, 4) = 'pxr_'),
  hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),
  agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  credential TEXT NOT NULL CHECK (typeof(credential) = 'text'
                                  AND length(CAST(credential AS BLOB)) BETWEEN 1 AND 128),
  created_at INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
  last_used_at INTEGER CHECK (last_used_at IS NULL OR typeof(last_used_at) = 'integer'),
  expires_at INTEGER CHECK (expires_at IS NULL OR typeof(expires_at) = 'integer'),
  revoked_at INTEGER CHECK (revoked_at IS NULL OR typeof(revoked_at) = 'integer')
);
-- One live token per agent-credential pair; revoked rows stay for listings and audit.
CREATE UNIQUE INDEX proxy_tokens_live_pair ON proxy_tokens (agent_id, credential)
  WHERE revoked_at IS NULL;
CREATE INDEX proxy_tokens_by_agent ON proxy_tokens (agent_id);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY CHECK (typeof(id) = 'text' AND length(id) = 16
                             AND id NOT GLOB '*[^0-9a-f]*'),
  name TEXT NOT NULL CHECK (typeof(name) = 'text'
                            AND length(CAST(name AS BLOB)) BETWEEN 1 AND 128),
  description TEXT NOT NULL DEFAULT '' CHECK (typeof(description) = 'text'
                                              AND length(CAST(description AS BLOB)) <= 1024),
  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  -- CASCADE, not SET NULL: a key that acted as an agent must not outlive the agent and
  -- silently lose the agent's scopes.
  agent_id TEXT REFERENCES agents (id) ON DELETE CASCADE,
  prefix TEXT NOT NULL UNIQUE CHECK (typeof(prefix) = 'text' AND length(prefix) = 12
                                     AND substr(prefix, 1, 3) = 'kc_'),
  hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),
  created_at INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
  last_used_at INTEGER CHECK (last_used_at IS NULL OR typeof(last_used_at) = 'integer'),
  expires_at INTEGER CHECK (expires_at IS NULL OR typeof(expires_at) = 'integer'),
  revoked_at INTEGER CHECK (revoked_at IS NULL OR typeof(revoked_at) = 'integer')
);
CREATE INDEX api_keys_by_agent ON api_keys (agent_id);
)sql";

// Append only. A released migration is never edited: write a new one.
constexpr store::Migration kMigrations[] = {
    {1, kSchemaV1},
};
static_assert(std::size(kMigrations) == kIdentitySchemaVersion);
static_assert(store::MigrationStepsInOrder(kMigrations));

constexpr store::MigrationPlan kPlan = {kMigrations, kIdentitySchemaTooNew, "identity: migration"};

Status Configure(Db& db) {
  sqlite3_busy_timeout(db.get(), kIdentityBusyTimeoutMs);
  KC_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON", "identity: foreign_keys=ON"));
  KC_ASSIGN_OR_RETURN(std::string fk,
                      db.QueryText("PRAGMA foreign_keys", "identity: foreign_keys"));
  if (fk != "1") return Status(Err::kInternal, "identity: foreign_keys=ON");
  KC_ASSIGN_OR_RETURN(std::string mode,
                      db.QueryText("PRAGMA journal_mode = WAL", "identity: journal_mode=WAL"));
  if (mode != "wal") return Status(Err::kInternal, "identity: journal_mode=WAL");
  // FULL: a revocation that returned ok survives power loss.
  return db.Exec("PRAGMA synchronous = FULL", "identity: synchronous=FULL");
}

}  // namespace

std::string IdentityDbPath(const std::string& data_dir) { return data_dir + "/" + kIdentityDbFile; }

Result<int> ReadIdentitySchemaVersion(const Db& db) { return store::ReadSchemaVersion(db); }

Result<Db> OpenIdentityDb(const std::string& path, int64_t now) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) KC_RETURN_IF_ERROR(store::MakePrivateDirs(dir));
  KC_RETURN_IF_ERROR(store::EnsurePrivateFile(path));
  // "./" keeps a relative path starting with "file:" from being read as a URI.
  const std::string open_path = path.starts_with("file:") ? "./" + path : path;
  KC_ASSIGN_OR_RETURN(Db db, Db::Open(open_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
  KC_RETURN_IF_ERROR(Configure(db));
  KC_ASSIGN_OR_RETURN(int version, store::Migrate(db, kPlan, now));
  if (version != kIdentitySchemaVersion)
    return Status(Err::kInternal, "identity: migration incomplete", version);
  return db;
}

}  // namespace keycell::broker::identity

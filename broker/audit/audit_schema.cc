#include "broker/audit/audit_schema.h"

namespace keycell::broker::audit {
namespace {

using store::Db;
using store::Statement;
using store::Transaction;

// Version 1. The CHECKs repeat the writer's rules (sanitize.h) so a row that breaks them
// can only come from someone editing the file, which Verify then reports. The triggers
// make the tables append-only for every connection that keeps the schema: they stop bugs
// and casual edits, not an attacker with the file (the hash chain and the checkpoints'
// MACs are what catch that).
constexpr const char kAuditSchemaV1[] = R"sql(
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY CHECK (seq >= 1),
  ts INTEGER NOT NULL CHECK (typeof(ts) = 'integer'),
  actor TEXT NOT NULL CHECK (typeof(actor) = 'text' AND length(CAST(actor AS BLOB)) <= 128),
  actor_kind TEXT NOT NULL CHECK (actor_kind IN ('uid', 'agent', 'apikey', 'token')),
  action TEXT NOT NULL CHECK (typeof(action) = 'text'
                              AND length(CAST(action AS BLOB)) BETWEEN 1 AND 64),
  credential TEXT NOT NULL CHECK (typeof(credential) = 'text'
                                  AND length(CAST(credential AS BLOB)) <= 128),
  version INTEGER CHECK (version IS NULL OR typeof(version) = 'integer'),
  host TEXT NOT NULL CHECK (typeof(host) = 'text' AND length(CAST(host AS BLOB)) <= 262),
  -- Never a query string: the writer strips it, the schema refuses it.
  path TEXT NOT NULL CHECK (typeof(path) = 'text' AND length(CAST(path AS BLOB)) <= 2048
                            AND instr(path, '?') = 0),
  result TEXT NOT NULL CHECK (typeof(result) = 'text' AND length(CAST(result AS BLOB)) <= 32),
  status INTEGER CHECK (status IS NULL OR typeof(status) = 'integer'),
  latency_us INTEGER NOT NULL CHECK (typeof(latency_us) = 'integer' AND latency_us >= 0),
  detail TEXT NOT NULL CHECK (typeof(detail) = 'text' AND length(CAST(detail AS BLOB)) <= 1024),
  prev_hash BLOB NOT NULL CHECK (typeof(prev_hash) = 'blob' AND length(prev_hash) = 32),
  hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32)
);
-- Query() filters, each ending in seq so "newest first, LIMIT n" reads n index entries.
CREATE INDEX audit_by_actor ON audit (actor, seq);
CREATE INDEX audit_by_credential ON audit (credential, seq);
CREATE INDEX audit_by_action ON audit (action, seq);
CREATE INDEX audit_by_ts ON audit (ts);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

CREATE TABLE checkpoints (
  seq INTEGER PRIMARY KEY CHECK (seq >= 1),
  head_hash BLOB NOT NULL CHECK (typeof(head_hash) = 'blob' AND length(head_hash) = 32),
  mac BLOB NOT NULL CHECK (typeof(mac) = 'blob' AND length(mac) = 32),
  ts INTEGER NOT NULL CHECK (typeof(ts) = 'integer')
);
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
)sql";

struct Migration {
  int version;
  const char* sql;
};

// Append only. A released migration is never edited: write a new one.
constexpr Migration kMigrations[] = {
    {1, kAuditSchemaV1},
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kLatestAuditSchemaVersion);

// schema_version exists: MigrateAudit creates it first.
Result<int> ReadVersion(const Db& db) {
  KC_ASSIGN_OR_RETURN(int64_t v, db.QueryInt("SELECT coalesce(max(version), 0) FROM schema_version",
                                             "audit: read schema_version"));
  return static_cast<int>(v);
}

Status ApplyMigration(Db& db, const Migration& m, int64_t now) {
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
  // Re-read under the write lock: another process may have migrated meanwhile.
  KC_ASSIGN_OR_RETURN(int at, ReadVersion(db));
  if (at > kLatestAuditSchemaVersion) return Status(Err::kInvalidArgument, kAuditSchemaTooNew, at);
  if (at >= m.version) return Status::Ok();  // nothing to do; tx rolls back
  if (at != m.version - 1) return Status(Err::kInternal, "audit: schema_version gap", at);
  KC_RETURN_IF_ERROR(db.Exec(m.sql, "audit: migration"));
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db, "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                         "audit: insert schema_version"));
  st.Bind(1, int64_t{m.version});
  st.Bind(2, now);
  KC_RETURN_IF_ERROR(st.Run());
  return tx.Commit();
}

}  // namespace

Result<int> MigrateAudit(Db& db, int64_t now) {
  // CREATE ... IF NOT EXISTS writes nothing when the table exists, so a newer file is
  // refused below before any change.
  KC_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS schema_version ("
              "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
              "audit: create schema_version"));
  KC_ASSIGN_OR_RETURN(int at, ReadVersion(db));
  if (at > kLatestAuditSchemaVersion) return Status(Err::kInvalidArgument, kAuditSchemaTooNew, at);
  for (const Migration& m : kMigrations) KC_RETURN_IF_ERROR(ApplyMigration(db, m, now));
  return ReadVersion(db);
}

}  // namespace keycell::broker::audit

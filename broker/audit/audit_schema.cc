#include "broker/audit/audit_schema.h"

#include <iterator>

#include "broker/store/migrations.h"

namespace keycell::broker::audit {
namespace {

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

// Append only. A released migration is never edited: write a new one.
constexpr store::Migration kMigrations[] = {
    {1, kAuditSchemaV1},
};
static_assert(std::size(kMigrations) == kLatestAuditSchemaVersion);
static_assert(store::MigrationStepsInOrder(kMigrations));

constexpr store::MigrationPlan kPlan = {kMigrations, kAuditSchemaTooNew, "audit: migration"};

}  // namespace

Result<int> MigrateAudit(store::Db& db, int64_t now) { return store::Migrate(db, kPlan, now); }

}  // namespace keycell::broker::audit

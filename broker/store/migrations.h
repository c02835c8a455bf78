#pragma once
// Append-only schema migrations for keycell's SQLite files (keycell.db, identity.db,
// audit.db, webhooks.db): one runner, each file supplies its own plan.
//
// A plan is the list of migrations 1..N. Migration k takes a file at schema version k-1
// to k and is applied in its own BEGIN IMMEDIATE transaction together with its row in
// the file's `schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`
// table, so a crash leaves the file at k-1 or k, never in between. The version is
// re-read under the write lock, so two processes opening the same new file at once
// apply each migration exactly once (the second finds it done and rolls back).
//
// Thread-safety: none of its own. A Db is one connection; the caller must not use it
// from another thread during a call (as for every store::Db call). Separate connections,
// in this or other processes, may migrate the same file concurrently.
//
// Errors common to both calls: SQLite errors as mapped by SqliteStatus (sqlite.h), with
// `where` one of the "migrations: ..." literals below or the plan's own; in particular
// kTimeout if another connection holds the write lock past the busy timeout.

#include <cstdint>
#include <span>

#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::store {

// One step: `sql` (one or more statements, no transaction control) takes the file from
// version-1 to version. Released steps are never edited; a schema change is a new step.
struct Migration {
  int version;
  const char* sql;
};

// Everything the runner needs to know about one file's schema.
struct MigrationPlan {
  std::span<const Migration> steps;  // versions 1..N in order, append only; N = steps.size()
  const char* too_new;  // `where` for a file newer than N (kInvalidArgument, detail = its version)
  const char* failed;   // `where` for a failing step's SQL (code and detail from SQLite)
};

// `where` literals of the runner itself.
inline constexpr char kMigrationGap[] = "migrations: schema_version gap";
inline constexpr char kReadSchemaVersionFailed[] = "migrations: read schema_version";

// True if steps[i].version == i + 1 for every i: the shape Migrate expects. Meant for a
// static_assert next to each plan's table.
constexpr bool MigrationStepsInOrder(std::span<const Migration> steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].version != static_cast<int>(i) + 1 || steps[i].sql == nullptr) return false;
  }
  return true;
}

// Brings `db` to the plan's latest version (N) and returns the version now in the file,
// which is N on success. `now` is recorded as applied_at of each step applied.
//
// A file already at N is only read. A file newer than N is refused before anything is
// written to it: kInvalidArgument with `where` plan.too_new and detail its version (the
// same if a newer keycell migrates it while this call waits for the lock). Otherwise
// schema_version is created if missing and each missing step is applied in turn; a step
// whose SQL fails is rolled back whole and returned with `where` plan.failed, leaving the
// file at the previous version (earlier steps of this call stay committed).
// Other errors: kInternal + kMigrationGap (detail = the file's version) if the file is not
// at step.version-1 when a step is due, i.e. the plan is not 1..N in order.
//
// Blocks on file I/O, on fsync at each commit (with synchronous=FULL), and for up to the
// connection's busy timeout per step while another connection holds the write lock.
Result<int> Migrate(Db& db, const MigrationPlan& plan, int64_t now);

// The version recorded in `schema` ("main" or the name of an attached database): the
// highest schema_version row, 0 for a file without a schema_version table (a new file).
// `schema` is spliced into the SQL, so it must be a literal the caller controls.
// Reads only; does not block beyond file I/O in WAL mode.
// Errors: SQLite errors with `where` kReadSchemaVersionFailed.
Result<int> ReadSchemaVersion(const Db& db, const char* schema = "main");

}  // namespace keycell::broker::store

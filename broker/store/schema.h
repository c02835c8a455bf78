#pragma once
// The store's schema (keycell.db) as an ordered list of migrations, applied by the shared
// runner of broker/store/migrations.h: each migration in its own BEGIN IMMEDIATE
// transaction together with its schema_version row, so a crash leaves the database at
// N-1 or N, never in between, and two processes opening the same new file cannot both
// apply it. ReadSchemaVersion (also used on an attached backup) is declared there.

#include <cstdint>

#include "broker/store/migrations.h"
#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::store {

// The newest schema version this code knows.
inline constexpr int kLatestSchemaVersion = 1;

// Brings `db` up to kLatestSchemaVersion and returns the version it ends at.
// Errors: kInvalidArgument + kSchemaTooNew (types.h) if the file is newer than this code
// (nothing is written); SQLite errors, "store: migration" for a failing migration's SQL.
// Blocks for up to the busy timeout per migration if another connection holds the write
// lock. See store::Migrate(Db&, const MigrationPlan&, int64_t).
Result<int> Migrate(Db& db, int64_t now);

}  // namespace keycell::broker::store

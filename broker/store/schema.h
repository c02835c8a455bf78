#pragma once
// The store's schema as an ordered list of migrations, and the code that applies them.
// Migration N takes a database at schema version N-1 to N; each is applied in its own
// BEGIN IMMEDIATE transaction together with its schema_version row, so a crash leaves
// the database at N-1 or N, never in between, and two processes opening the same new
// file cannot both apply it.

#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::store {

// The newest schema version this code knows.
inline constexpr int kLatestSchemaVersion = 1;

// The version recorded in `schema` ("main" or an attached database's name):
// 0 for a database without a schema_version table.
// Errors: SQLite errors (where "store: read schema_version").
Result<int> ReadSchemaVersion(const Db& db, const char* schema);

// Brings `db` up to kLatestSchemaVersion and returns the version it ends at.
// Errors: kInvalidArgument + kSchemaTooNew if the file is newer than this code (nothing
// is written); SQLite errors from the migration statements. Blocks for up to the busy
// timeout per migration if another connection holds the write lock.
Result<int> Migrate(Db& db, int64_t now);

}  // namespace keycell::broker::store

#pragma once
// The audit database's schema as an ordered list of migrations, applied by the shared
// runner (broker/store/migrations.h): migration N takes the file from version N-1 to N in
// one BEGIN IMMEDIATE transaction together with its schema_version row, so a crash leaves
// N-1 or N and two processes opening a new file cannot both apply it.

#include <cstdint>

#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::audit {

// The newest audit schema version this code knows.
inline constexpr int kLatestAuditSchemaVersion = 1;

// Error `where` for a file written by a newer keycell (kInvalidArgument, detail = its
// version). Nothing is written to such a file.
inline constexpr char kAuditSchemaTooNew[] = "audit: database written by a newer keycell";

// Brings `db` up to kLatestAuditSchemaVersion and returns the version it ends at.
// Errors: kInvalidArgument + kAuditSchemaTooNew; SQLite errors ("audit: migration" for a
// failing migration's SQL). Blocks up to the busy timeout per migration if another
// connection holds the write lock; a file already at the latest version is only read.
Result<int> MigrateAudit(store::Db& db, int64_t now);

}  // namespace keycell::broker::audit

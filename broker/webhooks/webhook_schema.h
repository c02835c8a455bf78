#pragma once
// The webhooks database's schema as an ordered list of migrations, applied by the shared
// runner (broker/store/migrations.h): migration N takes the file from version N-1 to N in
// one BEGIN IMMEDIATE transaction together with its schema_version row, so a crash leaves
// N-1 or N and two processes opening a new file cannot both apply it.

#include <cstdint>

#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::webhooks {

// The newest schema version this code knows.
inline constexpr int kLatestWebhookSchemaVersion = 1;

// Brings `db` up to kLatestWebhookSchemaVersion and returns the version it ends at.
// Errors: kInvalidArgument + kWebhookSchemaTooNew (types.h; nothing is written to such a
// file); SQLite errors ("webhooks: migration" for a failing migration's SQL). Blocks up to
// the busy timeout per migration; a file already at the latest version is only read.
Result<int> MigrateWebhooks(store::Db& db, int64_t now);

}  // namespace keycell::broker::webhooks

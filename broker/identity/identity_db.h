#pragma once
// The identity database file: <data_dir>/identity.db, separate from the credential store
// (keycell.db) so that nothing there changes and either file can be restored alone.
// Same conventions as the store (docs/store.md): 0600 file in 0700 directories, WAL,
// synchronous=FULL, foreign keys on, append-only migrations in one transaction each
// (the shared runner, broker/store/migrations.h).

#include <cstdint>
#include <string>

#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::identity {

inline constexpr char kIdentityDbFile[] = "identity.db";
inline constexpr int kIdentitySchemaVersion = 1;
inline constexpr int kIdentityBusyTimeoutMs = 5000;
inline constexpr char kIdentitySchemaTooNew[] = "identity: database written by a newer keycell";

// "<data_dir>/identity.db".
std::string IdentityDbPath(const std::string& data_dir);

// Creates (0600, parents 0700) or opens `path`, configures the connection and migrates it
// to kIdentitySchemaVersion. Errors: kUpstreamIo (file system, detail errno);
// kInvalidArgument + kIdentitySchemaTooNew; SQLite errors. Blocks on file I/O and for up
// to the busy timeout per migration.
Result<store::Db> OpenIdentityDb(const std::string& path, int64_t now);

// The version recorded in the file (0 if none). Errors: SQLite errors
// (store::kReadSchemaVersionFailed).
Result<int> ReadIdentitySchemaVersion(const store::Db& db);

}  // namespace keycell::broker::identity

#include "broker/store/migrations.h"

#include <string>

namespace keycell::broker::store {
namespace {

Status ApplyStep(Db& db, const MigrationPlan& plan, const Migration& m, int64_t now) {
  const int latest = static_cast<int>(plan.steps.size());
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
  // Re-read under the write lock: another process may have migrated meanwhile.
  KC_ASSIGN_OR_RETURN(int at, ReadSchemaVersion(db));
  if (at > latest) return Status(Err::kInvalidArgument, plan.too_new, at);
  if (at >= m.version) return Status::Ok();  // nothing to do; tx rolls back
  if (at != m.version - 1) return Status(Err::kInternal, kMigrationGap, at);
  KC_RETURN_IF_ERROR(db.Exec(m.sql, plan.failed));
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db, "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                         "migrations: insert schema_version"));
  st.Bind(1, int64_t{m.version});
  st.Bind(2, now);
  KC_RETURN_IF_ERROR(st.Run());
  return tx.Commit();
}

}  // namespace

Result<int> ReadSchemaVersion(const Db& db, const char* schema) {
  const std::string s(schema);
  KC_ASSIGN_OR_RETURN(Statement exists,
                      Statement::Prepare(db,
                                         "SELECT count(*) FROM " + s +
                                             ".sqlite_schema WHERE type = 'table' AND name = "
                                             "'schema_version'",
                                         kReadSchemaVersionFailed));
  KC_ASSIGN_OR_RETURN(bool row, exists.Step());
  if (!row || exists.Int(0) == 0) return 0;
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db, "SELECT coalesce(max(version), 0) FROM " + s + ".schema_version",
                         kReadSchemaVersionFailed));
  KC_ASSIGN_OR_RETURN(row, st.Step());
  return row ? static_cast<int>(st.Int(0)) : 0;
}

Result<int> Migrate(Db& db, const MigrationPlan& plan, int64_t now) {
  const int latest = static_cast<int>(plan.steps.size());
  // Read before any write: a newer file is refused untouched, and an up-to-date one
  // (every open after the first) costs no write lock.
  KC_ASSIGN_OR_RETURN(int at, ReadSchemaVersion(db));
  if (at > latest) return Status(Err::kInvalidArgument, plan.too_new, at);
  if (at == latest) return at;
  KC_RETURN_IF_ERROR(
      db.Exec("CREATE TABLE IF NOT EXISTS schema_version ("
              "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
              "migrations: create schema_version"));
  for (const Migration& m : plan.steps) KC_RETURN_IF_ERROR(ApplyStep(db, plan, m, now));
  return ReadSchemaVersion(db);
}

}  // namespace keycell::broker::store

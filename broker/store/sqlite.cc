#include "broker/store/sqlite.h"

#include <utility>

namespace keycell::broker::store {

Status SqliteStatus(int rc, const char* where) {
  switch (rc & 0xff) {  // the primary code is the low byte of an extended code
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_CONSTRAINT:
      return Status(Err::kInvalidArgument, where, rc);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status(Err::kTimeout, where, rc);
    case SQLITE_NOMEM:
      return Status(Err::kNoMem, where, rc);
    case SQLITE_TOOBIG:
      return Status(Err::kTooLarge, where, rc);
    default:
      return Status(Err::kInternal, where, rc);
  }
}

const char* SqliteCodeName(int32_t detail) { return sqlite3_errstr(detail); }

Result<Db> Db::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 flags | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE, nullptr);
  Db db(raw);  // owns the handle even on failure (sqlite3_open_v2 may allocate one)
  if (rc != SQLITE_OK) return Status(Err::kInternal, "sqlite3_open_v2", rc);
  sqlite3_extended_result_codes(raw, 1);
  // The schema of a file we did not write (an imported backup) must not be able to run
  // SQL functions or corrupt memory through writable_schema tricks.
  int on = 0;
  if (sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) != SQLITE_OK ||
      sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &on) != SQLITE_OK) {
    return Status(Err::kInternal, "sqlite3_db_config");
  }
  return db;
}

Db::~Db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status Db::Exec(const char* sql, const char* where) const {
  return SqliteStatus(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), where);
}

Result<std::string> Db::QueryText(const char* sql, const char* where) const {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(*this, sql, where));
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kInternal, where);
  return st.Text(0);
}

Result<int64_t> Db::QueryInt(const char* sql, const char* where) const {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(*this, sql, where));
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kInternal, where);
  return st.Int(0);
}

Result<Statement> Statement::Prepare(const Db& db, std::string_view sql, const char* where) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()), 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Status(Err::kInternal, where, rc);
  }
  return Statement(stmt, where);
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), where_(other.where_), bind_rc_(other.bind_rc_) {}

Statement::~Statement() { sqlite3_finalize(stmt_); }  // finalize(nullptr) is a no-op

void Statement::KeepFirstError(int rc) {
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::Bind(int index, int64_t value) {
  KeepFirstError(sqlite3_bind_int64(stmt_, index, value));
}

void Statement::Bind(int index, std::string_view text) {
  KeepFirstError(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

void Statement::Bind(int index, const std::optional<int64_t>& value) {
  if (value) {
    Bind(index, *value);
  } else {
    BindNull(index);
  }
}

void Statement::BindBlob(int index, ByteView blob) {
  // A null data pointer would bind NULL, not an empty blob.
  static const uint8_t kEmpty = 0;
  const void* data = blob.empty() ? &kEmpty : blob.data();
  KeepFirstError(sqlite3_bind_blob64(stmt_, index, data, blob.size(), SQLITE_TRANSIENT));
}

void Statement::BindNull(int index) { KeepFirstError(sqlite3_bind_null(stmt_, index)); }

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return SqliteStatus(bind_rc_, where_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, where_);
}

Status Statement::Run() {
  KC_ASSIGN_OR_RETURN(bool row, Step());
  if (row) return Status(Err::kInternal, where_);  // a write statement returned a row
  return Status::Ok();
}

void Statement::Reset() { sqlite3_reset(stmt_); }

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<int64_t> Statement::OptionalInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::string Statement::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return std::string();
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::vector<uint8_t> Statement::Blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  if (p == nullptr) return {};
  return std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt_, col));
}

Result<Transaction> Transaction::Begin(Db& db) {
  KC_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE", "store: BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  // Ignoring the result is deliberate: if ROLLBACK fails the connection is closing or
  // SQLite already rolled back on its own (e.g. after SQLITE_FULL).
  if (db_ != nullptr) (void)db_->Exec("ROLLBACK", "store: ROLLBACK");
}

Status Transaction::Commit() {
  KC_RETURN_IF_ERROR(db_->Exec("COMMIT", "store: COMMIT"));
  db_ = nullptr;
  return Status::Ok();
}

Result<ReadTransaction> ReadTransaction::Begin(Db& db) {
  KC_RETURN_IF_ERROR(db.Exec("BEGIN", "store: BEGIN"));
  return ReadTransaction(&db);
}

ReadTransaction::~ReadTransaction() {
  if (db_ != nullptr) (void)db_->Exec("ROLLBACK", "store: end read");
}

}  // namespace keycell::broker::store

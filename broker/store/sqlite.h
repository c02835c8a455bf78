#pragma once
// Thin RAII over the SQLite C API, returning Status instead of result codes.
//
// Db owns a sqlite3* (sqlite3_close_v2), Statement owns a sqlite3_stmt*
// (sqlite3_finalize), Transaction is a BEGIN IMMEDIATE ... COMMIT scope that rolls back
// on destruction unless committed. None of them is thread-safe: the Store serialises
// access to its connection with a mutex.
//
// Errors: every failure becomes Status{code, where, detail} with `where` the literal
// passed by the caller (it names the statement) and `detail` the SQLite *extended*
// result code (log it with SqliteCodeName()). Codes:
//   kInvalidArgument  a constraint failed (UNIQUE, CHECK, FOREIGN KEY, NOT NULL)
//   kTimeout          the database stayed locked for longer than the busy timeout
//   kNoMem            SQLite ran out of memory
//   kTooLarge         a value exceeded SQLite's limits
//   kInternal         anything else (I/O error, corruption, misuse)

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::store {

// Maps a SQLite result code to a Status (see the table above). `where` must be a literal.
Status SqliteStatus(int rc, const char* where);

// SQLite's English name for an extended result code (a Status detail), for logs.
const char* SqliteCodeName(int32_t detail);

class Db {
 public:
  // Opens an *existing* file read-write (flags are added to SQLITE_OPEN_NOFOLLOW |
  // SQLITE_OPEN_EXRESCODE) and turns on extended result codes, defensive mode and
  // trusted_schema=OFF, so a hostile database file cannot run functions from its schema.
  // Errors: kInternal ("sqlite3_open_v2") and the codes above. Blocks on file I/O only.
  static Result<Db> Open(const std::string& path, int flags);

  Db(Db&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();  // sqlite3_close_v2: safe even if a statement leaked; errors are ignored

  sqlite3* get() const { return db_; }

  // Runs one or more statements that return no rows we need (DDL, PRAGMA ... = x).
  // Blocks up to the busy timeout on a locked database.
  Status Exec(const char* sql, const char* where) const;

  // Runs a single-row, single-column text query (e.g. "PRAGMA journal_mode=WAL").
  Result<std::string> QueryText(const char* sql, const char* where) const;

  // Runs a single-row, single-column integer query (e.g. "SELECT count(*) ...").
  Result<int64_t> QueryInt(const char* sql, const char* where) const;

  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const { return sqlite3_changes64(db_); }
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// A prepared statement. Bind*() never fail on their own: the first bind error is kept
// and returned by the next Step(), so callers write binds without a check per line.
// Parameter and column indexes follow SQLite: binds are 1-based, columns 0-based.
class Statement {
 public:
  // Errors: kInternal (bad SQL is a programming error) with `where`.
  static Result<Statement> Prepare(const Db& db, std::string_view sql, const char* where);

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  void Bind(int index, int64_t value);
  void Bind(int index, std::string_view text);                // copied by SQLite (SQLITE_TRANSIENT)
  void Bind(int index, const std::optional<int64_t>& value);  // nullopt binds NULL
  void BindBlob(int index, ByteView blob);  // copied; an empty blob is a zero-length BLOB
  void BindNull(int index);

  // Runs one step: true = a row is available, false = done. Errors: see the table.
  // Blocks up to the busy timeout if another connection holds the write lock.
  Result<bool> Step();
  // Step() that must finish without producing a row (INSERT/UPDATE/DELETE).
  Status Run();
  // Rewinds the statement for reuse; bindings are kept.
  void Reset();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  std::optional<int64_t> OptionalInt(int col) const;
  std::string Text(int col) const;           // NULL reads as ""
  std::vector<uint8_t> Blob(int col) const;  // NULL reads as empty

 private:
  Statement(sqlite3_stmt* stmt, const char* where) : stmt_(stmt), where_(where) {}
  void KeepFirstError(int rc);

  sqlite3_stmt* stmt_;
  const char* where_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE on construction: the write lock is taken up front, so two writers
// never deadlock upgrading read locks (they queue on the busy timeout instead).
// The destructor rolls back unless Commit() succeeded.
class Transaction {
 public:
  // Errors: kTimeout if another connection kept the write lock past the busy timeout.
  static Result<Transaction> Begin(Db& db);

  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // COMMIT. With synchronous=FULL in WAL mode this returns only after the WAL is
  // fsynced, so an ok here means the write survives a crash. On failure the destructor
  // still rolls back. Blocks on fsync.
  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // nullptr once committed or moved from
};

// BEGIN (deferred) ... COMMIT: several reads that must see one snapshot. Takes no write
// lock; in WAL mode writers are not blocked.
class ReadTransaction {
 public:
  // Errors: SQLite errors ("store: BEGIN").
  static Result<ReadTransaction> Begin(Db& db);

  ReadTransaction(ReadTransaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  ReadTransaction& operator=(ReadTransaction&&) = delete;
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  ~ReadTransaction();  // ends the snapshot; nothing to commit, errors are ignored

 private:
  explicit ReadTransaction(Db* db) : db_(db) {}
  Db* db_;
};

}  // namespace keycell::broker::store

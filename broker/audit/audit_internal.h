#pragma once
// Helpers shared by the audit_*.cc and verify.cc files. Not part of the library's API.

#include <cstdint>
#include <optional>
#include <string>

#include "broker/audit/audit_log.h"
#include "broker/audit/record.h"
#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::audit::internal {

// The record columns in the order ReadRecord expects them.
inline constexpr char kRecordColumns[] =
    "seq, ts, actor, actor_kind, action, credential, version, host, path, result, status, "
    "latency_us, detail, prev_hash, hash";

// Fills *r from the current row of a statement that selected kRecordColumns. Returns
// false when the row cannot be a record this code wrote (unknown actor_kind, a hash
// that is not 32 bytes); that only happens if the file was edited.
bool ReadRecord(const store::Statement& st, Record* r);

// The SELECT AuditLog::Query runs for `filter` (parameters unbound), for tests that
// check its query plan.
std::string QuerySql(const Filter& filter);

// One row of the checkpoints table.
struct CheckpointRow {
  int64_t seq = 0;
  int64_t ts = 0;
  Hash head_hash{};
  Hash mac{};
};

// Copies a blob column into a Hash; false when it is not exactly 32 bytes.
bool ReadHash(const store::Statement& st, int col, Hash* out);

// The newest checkpoint row, if any. A row with a malformed blob reads as zeros (Verify
// reports it). Errors: SQLite errors.
Result<std::optional<CheckpointRow>> ReadLastCheckpoint(const store::Db& db);

}  // namespace keycell::broker::audit::internal

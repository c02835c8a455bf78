#pragma once
// keycelld's tamper-evident audit trail: an append-only, hash-chained SQLite table in its
// own file (<data_dir>/audit.db), sealed periodically by checkpoints whose MAC only the
// enclave can compute. Format, threat model and the daemon's duties: docs/audit.md.
//
// What goes in: who (actor + kind), what (action), which credential and version, where
// (host, path without query), the result, the HTTP status and the latency. Never a
// value, PIN or token; SanitizeEntry (sanitize.h) guards against accidents.
//
// Thread-safety: one AuditLog is one SQLite connection guarded by a mutex; any number of
// threads may share it. Several AuditLogs (or processes) on one file are safe too:
// Append is one BEGIN IMMEDIATE transaction that reads the last hash and inserts the next
// record, so the chain stays linear whoever writes.
//
// Durability: Append commits with the WAL fsynced (synchronous=FULL) before it returns ok.
//
// Blocking: every method blocks on file I/O and, if another connection holds the write
// lock, for up to Options::busy_timeout_ms. Checkpoint/MaybeCheckpoint/Verify also block
// on the MAC function; no lock of this class is held while it runs, so it may itself
// Append (e.g. to audit the enclave call).
//
// Errors every method can return:
//   kTimeout   the database stayed locked past the busy timeout
//   kInternal  SQLite failed (I/O error, disk full, corruption); detail = extended code
//   kNoMem     SQLite ran out of memory

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/audit/record.h"
#include "broker/audit/verify.h"
#include "broker/store/sqlite.h"
#include "common/result.h"

namespace keycell::broker::audit {

// When MaybeCheckpoint seals the head: once at least one record is newer than the last
// checkpoint AND (every_records new records exist OR every_seconds have passed since the
// last checkpoint). A log without any checkpoint is sealed at its first chance.
struct CheckpointPolicy {
  int64_t every_records = 1000;
  int64_t every_seconds = 300;
};

// The pure decision behind MaybeCheckpoint. `last_seq`/`last_ts` describe the newest
// checkpoint (nullopt: none yet); `head_seq` is the newest record (0: empty log).
bool CheckpointDue(const CheckpointPolicy& policy, int64_t head_seq,
                   std::optional<int64_t> last_seq, int64_t last_ts, int64_t now);

struct Options {
  // Unix seconds for record and checkpoint timestamps; empty = time(nullptr). Tests
  // inject a fake clock. The caller never chooses a record's time.
  std::function<int64_t()> clock;
  int busy_timeout_ms = 5000;
  CheckpointPolicy checkpoint;
};

inline constexpr int64_t kDefaultQueryLimit = 100;
inline constexpr int64_t kMaxQueryLimit = 10000;

// Query filters; all set ones must match (AND). Strings match exactly.
struct Filter {
  std::optional<std::string> actor;     // e.g. an agent's name (`--agent`)
  std::optional<ActorKind> actor_kind;  // with actor: `--agent X` = {X, kAgent}
  std::optional<std::string> credential;
  std::optional<std::string> action;
  std::optional<int64_t> since;        // ts >= since (unix seconds)
  std::optional<int64_t> before_seq;   // seq < before_seq: the next page after a result
  int64_t limit = kDefaultQueryLimit;  // 1..kMaxQueryLimit
};

class AuditLog {
 public:
  // "<data_dir>/audit.db".
  static std::string PathIn(const std::string& data_dir);

  // Opens (creating if missing) the audit database at `path`: parent directories 0700,
  // the file 0600 whatever the umask (an existing file is narrowed to 0600, a symlink is
  // refused), WAL, synchronous=FULL, the busy timeout, pending migrations.
  // Errors: kUpstreamIo (detail errno; where "store: mkdir", "store: create db file", ...),
  // kInvalidArgument + kAuditSchemaTooNew, kInternal ("audit: journal_mode=WAL").
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path, Options options = {});

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  ~AuditLog() = default;

  // Sanitizes `entry` (sanitize.h), stamps it with the clock, links it to the current
  // last record and stores it, all in one BEGIN IMMEDIATE transaction. Returns the stored
  // record (seq, ts, hashes and the sanitized fields).
  // Errors: kInvalidArgument from SanitizeEntry; kTls (hashing).
  Result<Record> Append(const Entry& entry);

  // Append for several entries in one transaction (one fsync for all): every entry is
  // sanitized first (one refused entry refuses the batch before anything is written),
  // then chained in order. What AuditQueue uses to keep up with the proxy.
  // Errors: as Append.
  Result<std::vector<Record>> AppendBatch(std::span<const Entry> entries);

  // Seals the current head: computes mac(CheckpointMessage(seq, now, head hash)) and
  // stores the checkpoint. An empty log, or a head that already has a checkpoint, is a
  // no-op. The head is read first and the MAC computed with no lock held; records
  // appended meanwhile are covered by the next checkpoint.
  // Errors: whatever `mac` returns (nothing is written then).
  Status Checkpoint(const MacFn& mac);

  // Checkpoint(mac) if CheckpointDue(options.checkpoint, ...) says so; returns whether a
  // checkpoint was written. keycelld calls it after each Append and from a timer.
  Result<bool> MaybeCheckpoint(const MacFn& mac);

  // Records matching `filter`, newest first. Uses the indexes of the filter columns; no
  // full-table scan. Errors: kInvalidArgument ("audit: bad limit"); kTampered
  // ("audit: malformed row", detail = seq) for a row only an edit of the file can make.
  Result<std::vector<Record>> Query(const Filter& filter);

  // Verifies the whole chain and every checkpoint (verify.h) on a separate read-only
  // connection, so appends from other threads continue meanwhile. `mac` may be empty:
  // the MACs are then not checked. Errors: see VerifyChain.
  Result<VerifyReport> Verify(const MacFn& mac);

  const std::string& path() const { return path_; }

 private:
  AuditLog(store::Db db, std::string path, Options options)
      : db_(std::move(db)), path_(std::move(path)), options_(std::move(options)) {}
  int64_t Now() const;
  // The newest record's seq and hash (0 and zeros for an empty log).
  Result<std::pair<int64_t, Hash>> ReadHead();

  std::mutex mu_;
  store::Db db_;  // guarded by mu_
  const std::string path_;
  const Options options_;
};

}  // namespace keycell::broker::audit

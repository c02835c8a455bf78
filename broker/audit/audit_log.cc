#include "broker/audit/audit_log.h"

#include <ctime>
#include <filesystem>

#include "broker/audit/audit_internal.h"
#include "broker/audit/audit_schema.h"
#include "broker/audit/sanitize.h"
#include "broker/store/private_files.h"

namespace keycell::broker::audit {

using store::Db;
using store::Statement;
using store::Transaction;

namespace {

// "./" keeps a relative path that happens to start with "file:" from being read as a URI
// by a SQLite built with SQLITE_USE_URI.
std::string SqlitePath(const std::string& path) {
  return path.starts_with("file:") ? "./" + path : path;
}

Status Configure(Db& db, int busy_timeout_ms) {
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  KC_ASSIGN_OR_RETURN(std::string mode,
                      db.QueryText("PRAGMA journal_mode = WAL", "audit: journal_mode=WAL"));
  if (mode != "wal") return Status(Err::kInternal, "audit: journal_mode=WAL");
  // FULL: every COMMIT fsyncs the WAL, so an acknowledged record survives power loss.
  return db.Exec("PRAGMA synchronous = FULL", "audit: synchronous=FULL");
}

Status InsertRecord(const Db& db, const Record& r) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      INSERT INTO audit (seq, ts, actor, actor_kind, action, credential, version, host, path,
                         result, status, latency_us, detail, prev_hash, hash)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15))sql",
                                                       "audit: insert record"));
  st.Bind(1, r.seq);
  st.Bind(2, r.ts);
  st.Bind(3, r.actor);
  st.Bind(4, std::string_view(ActorKindName(r.actor_kind)));
  st.Bind(5, r.action);
  st.Bind(6, r.credential);
  st.Bind(7, r.version);
  st.Bind(8, r.host);
  st.Bind(9, r.path);
  st.Bind(10, r.result);
  st.Bind(11, r.status);
  st.Bind(12, r.latency_us);
  st.Bind(13, r.detail);
  st.BindBlob(14, r.prev_hash);
  st.BindBlob(15, r.hash);
  return st.Run();
}

Status InsertCheckpoint(const Db& db, int64_t seq, int64_t ts, const Hash& head, const Hash& mac) {
  // OR IGNORE: another process may have sealed the same head meanwhile; either row is fine.
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db,
                                         "INSERT OR IGNORE INTO checkpoints (seq, head_hash, "
                                         "mac, ts) VALUES (?1, ?2, ?3, ?4)",
                                         "audit: insert checkpoint"));
  st.Bind(1, seq);
  st.BindBlob(2, head);
  st.BindBlob(3, mac);
  st.Bind(4, ts);
  return st.Run();
}

}  // namespace

bool CheckpointDue(const CheckpointPolicy& policy, int64_t head_seq,
                   std::optional<int64_t> last_seq, int64_t last_ts, int64_t now) {
  const int64_t sealed = last_seq.value_or(0);
  if (head_seq <= sealed) return false;  // nothing new to seal
  if (!last_seq) return true;            // anchor a fresh log early
  return head_seq - sealed >= policy.every_records || now - last_ts >= policy.every_seconds;
}

std::string AuditLog::PathIn(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "audit.db").string();
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, Options options) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) KC_RETURN_IF_ERROR(store::MakePrivateDirs(dir));
  KC_RETURN_IF_ERROR(store::EnsurePrivateFile(path));
  KC_ASSIGN_OR_RETURN(Db db,
                      Db::Open(SqlitePath(path), SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
  KC_RETURN_IF_ERROR(Configure(db, options.busy_timeout_ms));
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(db), path, std::move(options)));
  KC_ASSIGN_OR_RETURN(int version, MigrateAudit(log->db_, log->Now()));
  (void)version;  // MigrateAudit fails unless it reached kLatestAuditSchemaVersion
  return log;
}

int64_t AuditLog::Now() const {
  return options_.clock ? options_.clock() : static_cast<int64_t>(std::time(nullptr));
}

Result<std::pair<int64_t, Hash>> AuditLog::ReadHead() {
  KC_ASSIGN_OR_RETURN(
      Statement st, Statement::Prepare(db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                                       "audit: read head"));
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::pair<int64_t, Hash>{0, Hash{}};  // the first record links to zeros
  Hash h{};
  if (!internal::ReadHash(st, 1, &h)) return Status(Err::kTampered, "audit: malformed head");
  return std::pair<int64_t, Hash>{st.Int(0), h};
}

Result<Record> AuditLog::Append(const Entry& entry) {
  KC_ASSIGN_OR_RETURN(std::vector<Record> one, AppendBatch(std::span<const Entry>(&entry, 1)));
  return std::move(one.front());
}

Result<std::vector<Record>> AuditLog::AppendBatch(std::span<const Entry> entries) {
  std::vector<Record> out(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    KC_ASSIGN_OR_RETURN(Entry clean, SanitizeEntry(entries[i]));
    static_cast<Entry&>(out[i]) = std::move(clean);
  }
  if (out.empty()) return out;
  std::lock_guard<std::mutex> lock(mu_);
  // Reading the head and inserting its successors under one write lock is what keeps the
  // chain linear across threads and processes.
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(auto head, ReadHead());
  const int64_t ts = Now();
  for (Record& r : out) {
    r.seq = ++head.first;
    r.prev_hash = head.second;
    r.ts = ts;
    KC_ASSIGN_OR_RETURN(r.hash, ComputeHash(r));
    KC_RETURN_IF_ERROR(InsertRecord(db_, r));
    head.second = r.hash;
  }
  KC_RETURN_IF_ERROR(tx.Commit());
  return out;
}

Status AuditLog::Checkpoint(const MacFn& mac) {
  std::pair<int64_t, Hash> head;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KC_ASSIGN_OR_RETURN(head, ReadHead());
    KC_ASSIGN_OR_RETURN(auto last, internal::ReadLastCheckpoint(db_));
    if (head.first == 0 || (last && last->seq >= head.first)) return Status::Ok();
  }
  // No lock while the enclave computes the MAC: appends go on, and `mac` may append.
  // Records are immutable once written, so the (seq, hash) read above stays the truth.
  const int64_t ts = Now();
  KC_ASSIGN_OR_RETURN(Hash tag, mac(CheckpointMessage(head.first, ts, head.second)));
  std::lock_guard<std::mutex> lock(mu_);
  return InsertCheckpoint(db_, head.first, ts, head.second, tag);
}

Result<bool> AuditLog::MaybeCheckpoint(const MacFn& mac) {
  bool due = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KC_ASSIGN_OR_RETURN(auto head, ReadHead());
    KC_ASSIGN_OR_RETURN(auto last, internal::ReadLastCheckpoint(db_));
    due = CheckpointDue(options_.checkpoint, head.first,
                        last ? std::optional<int64_t>(last->seq) : std::nullopt,
                        last ? last->ts : 0, Now());
  }
  if (!due) return false;
  KC_RETURN_IF_ERROR(Checkpoint(mac));
  return true;
}

Result<VerifyReport> AuditLog::Verify(const MacFn& mac) {
  // A connection of its own: the walk takes a while on a long log, and a WAL read
  // snapshot never blocks this object's (or anyone's) appends.
  KC_ASSIGN_OR_RETURN(Db db,
                      Db::Open(SqlitePath(path_), SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
  sqlite3_busy_timeout(db.get(), options_.busy_timeout_ms);
  KC_RETURN_IF_ERROR(db.Exec("PRAGMA query_only = ON", "audit: query_only"));
  return VerifyChain(db, mac);
}

}  // namespace keycell::broker::audit

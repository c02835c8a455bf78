// AuditLog::Query and the row readers shared with verify.cc.

#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "broker/audit/audit_internal.h"
#include "broker/audit/audit_log.h"

namespace keycell::broker::audit {

using store::Db;
using store::Statement;

namespace internal {

bool ReadHash(const Statement& st, int col, Hash* out) {
  const std::vector<uint8_t> b = st.Blob(col);
  if (b.size() != out->size()) return false;
  std::memcpy(out->data(), b.data(), b.size());
  return true;
}

bool ReadRecord(const Statement& st, Record* r) {
  r->seq = st.Int(0);
  r->ts = st.Int(1);
  r->actor = st.Text(2);
  const std::optional<ActorKind> kind = ParseActorKind(st.Text(3));
  r->actor_kind = kind.value_or(ActorKind::kUid);
  r->action = st.Text(4);
  r->credential = st.Text(5);
  r->version = st.OptionalInt(6);
  r->host = st.Text(7);
  r->path = st.Text(8);
  r->result = st.Text(9);
  r->status = st.OptionalInt(10);
  r->latency_us = st.Int(11);
  r->detail = st.Text(12);
  const bool prev_ok = ReadHash(st, 13, &r->prev_hash);
  const bool hash_ok = ReadHash(st, 14, &r->hash);
  return kind.has_value() && prev_ok && hash_ok;
}

Result<std::optional<CheckpointRow>> ReadLastCheckpoint(const Db& db) {
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(
          db, "SELECT seq, ts, head_hash, mac FROM checkpoints ORDER BY seq DESC LIMIT 1",
          "audit: read last checkpoint"));
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<CheckpointRow>();
  CheckpointRow cp;
  cp.seq = st.Int(0);
  cp.ts = st.Int(1);
  (void)ReadHash(st, 2, &cp.head_hash);  // a malformed blob stays zeros; Verify reports it
  (void)ReadHash(st, 3, &cp.mac);
  return std::optional<CheckpointRow>(cp);
}

}  // namespace internal

namespace {

// Builds "WHERE a = ? AND b >= ? ..." and remembers each value in order, so the binds
// cannot drift from the clauses.
class WhereBuilder {
 public:
  void Add(const char* clause, std::variant<int64_t, std::string> value) {
    sql_ += values_.empty() ? " WHERE " : " AND ";
    sql_ += clause;
    values_.push_back(std::move(value));
  }
  const std::string& sql() const { return sql_; }
  // Binds the values as parameters 1..n; returns n.
  int BindAll(Statement* st) const {
    int i = 0;
    for (const auto& v : values_) {
      ++i;
      if (const int64_t* n = std::get_if<int64_t>(&v)) {
        st->Bind(i, *n);
      } else {
        st->Bind(i, std::string_view(std::get<std::string>(v)));
      }
    }
    return i;
  }

 private:
  std::string sql_;
  std::vector<std::variant<int64_t, std::string>> values_;
};

WhereBuilder BuildWhere(const Filter& f) {
  WhereBuilder w;
  if (f.actor) w.Add("actor = ?", *f.actor);
  if (f.actor_kind) w.Add("actor_kind = ?", std::string(ActorKindName(*f.actor_kind)));
  if (f.credential) w.Add("credential = ?", *f.credential);
  if (f.action) w.Add("action = ?", *f.action);
  if (f.since) {
    w.Add("ts >= ?", *f.since);
    // The rows with ts >= since are found through audit_by_ts and turned into a seq bound,
    // so the newest-first walk stops at the oldest of them instead of scanning the table
    // when fewer than `limit` match. INDEXED BY: left alone, SQLite answers min(seq) by
    // walking the rowid upwards from 1. ts >= since stays as the filter itself, so the
    // result is right even where ts does not grow with seq (a clock stepped back).
    w.Add("seq >= (SELECT min(seq) FROM audit INDEXED BY audit_by_ts WHERE ts >= ?)", *f.since);
  }
  if (f.before_seq) w.Add("seq < ?", *f.before_seq);
  return w;
}

// Each equality filter has an index ending in seq (audit_schema.cc), so "ORDER BY seq
// DESC LIMIT n" walks at most n matching index entries.
std::string SqlFor(const WhereBuilder& where) {
  return std::string("SELECT ") + internal::kRecordColumns + " FROM audit" + where.sql() +
         " ORDER BY seq DESC LIMIT ?";
}

}  // namespace

std::string internal::QuerySql(const Filter& filter) { return SqlFor(BuildWhere(filter)); }

Result<std::vector<Record>> AuditLog::Query(const Filter& filter) {
  if (filter.limit < 1 || filter.limit > kMaxQueryLimit) {
    return Status(Err::kInvalidArgument, "audit: bad limit");
  }
  const WhereBuilder where = BuildWhere(filter);
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, SqlFor(where), "audit: query"));
  st.Bind(where.BindAll(&st) + 1, filter.limit);
  std::vector<Record> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Record r;
    if (!internal::ReadRecord(st, &r)) {
      return Status(Err::kTampered, "audit: malformed row", static_cast<int32_t>(r.seq));
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace keycell::broker::audit
